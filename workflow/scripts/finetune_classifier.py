"""Train and evaluate one emotion classifier on one fold (rule finetune_classifier)."""

from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.learning.device import set_threads
from ecgssl.stages.finetune import finetune_stage
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    set_threads(snakemake.threads)
    wc = snakemake.wildcards
    inputs = snakemake.input
    finetune_stage(
        store=Path(inputs.store),
        folds_path=Path(inputs.folds),
        metrics_path=Path(snakemake.output.metrics),
        predictions_path=Path(snakemake.output.predictions),
        job={k: wc[k] for k in ("dataset", "label", "scheme", "protocol", "method")}
        | {"fold": int(wc.fold)},
        label_spec=snakemake.params.label,
        train=snakemake.params.train,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        features_path=Path(inputs.features) if "features" in inputs.keys() else None,
        encoder_path=Path(inputs.encoder) if "encoder" in inputs.keys() else None,
        encoder_config=snakemake.params.encoder,
        checkpoint_path=Path(snakemake.params.checkpoint),
    )


main()
