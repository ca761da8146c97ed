"""A changed parameter, raw file or library module reruns exactly what depends on it.

One tiny workflow is run to completion (DREAMER read as a *raw* download written by
the synthetic writer, WESAD synthetic); then each change is checked with a dry run
that lists the jobs Snakemake would schedule.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ecgssl.datasets import write_synthetic

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
pytestmark = pytest.mark.slow

METHODS = ["ssl_frozen", "supervised"]
CONFIG = {
    "seed": 11,
    "datasets": {
        "dreamer": {"source": "raw", "path": "raw/dreamer"},
        "wesad": {"source": "synthetic", "synthetic": {"n_subjects": 2, "phase_s": 30}},
    },
    "pretext": {"epochs": 1, "batch_size": 16},
    "labels": {
        "dreamer": {"arousal": {"schemes": ["multiclass", "binary"], "threshold": 3}},
        "wesad": {"affect": {"schemes": ["multiclass"]}},
    },
    "finetune": {
        "methods": METHODS,
        "protocols": {"window_kfold": {"n_folds": 2}},
        "ssl_frozen": {"epochs": 2},
        "supervised": {"epochs": 1},
    },
}
# fine-tune jobs per (dataset, scheme): 1 protocol x 2 folds, per method
FOLDS = 2


def _snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    path = workdir / "variant.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(path), *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _scheduled(workdir: Path, config: dict) -> Counter:
    """Rule -> number of jobs a dry run would run (``all`` left out)."""
    proc = _snakemake(workdir, config, "--cores", "1", "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return Counter()
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    jobs = Counter(
        {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}
    )
    jobs.pop("all", None)
    return jobs


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reruns")
    write_synthetic(
        "dreamer", workdir / "raw" / "dreamer", seed=5, n_subjects=2, n_trials=2,
        stimulus_s=[25, 30], baseline_s=11,
    )  # fmt: skip
    proc = _snakemake(workdir, CONFIG, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def _changed(**changes) -> dict:
    config = copy.deepcopy(CONFIG)
    for dotted, value in changes.items():
        *keys, last = dotted.split("__")
        node = config
        for key in keys:
            node = node.setdefault(key, {})
        node[last] = value
    return config


def test_nothing_changed_nothing_runs(done):
    assert _scheduled(done, CONFIG) == Counter()


def test_finetune_parameter_reruns_only_that_methods_jobs(done):
    jobs = _scheduled(done, _changed(finetune__supervised__epochs=2))
    # dreamer (2 schemes) + wesad (1 scheme), supervised only
    assert jobs == Counter(finetune_classifier=3 * FOLDS, aggregate_metrics=1)


def test_label_scheme_of_one_dataset_reruns_only_its_jobs(done):
    config = _changed()
    config["labels"]["dreamer"]["arousal"]["threshold"] = 4
    jobs = _scheduled(done, config)
    # only the binary DREAMER jobs use the threshold
    assert jobs == Counter(
        finetune_classifier=len(METHODS) * FOLDS, aggregate_metrics=1
    )


def test_pretext_parameter_reruns_pretext_and_what_follows(done):
    jobs = _scheduled(done, _changed(pretext__lr=0.002))
    assert jobs == Counter(
        pretrain_encoder=1,
        extract_features=2,
        finetune_classifier=3 * FOLDS,  # the ssl_frozen jobs; supervised ones stay
        aggregate_metrics=1,
    )


def test_filter_cutoff_reruns_everything_from_the_stores(done):
    jobs = _scheduled(done, _changed(preprocess__filter__l_freq=0.5))
    assert jobs == Counter(
        window_dataset=2,
        pretrain_encoder=1,
        extract_features=2,
        assign_folds=2,
        finetune_classifier=3 * len(METHODS) * FOLDS,
        aggregate_metrics=1,
    )
    assert "synthesize_dataset" not in jobs


def _edited(path: Path):
    """Context: ``path`` gets an extra comment line; bytes and times restored after.

    Snakemake checksums small inputs, so a touch alone (same content) is rightly not
    a change; an edit is.
    """

    class _Edit:
        def __enter__(self):
            self.stat, self.data = path.stat(), path.read_bytes()
            path.write_bytes(self.data + b"\n# edited by test_reruns\n")

        def __exit__(self, *exc):
            path.write_bytes(self.data)
            os.utime(path, ns=(self.stat.st_atime_ns, self.stat.st_mtime_ns))

    return _Edit()


def test_replaced_raw_file_reruns_its_dataset_and_what_follows(done):
    raw = done / "raw" / "dreamer"
    original = (raw / "DREAMER.mat").read_bytes()
    write_synthetic(
        "dreamer", raw, seed=6, n_subjects=2, n_trials=2, stimulus_s=[25, 30],
        baseline_s=11,
    )  # fmt: skip
    try:
        jobs = _scheduled(done, CONFIG)
    finally:
        (raw / "DREAMER.mat").write_bytes(original)
    assert jobs == Counter(
        window_dataset=1,
        assign_folds=1,
        pretrain_encoder=1,  # trained on every dataset's windows
        extract_features=2,
        # dreamer: both methods, both schemes; wesad: ssl_frozen only (new features)
        finetune_classifier=(2 * len(METHODS) + 1) * FOLDS,
        aggregate_metrics=1,
    )
    assert _scheduled(done, CONFIG) == Counter()  # same bytes again: nothing to do


def test_edited_model_module_reruns_training_and_what_follows(done):
    with _edited(REPO / "src" / "ecgssl" / "models.py"):
        jobs = _scheduled(done, CONFIG)
    assert jobs == Counter(
        pretrain_encoder=1,
        extract_features=2,
        finetune_classifier=3 * len(METHODS) * FOLDS,
        aggregate_metrics=1,
    )
    assert _scheduled(done, CONFIG) == Counter()  # restored


# Growing the study schedules only the new jobs: seeds come from each job's own
# identity, so existing results stay valid and are not recomputed.


def test_added_method_runs_only_its_jobs(done):
    config = _changed()
    config["finetune"]["methods"] = [*METHODS, "ssl_finetune"]
    config["finetune"]["ssl_finetune"] = {"epochs": 1}
    jobs = _scheduled(done, config)
    assert jobs == Counter(finetune_classifier=3 * FOLDS, aggregate_metrics=1)


def test_added_protocol_runs_only_its_jobs(done):
    config = _changed()
    config["finetune"]["protocols"]["subject_kfold"] = {"n_folds": 2}
    jobs = _scheduled(done, config)
    assert jobs == Counter(
        assign_folds=2,  # dreamer/arousal, wesad/affect
        finetune_classifier=3 * len(METHODS) * 2,
        aggregate_metrics=1,
    )


def test_added_dataset_runs_only_its_jobs_when_pretext_data_is_pinned(done):
    config = _changed(pretext__datasets=["dreamer", "wesad"])
    config["datasets"]["swell"] = {
        "source": "synthetic",
        "synthetic": {"n_subjects": 2, "block_s": 30},
    }
    config["labels"]["swell"] = {"stress": {"schemes": ["multiclass"]}}
    jobs = _scheduled(done, config)
    assert jobs == Counter(
        synthesize_dataset=1,
        window_dataset=1,
        extract_features=1,
        assign_folds=1,
        finetune_classifier=len(METHODS) * FOLDS,
        aggregate_metrics=1,
    )
