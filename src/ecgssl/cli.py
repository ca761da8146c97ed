"""The ``ecgssl`` command line: apply a trained encoder to new ECG; export one."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from ecgssl import __version__
from ecgssl.util.checks import check_int
from ecgssl.util.errors import DataFormatError, EcgSslError

__all__ = ["main", "pretext_scores", "read_npy"]

log = logging.getLogger("ecgssl.cli")

_NPY_MAGIC = b"\x93NUMPY"
# Windows per pretext-check batch (7 signals each). Fixed, not an option: the
# transformations draw from one generator batch by batch, so the batch size is part
# of what a seed means.
_CHECK_BATCH = 64


class CliError(Exception):
    """A user-facing error: printed as one ``ecgssl: error:`` line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        """Turn argparse's complaints into :class:`CliError`."""
        raise CliError(f"{self.prog}: {message}")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive rate in Hz, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**63), got {value}")
    return value


def read_npy(path: str | Path) -> np.ndarray:
    """Read ECG from a ``.npy`` file without ever unpickling anything.

    Parameters
    ----------
    path : str or Path
        A NumPy ``.npy`` file (checked by its magic header, not its name) holding a
        non-empty integer or floating-point array of shape ``(n_samples,)`` (one
        recording) or ``(n_windows, n_samples_per_window)``.

    Returns
    -------
    np.ndarray, shape (n_samples,) or (n_windows, n_samples_per_window)
        The array as stored (its dtype unchanged).

    Raises
    ------
    FileNotFoundError
        If ``path`` is not an existing file.
    ecgssl.util.errors.DataFormatError
        If it is not a ``.npy`` file, holds Python objects (pickled data), has a
        non-numeric dtype or the wrong number of dimensions, or is empty.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    with open(path, "rb") as f:
        magic = f.read(len(_NPY_MAGIC))
    if magic != _NPY_MAGIC:
        raise DataFormatError(
            path, "header", "not a NumPy .npy file (no \\x93NUMPY magic header)"
        )
    try:
        # allow_pickle=False: numpy refuses object arrays before unpickling them.
        x = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower() or "object" in str(err).lower():
            raise DataFormatError(
                path, "dtype", "holds Python objects (pickled data); refused"
            ) from err
        raise DataFormatError(path, "data", f"unreadable .npy file: {err}") from err
    except (EOFError, OSError) as err:
        raise DataFormatError(path, "data", f"unreadable .npy file: {err}") from err
    if not isinstance(x, np.ndarray):  # pragma: no cover - np.load of a .npy file
        raise DataFormatError(path, "data", f"not an array: {type(x).__name__}")
    if x.dtype.kind not in "iuf":
        raise DataFormatError(
            path, "dtype", f"must be an integer or float array, got dtype {x.dtype}"
        )
    if x.ndim not in (1, 2) or x.size == 0:
        raise DataFormatError(
            path,
            "shape",
            "must be a non-empty 1-D recording or 2-D array of windows, "
            f"got shape {x.shape}",
        )
    return x


def _is_npy(path: Path) -> bool:
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    with open(path, "rb") as f:
        return f.read(len(_NPY_MAGIC)) == _NPY_MAGIC


def _read_input(args: argparse.Namespace) -> tuple[np.ndarray, float]:
    """The input as an array and its rate: a ``.npy`` file (``--fs`` required) or a
    recording file read with :func:`ecgssl.data.readers.recordings.read_ecg`."""
    path = args.input
    if path.suffix.lower() == ".npy" or _is_npy(path):
        if args.fs is None:
            raise CliError(f"{path}: --fs is required for a .npy input")
        return read_npy(path), args.fs
    from ecgssl.data.readers.recordings import read_ecg  # MNE, wfdb: only here

    ecg, fs, channel = read_ecg(
        path,
        channel=args.channel,
        channel_pattern=args.channel_pattern,
        channel_type=args.channel_type,
        fs=args.fs,
    )
    log.info("%s: channel %s", path, channel)
    return ecg, fs


def _load_windows(args: argparse.Namespace) -> np.ndarray:
    """Read and preprocess the input; every failure becomes a :class:`CliError`."""
    from ecgssl.data.preprocess import prepare_windows  # scipy, MNE: only here

    path = args.input
    x, fs = _read_input(args)
    kind = "recording" if x.ndim == 1 else "windows"
    log.info("%s: %s of shape %s at %g Hz", path, kind, x.shape, fs)
    try:
        windows = prepare_windows(x, fs=fs)
    except ValueError as err:
        raise CliError(f"{path}: {err}") from err
    if windows.shape[0] == 0:
        raise CliError(f"{path}: no usable window")
    log.info("%d windows of %d samples", windows.shape[0], windows.shape[1])
    return windows


def _device(preference: str) -> torch.device:
    from ecgssl.learning.device import select_device

    try:
        return select_device(preference)
    except ValueError as err:
        raise CliError(f"--device: {err}") from err


def _transform_params(meta: dict[str, Any], path: Path) -> Any:
    """The transform parameters stored in a model's meta config, else the defaults."""
    from ecgssl.learning.transforms import TransformParams

    config = meta.get("config")
    stored = config.get("transforms") if isinstance(config, dict) else None
    if stored is None:
        log.info("%s: no transform parameters stored; using the defaults", path)
        return TransformParams()
    if not isinstance(stored, dict):
        raise DataFormatError(path, "meta.config.transforms", "must be a dict")
    try:
        return TransformParams(**stored)
    except (TypeError, ValueError) as err:
        raise DataFormatError(path, "meta.config.transforms", str(err)) from err


