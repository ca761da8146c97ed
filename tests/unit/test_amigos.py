"""Tests of the AMIGOS synthetic writer and reader (preprocessed and original files)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
from _matfixtures import cell_row, savemat, truncate, write_v73, zero_bytes

from ecgssl.data.readers.amigos import AmigosReader
from ecgssl.data.synthetic import amigos as synth
from ecgssl.util.errors import DataFormatError

SMALL = {"n_subjects": 2, "n_trials": 3, "trial_s": (12.0, 16.0)}
PRE_VARS = ["joined_data", "labels_selfassessment", "labels_ext_annotation", "VideoIDs"]


def _write(root: Path, **kwargs: object) -> list[Path]:
    return synth.write(root, **{"seed": 5, **SMALL, **kwargs})  # type: ignore[arg-type]


def _read(root: Path, **options: object) -> list:
    """Read with whole trials (``baseline_s=0``) unless a test asks otherwise."""
    options = {"baseline_s": 0.0, **options}
    return list(AmigosReader(root, **options).recordings())  # type: ignore[arg-type]


def _pre(root: Path, pid: str, layout: str = "nested") -> Path:
    name = f"Data_Preprocessed_{pid}.mat"
    return (
        root / f"Data_Preprocessed_{pid}" / name if layout == "nested" else root / name
    )


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nested layout, preprocessed and original files, with quirks."""
    root = tmp_path_factory.mktemp("amigos")
    _write(root, write_original=True)
    return root


def _by_key(recs: list) -> dict:
    return {(r.subject, r.trial): r for r in recs}


def _minimal(n_trials: int = 2, n: int = 256) -> dict:
    """A hand-built preprocessed file: ECG right = t + arange, left = its negative."""
    data = []
    for t in range(n_trials):
        m = np.zeros((n, 17))
        m[:, 14] = np.arange(n) + 1000 * t
        m[:, 15] = -m[:, 14]
        data.append(m)
    labels = [
        np.array([[2.5 + t, 7.25 - t, 5, 5, 3, 0, 0, 1, 0, 0, 0, 0]])
        for t in range(n_trials)
    ]
    return {
        "joined_data": cell_row(data),
        "labels_selfassessment": cell_row(labels),
        "labels_ext_annotation": cell_row([np.zeros((1, 3))] * n_trials),
        "VideoIDs": cell_row([str(10 + t) for t in range(n_trials)]),
    }


# ---------------------------------------------------------------- round trip


def test_round_trip_preprocessed(nested: Path) -> None:
    recs = _read(nested, prefer_original=False)
    assert [r.subject for r in recs] == ["P01"] * 3 + ["P02"] * 3
    for pid in ("P01", "P02"):
        path = _pre(nested, pid)
        m = scipy.io.loadmat(path)
        mine = [r for r in recs if r.subject == pid]
        assert [r.trial for r in mine] == [
            f"video_{v[0]}" for v in m["VideoIDs"][0]
        ]  # file order kept
        for t, r in enumerate(mine):
            assert r.fs == 128.0
            assert r.source == path
            assert r.dataset == "amigos"
            data = m["joined_data"][0, t]
            row = m["labels_selfassessment"][0, t]
            if data.size:
                np.testing.assert_array_equal(r.ecg, data[:, 14])
                assert 12 * 128 <= r.ecg.size <= 16 * 128
            if row.size:
                assert r.labels == {"arousal": row[0, 0], "valence": row[0, 1]}
                assert row[0, 0] != row[0, 1]


def test_left_lead_is_column_15(nested: Path) -> None:
    right = _read(nested, prefer_original=False, ecg_lead="right")
    left = _read(nested, prefer_original=False, ecg_lead="left")
    m = scipy.io.loadmat(_pre(nested, "P02"))
    np.testing.assert_array_equal(left[3].ecg, m["joined_data"][0, 0][:, 15])
    assert not np.array_equal(left[3].ecg, right[3].ecg)
    # lead III is a scaled copy of lead II plus noise: strongly correlated
    assert np.corrcoef(left[3].ecg, right[3].ecg)[0, 1] > 0.8


