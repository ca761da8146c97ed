"""Result tables, the comparison with the paper and plots (rule aggregate_metrics)."""

from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.stages.aggregate import OUTPUTS, aggregate_stage
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    aggregate_stage(
        [Path(p) for p in snakemake.input.metrics],
        [Path(p) for p in snakemake.input.sidecars],
        real_ecg=[Path(p) for p in snakemake.input.real_ecg],
        outputs={name: Path(snakemake.output[name]) for name in OUTPUTS},
        evaluation=snakemake.params.evaluation,
        seed=snakemake.params.seed,
        config=snakemake.params.config,
        pretexts=snakemake.params.pretexts,
    )


main()
