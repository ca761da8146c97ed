"""Pretrain one encoder unit on the transformation-recognition task."""

from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.learning.device import set_threads
from ecgssl.stages.pretext import pretext_stage
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    set_threads(snakemake.threads)
    inputs = snakemake.input
    pretext_stage(
        [Path(p) for p in inputs.stores],
        folds=[Path(p) for p in inputs.folds] if "folds" in inputs.keys() else [],
        unit=snakemake.params.unit,
        model_path=Path(snakemake.output.model),
        sidecar_path=Path(snakemake.output.sidecar),
        history_path=Path(snakemake.output.history),
        windows_path=Path(snakemake.output.windows),
        config=snakemake.params.config,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        precision=snakemake.params.precision,
        checkpoint_path=Path(snakemake.params.checkpoint),
        pretrain_fraction=snakemake.params.pretrain_fraction,
        fraction_seed=snakemake.params.fraction_seed,
    )


main()
