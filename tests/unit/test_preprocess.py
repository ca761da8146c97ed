"""The preprocessing stage on a fake reader: alignment, normalisation, QC, atomicity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgssl.data.preprocess import PreprocessConfig, build_window_store
from ecgssl.data.readers.base import Recording, Withheld
from ecgssl.data.store import (
    check_label_present,
    read_ecg,
    read_metadata,
    read_windows,
)
from ecgssl.util.errors import LabelError

FS_IN = 700.0
WIN = 2560


def _ecg_like(seconds, rng, offset=0.0, gain=1.0):
    t = np.arange(int(seconds * FS_IN)) / FS_IN
    beats = np.exp(-0.5 * ((t % 0.8 - 0.4) / 0.01) ** 2)
    return offset + gain * (beats + 0.05 * rng.standard_normal(t.size))


class FakeReader:
    """Two subjects at 700 Hz with every case the stage must handle."""

    name = "fake"
    label_columns = ("arousal", "affect")

    def __init__(self, root: Path, fail_at: str | None = None):
        self.root = root
        self.fail_at = fail_at
        rng = np.random.default_rng(1)
        nan_trial = _ecg_like(60, rng)
        nan_trial[int(25 * FS_IN) : int(27 * FS_IN)] = np.nan  # inside window 2
        clipped = _ecg_like(40, rng)
        clipped[int(15 * FS_IN) : int(15 * FS_IN) + 50] = clipped.max() + 1  # window 1
        flat = np.concatenate([_ecg_like(20, rng), np.full(int(20 * FS_IN), 0.5)])
        stream = np.full(int(60 * FS_IN), np.nan)
        stream[: int(35 * FS_IN)] = 1.0  # baseline for 35 s, then stress
        stream[int(35 * FS_IN) :] = 2.0
        self.recs = [
            ("s01", "a_clean", _ecg_like(45, rng, offset=500), {"arousal": 3.0}, None),
            ("s01", "b_nan", nan_trial + 500, {"arousal": 4.0}, None),
            ("s01", "c_empty", np.zeros(0), {"arousal": 2.0}, None),
            ("s02", "a_clip", clipped, {"arousal": None}, None),
            ("s02", "b_flat", flat, {"arousal": 1.0}, None),
            ("s02", "c_stream", _ecg_like(60, rng, gain=3), {"arousal": 5.0}, stream),
            ("s02", "d_short", _ecg_like(5, rng), {"arousal": 5.0}, None),
        ]
        for p in self.files():
            p.write_bytes(b"x" * 10)

    def files(self):
        return [self.root / "f1.bin", self.root / "f2.bin"]

    def recordings(self):
        for subject, trial, ecg, labels, stream in self.recs:
            if trial == self.fail_at:
                raise RuntimeError("reader failed")
            yield Recording(
                dataset="fake",
                subject=subject,
                trial=trial,
                fs=FS_IN,
                ecg=ecg,
                labels={"arousal": labels["arousal"], "affect": None},
                source=self.root / "f1.bin",
                label_streams={} if stream is None else {"affect": stream},
            )


@pytest.fixture
def built(tmp_path):
    reader = FakeReader(tmp_path)
    store, qc = tmp_path / "out" / "w.parquet", tmp_path / "out" / "qc.tsv"
    summary = build_window_store(
        reader, root=tmp_path, store_path=store, qc_path=qc, config=PreprocessConfig()
    )
    return reader, store, qc, summary


def test_qc_counts_every_dropped_window(built):
    _, _, qc_path, _ = built
    qc = pd.read_csv(qc_path, sep="\t").set_index("trial")
    assert qc.loc["c_empty", "status"] == "empty"
    assert qc.loc["d_short", "status"] == "too_short"
    assert qc.loc["a_clean", ["n_windows", "n_kept"]].tolist() == [4, 4]
    assert qc.loc["b_nan", ["n_windows", "n_nan", "n_kept"]].tolist() == [6, 1, 5]
    assert qc.loc["a_clip", ["n_clipped", "n_kept"]].tolist() == [1, 3]
    assert qc.loc["b_flat", "n_flat"] == 2
    assert qc.loc["b_flat", "n_kept"] == 2
    n_kept = qc.n_kept.sum()
    assert n_kept == len(read_windows(built[1]))
    assert (qc.n_windows == qc.n_kept + qc.n_nan + qc.n_clipped + qc.n_flat).all()


def test_windows_are_indexed_within_trials_and_labelled(built):
    _, store, _, summary = built
    df = read_windows(store)
    assert summary["n_windows"] == len(df)
    nan_trial = df[df.trial == "b_nan"]
    assert nan_trial.window.tolist() == [0, 1, 3, 4, 5]  # window 2 held the NaN run
    np.testing.assert_allclose(nan_trial.start_s, nan_trial.window * 10.0)
    assert (nan_trial.arousal == 4.0).all()
    assert df[df.trial == "a_clip"].arousal.isna().all()


def test_label_stream_alignment(built):
    _, store, _, _ = built
    df = read_windows(store)
    s = df[df.trial == "c_stream"].set_index("window").affect
    # windows 0-2 cover 0-30 s (baseline), window 3 covers 30-40 s (both), 4-5 stress
    assert s.loc[[0, 1, 2]].tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(s.loc[3])
    assert s.loc[[4, 5]].tolist() == [2.0, 2.0]


def test_per_subject_zscore_over_all_recordings(built):
    _, store, _, _ = built
    df = read_windows(store)
    ecg = read_ecg(store)
    assert ecg.dtype == np.float32
    assert ecg.shape == (len(df), WIN)
    for subject in ("s01", "s02"):
        x = ecg[(df.subject == subject).to_numpy()]
        assert abs(x.mean()) < 0.05
        assert 0.8 < x.std() < 1.2
    # one z-score per subject, not per recording: s02's high-gain trial stays larger
    s02 = df.subject == "s02"
    big = ecg[(s02 & (df.trial == "c_stream")).to_numpy()].std()
    small = ecg[(s02 & (df.trial == "a_clip")).to_numpy()].std()
    assert big > 1.5 * small


def test_metadata_records_provenance(built):
    reader, store, _, _ = built
    meta = read_metadata(store)
    assert meta["fs"] == 256.0
    assert meta["window_size"] == WIN
    assert meta["filter"] == {
        "kind": "highpass",
        "l_freq": 0.8,
        "h_freq": None,
        "order": 4,
    }
    assert [i["path"] for i in meta["inputs"]] == ["f1.bin", "f2.bin"]
    assert all(i["size"] == 10 and len(i["sha256"]) == 64 for i in meta["inputs"])
    assert meta["label_columns"] == list(reader.label_columns)


def test_two_builds_are_byte_identical(built, tmp_path):
    reader, store, qc, _ = built
    store2, qc2 = tmp_path / "again.parquet", tmp_path / "again.tsv"
    build_window_store(
        reader, root=tmp_path, store_path=store2, qc_path=qc2, config=PreprocessConfig()
    )
    assert store.read_bytes() == store2.read_bytes()
    assert qc.read_bytes() == qc2.read_bytes()


def test_reader_failure_leaves_no_output(tmp_path):
    reader = FakeReader(tmp_path, fail_at="c_stream")
    store, qc = tmp_path / "out" / "w.parquet", tmp_path / "out" / "qc.tsv"
    with pytest.raises(RuntimeError, match="reader failed"):
        build_window_store(
            reader,
            root=tmp_path,
            store_path=store,
            qc_path=qc,
            config=PreprocessConfig(),
        )
    assert not store.exists()
    assert not qc.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_config_from_dict_validates():
    cfg = PreprocessConfig.from_dict(
        {
            "fs": 256,
            "window_s": 5,
            "filter": {"kind": "bandpass", "l_freq": 3, "h_freq": 45},
        }
    )
    assert cfg.window_size == 1280
    assert cfg.filter.h_freq == 45
    with pytest.raises(ValueError, match="whole number"):
        PreprocessConfig.from_dict({"fs": 256, "window_s": 0.0013})
    with pytest.raises(TypeError):
        PreprocessConfig.from_dict({"filter": {"cutoff": 1}})


class RestReader:
    """One subject, 60 s at 700 Hz: the first 25 s are rest minutes for ``stress``."""

    name = "fake"
    label_columns = ("stress", "arousal", "valence")

    def __init__(self, root: Path, *, rest_s: float = 25.0):
        self.root = root
        self.rest_s = rest_s
        self.label_notes: dict[str, str] = {}
        (root / "f.bin").write_bytes(b"x")

    def files(self):
        return [self.root / "f.bin"]

    def recordings(self):
        rng = np.random.default_rng(3)
        ecg = _ecg_like(60, rng)
        rest = np.zeros(ecg.size, dtype=bool)
        rest[: int(self.rest_s * FS_IN)] = True
        self.label_notes["valence"] = "no self-report workbook found"
        yield Recording(
            dataset="fake",
            subject="s01",
            trial="c1",
            fs=FS_IN,
            ecg=ecg,
            labels={"stress": 1.0, "arousal": 4.0, "valence": None},
            source=self.root / "f.bin",
            withheld=(Withheld("rest", ("stress",), rest),),
        )
        yield Recording(
            dataset="fake",
            subject="s01",
            trial="c2",
            fs=FS_IN,
            ecg=_ecg_like(30, rng),
            labels={"stress": None, "arousal": None, "valence": None},
            source=self.root / "f.bin",
            withheld=(Withheld("unmatched", ("stress", "arousal")),),
        )


def _build(reader, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    store, qc = tmp_path / "w.parquet", tmp_path / "qc.tsv"
    build_window_store(
        reader, root=tmp_path, store_path=store, qc_path=qc, config=PreprocessConfig()
    )
    return store, pd.read_csv(qc, sep="\t").set_index("trial")


def test_withheld_labels_are_removed_counted_and_summarised(tmp_path):
    store, qc = _build(RestReader(tmp_path), tmp_path)
    df = read_windows(store)
    c1 = df[df.trial == "c1"].set_index("window")
    # windows 0-2 cover 0-30 s and touch the rest minutes (0-25 s)
    assert c1.stress.isna().tolist() == [True] * 3 + [False] * 3
    assert (c1.stress.dropna() == 1.0).all()
    assert (c1.arousal == 4.0).all()  # only stress is withheld in rest minutes
    assert qc.loc["c1", ["n_rest", "n_unmatched"]].tolist() == [3, 0]
    assert qc.loc["c2", ["n_rest", "n_unmatched"]].tolist() == [0, 3]
    assert df[df.trial == "c2"][["stress", "arousal"]].isna().all().all()
    labels = read_metadata(store)["labels"]
    assert labels["stress"] == {
        "labelled_windows": 3,
        "withheld_windows": {"rest": 3, "unmatched": 3},
        "note": None,
    }
    assert labels["arousal"]["labelled_windows"] == 6
    assert labels["arousal"]["withheld_windows"] == {"rest": 0, "unmatched": 3}
    assert labels["valence"] == {
        "labelled_windows": 0,
        "withheld_windows": {"rest": 0, "unmatched": 0},
        "note": "no self-report workbook found",
    }
    assert read_metadata(store)["n_windows"] == 9


def test_check_label_present_names_dataset_label_and_reason(tmp_path):
    store, _ = _build(RestReader(tmp_path, rest_s=60.0), tmp_path)
    check_label_present(store, "arousal")  # labelled: no error
    with pytest.raises(LabelError) as info:
        check_label_present(store, "stress")
    assert str(info.value) == (
        "fake: label 'stress' has no labelled window: 6 of 9 windows in rest "
        "minutes; 3 of 9 windows of trials or blocks without a label row"
    )
    with pytest.raises(LabelError) as info:
        check_label_present(store, "valence")
    assert str(info.value) == (
        "fake: label 'valence' has no labelled window: no self-report workbook found"
    )
    with pytest.raises(LabelError, match="not a label column .* stress, arousal"):
        check_label_present(store, "affect")


def test_check_label_present_all_windows_withheld(tmp_path):
    reader = RestReader(tmp_path, rest_s=60.0)
    reader.recordings = lambda: iter([next(RestReader.recordings(reader))])
    store, _ = _build(reader, tmp_path)
    with pytest.raises(LabelError, match="stress' has no labelled window: all 6 "):
        check_label_present(store, "stress")


def test_withheld_mask_of_wrong_length_is_refused(tmp_path):
    reader = RestReader(tmp_path)
    bad = next(reader.recordings())
    bad = Recording(
        **{
            **bad.__dict__,
            "withheld": (Withheld("rest", ("stress",), np.ones(5, bool)),),
        }
    )
    reader.recordings = lambda: iter([bad])
    with pytest.raises(ValueError, match="withheld mask"):
        _build(reader, tmp_path)


def test_label_stage_refuses_a_label_without_labelled_window(tmp_path):
    import json

    from ecgssl.stages.labels import label_stage

    store, _ = _build(RestReader(tmp_path, rest_s=60.0), tmp_path)
    out = tmp_path / "labels" / "stress.json"
    with pytest.raises(LabelError, match="fake: label 'stress' has no labelled"):
        label_stage(store, "stress", out)
    assert not out.exists()
    label_stage(store, "arousal", out)
    record = json.loads(out.read_text())
    assert record["n_labelled"] == 6  # c1 only: c2 is unmatched
    assert record["n_windows"] > record["n_labelled"]
