"""Benchmark the preprocessing stage: seconds per store and hours of ECG per second.

Writes synthetic datasets in their native formats (sizes below), then builds each
window store twice: as the workflow does (reader included) and from recordings already
in memory (reader excluded). Prints a table; nothing is asserted.

    .venv/bin/python bench/bench_preprocess.py [--scale 1.0]
"""

import argparse
import tempfile
import time
from pathlib import Path

from ecgssl.data.datasets import open_reader, write_synthetic
from ecgssl.data.preprocess import PreprocessConfig, build_window_store

# per dataset: synthetic writer options at --scale 1 (about 1-2 h of ECG each)
SIZES = {
    "dreamer": {"n_subjects": 6, "n_trials": 18, "stimulus_s": [60.0, 90.0]},
    "wesad": {"n_subjects": 2, "phase_s": 900.0},
    "amigos": {"n_subjects": 6, "n_trials": 16, "trial_s": [60.0, 100.0]},
    "swell": {"n_subjects": 2, "block_s": 1200.0},
}


class _InMemory:
    """A reader replaying recordings already read (excludes file parsing)."""

    def __init__(self, reader):
        self.name, self.label_columns = reader.name, reader.label_columns
        self._files, self._recs = reader.files(), list(reader.recordings())

    def files(self):
        return self._files

    def recordings(self):
        return iter(self._recs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier")
    args = parser.parse_args()
    cfg = PreprocessConfig()
    print(
        f"{'dataset':8} {'hours':>6} {'windows':>8} {'s (reader incl.)':>17} "
        f"{'h/s incl.':>10} {'s (excl.)':>10} {'h/s excl.':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in SIZES.items():
            size = dict(size)
            key = "n_subjects"
            size[key] = max(1, round(size[key] * args.scale))
            root = Path(tmp) / name
            write_synthetic(name, root, seed=1, **size)
            t0 = time.perf_counter()
            summary = build_window_store(
                open_reader(name, root),
                root=root,
                store_path=root / "w.parquet",
                qc_path=root / "qc.tsv",
                config=cfg,
                progress=lambda _: None,
            )
            incl = time.perf_counter() - t0
            mem = _InMemory(open_reader(name, root))
            t0 = time.perf_counter()
            build_window_store(
                mem,
                root=root,
                store_path=root / "w2.parquet",
                qc_path=root / "qc2.tsv",
                config=cfg,
                progress=lambda _: None,
            )
            excl = time.perf_counter() - t0
            hours = summary["hours_of_ecg"]
            print(
                f"{name:8} {hours:6.2f} {summary['n_windows']:8d} {incl:17.2f} "
                f"{hours / incl:10.2f} {excl:10.2f} {hours / excl:10.2f}"
            )


if __name__ == "__main__":
    main()
