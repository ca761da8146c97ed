"""Running the repository's workflow from tests: one command line for all of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def snakemake_cmd(
    workdir: Path, *args: str, configfiles: tuple[Path, ...] = ()
) -> list[str]:
    """``snakemake`` on this repository's Snakefile in ``workdir``.

    ``configfiles`` defaults to ``workdir / "config.yaml"``; ``args`` follow them.
    """
    configs = configfiles or (workdir / "config.yaml",)
    return [
        str(SNAKEMAKE),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *[a for c in configs for a in ("--configfile", str(c))],
        *args,
    ]


def run_snakemake(
    workdir: Path, *args: str, configfiles: tuple[Path, ...] = ()
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_cmd` to completion, capturing its output as text."""
    return subprocess.run(
        snakemake_cmd(workdir, *args, configfiles=configfiles),
        capture_output=True,
        text=True,
        check=False,
    )