def test_labels_raw_real_values(tmp_path: Path) -> None:
    savemat(tmp_path / "Data_Preprocessed_P07.mat", _minimal())
    recs = _read(tmp_path)
    assert [r.subject for r in recs] == ["P07", "P07"]
    assert [r.trial for r in recs] == ["video_10", "video_11"]
    assert [r.labels for r in recs] == [
        {"arousal": 2.5, "valence": 7.25},
        {"arousal": 3.5, "valence": 6.25},
    ]
    np.testing.assert_array_equal(recs[1].ecg, np.arange(256.0) + 1000)


def test_synthetic_labels_real_valued_and_varying(tmp_path: Path) -> None:
    _write(tmp_path, n_subjects=2, n_trials=5, trial_s=(2.0, 3.0), quirks=False)
    for pid in ("P01", "P02"):
        m = scipy.io.loadmat(_pre(tmp_path, pid))
        rows = np.vstack([r for r in m["labels_selfassessment"][0]])
        assert rows.shape == (5, 12)
        assert np.all((rows[:, :5] >= 1) & (rows[:, :5] <= 9))
        assert np.any(rows[:, :5] != np.round(rows[:, :5]))  # real, not rounded
        assert set(np.unique(rows[:, 5:])) <= {0.0, 1.0}
        assert np.all(np.ptp(rows[:, :2], axis=0) > 2.0)  # vary within subject
        ids = [v[0] for v in m["VideoIDs"][0]]
        assert len(set(ids)) == 5
        assert set(ids) <= set(synth.VIDEO_IDS)


# ---------------------------------------------------------------- file format


def test_native_cells_and_quirk_shapes(nested: Path) -> None:
    slots = synth.quirk_slots(2, 3)
    for p, pid in enumerate(("P01", "P02")):
        m = scipy.io.loadmat(_pre(nested, pid))
        assert [k for k in m if not k.startswith("__")] == PRE_VARS
        for var in PRE_VARS:
            assert m[var].shape == (1, 3)
            assert m[var].dtype == object
        for t in range(3):
            data = m["joined_data"][0, t]
            row = m["labels_selfassessment"][0, t]
            vid = m["VideoIDs"][0, t]
            assert vid.dtype.kind == "U"
            assert vid.shape == (1,)
            if slots["empty"] == (p, t):
                assert data.shape == (0, 0)
                assert row.shape == (1, 0)
            else:
                assert data.shape[1] == 17
                assert data.dtype == np.float64
                assert row.shape == (
                    (1, 0) if slots["missing_labels"] == (p, t) else (1, 12)
                )


def test_original_file_format(nested: Path) -> None:
    folder = nested / "Data_Preprocessed_P02"
    orig = scipy.io.loadmat(folder / "Data_Original_P02.mat")
    pre = scipy.io.loadmat(folder / "Data_Preprocessed_P02.mat")
    assert [k for k in orig if not k.startswith("__")] == ["ECG_DATA", "VideoIDs"]
    assert orig["ECG_DATA"].shape == orig["VideoIDs"].shape == (1, 3)
    assert orig["ECG_DATA"].dtype == object
    own = [v[0] for v in orig["VideoIDs"][0]]
    theirs = [v[0] for v in pre["VideoIDs"][0]]
    assert sorted(own) == sorted(theirs)
    assert own != theirs  # another cell order than the preprocessed file's
    firsts = []
    for j, vid in enumerate(own):
        x = orig["ECG_DATA"][0, j]
        assert x.shape[1] == 6
        t = theirs.index(vid)
        assert x.shape[0] == 2 * pre["joined_data"][0, t].shape[0]  # 256 vs 128 Hz
        np.testing.assert_allclose(np.diff(x[:, 0]), 1000.0 / 256.0)
        firsts.append(x[0, 0])
    assert len(set(firsts)) == 3  # distinct start times


