"""Two named pretext configurations run side by side through to the tables.

A tiny run: DREAMER and WESAD synthetic, two subject-wise folds, one pretext epoch;
configuration ``a`` (the shared settings) and the sweep point
``half_pretrain_fraction=0.5`` (half of each subject's unlabelled windows); the frozen
head, the linear and k-NN probes and the supervised reference; clustering on.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml
from _snakemake import run_snakemake

pytestmark = pytest.mark.slow

NAMES = ["a", "half_pretrain_fraction=0.5"]
FOLDS = 2
CONFIG = {
    "seed": 3,
    "datasets": {
        "dreamer": {"source": "synthetic", "synthetic": {
            "n_subjects": 4, "n_trials": 2, "stimulus_s": [25, 30], "baseline_s": 11}},
        "wesad": {"source": "synthetic",
                  "synthetic": {"n_subjects": 4, "phase_s": 30}},
    },
    "pretext": {
        "epochs": 1, "batch_size": 16, "real_ecg_check": {"enabled": False},
        "configs": {"a": {}},
        "sweep": {"half": {"pretrain_fraction": [0.5]}},
    },
    "labels": {"dreamer": {"arousal": {"schemes": ["multiclass"]}},
               "wesad": {"affect": {"schemes": ["multiclass"]}}},
    "finetune": {
        "methods": ["ssl_frozen", "linear_probe", "knn_probe", "supervised"],
        "protocols": {"subject_kfold": {"n_folds": FOLDS}},
        "ssl_frozen": {"epochs": 2},
        "supervised": {"epochs": 1},
    },
    "evaluation": {"n_bootstrap": 100, "clustering": {"enabled": True, "n_init": 2}},
}  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("compare")
    (workdir / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    proc = run_snakemake(workdir, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)


def test_each_configuration_trains_its_own_encoders_on_its_share(run):
    seen = {}
    for name in NAMES:
        for k in range(FOLDS):
            folder = run / "results" / "pretext" / name / f"subject_kfold-fold{k}"
            meta = json.loads((folder / "encoder.json").read_text())
            windows = pd.read_parquet(folder / "windows.parquet")
            seen[name, k] = len(windows)
            assert meta["pretrain_fraction"] == (0.5 if name != "a" else 1.0)
    for k in range(FOLDS):
        full, half = seen["a", k], seen[NAMES[1], k]
        assert 0.3 * full < half < 0.7 * full


def test_tables_compare_configurations_and_probes(run):
    tables = run / "results" / "tables"
    summary = pd.read_csv(tables / "summary.tsv", sep="\t")
    encoder_rows = summary[summary.pretext != "none"]
    assert set(encoder_rows.pretext) == set(NAMES)
    assert set(encoder_rows.method) == {"ssl_frozen", "linear_probe", "knn_probe"}
    compare = pd.read_csv(tables / "compare.tsv", sep="\t")
    # per dataset x label: 2 configurations x 3 encoder methods + supervised
    assert len(compare) == 2 * (2 * 3 + 1)
    assert compare.accuracy_ci_low.notna().all()
    assert (compare.accuracy_ci_low <= compare.accuracy_mean + 1e-9).all()
    fractions = compare.set_index("pretext").pretrain_fraction.dropna()
    assert fractions.groupby(level=0).first().to_dict() == {"a": 1.0, NAMES[1]: 0.5}
    markdown = (tables / "compare.md").read_text()
    assert NAMES[1] in markdown
    assert "linear_probe" in markdown
    clustering = pd.read_csv(tables / "clustering.tsv", sep="\t")
    per_fold = clustering[clustering.fold != "mean"]
    # 2 configurations x (dreamer arousal + wesad affect) x 2 folds
    assert len(per_fold) == 2 * 2 * FOLDS
    assert per_fold.ari.between(-1, 1).all()
    assert per_fold.nmi.between(0, 1).all()
    for plot in ("compare.png", "pretrain_fractions.png"):
        assert (run / "results" / "plots" / plot).stat().st_size > 1000


def test_changing_one_configuration_reruns_only_its_jobs(run, tmp_path):
    changed = json.loads(json.dumps(CONFIG))
    changed["pretext"]["configs"]["a"] = {"lr": 0.002}
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    proc = run_snakemake(run, "--cores", "1", "--dry-run", configfiles=(path,))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    stats = out.split("Job stats:", 1)[1].split("total", 1)[0]
    jobs = dict(
        line.split() for line in stats.splitlines()[3:] if len(line.split()) == 2
    )
    jobs.pop("all", None)
    # configuration a only: its encoders, features, encoder-method jobs, clustering
    assert jobs == {
        "pretrain_encoder": str(FOLDS),
        "extract_features": str(FOLDS * 2),
        "finetune_classifier": str(2 * 3 * FOLDS),
        "cluster_features": "2",
        "clustering_table": "1",
        "aggregate_metrics": "1",
    }
