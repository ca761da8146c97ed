"""Label stage: a configured label must have labelled windows (checked before training).

One job per dataset and configured label, scheduled before every training rule: a
label that a real download cannot provide (no condition table, every window in rest
minutes, ...) stops the run with one line naming the dataset, the label and the
reason, before any model is trained. Its output, read by the label's classifiers,
records how many windows carry the label and why others do not.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ecgssl.data.store import check_label_present, read_metadata, read_windows
from ecgssl.stages.provenance import write_json

log = logging.getLogger(__name__)


def label_stage(store: Path, label: str, out_path: Path) -> None:
    """Check that ``label`` has labelled windows; write its counts (JSON)."""
    check_label_present(store, label)
    meta = read_metadata(store)
    values = read_windows(store, columns=["subject", label])
    labelled = values[label].notna()
    summary = (meta.get("labels") or {}).get(label, {})
    record = {
        "dataset": meta.get("dataset", Path(store).stem),
        "label": label,
        "n_windows": int(len(values)),
        "n_labelled": int(labelled.sum()),
        "n_subjects_labelled": int(values.subject[labelled].nunique()),
        "withheld_windows": summary.get("withheld_windows", {}),
        "note": summary.get("note"),
    }
    write_json(out_path, record)
    log.info("%s %s: %d of %d windows labelled", record["dataset"], label,
             record["n_labelled"], record["n_windows"])  # fmt: skip