def test_quirks_can_be_disabled(tmp_path: Path) -> None:
    _write(tmp_path, quirks=False)
    recs = _read(tmp_path)
    assert all(r.ecg.size > 0 for r in recs)
    assert not any(np.isnan(r.ecg).any() for r in recs)
    assert all(v is not None for r in recs for v in r.labels.values())


def test_quirk_slots_distinct_and_need_three_trials() -> None:
    for n_s, n_t in [(1, 3), (2, 2), (3, 1), (4, 6)]:
        slots = synth.quirk_slots(n_s, n_t)
        assert len(set(slots.values())) == 3
        assert all(0 <= p < n_s and 0 <= t < n_t for p, t in slots.values())
    with pytest.raises(ValueError, match="n_trials"):
        synth.quirk_slots(1, 2)


def test_deterministic(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", write_original=True)
    b = _write(tmp_path / "b", write_original=True)
    c = _write(tmp_path / "c", write_original=True, seed=6)
    d = _write(tmp_path / "d", write_original=False)
    assert [p.relative_to(tmp_path / "a") for p in a] == [
        p.relative_to(tmp_path / "b") for p in b
    ]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
    assert all(x.read_bytes() != y.read_bytes() for x, y in zip(a, c, strict=True))
    # the preprocessed files do not depend on whether originals are written
    pre_a = [p for p in a if "Preprocessed_P" in p.name]
    assert [p.read_bytes() for p in pre_a] == [p.read_bytes() for p in d]


def test_write_validates_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout"):
        _write(tmp_path, layout="deep")
    with pytest.raises(ValueError, match="trial_s"):
        _write(tmp_path, trial_s=(20.0, 10.0))
    with pytest.raises(TypeError, match="write_original"):
        _write(tmp_path, write_original="yes")


# ---------------------------------------------------------------- quirks in the reader


def test_empty_trial_yields_empty_array(nested: Path) -> None:
    p, t = synth.quirk_slots(2, 3)["empty"]
    for prefer in (True, False):
        rec = _read(nested, prefer_original=prefer)[3 * p + t]
        assert rec.ecg.shape == (0,)
        assert rec.ecg.dtype == np.float64
        assert rec.labels == {"arousal": None, "valence": None}


def test_nan_run_preserved(nested: Path) -> None:
    p, t = synth.quirk_slots(2, 3)["nan_run"]
    rec = _read(nested, prefer_original=False)[3 * p + t]
    nan = np.isnan(rec.ecg)
    assert nan.sum() == 3 * 128
    idx = np.flatnonzero(nan)
    assert np.all(np.diff(idx) == 1)  # one contiguous run
    assert 0 < idx[0]
    assert idx[-1] < rec.ecg.size - 1
    assert rec.labels["arousal"] is not None


def test_missing_label_row_gives_none(nested: Path) -> None:
    p, t = synth.quirk_slots(2, 3)["missing_labels"]
    rec = _read(nested, prefer_original=False)[3 * p + t]
    assert rec.ecg.size > 0
    assert rec.labels == {"arousal": None, "valence": None}


def test_flat_and_nested_layouts_read_the_same(tmp_path: Path) -> None:
    flat = _write(tmp_path / "flat", layout="flat")
    nest = _write(tmp_path / "nested", layout="nested")
    assert [p.parent for p in flat] == [tmp_path / "flat"] * 2
    assert [p.parent.name for p in nest] == [
        "Data_Preprocessed_P01",
        "Data_Preprocessed_P02",
    ]
    a, b = _read(tmp_path / "flat"), _read(tmp_path / "nested")
    assert [(r.subject, r.trial, r.labels) for r in a] == [
        (r.subject, r.trial, r.labels) for r in b
    ]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.ecg, y.ecg)


