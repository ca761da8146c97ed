"""Export a trained encoder with a model card a reader outside the project understands.

``ecgssl export --model results/pretext/<name>/<unit>/encoder.pt --output DIR``
writes into ``DIR``:

- ``encoder.pt``: the encoder (and its pretext heads) as a plain dict that loads with
  ``torch.load(path, weights_only=True)`` (see :mod:`ecgssl.learning.modelfile`);
- ``MODEL_CARD.md``: what it was trained on (datasets, windows, subjects), the
  preprocessing, the method, backbone, precision and epochs, its pretext accuracy,
  the evaluation table rows that used it, licence notes of the datasets involved,
  intended use and limits, and how to load it;
- ``preprocess.json``: the preprocessing settings new ECG must go through;
- ``provenance.json``: the encoder's full provenance record;
- ``example.py``: load the encoder and embed a recording file.

Everything is read from the files the workflow wrote next to the encoder
(``encoder.json``, ``windows.parquet``, ``real_ecg.tsv``), the window stores it names
and, if present, ``results/tables/``.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ecgssl.learning.modelfile import FORMAT, load_encoder
from ecgssl.util.atomic import write_text_atomic
from ecgssl.util.errors import DataFormatError

__all__ = ["LICENCE_NOTES", "export_model", "model_card"]

log = logging.getLogger(__name__)

#: What the providers' terms say, in short, for each dataset the project reads.
LICENCE_NOTES: dict[str, str] = {
    "dreamer": (
        "DREAMER (Katsigiannis & Ramzan 2018, Zenodo record 546113): restricted "
        "access, granted after accepting the providers' end-user licence agreement "
        "for research use."
    ),
    "wesad": (
        "WESAD (Schmidt et al. 2018): distributed by the University of Siegen for "
        "non-commercial academic research."
    ),
    "amigos": (
        "AMIGOS (Miranda-Correa et al. 2018): available to researchers after "
        "signing the providers' end-user licence agreement; academic, "
        "non-commercial use."
    ),
    "swell": (
        "SWELL-KW (Koldijk et al. 2014): distributed through the DANS archive under "
        "its access conditions; cite the dataset."
    ),
}
_SYNTHETIC_NOTE = (
    "synthetic copy written by ecgssl (no real person's data; the project's own "
    "licence applies)"
)
_RECORDINGS_NOTE = (
    "the user's own recordings (source: recordings): the consent, ethics approval "
    "and licence under which they were collected apply to the weights as well"
)
_METHOD = (
    "Self-supervised transformation recognition (Sarkar & Etemad, IEEE TAFFC 2020): "
    "each 10-s window and six transformed copies of it (Gaussian noise, scaling, "
    "negation, time flip, permutation of pieces, time warping) are passed through "
    "the convolutional encoder; seven binary heads learn to tell which "
    "transformation, if any, was applied. No emotion label is used."
)


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return "-" if value is None else str(value)


def _table(df: pd.DataFrame) -> str:
    """A pandas frame as a Markdown table (no extra package)."""
    if df.empty:
        return "(none)"
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(
        index=False
    )]  # fmt: skip
    return "\n".join([head, rule, *rows])


def _project_root(model: Path) -> Path:
    """The workflow folder of ``results/pretext/<name>/<unit>/encoder.pt``, else cwd."""
    parts = model.resolve().parents
    if len(parts) > 4 and parts[2].name == "pretext" and parts[3].name == "results":
        return parts[4]
    return Path.cwd()


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise DataFormatError(path, "json", f"not valid JSON: {err}") from err


def _store_metadata(root: Path, store: str) -> dict[str, Any] | None:
    from ecgssl.data.store import read_metadata

    path = Path(store) if Path(store).is_absolute() else root / store
    if not path.is_file():
        return None
    return read_metadata(path)


def _licence(dataset: str, source: str | None) -> str:
    if source == "synthetic":
        return f"{dataset}: {_SYNTHETIC_NOTE}."
    if dataset in LICENCE_NOTES:
        return LICENCE_NOTES[dataset]
    return f"{dataset}: {_RECORDINGS_NOTE}."


def _evaluation(root: Path, meta: dict[str, Any], name: str | None) -> str:
    """The evaluation rows that used this encoder (its unit's folds), if any."""
    tables = root / "results" / "tables"
    folds_path = tables / "folds.tsv"
    if not folds_path.is_file() or name is None:
        return (
            "No evaluation tables were found (results/tables/folds.tsv); run the "
            "workflow's fine-tuning stages to get them."
        )
    folds = pd.read_csv(folds_path, sep="\t")
    unit = _unit_name(meta)
    used = folds[(folds.pretext == name) & (folds["unit"].astype(str) == unit)]
    if used.empty:
        return f"No row of {folds_path.name} used this encoder (unit {unit})."
    keys = ["dataset", "label", "scheme", "protocol", "method", "label_fraction"]
    summary = (
        used.groupby(keys, sort=True)
        .agg(
            folds=("fold", "size"),
            accuracy=("accuracy", "mean"),
            balanced_accuracy=("balanced_accuracy", "mean"),
            majority_accuracy=("majority_accuracy", "mean"),
            n_test=("n_test", "sum"),
        )
        .reset_index()
    )
    return (
        f"Test folds of `results/tables/folds.tsv` that this encoder (unit `{unit}`) "
        "scored, averaged over them; `majority_accuracy` is the accuracy of always "
        "predicting the training fold's most frequent class. The pooled tables "
        "over every encoder of the scope are in `results/tables/summary.tsv`.\n\n"
        + _table(summary)
    )


def _unit_name(meta: dict[str, Any]) -> str:
    unit = meta.get("unit") or {}
    if unit.get("scope") == "train_folds":
        return f"{unit.get('protocol')}-fold{unit.get('fold')}"
    if unit.get("scope") == "leave_dataset_out":
        return f"without-{unit.get('dataset')}"
    return "all"


def model_card(model: Path, meta: dict[str, Any], obj: dict[str, Any]) -> str:
    """The text of ``MODEL_CARD.md`` for an encoder file and its provenance."""
    root = _project_root(model)
    name = model.parent.parent.name if model.parent.parent != model.parent else None
    config = meta.get("config") or {}
    run_config = _read_json(root / "results" / "tables" / "config.json") or {}
    sources = {
        k: (v or {}).get("source")
        for k, v in (run_config.get("datasets") or {}).items()
    }
    windows_path = model.with_name("windows.parquet")
    windows = pd.read_parquet(windows_path) if windows_path.is_file() else None

    lines = [
        f"# Model card: ECG encoder `{name or model.stem}` ({_unit_name(meta)})",
        "",
        "A 1-D convolutional encoder that maps a 10-s single-lead ECG window to a "
        f"feature vector of {_feature_size(obj)} values, learnt without labels. "
        "Exported "
        f"by ecgssl {meta.get('ecgssl', '?')} from `{model}`.",
        "",
        "## Data it was trained on",
        "",
    ]
    preprocess: dict[str, Any] | None = None
    rows = []
    for item in meta.get("inputs") or []:
        store = item.get("store", "?")
        dataset = Path(store).stem
        store_meta = _store_metadata(root, store) if store != "?" else None
        if store_meta is not None and preprocess is None:
            preprocess = {k: store_meta.get(k) for k in ("fs", "window_s", "filter",
                                                         "qc")}  # fmt: skip
            preprocess["normalisation"] = store_meta.get("normalisation")
        row = {"dataset": dataset, "source": sources.get(dataset) or "?",
               "windows used": item.get("n_windows")}  # fmt: skip
        if windows is not None:
            part = windows[windows.dataset == dataset]
            row["subjects"] = part.subject.nunique()
            row["training windows"] = int((part.part == "training").sum())
            row["validation windows"] = int((part.part == "validation").sum())
        if store_meta is not None:
            row["files"] = len(store_meta.get("inputs") or [])
        rows.append(row)
    lines += [
        _table(pd.DataFrame(rows)),
        "",
        f"Scope `{(meta.get('unit') or {}).get('scope', '?')}`: "
        + _scope_text(meta.get("unit") or {}),
        "Every window it saw is listed (dataset, store row, subject, training or "
        "validation part) in `windows.parquet` next to the original encoder; "
        f"validation subjects: {', '.join(meta.get('val_subjects') or []) or '-'}.",
        "",
        "## Preprocessing (apply the same to new ECG)",
        "",
    ]
    if preprocess is not None:
        filt = preprocess.get("filter") or {}
        band = (
            f"{filt.get('l_freq')} Hz high-pass"
            if filt.get("kind") == "highpass"
            else f"{filt.get('l_freq')}-{filt.get('h_freq')} Hz band-pass"
        )
        lines += [
            f"Resampled to {preprocess['fs']:g} Hz (polyphase, exact ratio), "
            f"zero-phase Butterworth {band} (order {filt.get('order')} per pass, "
            f"MNE), {preprocess.get('normalisation')}, cut into non-overlapping "
            f"{preprocess['window_s']:g}-s windows; windows touching missing or "
            "clipped samples or flat ones are dropped. `preprocess.json` holds these "
            "settings; `ecgssl.data.preprocess.prepare_windows` applies them.",
        ]
    else:
        lines.append(
            "The window stores it was trained on were not found; the package "
            "defaults (256 Hz, 0.8 Hz high-pass, 10-s windows) are in "
            "`preprocess.json`."
        )
    val_acc = meta.get("val_accuracy") or {}
    val_bacc = meta.get("val_balanced_accuracy") or {}
    pretext = pd.DataFrame(
        {"task": list(val_acc), "accuracy": [val_acc[t] for t in val_acc],
         "balanced accuracy": [val_bacc.get(t, math.nan) for t in val_acc]}
    )  # fmt: skip
    encoder_cfg = (obj.get("config") or {}).get("encoder") or {}
    lines += [
        "",
        "## Method and training",
        "",
        _METHOD,
        "",
        f"- backbone: `{obj.get('backbone', 'paper_cnn')}` "
        f"({', '.join(f'{k}={v}' for k, v in encoder_cfg.items())})",
        f"- precision: {meta.get('precision', '?')}; device: {meta.get('device', '?')}",
        f"- epochs: {meta.get('epochs_trained', '?')} trained of "
        f"{config.get('epochs', '?')} configured; batch size "
        f"{config.get('batch_size', '?')}, learning rate {config.get('lr', '?')}",
        f"- seed: {meta.get('seed', '?')}; versions: "
        + ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items()),
        "",
        "## Pretext accuracy (validation subjects)",
        "",
        _table(pretext),
        "",
        f"Top-1 over the seven signals: {_fmt(meta.get('val_top1'))}. Tasks not "
        f"learned (balanced accuracy near chance): "
        f"{', '.join(meta.get('not_learned') or []) or 'none'}.",
    ]
    real = model.with_name("real_ecg.tsv")
    if real.is_file():
        lines += ["", "Pretext heads on real ECG (`real_ecg.tsv`):", "",
                  _table(pd.read_csv(real, sep="\t"))]  # fmt: skip
    lines += [
        "",
        "## Evaluation rows that used it",
        "",
        _evaluation(root, meta, name),
        "",
        "## Licences of the data involved",
        "",
        *[f"- {_licence(r['dataset'], r['source'])}" for r in rows],
        "",
        "Weights learnt from data can carry that data's terms: check them before "
        "sharing the encoder.",
        "",
        "## Intended use and limits",
        "",
        "- Intended: research on ECG representations, e.g. frozen features for "
        "affect, stress or rhythm classifiers, compared against the supervised and "
        "HRV baselines of the evaluation above.",
        "- Not a medical device: it makes no diagnosis and was not validated for "
        "clinical use.",
        "- Input: one ECG lead, any sampling rate (resampled), at least one 10-s "
        "window; other leads, children, exercise or heavy artefacts were not "
        "checked and may give features unlike the training data's.",
        "- Trained on the datasets above only; a dataset marked synthetic means the "
        "encoder has never seen a real heart.",
        "",
        "## Load it and embed a recording",
        "",
        "```python",
        EXAMPLE.strip(),
        "```",
        "",
        "Or without writing code: `ecgssl features --model encoder.pt --input "
        "recording.edf --output features.npy` (any format `ecgssl.data.readers."
        "recordings` reads; `--channel`/`--channel-pattern`/`--channel-type` choose "
        "the lead).",
        "",
    ]
    return "\n".join(lines)


