"""Several pretext configurations: names, sweeps, plan, checks, pretraining fraction,
probes, clustering and the comparison table."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import validate
from test_scope import _folds, _stores

from ecgssl.config.plan import (
    NO_PRETEXT,
    PRETEXT_WORKFLOW_KEYS,
    Plan,
    parse_unit,
    pretext_configs,
)
from ecgssl.config.validate import check_config
from ecgssl.evaluation.clustering import cluster_scores
from ecgssl.evaluation.compare import compare_markdown, compare_table, setting_columns
from ecgssl.evaluation.plots import plot_compare, plot_pretrain_fractions
from ecgssl.learning.classical import fit_predict
from ecgssl.stages.clustering import clustering_table_stage
from ecgssl.stages.pretext import training_rows
from ecgssl.util.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _config(**pretext):
    return {
        "datasets": {"dreamer": {}, "wesad": {}},
        "pretext": {"name": "p", "scope": "train_folds", "epochs": 3,
                    "transforms": {"scale": 1.1, "snr_db": 15.0}, **pretext},
        "labels": {"dreamer": {"arousal": {"schemes": ["multiclass"]}}},
        "finetune": {
            "methods": ["ssl_frozen", "linear_probe", "supervised"],
            "protocols": {"subject_kfold": {"n_folds": 2}},
        },
    }  # fmt: skip


# ---- configurations ------------------------------------------------------------
def test_one_configuration_block_is_unchanged():
    block = _config()["pretext"]
    assert pretext_configs(block) == {"p": block}
    assert list(pretext_configs({})) == ["default"]


def test_configs_override_shared_settings_and_sweeps_expand_a_grid():
    configs = pretext_configs(_config(
        configs={"long": {"epochs": 9, "transforms": {"scale": 1.3}},
                 "same": None},
        sweep={"g": {"pretrain_fraction": [0.1, 0.5], "transforms.snr_db": [5, 20.5]}},
    )["pretext"])  # fmt: skip
    assert list(configs) == [
        "long", "same",
        "g_pretrain_fraction=0.1_transforms.snr_db=5",
        "g_pretrain_fraction=0.1_transforms.snr_db=20.5",
        "g_pretrain_fraction=0.5_transforms.snr_db=5",
        "g_pretrain_fraction=0.5_transforms.snr_db=20.5",
    ]  # fmt: skip
    assert configs["long"]["epochs"] == 9
    assert configs["long"]["transforms"] == {"scale": 1.3, "snr_db": 15.0}
    assert configs["same"]["epochs"] == 3
    assert configs["same"]["name"] == "same"
    point = configs["g_pretrain_fraction=0.5_transforms.snr_db=20.5"]
    assert point["pretrain_fraction"] == 0.5
    assert point["transforms"] == {"scale": 1.1, "snr_db": 20.5}
    assert point["swept"] == {"pretrain_fraction": 0.5, "transforms.snr_db": 20.5}
    assert "configs" not in point
    assert "sweep" not in point


@pytest.mark.parametrize(
    ("pretext", "message"),
    [
        ({"configs": {"a": {}}, "sweep": {"a_epochs=1": {}}}, "key paths"),
        ({"configs": {"a_epochs=1": {}}, "sweep": {"a": {"epochs": [1]}}}, "twice"),
        ({"configs": {NO_PRETEXT: {}}}, "must match"),
        ({"configs": {"a/b": {}}}, "must match"),
        ({"sweep": {"a": {"epochs": [[1, 2]]}}}, "numbers, strings"),
        ({"configs": {"a": {"sweep": {}}}}, "per configuration"),
    ],
)
def test_malformed_configurations_are_errors(pretext, message):
    with pytest.raises(ConfigError, match=message):
        pretext_configs(_config(**pretext)["pretext"])


def test_plan_expands_encoder_methods_over_configurations():
    cfg = _config(
        configs={"a": {}, "b": {"scope": "all"}},
        sweep={"f": {"pretrain_fraction": [0.5]}},
    )
    plan = Plan(cfg)
    names = ["a", "b", "f_pretrain_fraction=0.5"]
    assert plan.pretext_names == names
    assert plan.units("a") == ["subject_kfold-fold0", "subject_kfold-fold1"]
    assert plan.units("b") == ["all"]
    assert plan.unit("subject_kfold", 1, "dreamer", "b") == "all"
    assert len(plan.encoder_units()) == 2 + 1 + 2
    jobs = list(plan.finetune_jobs())
    # 2 encoder methods x 3 configurations + supervised, x 2 folds
    assert len(jobs) == (2 * 3 + 1) * 2
    assert {j.pretext for j in jobs if j.method == "linear_probe"} == set(names)
    assert {j.pretext for j in jobs if j.method == "supervised"} == {NO_PRETEXT}
    assert plan.feature_targets() == sorted([
        "results/features/a/subject_kfold-fold0/dreamer.npy",
        "results/features/a/subject_kfold-fold1/dreamer.npy",
        "results/features/b/all/dreamer.npy",
        "results/features/f_pretrain_fraction=0.5/subject_kfold-fold0/dreamer.npy",
        "results/features/f_pretrain_fraction=0.5/subject_kfold-fold1/dreamer.npy",
    ])  # fmt: skip
    assert (
        plan.clustering_features("b", "dreamer")
        == ["results/features/b/all/dreamer.npy"] * 2
    )


def test_training_params_pass_every_setting_but_the_workflow_keys():
    cfg = _config(configs={"a": {"epochs": 5}})
    cfg["pretext"]["method"] = "some_future_key"  # what a new schema key would do
    params = Plan(cfg).training_params("a")
    assert params["epochs"] == 5
    assert params["method"] == "some_future_key"
    assert not set(params) & set(PRETEXT_WORKFLOW_KEYS)


def test_overrides_are_checked_like_the_keys_they_override():
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    good = copy.deepcopy(base)
    good["pretext"].pop("name")
    good["pretext"]["configs"] = {"a": {"epochs": 2, "transforms": {"scale": 1.2}}}
    good["pretext"]["sweep"] = {"f": {"pretrain_fraction": [0.1, 1.0]}}
    validate(good, str(SCHEMA))
    check_config(good)
    for change, key in (
        ({"configs": {"a": {"epochs": "two"}}}, r"pretext\.configs\.a\.epochs"),
        ({"configs": {"a": {"epoch": 2}}}, r"pretext\.configs\.a: .*epoch"),
        ({"configs": {"a": {"transforms": {"scale": -1}}}},
         r"pretext\.configs\.a\.transforms\.scale"),
        ({"sweep": {"f": {"pretrain_fraction": [0.5, 2]}}},
         r"pretext\.sweep\.f\.pretrain_fraction"),
        ({"configs": {"a": {"scope": "leave_dataset_out", "datasets": ["wesad"]}}},
         r"pretext\.scope \(configuration 'a'\)"),
    ):  # fmt: skip
        cfg = copy.deepcopy(good)
        cfg["pretext"].update(change)
        with pytest.raises(ConfigError, match=key):
            check_config(cfg)


def test_compare_config_validates_and_runs_probes_and_clustering():
    cfg = yaml.safe_load((REPO / "configs" / "compare.yaml").read_text())
    validate(cfg, str(SCHEMA))
    check_config(cfg)
    plan = Plan(cfg)
    assert len(plan.pretext_names) >= 4
    assert {"linear_probe", "knn_probe"} <= set(plan.methods)
    assert cfg["evaluation"]["clustering"]["enabled"]
    fractions = {s["pretrain_fraction"] for s in plan.pretexts.values()}
    assert len(fractions) >= 4


# ---- pretraining-data fraction -------------------------------------------------
def test_pretrain_fraction_keeps_a_seeded_share_of_each_subjects_allowed_rows(
    tmp_path,
):
    stores, subjects = _stores(tmp_path)
    folds = _folds(tmp_path, subjects, "subject_kfold")
    unit = parse_unit("subject_kfold-fold0")
    full = training_rows(stores, folds, unit)
    half = training_rows(stores, folds, unit, fraction=0.5, seed=4)
    again = training_rows(stores, folds, unit, fraction=0.5, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(half, again, strict=True))
    other = training_rows(stores, folds, unit, fraction=0.5, seed=5)
    assert any(not np.array_equal(a, b) for a, b in zip(half, other, strict=True))
    for rows, kept, subj in zip(full, half, subjects.values(), strict=True):
        assert set(kept) <= set(rows)
        for s in np.unique(subj[rows]):
            n = int((subj[rows] == s).sum())
            assert int((subj[kept] == s).sum()) == max(1, round(0.5 * n))
    tiny = training_rows(stores, folds, unit, fraction=0.01, seed=4)
    assert [r.size for r in tiny] == [
        np.unique(s[r]).size for s, r in zip(subjects.values(), full, strict=True)
    ]


# ---- probes and clustering ------------------------------------------------------
def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    centres = np.array([[0, 0, 0, 0], [8, 0, 0, 0], [0, 8, 0, 0]], float)
    return centres[y] * 100 + rng.normal(0, 100, (y.size, 4)), y


@pytest.mark.parametrize("classifier", ["logistic_regression", "knn"])
def test_probes_separate_separable_features(classifier):
    x, y = _blobs()
    x_test, y_test = _blobs(seed=1)
    y_pred, proba = fit_predict(x, y, x_test, n_classes=4, classifier=classifier)
    assert (y_pred == y_test).mean() > 0.95
    assert proba.shape == (60, 4)
    assert np.allclose(proba.sum(axis=1), 1)
    assert (proba[:, 3] == 0).all()  # a class absent from training
    # more neighbours than training rows: all of them vote (the majority class)
    few, _ = fit_predict(x[:7], y[:7], x_test, n_classes=4, classifier="knn",
                         n_neighbors=50)  # fmt: skip
    assert (few == 0).all()


def test_clustering_scores_separable_and_random_labels():
    x, y = _blobs()
    good = cluster_scores(x, y, seed=0)
    assert good["n_clusters"] == 3
    assert good["ari"] > 0.9
    assert good["nmi"] > 0.9
    shuffled = np.random.default_rng(0).permutation(y)
    bad = cluster_scores(x, shuffled, seed=0)
    assert abs(bad["ari"]) < 0.1
    assert bad["nmi"] < 0.2
    assert np.isnan(cluster_scores(x, np.zeros_like(y), seed=0)["ari"])


def test_clustering_table_adds_fold_means(tmp_path):
    paths = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.tsv"
        pd.DataFrame({
            "pretext": name, "dataset": "dreamer", "label": "arousal",
            "scheme": "multiclass", "protocol": "subject_kfold", "fold": [0, 1],
            "unit": ["u0", "u1"], "n_windows": [5, 7], "n_clusters": 3,
            "ari": [0.2, 0.4], "nmi": [0.1, 0.3],
        }).to_csv(path, sep="\t", index=False)  # fmt: skip
        paths.append(path)
    table = clustering_table_stage(paths, tmp_path / "out.tsv")
    means = table[table.fold == "mean"].set_index("pretext")
    assert list(means.index) == ["a", "b"]
    assert means.loc["a", "ari"] == pytest.approx(0.3)
    assert means.loc["a", "n_windows"] == 12


# ---- comparison table and figures -----------------------------------------------
def _summary():
    rows = []
    for pretext, method in [
        ("none", "supervised"),
        ("a", "ssl_frozen"),
        ("a", "knn_probe"),
        ("f_pretrain_fraction=0.5", "knn_probe"),
    ]:
        for protocol in ("subject_kfold", "window_kfold"):
            rows.append({
                "dataset": "dreamer", "label": "arousal", "scheme": "multiclass",
                "protocol": protocol, "method": method, "pretext": pretext,
                "scope": None if pretext == "none" else "train_folds",
                "feature_norm": "none", "label_fraction": 1.0,
                "transductive": False, "accuracy_mean": 0.6, "accuracy_std": 0.1,
                "accuracy_ci_low": 0.5, "accuracy_ci_high": 0.7,
                "balanced_accuracy_mean": 0.55, "balanced_accuracy_ci_low": 0.4,
                "balanced_accuracy_ci_high": 0.6, "macro_f1_mean": 0.5,
                "majority_accuracy_mean": 0.5, "n_units": 4, "n_folds": 2,
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_compare_table_names_each_configurations_settings(tmp_path):
    pretexts = pretext_configs(_config(
        configs={"a": {}}, sweep={"f": {"pretrain_fraction": [0.5]}}
    )["pretext"])  # fmt: skip
    pretexts["a"]["pretrain_fraction"] = 1.0
    assert setting_columns(pretexts) == ["pretrain_fraction"]
    table = compare_table(_summary(), pretexts)
    assert set(table.protocol) == {"subject_kfold"}
    assert list(table.method) == ["supervised", "ssl_frozen", "knn_probe", "knn_probe"]
    by_name = table.drop_duplicates("pretext").set_index("pretext")
    assert by_name.loc["f_pretrain_fraction=0.5", "pretrain_fraction"] == 0.5
    assert by_name.loc["a", "pretext_method"] == "transformation_recognition"
    assert by_name.loc["a", "backbone"] == "paper_cnn"
    assert np.isnan(by_name.loc["none", "pretrain_fraction"])
    markdown = compare_markdown(table)
    assert (
        "| f_pretrain_fraction=0.5 | transformation_recognition | paper_cnn | 0.5 |"
        in (markdown)
    )
    assert "0.600 [0.500, 0.700]" in markdown
    plot_compare(table, tmp_path / "compare.png")
    plot_pretrain_fractions(table, tmp_path / "fractions.png")
    plot_pretrain_fractions(table.iloc[:0], tmp_path / "empty.png")
    for name in ("compare.png", "fractions.png", "empty.png"):
        assert (tmp_path / name).stat().st_size > 1000