def test_original_preferred_with_labels_attached(nested: Path) -> None:
    pre = _by_key(_read(nested, prefer_original=False))
    orig_recs = _read(nested)  # prefer_original=True by default
    assert list(_by_key(orig_recs)) == list(pre)
    for r in orig_recs:
        ref = pre[(r.subject, r.trial)]
        assert r.fs == 256.0
        assert r.source.name == f"Data_Original_{r.subject}.mat"
        assert r.labels == ref.labels
        assert r.ecg.size == 2 * ref.ecg.size
        if r.ecg.size:  # same heart: the 128-Hz ECG is the decimated original
            x = r.ecg[::2] - r.ecg.mean()
            ok = ~np.isnan(ref.ecg)
            assert np.corrcoef(x[ok], ref.ecg[ok])[0, 1] > 0.9
    m = scipy.io.loadmat(nested / "Data_Preprocessed_P01" / "Data_Original_P01.mat")
    j = [v[0] for v in m["VideoIDs"][0]].index(orig_recs[0].trial[len("video_") :])
    np.testing.assert_array_equal(orig_recs[0].ecg, m["ECG_DATA"][0, j][:, 2])
    left = _read(nested, ecg_lead="left")
    np.testing.assert_array_equal(left[0].ecg, m["ECG_DATA"][0, j][:, 1])


def test_files_lists_what_is_used(nested: Path) -> None:
    both = AmigosReader(nested).files()
    pre_only = AmigosReader(nested, prefer_original=False).files()
    assert [p.name for p in both] == [
        "Data_Original_P01.mat",
        "Data_Preprocessed_P01.mat",
        "Data_Original_P02.mat",
        "Data_Preprocessed_P02.mat",
    ]
    assert [p.name for p in pre_only] == [
        "Data_Preprocessed_P01.mat",
        "Data_Preprocessed_P02.mat",
    ]


def test_original_only_participant(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path, write_original=True, quirks=False)
    _pre(tmp_path, "P02").unlink()
    for prefer in (True, False):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="ecgssl.data.readers.amigos"):
            recs = [r for r in _read(tmp_path, prefer_original=prefer)]
        p2 = [r for r in recs if r.subject == "P02"]
        own = scipy.io.loadmat(
            tmp_path / "Data_Preprocessed_P02" / "Data_Original_P02.mat"
        )["VideoIDs"][0]
        assert [r.trial for r in p2] == [f"video_{v[0]}" for v in own]
        assert all(r.labels == {"arousal": None, "valence": None} for r in p2)
        assert all(r.fs == 256.0 and r.ecg.size > 0 for r in p2)
        assert all(
            [(w.reason, w.labels, w.mask) for w in r.withheld]
            == [("unmatched", ("arousal", "valence"), None)]
            for r in p2
        )
        assert "P02 has no preprocessed file" in caplog.text
        p1 = [r for r in recs if r.subject == "P01"]
        assert all(r.fs == (256.0 if prefer else 128.0) for r in p1)


def test_timestamp_rate_mismatch_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path, n_subjects=1, write_original=True, quirks=False)
    path = tmp_path / "Data_Preprocessed_P01" / "Data_Original_P01.mat"
    m = scipy.io.loadmat(path)
    cells = m["ECG_DATA"]
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.amigos"):
        _read(tmp_path)
    assert "timestamps imply" not in caplog.text
    cells[0, 1][:, 0] = cells[0, 1][0, 0] + 5.0 * np.arange(cells[0, 1].shape[0])
    savemat(path, {"ECG_DATA": cells})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.amigos"):
        recs = _read(tmp_path)
    assert "ECG_DATA{2}: timestamps imply 200.0 Hz" in caplog.text
    assert recs[1].fs == 256.0


