"""Result tables, the comparison with the paper and plots (rule aggregate_metrics)."""

from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.stages.aggregate import aggregate_stage
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    out = snakemake.output
    aggregate_stage(
        [Path(p) for p in snakemake.input.metrics],
        Path(snakemake.input.history),
        summary_path=Path(out.summary),
        folds_path=Path(out.folds),
        comparison_path=Path(out.comparison),
        pretext_plot=Path(out.pretext_plot),
        accuracy_plot=Path(out.accuracy_plot),
        confusion_plot=Path(out.confusion_plot),
        config=snakemake.params.config,
        config_path=Path(out.config),
    )


main()
