"""Deterministic test folds of a dataset's labelled windows (rule assign_folds)."""

from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.stages.folds import folds_stage
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    folds_stage(
        Path(snakemake.input.store),
        Path(snakemake.output[0]),
        label=snakemake.wildcards.label,
        protocol=snakemake.wildcards.protocol,
        n_folds=snakemake.params.n_folds,
        seed=snakemake.params.seed,
    )


main()
