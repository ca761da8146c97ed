"""Transfer check: how well a pretext model recognises the transformations on real ECG.

An encoder trained on the synthetic datasets is meant for real recordings. This
scores its seven heads with the pretext method's own ``evaluate`` on the real
recordings that installed packages ship
(:mod:`ecgssl.data.reference_ecg`), preprocessed exactly like the window stores.
Each window is transformed ``repeats`` times with independent random draws (the
permutation order, the noise, the warped pieces), so that a 5-minute recording (30
windows) gives stable balanced accuracies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecgssl.data.reference_ecg import load_references, reference_windows
from ecgssl.learning.pretext.transformation_recognition import (
    TASK_WEIGHTS,
    PretextNet,
    Scores,
    evaluate,
)
from ecgssl.learning.transforms import TransformParams
from ecgssl.util.checks import check_int, validate_type
from ecgssl.util.seeds import stable_seed

__all__ = ["ALL_REFERENCES", "model_from_file", "real_ecg_scores", "scores_table"]

#: Key of the scores over all reference windows pooled.
ALL_REFERENCES = "all"


def model_from_file(path: str | Path) -> tuple[PretextNet, TransformParams]:
    """A pretext model file's network and the transformation parameters it learned.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`ecgssl.learning.modelfile.save_pretext_model` (with
        heads), e.g. ``results/pretext/default/model.pt``.

    Returns
    -------
    model : PretextNet
        Encoder and heads, in eval mode on the CPU.
    params : TransformParams
        From the stored pretext configuration (defaults where it has none).
    """
    from ecgssl.learning.modelfile import load_pretext_model

    encoder, heads, meta = load_pretext_model(path)
    stored = (meta.get("config") or {}).get("transforms") or {}
    return PretextNet(encoder, heads).eval(), TransformParams(**stored)


def _batches(
    windows: np.ndarray, batch_size: int, repeats: int, device: torch.device
) -> Iterator[torch.Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
    for _ in range(repeats):
        for i in range(0, x.shape[0], batch_size):
            yield x[i : i + batch_size].to(device)


def real_ecg_scores(
    model: PretextNet | str | Path,
    *,
    params: TransformParams | None = None,
    recordings: Sequence[str] | None = None,
    seed: int = 0,
    repeats: int = 4,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> dict[str, Scores]:
    """Per-head scores of a pretext model on real ECG recordings.

    Parameters
    ----------
    model : PretextNet, str or Path
        The trained network, or a model file (see :func:`model_from_file`).
    params : TransformParams, optional
        Transformation parameters; default: the file's (for a path) or the paper's.
    recordings : sequence of str, optional
        Names from :data:`ecgssl.data.reference_ecg.REFERENCES`; default: every
        available one.
    seed : int
        Seed of the transformations' random draws.
    repeats : int
        Independently transformed copies of each window.
    batch_size : int
        Windows per forward pass (x 7 signals).
    device : str or torch.device
        Where to run the model.

    Returns
    -------
    dict
        Recording name -> :class:`Scores` (``balanced_accuracy`` per head, chance
        0.5), plus :data:`ALL_REFERENCES` -> the scores over all their windows.
    """
    if isinstance(model, str | Path):
        model, stored = model_from_file(model)
        params = stored if params is None else params
    validate_type(model, PretextNet, "model")
    params = TransformParams() if params is None else params
    validate_type(params, TransformParams, "params")
    check_int(seed, "seed")
    check_int(repeats, "repeats", minimum=1)
    check_int(batch_size, "batch_size", minimum=1)
    device = torch.device(device)
    model = model.to(device)

    windows = {r.name: reference_windows(r) for r in load_references(recordings)}
    if not windows:
        raise ValueError("no reference recordings to score")
    if len(windows) > 1:
        windows[ALL_REFERENCES] = np.concatenate(list(windows.values()))
    out = {}
    for name, w in windows.items():
        gen = torch.Generator(device=device).manual_seed(stable_seed(seed, name))
        out[name] = evaluate(
            model,
            _batches(w, batch_size, repeats, device),
            params=params,
            weights=TASK_WEIGHTS,
            l2=0.0,
            generator=gen,
            device=device,
        )
    if ALL_REFERENCES not in out:  # one recording: the pooled scores are its own
        out[ALL_REFERENCES] = next(iter(out.values()))
    return out


def scores_table(scores: Mapping[str, Scores]) -> list[dict[str, Any]]:
    """One row per recording: ``recording``, each head's balanced accuracy, mean.

    Parameters
    ----------
    scores : dict
        From :func:`real_ecg_scores`.

    Returns
    -------
    list of dict
        Rows with ``recording``, the six transformation heads' balanced accuracy
        and ``mean`` (of those six).
    """
    from ecgssl.learning.transforms import TASKS

    rows = []
    for name, s in scores.items():
        heads = {t: s.balanced_accuracy[t] for t in TASKS[1:]}
        mean = float(np.mean(list(heads.values())))
        rows.append({"recording": name, **heads, "mean": mean})
    return rows
