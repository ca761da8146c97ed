"""Build a dataset's Parquet window store and QC table (rule window_dataset)."""

from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.data.datasets import open_reader
from ecgssl.data.preprocess import PreprocessConfig, build_window_store
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    root = Path(snakemake.params.root)
    reader = open_reader(snakemake.wildcards.dataset, root, snakemake.params.reader)
    build_window_store(
        reader,
        root=root,
        store_path=Path(snakemake.output.store),
        qc_path=Path(snakemake.output.qc),
        config=PreprocessConfig.from_dict(snakemake.params.preprocess),
    )


main()