def _feature_size(obj: dict[str, Any]) -> str:
    filters = ((obj.get("config") or {}).get("encoder") or {}).get("filters")
    return str(filters[-1]) if filters else "?"


def _scope_text(unit: dict[str, Any]) -> str:
    scope = unit.get("scope")
    if scope == "train_folds":
        return (
            f"trained on the training part of fold {unit.get('fold')} of "
            f"{unit.get('protocol')} only, so it never saw that fold's test windows."
        )
    if scope == "leave_dataset_out":
        return f"trained without any window of {unit.get('dataset')}."
    return "trained on every window of the datasets (their test folds included)."


#: ``example.py``: load the exported encoder and embed a recording file.
EXAMPLE = """
import json
import sys

import torch

from ecgssl.data.preprocess import PreprocessConfig, prepare_windows
from ecgssl.data.readers.recordings import read_ecg
from ecgssl.learning.features import extract_features
from ecgssl.learning.modelfile import load_encoder

# The file is a plain dict of tensors and settings: no code is unpickled.
weights = torch.load("encoder.pt", weights_only=True)
encoder = load_encoder("encoder.pt")  # the network, in eval mode
with open("preprocess.json") as f:
    settings = PreprocessConfig.from_dict(json.load(f))

# Any EDF/BDF/BrainVision/FIF file or WFDB record (.hea); the ECG channel by type,
# name (channel="ECG") or pattern (channel_pattern="ECG*").
path = sys.argv[1] if len(sys.argv) > 1 else "recording.edf"
ecg, fs, channel = read_ecg(path, channel_type="ecg")
windows = prepare_windows(ecg, fs=fs, config=settings)  # (n_windows, samples)
features = extract_features(encoder, windows)  # (n_windows, n_features)
print(f"{path}: channel {channel}, {features.shape[0]} windows x "
      f"{features.shape[1]} features")
"""