def pretext_scores(
    model: torch.nn.Module,
    windows: np.ndarray,
    *,
    meta: dict[str, Any],
    params: Any,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    batch_size: int = _CHECK_BATCH,
) -> Any:
    """Scores of the pretext heads on transformed windows (as in validation).

    Parameters
    ----------
    model : PretextNet
        Encoder plus heads, run in eval mode.
    windows : np.ndarray, shape (n_windows, length)
        Preprocessed windows.
    meta : dict
        The model's stored provenance (for the loss weights and L2 factor).
    params : ecgssl.learning.transforms.TransformParams
        Transformation parameters.
    generator : torch.Generator
        Source of all randomness of the transformations.
    device : torch.device or str
        Where to run.
    batch_size : int
        Windows per batch (the draws from ``generator`` depend on it).

    Returns
    -------
    ecgssl.learning.pretext.transformation_recognition.Scores
    """
    from ecgssl.learning.pretext.transformation_recognition import (
        TASK_WEIGHTS,
        evaluate,
    )

    if windows.ndim != 2 or windows.shape[0] == 0:
        raise ValueError(f"windows must be non-empty 2-D, got shape {windows.shape}")
    check_int(batch_size, "batch_size", minimum=1)
    device = torch.device(device)
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    batches = (
        torch.from_numpy(
            np.ascontiguousarray(windows[i : i + batch_size], dtype=np.float32)
        ).to(device)
        for i in range(0, windows.shape[0], batch_size)
    )
    return evaluate(
        model.to(device),
        batches,
        params=params,
        weights=config.get("task_weights", TASK_WEIGHTS),
        l2=config.get("l2", 0.0),
        generator=generator,
        device=device,
    )


def _cmd_features(args: argparse.Namespace) -> dict[str, Any]:
    from ecgssl.learning.features import extract_features
    from ecgssl.learning.modelfile import load_encoder
    from ecgssl.util.atomic import atomic_path

    device = _device(args.device)
    encoder = load_encoder(args.model, map_location=device)
    windows = _load_windows(args)
    feats = extract_features(
        encoder, windows, device=device, batch_size=args.batch_size
    )
    with atomic_path(args.output) as tmp, open(tmp, "wb") as f:
        # a file handle, so that numpy does not append ".npy" to the name
        np.save(f, feats, allow_pickle=False)
    log.info("wrote %s features to %s", feats.shape, args.output)
    return {
        "n_windows": int(feats.shape[0]),
        "n_features": int(feats.shape[1]),
        "output": str(args.output),
    }


