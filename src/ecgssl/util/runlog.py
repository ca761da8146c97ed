"""Logging set-up shared by the workflow scripts and the command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(
    log_file: str | Path | None = None, *, level: int = logging.INFO
) -> None:
    """Send library logging to stderr and, if given, to ``log_file`` (overwritten)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    logging.getLogger("mne").setLevel(logging.WARNING)
    if log_file is not None:
        sys.excepthook = _log_then_raise


def _log_then_raise(exc_type, exc, tb) -> None:
    """Put an uncaught error into the job's log file too, then report it as usual.

    The log is where a user looks first; Snakemake shows the traceback on stderr.
    """
    if not issubclass(exc_type, KeyboardInterrupt):
        logging.getLogger("ecgssl").error("%s: %s", exc_type.__name__, exc)
    sys.__excepthook__(exc_type, exc, tb)
