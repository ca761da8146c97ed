"""Which windows an encoder may see: the plan of units and the pretext stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgssl.config.plan import Plan, parse_unit
from ecgssl.data.store import WindowStoreWriter
from ecgssl.evaluation.folds import assign_folds
from ecgssl.stages.pretext import pretext_stage, training_rows

LENGTH = 256


def _config(scope, methods=("ssl_frozen", "supervised")):
    return {
        "datasets": {"dreamer": {}, "wesad": {}},
        "pretext": {"name": "p", "scope": scope},
        "labels": {"dreamer": {"arousal": {"schemes": ["multiclass", "binary"]}}},
        "finetune": {
            "methods": list(methods),
            "protocols": {
                "window_kfold": {"n_folds": 3},
                "subject_kfold": {"n_folds": 2},
            },
            "label_fractions": [0.2, 1.0],
            "label_fraction_protocols": ["subject_kfold"],
            "repeats": 2,
        },
    }


def test_units_and_which_unit_scores_which_fold():
    plan = Plan(_config("train_folds"))
    assert plan.units() == [
        "window_kfold-fold0",
        "window_kfold-fold1",
        "window_kfold-fold2",
        "subject_kfold-fold0",
        "subject_kfold-fold1",
    ]
    assert plan.unit("subject_kfold", 1, "dreamer") == "subject_kfold-fold1"
    assert parse_unit("subject_kfold-fold1") == {
        "scope": "train_folds",
        "protocol": "subject_kfold",
        "fold": 1,
        "dataset": None,
    }
    out = Plan(_config("leave_dataset_out"))
    assert out.units() == ["without-dreamer"]
    assert out.unit("window_kfold", 0, "dreamer") == "without-dreamer"
    assert out.unit_datasets("without-dreamer") == ["wesad"]
    assert Plan(_config("all")).units() == ["all"]
    with pytest.raises(ValueError, match="unit must be"):
        parse_unit("fold-0")


def test_joint_fold_units_serve_fold_k_of_every_protocol():
    config = _config("joint_folds")
    config["finetune"]["protocols"]["subject_kfold"]["n_folds"] = 3
    plan = Plan(config)
    assert plan.units() == ["fold0", "fold1", "fold2"]
    assert plan.unit("window_kfold", 2, "dreamer") == "fold2"
    assert plan.unit("subject_kfold", 2, "wesad") == "fold2"
    assert parse_unit("fold2") == {
        "scope": "joint_folds", "protocol": None, "fold": 2, "dataset": None
    }  # fmt: skip
    # 3 encoders instead of 6; unequal fold counts cannot be shared
    from ecgssl.util.errors import ConfigError

    with pytest.raises(ConfigError, match="window_kfold: 3, subject_kfold: 2"):
        Plan(_config("joint_folds"))


def test_plan_expands_label_fractions_only_where_asked():
    plan = Plan(_config("train_folds"))
    jobs = list(plan.finetune_jobs())
    # 2 schemes x 2 methods x 2 repeats x (window 3 folds x 1 fraction +
    # subject 2 folds x 2 fractions)
    assert len(jobs) == 2 * 2 * 2 * (3 + 2 * 2)
    assert {j.fraction for j in jobs if j.protocol == "window_kfold"} == {"1"}
    assert {j.pretext for j in jobs if j.method == "supervised"} == {"none"}
    assert {j.pretext for j in jobs if j.method == "ssl_frozen"} == {"p"}
    assert jobs[0].folder().startswith("results/finetune/dreamer/arousal/")
    folders = {j.folder() for j in jobs}
    assert (
        "results/finetune/dreamer/arousal/binary/subject_kfold/ssl_frozen/p/"
        "frac0.2/rep1/fold0"
    ) in folders
    assert len(plan.feature_targets()) == 5  # one per unit scoring dreamer


def _stores(tmp_path):
    paths, subjects = [], {}
    for name, n, n_subj in (("dreamer", 30, 6), ("wesad", 20, 4)):
        rng = np.random.default_rng(len(name))
        t = np.arange(LENGTH) / 64.0
        ecg = (np.sin(2 * np.pi * rng.uniform(1, 2, (n, 1)) * t) ** 9).astype(
            np.float32
        )
        subj = [f"s{i % n_subj}" for i in range(n)]
        path = tmp_path / f"{name}.parquet"
        with WindowStoreWriter(
            path, label_columns=(), window_size=LENGTH, metadata={}
        ) as w:
            w.write(
                {
                    "dataset": [name] * n,
                    "subject": subj,
                    "trial": ["t"] * n,
                    "window": list(range(n)),
                    "start_s": [0.0] * n,
                },
                ecg,
            )
        paths.append(path)
        subjects[name] = np.array(subj)
    return paths, subjects


def _folds(tmp_path, subjects, protocol, n_folds=3):
    tables = []
    for name, subj in subjects.items():
        folds = assign_folds(
            subj, np.ones(subj.size, bool), protocol=protocol, n_folds=n_folds, seed=1
        )
        path = tmp_path / f"{name}-{protocol}.tsv"
        pd.DataFrame(
            {"row": np.arange(subj.size), "subject": subj, "fold": folds}
        ).to_csv(path, sep="\t", index=False)
        tables.append(path)
    return tables


@pytest.mark.parametrize("protocol", ["window_kfold", "subject_kfold"])
def test_no_fold_encoder_sees_a_window_or_person_of_its_test_fold(tmp_path, protocol):
    stores, subjects = _stores(tmp_path)
    folds = _folds(tmp_path, subjects, protocol)
    for k in range(3):
        unit = parse_unit(f"{protocol}-fold{k}")
        out = tmp_path / f"unit{k}"
        pretext_stage(
            stores,
            folds=folds,
            unit=unit,
            model_path=out / "encoder.pt",
            sidecar_path=out / "encoder.json",
            history_path=out / "history.tsv",
            windows_path=out / "windows.parquet",
            config={
                "epochs": 1,
                "batch_size": 8,
                "val_fraction": 0.2,
                "encoder": {"filters": [4, 8], "kernels": [5, 3]},
                "transforms": {"permute_pieces": 8, "warp_pieces": 8},
            },
            seed=k,
            device="cpu",
            precision="fp32",
        )
        seen = pd.read_parquet(out / "windows.parquet")
        assert set(seen.part) == {"training", "validation"}
        for path, name in zip(folds, ("dreamer", "wesad"), strict=True):
            table = pd.read_csv(path, sep="\t")
            test = table[table.fold == k]
            mine = seen[seen.dataset == name]
            assert not set(mine.row) & set(test.row), "a test window was seen"
            assert set(mine.row) == set(table.row[table.fold != k])
            if protocol == "subject_kfold":
                assert not set(mine.subject) & set(test.subject), "a test person"


def test_a_joint_fold_encoder_sees_no_test_window_of_any_protocol(tmp_path):
    stores, subjects = _stores(tmp_path)
    window = _folds(tmp_path, subjects, "window_kfold")
    subject = _folds(tmp_path, subjects, "subject_kfold")
    # store by store, every protocol's table (as the workflow passes them)
    folds = [t for pair in zip(window, subject, strict=True) for t in pair]
    for k in range(3):
        rows = training_rows(stores, folds, parse_unit(f"fold{k}"))
        for i, name in enumerate(("dreamer", "wesad")):
            w = pd.read_csv(window[i], sep="\t")
            s = pd.read_csv(subject[i], sep="\t")
            seen = set(rows[i])
            assert not seen & set(w.row[w.fold == k]), "a window-fold test window"
            assert not seen & set(s.row[s.fold == k]), "a subject-fold test window"
            assert not set(subjects[name][rows[i]]) & set(s.subject[s.fold == k])
            # and nothing else is left out
            assert seen == set(w.row[(w.fold != k) & (s.fold != k)])
    with pytest.raises(ValueError, match="same number of folds tables"):
        training_rows(stores, folds[:3], parse_unit("fold0"))


def test_training_rows_refuses_folds_of_another_store(tmp_path):
    stores, subjects = _stores(tmp_path)
    folds = _folds(tmp_path, subjects, "window_kfold")
    unit = parse_unit("window_kfold-fold0")
    from ecgssl.util.errors import DataFormatError

    with pytest.raises(DataFormatError, match="every row"):
        training_rows(stores, folds[::-1], unit)
    everything = training_rows(stores, [], parse_unit("all"))
    assert [r.size for r in everything] == [30, 20]