def _cmd_pretext_check(args: argparse.Namespace) -> dict[str, Any]:
    from ecgssl.learning.modelfile import load_pretext_model
    from ecgssl.learning.pretext.transformation_recognition import PretextNet

    device = _device(args.device)
    encoder, heads, meta = load_pretext_model(args.model, map_location=device)
    params = _transform_params(meta, args.model)
    try:
        model = PretextNet(encoder, heads)
    except ValueError as err:
        raise DataFormatError(args.model, "heads", str(err)) from err
    windows = _load_windows(args)
    try:
        params.check_length(windows.shape[1])
    except ValueError as err:
        raise CliError(f"{args.model}: stored transform parameters: {err}") from err
    generator = torch.Generator().manual_seed(args.seed)
    scores = pretext_scores(
        model, windows, meta=meta, params=params, generator=generator, device=device
    )
    return {
        "accuracy": {t: round(v, 4) for t, v in scores.accuracy.items()},
        "balanced_accuracy": {
            t: round(v, 4) for t, v in scores.balanced_accuracy.items()
        },
        "top1": round(scores.top1, 4),
        "not_learned": scores.not_learned(),
        "n_windows": int(windows.shape[0]),
    }


def _cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    from ecgssl.learning.export import export_model

    return export_model(args.model, args.output)


def _parser() -> _Parser:
    parser = _Parser(
        prog="ecgssl",
        description="Apply a trained ECG encoder (Sarkar & Etemad 2020) to new ECG, "
        "or export one with a model card. "
        "Results go to stdout as one JSON line; progress (-v) and errors to stderr.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress to stderr"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", required=True, type=Path, help="encoder file (.pt)")
        p.add_argument(
            "--input",
            required=True,
            type=Path,
            help="ECG as .npy (1-D recording or 2-D array of 10-s windows, rows), or "
            "a recording file: EDF, BDF, GDF, BrainVision .vhdr, FIF, EEGLAB .set, "
            "CNT or a WFDB record's .hea",
        )
        p.add_argument(
            "--fs",
            type=_positive_float,
            default=None,
            help="sampling rate in Hz: required for .npy; for a recording file the "
            "header's rate, which must then equal it",
        )
        p.add_argument(
            "--channel", default=None, help="recording file: ECG channel name"
        )
        p.add_argument(
            "--channel-pattern",
            default=None,
            help="recording file: case-insensitive glob of the ECG channel name",
        )
        p.add_argument(
            "--channel-type",
            default="ecg",
            help="recording file: MNE channel type of the ECG (default ecg; files "
            "without types: names with ECG/EKG, WFDB lead names or a lone signal)",
        )
        p.add_argument(
            "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps"
        )

    feats = sub.add_parser(
        "features",
        help="frozen encoder features per 10-s window (.npy; 128 for the paper's CNN)",
    )
    common(feats)
    feats.add_argument(
        "--output", required=True, type=Path, help="features file (.npy, float32)"
    )
    feats.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="windows per pass (default: 32 on the CPU, 256 on a GPU)",
    )
    feats.set_defaults(func=_cmd_features)

    check = sub.add_parser(
        "pretext-check",
        help="per-task accuracy of the pretext heads on the transformed input",
    )
    common(check)
    check.add_argument(
        "--seed", type=_seed, default=0, help="seed of the transformations"
    )
    check.set_defaults(func=_cmd_pretext_check)

    export = sub.add_parser(
        "export",
        help="copy an encoder with a model card (MODEL_CARD.md), its preprocessing "
        "settings and an example of use into a folder",
    )
    export.add_argument(
        "--model",
        required=True,
        type=Path,
        help="encoder file, results/pretext/<name>/<unit>/encoder.pt",
    )
    export.add_argument("--output", required=True, type=Path, help="folder to write")
    export.set_defaults(func=_cmd_export)
    return parser


def _error(message: str) -> int:
    text = " ".join(str(message).split())  # one line
    print(f"ecgssl: error: {text}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ecgssl`` command line.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments without the program name; None means ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 on any user error (one ``ecgssl: error:``
        line on stderr, no output file written).
    """
    parser = _parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except CliError as err:
        return _error(str(err))
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ecgssl: %(message)s"))
    package_log = logging.getLogger("ecgssl")
    package_log.addHandler(handler)
    old_level = package_log.level
    package_log.setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        result = args.func(args)
    except (CliError, EcgSslError, OSError) as err:
        # DataFormatError is an EcgSslError; FileNotFoundError is an OSError.
        return _error(str(err))
    finally:
        package_log.removeHandler(handler)
        package_log.setLevel(old_level)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
