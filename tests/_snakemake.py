"""Running the repository's workflow from tests: one command line for all of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def snakemake_cmd(
    workdir: Path,
    *args: str,
    configfiles: tuple[Path, ...] = (),
    snakefile: Path = REPO / "Snakefile",
) -> list[str]:
    """``snakemake`` on ``snakefile`` (this repository's) in ``workdir``.

    ``configfiles`` defaults to ``workdir / "config.yaml"``; ``args`` follow them.
    """
    configs = configfiles or (workdir / "config.yaml",)
    return [
        str(SNAKEMAKE),
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        *[a for c in configs for a in ("--configfile", str(c))],
        *args,
    ]


def run_snakemake(
    workdir: Path,
    *args: str,
    configfiles: tuple[Path, ...] = (),
    snakefile: Path = REPO / "Snakefile",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_cmd` to completion, capturing its output as text.

    ``env`` adds variables to this process's environment for the run.
    """
    return subprocess.run(
        snakemake_cmd(workdir, *args, configfiles=configfiles, snakefile=snakefile),
        capture_output=True,
        text=True,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