def export_model(model: str | Path, output: str | Path) -> dict[str, Any]:
    """Write the encoder, its model card, settings and an example into ``output``.

    Parameters
    ----------
    model : str or Path
        An encoder file written by the workflow
        (``results/pretext/<name>/<unit>/encoder.pt``).
    output : str or Path
        Folder to write (created; files of the same names are replaced).

    Returns
    -------
    dict
        The files written and the encoder's pretext top-1 accuracy.

    Raises
    ------
    FileNotFoundError
        If ``model`` does not exist.
    ecgssl.util.errors.DataFormatError
        If it is not an encoder file, or a file next to it is malformed.
    """
    from ecgssl.data.preprocess import PreprocessConfig

    model, output = Path(model), Path(output)
    load_encoder(model)  # fails early, naming the file, on anything but an encoder
    obj = torch.load(model, map_location="cpu", weights_only=True)
    if obj.get("format") != FORMAT:  # pragma: no cover - load_encoder checked it
        raise DataFormatError(model, "format", f"not {FORMAT}")
    meta = _read_json(model.with_suffix(".json")) or dict(obj.get("meta") or {})
    card = model_card(model, meta, obj)
    settings = _settings(model, meta) or _defaults(PreprocessConfig())
    output.mkdir(parents=True, exist_ok=True)
    from ecgssl.learning.checkpoint import atomic_torch_save

    atomic_torch_save(obj, output / "encoder.pt")
    write_text_atomic(output / "MODEL_CARD.md", card)
    write_text_atomic(output / "preprocess.json", json.dumps(settings, indent=2))
    write_text_atomic(
        output / "provenance.json", json.dumps(meta, indent=2, sort_keys=True)
    )
    write_text_atomic(output / "example.py", EXAMPLE.lstrip())
    files = ["encoder.pt", "MODEL_CARD.md", "preprocess.json", "provenance.json",
             "example.py"]  # fmt: skip
    log.info("exported %s to %s", model, output)
    return {
        "output": str(output),
        "files": files,
        "val_top1": meta.get("val_top1"),
    }


def _defaults(cfg: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {"fs": cfg.fs, "window_s": cfg.window_s, "filter": asdict(cfg.filter),
            "qc": asdict(cfg.qc)}  # fmt: skip


def _settings(model: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The preprocessing of the first input store that can be found."""
    root = _project_root(model)
    for item in meta.get("inputs") or []:
        store_meta = _store_metadata(root, item.get("store", ""))
        if store_meta is not None:
            return {k: store_meta[k] for k in ("fs", "window_s", "filter", "qc")}
    return None
