"""Write a synthetic dataset in its native raw format (rule synthesize_dataset)."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ecgssl.data.datasets import write_synthetic
from ecgssl.util.runlog import setup_logging

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    setup_logging(snakemake.log[0])
    dataset = snakemake.wildcards.dataset
    out_dir = Path(snakemake.output[0])
    files = write_synthetic(
        dataset, out_dir, seed=snakemake.params.seed, **snakemake.params.options
    )
    size = sum(p.stat().st_size for p in files)
    logging.getLogger("synthesize_dataset").info(
        "%s: wrote %d files (%.1f MB) to %s", dataset, len(files), size / 1e6, out_dir
    )


main()
