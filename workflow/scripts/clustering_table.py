"""Every configuration's clustering scores in one table (rule clustering_table)."""

from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.stages.clustering import clustering_table_stage
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    clustering_table_stage(
        [Path(p) for p in snakemake.input], Path(snakemake.output[0])
    )


main()