def test_video_id_variants(tmp_path: Path) -> None:
    mdict = _minimal(n_trials=4)
    mdict["VideoIDs"] = cell_row([" '10' ", "", np.array([[31.0]]), "N1"])
    savemat(tmp_path / "Data_Preprocessed_P01.mat", mdict)
    trials = [r.trial for r in _read(tmp_path)]
    assert trials == ["video_10", "trial_02", "video_31", "video_N1"]


def test_logs_participants_and_trials(
    nested: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ecgssl.data.readers.amigos"):
        _read(nested)
    assert "2 participants" in caplog.text
    assert "P01: 3 trials (1 empty)" in caplog.text


# ---------------------------------------------------------------- broken inputs


def _expect(root: Path, path: Path, field: str, match: str | None = None) -> None:
    with pytest.raises(DataFormatError, match=match) as err:
        _read(root)
    assert err.value.path == path
    assert err.value.field == field
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("breaker", "match"),
    [(zero_bytes, "0 bytes"), (truncate, "truncated"), (write_v73, "v7.3")],
)
@pytest.mark.parametrize("kind", ["Preprocessed", "Original"])
def test_unreadable_files(tmp_path: Path, breaker, match: str, kind: str) -> None:
    _write(tmp_path, write_original=True)
    path = tmp_path / "Data_Preprocessed_P02" / f"Data_{kind}_P02.mat"
    breaker(path)
    _expect(tmp_path, path, "file", match)


def test_duplicated_participant_names_both_files(tmp_path: Path) -> None:
    _write(tmp_path)
    nested = _pre(tmp_path, "P01")
    flat = shutil.copy(nested, tmp_path / "Data_Preprocessed_P01.mat")
    with pytest.raises(DataFormatError, match="P01") as err:
        AmigosReader(tmp_path).files()
    assert err.value.field == "participant"
    assert str(nested) in str(err.value)
    assert str(flat) in str(err.value)


def test_missing_variable(tmp_path: Path) -> None:
    mdict = _minimal()
    del mdict["joined_data"]
    path = savemat(tmp_path / "Data_Preprocessed_P01.mat", mdict)
    _expect(tmp_path, path, "joined_data", "missing")


def test_label_count_not_matching_trials(tmp_path: Path) -> None:
    mdict = _minimal(n_trials=3)
    mdict["labels_selfassessment"] = cell_row([np.ones((1, 12))] * 2)
    path = savemat(tmp_path / "Data_Preprocessed_P01.mat", mdict)
    _expect(tmp_path, path, "labels_selfassessment", "2 entries for 3")


def test_trial_with_too_few_columns(tmp_path: Path) -> None:
    mdict = _minimal()
    mdict["joined_data"][0, 1] = np.zeros((100, 3))
    path = savemat(tmp_path / "Data_Preprocessed_P01.mat", mdict)
    _expect(tmp_path, path, "joined_data{2}", "columns")


def test_duplicated_video_ids(tmp_path: Path) -> None:
    mdict = _minimal()
    mdict["VideoIDs"] = cell_row(["10", "'10'"])
    path = savemat(tmp_path / "Data_Preprocessed_P01.mat", mdict)
    _expect(tmp_path, path, "VideoIDs", "video_10")


def test_cells_not_cells(tmp_path: Path) -> None:
    mdict = _minimal()
    mdict["joined_data"] = np.zeros((1, 2))
    path = savemat(tmp_path / "Data_Preprocessed_P01.mat", mdict)
    _expect(tmp_path, path, "joined_data", "cell")


def test_original_trial_count_not_matching_preprocessed(tmp_path: Path) -> None:
    _write(tmp_path, write_original=True)
    path = tmp_path / "Data_Preprocessed_P01" / "Data_Original_P01.mat"
    cells = scipy.io.loadmat(path)["ECG_DATA"]
    savemat(path, {"ECG_DATA": cells[:, :2]})
    _expect(tmp_path, path, "ECG_DATA", "2 trials")


