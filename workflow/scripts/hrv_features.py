"""HRV indices of every window of a dataset (rule hrv_features)."""

from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.stages.hrv import hrv_stage
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    hrv_stage(Path(snakemake.input.store), Path(snakemake.output[0]))


main()
