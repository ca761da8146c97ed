"""A changed parameter, raw file or library module reruns exactly what depends on it.

One tiny workflow is run to completion in a copy of the project (Snakefile, workflow/
and src/; DREAMER read as a *raw* download written by the synthetic writer, WESAD
synthetic); then each change is checked with a dry run that lists the jobs Snakemake
would schedule. Library edits are made to the copy, never to this checkout.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from _snakemake import REPO, run_snakemake

from ecgssl.data.datasets import write_synthetic

pytestmark = pytest.mark.slow

METHODS = ["ssl_frozen", "supervised"]
# DREAMER raw (written by the fixture), WESAD synthetic; 2 methods, 2 folds
CONFIG = yaml.safe_load((REPO / ".test" / "config-reruns.yaml").read_text())
# fine-tune jobs per (dataset, scheme): 1 protocol x 2 folds, per method
FOLDS = 2
# every fine-tune job: (dreamer 2 schemes + wesad 1) x methods x folds
ALL_FINETUNE = 3 * len(METHODS) * FOLDS
# encoders: scope train_folds, one per fold of the one protocol
UNITS = FOLDS
# configured labels (dreamer: one label in two schemes; wesad: one)
LABELS = 2


def _copy_project(dest: Path) -> Path:
    """Copy what the workflow is made of (not .venv, .git or results) to ``dest``."""
    dest.mkdir(parents=True)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("workflow", "src", "envs"):
        shutil.copytree(REPO / folder, dest / folder, ignore=ignore)
    return dest


def _snakemake(project: Path, config: dict, *args: str):
    path = project / "variant.yaml"
    path.write_text(yaml.safe_dump(config))
    return run_snakemake(
        project, *args, configfiles=(path,), snakefile=project / "Snakefile"
    )


def _scheduled(project: Path, config: dict) -> Counter:
    """Rule -> number of jobs a dry run would run (``all`` left out)."""
    proc = _snakemake(project, config, "--cores", "1", "--dry-run")
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
    project = _copy_project(tmp_path_factory.mktemp("reruns") / "project")
    write_synthetic(
        "dreamer", project / "raw" / "dreamer", seed=5, n_subjects=2, n_trials=2,
        stimulus_s=[25, 30], baseline_s=11,
    )  # fmt: skip
    proc = _snakemake(project, CONFIG, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return project


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
        pretrain_encoder=UNITS,
        real_ecg_check=UNITS,
        extract_features=UNITS * 2,
        finetune_classifier=3 * FOLDS,  # the ssl_frozen jobs; supervised ones stay
        aggregate_metrics=1,
    )


def test_added_pretext_configuration_runs_only_its_jobs(done):
    # the one configuration becomes one of two named ones (same name, no override):
    # its results stay; only the new configuration's encoders and jobs run
    config = _changed()
    config["pretext"]["configs"] = {"default": {}, "longer": {"epochs": 2}}
    jobs = _scheduled(done, config)
    assert jobs == Counter(
        pretrain_encoder=UNITS,
        real_ecg_check=UNITS,
        extract_features=UNITS * 2,
        finetune_classifier=3 * FOLDS,  # ssl_frozen on the new configuration
        aggregate_metrics=1,
    )


def test_filter_cutoff_reruns_everything_from_the_stores(done):
    jobs = _scheduled(done, _changed(preprocess__filter__l_freq=0.5))
    assert jobs == Counter(
        window_dataset=2,
        check_label=LABELS,
        pretrain_encoder=UNITS,
        real_ecg_check=UNITS,
        extract_features=UNITS * 2,
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
        check_label=1,  # dreamer's one label
        assign_folds=1,
        pretrain_encoder=UNITS,  # trained on every dataset's windows
        real_ecg_check=UNITS,
        extract_features=UNITS * 2,
        # dreamer: both methods, both schemes; wesad: ssl_frozen only (new features)
        finetune_classifier=(2 * len(METHODS) + 1) * FOLDS,
        aggregate_metrics=1,
    )
    assert _scheduled(done, CONFIG) == Counter()  # same bytes again: nothing to do


def _library(project: Path, module: str) -> Path:
    return project / "src" / "ecgssl" / module


def test_edited_model_module_reruns_training_and_what_follows(done):
    with _edited(_library(done, "learning/backbones/paper_cnn.py")):
        jobs = _scheduled(done, CONFIG)
    assert jobs == Counter(
        pretrain_encoder=UNITS,
        real_ecg_check=UNITS,
        extract_features=UNITS * 2,
        finetune_classifier=ALL_FINETUNE,
        aggregate_metrics=1,
    )
    assert _scheduled(done, CONFIG) == Counter()  # restored


def test_edited_stage_module_reruns_only_its_stage_and_what_follows(done):
    with _edited(_library(done, "stages/finetune.py")):
        jobs = _scheduled(done, CONFIG)
    assert jobs == Counter(finetune_classifier=ALL_FINETUNE, aggregate_metrics=1)


def test_edited_shared_stage_module_reruns_every_stage_that_calls_it(done):
    # provenance: versions() and the JSON sidecars of models and metrics
    with _edited(_library(done, "stages/provenance.py")):
        jobs = _scheduled(done, CONFIG)
    assert jobs == Counter(
        check_label=LABELS,
        pretrain_encoder=UNITS,
        real_ecg_check=UNITS,
        extract_features=UNITS * 2,
        finetune_classifier=ALL_FINETUNE,
        aggregate_metrics=1,
    )


def test_edited_seeds_module_reruns_what_draws_seeds(done):
    with _edited(_library(done, "util/seeds.py")):
        jobs = _scheduled(done, CONFIG)
    assert jobs == Counter(
        assign_folds=2,
        pretrain_encoder=UNITS,
        real_ecg_check=UNITS,
        extract_features=UNITS * 2,
        finetune_classifier=ALL_FINETUNE,
        aggregate_metrics=1,
    )


def test_edited_features_module_reruns_features_and_finetuning(done):
    # normalise_per_subject (feature_norm) lives there and runs in fine-tune jobs
    with _edited(_library(done, "learning/features.py")):
        jobs = _scheduled(done, CONFIG)
    assert jobs == Counter(
        extract_features=UNITS * 2,
        finetune_classifier=ALL_FINETUNE,
        aggregate_metrics=1,
    )


def test_edited_metrics_module_reruns_finetuning_and_tables(done):
    with _edited(_library(done, "evaluation/metrics.py")):
        jobs = _scheduled(done, CONFIG)
    assert jobs == Counter(finetune_classifier=ALL_FINETUNE, aggregate_metrics=1)


@pytest.mark.parametrize(
    "module",
    ["util/atomic.py", "util/errors.py", "util/runlog.py", "util/jobserver.py"],
)
def test_edited_module_that_cannot_change_results_reruns_nothing(done, module):
    with _edited(_library(done, module)):
        assert _scheduled(done, CONFIG) == Counter()


def test_moved_project_does_not_rerun(done, tmp_path):
    """A finished project copied (cp -a) or renamed elsewhere has nothing to do."""
    moved = tmp_path / "moved"
    shutil.copytree(done, moved, symlinks=True)  # copy2: contents, modes and times
    assert _scheduled(moved, CONFIG) == Counter()
    renamed = tmp_path / "renamed"
    os.rename(moved, renamed)
    assert _scheduled(renamed, CONFIG) == Counter()


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
        assign_folds=2,  # dreamer and wesad folds for the new protocol
        pretrain_encoder=2,  # one encoder per fold of the new protocol
        real_ecg_check=2,
        extract_features=2 * 2,
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
        check_label=1,
        extract_features=UNITS,  # swell's features from every (unchanged) encoder
        assign_folds=1,
        finetune_classifier=len(METHODS) * FOLDS,
        aggregate_metrics=1,
    )
