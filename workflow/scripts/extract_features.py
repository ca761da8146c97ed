"""Frozen encoder features of a dataset's windows (rule extract_features)."""

from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.learning.device import set_threads
from ecgssl.stages.features import features_stage
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    set_threads(snakemake.threads)
    features_stage(
        Path(snakemake.input.model),
        Path(snakemake.input.store),
        Path(snakemake.output[0]),
        device=snakemake.params.device,
    )


main()