def test_original_missing_ecg_data(tmp_path: Path) -> None:
    _write(tmp_path, write_original=True)
    path = tmp_path / "Data_Preprocessed_P01" / "Data_Original_P01.mat"
    savemat(path, {"EEG_DATA": cell_row([np.zeros((4, 3))] * 3)})
    _expect(tmp_path, path, "ECG_DATA", "missing")


def test_no_data_file_and_missing_root(tmp_path: Path) -> None:
    (tmp_path / "Metadata_xlsx").mkdir()
    with pytest.raises(DataFormatError, match="Data_Preprocessed") as err:
        AmigosReader(tmp_path).files()
    assert err.value.path == tmp_path
    with pytest.raises(DataFormatError) as err:
        AmigosReader(tmp_path / "missing")
    assert err.value.field == "path"


@pytest.mark.parametrize(
    ("options", "exc"),
    [({"ecg_lead": "middle"}, ValueError), ({"prefer_original": 1}, TypeError)],
)
def test_options_validated(tmp_path: Path, options: dict, exc: type) -> None:
    with pytest.raises(exc, match=next(iter(options))):
        AmigosReader(tmp_path, **options)  # type: ignore[arg-type]


# ------------------------------------------- original files, built by hand with scipy


def _beats(n: int, fs: float) -> np.ndarray:
    """Narrow peaks every 0.8 s (zero at sample 0), so windows pass QC."""
    t = np.arange(n) / fs
    return 500.0 * np.exp(-0.5 * ((t % 0.8 - 0.4) / 0.01) ** 2)


def _original(ids: list[str] | None, n: int = 2048) -> dict:
    """A hand-built original file: right lead = 5000 + 100 * video id + beats."""
    cells = []
    for vid in ids or ["10", "11", "12"]:
        m = np.zeros((n, 6))
        m[:, 0] = 1.4e12 + np.arange(n) * (1000.0 / 256.0)
        m[:, 2] = 5000.0 + 100.0 * float(vid) + np.arange(n) + _beats(n, 256.0)
        m[:, 1] = -m[:, 2]
        cells.append(m)
    out = {"ECG_DATA": cell_row(cells), "EEG_DATA": cell_row([np.zeros((4, 14))] * 3)}
    if ids is not None:
        out["VideoIDs"] = cell_row(ids)
    return out


def _pair(root: Path, original_ids: list[str] | None) -> Path:
    pre = _minimal(n_trials=3, n=1024)  # videos 10, 11, 12; 8 s at 128 Hz
    savemat(root / "Data_Preprocessed_P05.mat", pre)
    return savemat(root / "Data_Original_P05.mat", _original(original_ids))


def test_original_trials_matched_by_video_id_not_cell_order(tmp_path: Path) -> None:
    _pair(tmp_path, ["12", "10", "11"])
    recs = _read(tmp_path)
    assert [r.trial for r in recs] == ["video_10", "video_11", "video_12"]
    for r in recs:
        vid = int(r.trial[len("video_") :])
        t = vid - 10  # the preprocessed file's cell of this video
        assert r.ecg[0] == 5000.0 + 100.0 * vid  # the original's trial of this video
        assert r.labels == {"arousal": 2.5 + t, "valence": 7.25 - t}
        assert r.withheld == ()


def test_original_without_video_ids_matched_by_order_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _pair(tmp_path, None)
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.amigos"):
        recs = _read(tmp_path)
    assert "P05: the original file has no VideoIDs" in caplog.text
    assert "by cell order" in caplog.text
    assert [r.ecg[0] for r in recs] == [6000.0, 6100.0, 6200.0]  # cells in order


def test_original_with_an_unusable_video_id_falls_back_to_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mdict = _original(["12", "10", "11"])
    mdict["VideoIDs"][0, 1] = ""
    savemat(tmp_path / "Data_Preprocessed_P05.mat", _minimal(n_trials=3, n=1024))
    savemat(tmp_path / "Data_Original_P05.mat", mdict)
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.amigos"):
        recs = _read(tmp_path)
    assert "unusable or repeated" in caplog.text
    assert [r.trial for r in recs] == ["video_10", "video_11", "video_12"]


def test_original_with_other_video_ids_is_an_error_naming_the_participant(
    tmp_path: Path,
) -> None:
    path = _pair(tmp_path, ["12", "10", "99"])
    with pytest.raises(DataFormatError) as err:
        _read(tmp_path)
    assert (err.value.path, err.value.field) == (path, "VideoIDs")
    assert "participant P05" in str(err.value)
    assert "only in the original file: ['99']" in str(err.value)
    assert "only in the preprocessed file: ['11']" in str(err.value)


def test_original_with_more_trials_is_an_error_naming_the_participant(
    tmp_path: Path,
) -> None:
    savemat(tmp_path / "Data_Preprocessed_P05.mat", _minimal(n_trials=2, n=1024))
    path = savemat(tmp_path / "Data_Original_P05.mat", _original(["11", "10", "12"]))
    with pytest.raises(DataFormatError, match="participant P05: 3 trials") as err:
        _read(tmp_path)
    assert err.value.path == path
    # ids and ECG_DATA of one original file must agree in number
    mdict = _original(["11", "10", "12"])
    mdict["VideoIDs"] = cell_row(["11", "10"])
    savemat(tmp_path / "Data_Original_P05.mat", mdict)
    with pytest.raises(DataFormatError, match="2 entries for 3 ECG_DATA") as err:
        _read(tmp_path)
    assert err.value.field == "VideoIDs"


@pytest.mark.parametrize("prefer_original", [False, True])
def test_baseline_seconds_are_cut_from_every_trial(
    tmp_path: Path, prefer_original: bool
) -> None:
    _pair(tmp_path, ["12", "10", "11"])
    whole = _read(tmp_path, prefer_original=prefer_original)
    cut = list(AmigosReader(tmp_path, prefer_original=prefer_original).recordings())
    fs = 256 if prefer_original else 128
    for a, b in zip(whole, cut, strict=True):
        assert b.trial == a.trial
        np.testing.assert_array_equal(b.ecg, a.ecg[5 * fs :])  # default: 5 s
    three = _read(tmp_path, prefer_original=prefer_original, baseline_s=3.0)
    assert three[0].ecg.size == whole[0].ecg.size - 3 * fs
    with pytest.raises(ValueError, match="baseline_s"):
        AmigosReader(tmp_path, baseline_s=-1.0)


def test_unmatched_trials_are_counted_in_qc(tmp_path: Path) -> None:
    from ecgssl.data.preprocess import PreprocessConfig, build_window_store
    from ecgssl.data.store import read_metadata

    pre = _minimal(n_trials=2, n=128 * 30)
    for t in range(2):
        pre["joined_data"][0, t][:, 14] += _beats(128 * 30, 128.0)
    savemat(tmp_path / "Data_Preprocessed_P01.mat", pre)
    savemat(tmp_path / "Data_Original_P02.mat", _original(["4", "5", "9"], n=256 * 30))
    store, qc = tmp_path / "w.parquet", tmp_path / "qc.tsv"
    build_window_store(
        AmigosReader(tmp_path, baseline_s=0.0),
        root=tmp_path,
        store_path=store,
        qc_path=qc,
        config=PreprocessConfig(),
    )
    table = pd.read_csv(qc, sep="\t").set_index(["subject", "trial"])
    assert table.loc["P02", "n_unmatched"].tolist() == [3, 3, 3]
    assert table.loc["P01", "n_unmatched"].tolist() == [0, 0]
    labels = read_metadata(store)["labels"]["arousal"]
    assert labels["withheld_windows"]["unmatched"] == 9
    assert labels["labelled_windows"] == 6
