"""Tests for the synthetic WESAD writer and the WESAD reader."""

from __future__ import annotations

import logging
import pickle
import pickletools
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgssl.data.readers.safe_pickle import load_pickle
from ecgssl.data.readers.wesad import WesadReader
from ecgssl.data.synthetic import wesad as synth
from ecgssl.util.errors import DataFormatError

PHASE_S = 10.0


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wesad") / "WESAD"
    synth.write(out, seed=7, n_subjects=2, phase_s=PHASE_S)
    return out


def _raw(path: Path) -> dict:
    with path.open("rb") as fh:
        return pickle.load(fh, encoding="latin1")


def _copy(archive: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "WESAD"
    shutil.copytree(archive, dst)
    return dst


def _valid_blob(n: int = 700, subject: str = "S2") -> dict:
    label = np.repeat(np.array([0, 1, 2, 0, 3, 4, 5, 6, 7, 0], dtype=np.int32), n // 10)
    return {
        "signal": {
            "chest": {"ECG": np.sin(np.arange(label.size) / 50.0).reshape(-1, 1)},
            "wrist": {},
        },
        "label": label,
        "subject": subject,
    }


def _plant(root: Path, blob: object, number: int = 2) -> Path:
    folder = root / f"S{number}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"S{number}.pkl"
    path.write_bytes(synth.py2_pickle_dumps(blob))
    return path


# ------------------------------------------------------------------------- writer
def test_subject_numbers_skip_s1_and_s12():
    assert synth.subject_numbers(12) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14]


def test_writer_layout_and_side_files(archive: Path):
    for n in (2, 3):
        folder = archive / f"S{n}"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f"S{n}.pkl", f"S{n}_quest.csv", f"S{n}_readme.txt"]
        )
        assert (folder / f"S{n}_quest.csv").read_text().startswith(f"# Subj;S{n}")
    assert not (archive / "S4").exists()


def test_pickle_is_python2_style(archive: Path):
    path = archive / "S2" / "S2.pkl"
    data = path.read_bytes()
    assert data[:2] == b"\x80\x02"
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in data
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    assert {"SHORT_BINSTRING", "BINSTRING", "GLOBAL"} <= ops
    assert not ops & {"BINUNICODE", "SHORT_BINUNICODE", "BINBYTES", "STACK_GLOBAL"}
    with path.open("rb") as fh, pytest.raises(UnicodeDecodeError):
        pickle.load(fh)
    latin1 = _raw(path)
    safe = load_pickle(path)
    np.testing.assert_array_equal(
        safe["signal"]["chest"]["ECG"], latin1["signal"]["chest"]["ECG"]
    )


def test_pickle_contents_match_the_archive_layout(archive: Path):
    blob = _raw(archive / "S3" / "S3.pkl")
    assert set(blob) == {"signal", "label", "subject"}
    assert blob["subject"] == "S3"
    chest, wrist = blob["signal"]["chest"], blob["signal"]["wrist"]
    assert set(chest) == {"ACC", "ECG", "EMG", "EDA", "Temp", "Resp"}
    assert set(wrist) == {"ACC", "BVP", "EDA", "TEMP"}
    n = blob["label"].shape[0]
    assert blob["label"].shape == (n,)
    assert blob["label"].dtype == np.int32
    assert chest["ACC"].shape == (n, 3)
    for key in ("ECG", "EMG", "EDA", "Temp", "Resp"):
        assert chest[key].shape == (n, 1)
        assert chest[key].dtype == np.float64
    duration = n / 700
    assert duration == pytest.approx(4.65 * PHASE_S, abs=0.01)
    for key, fs in {"ACC": 32, "BVP": 64, "EDA": 4, "TEMP": 4}.items():
        assert wrist[key].shape[0] == round(duration * fs)
    assert wrist["ACC"].shape[1] == 3
    # ECG in mV: an R peak of a few tenths to a few mV, not µV
    assert 0.2 < np.ptp(chest["ECG"]) < 10
    # every protocol phase lasts phase_s; transients and 5/6/7 are present
    codes, counts = np.unique(blob["label"], return_counts=True)
    assert set(codes) == set(range(8))
    for code in (1, 2, 3, 4):
        assert counts[codes == code][0] == PHASE_S * 700


def test_protocol_versions_differ_between_subjects(archive: Path):
    orders = []
    for n in (2, 3):
        label = _raw(archive / f"S{n}" / f"S{n}.pkl")["label"]
        first = {c: int(np.argmax(label == c)) for c in (1, 2, 3, 4)}
        assert first[1] < min(first[2], first[3])
        assert max(first[2], first[3]) < first[4]
        orders.append(first[2] < first[3])
    assert orders[0] != orders[1]


def _dominant_rate_hz(x: np.ndarray, fs: float) -> float:
    # from R peaks: a realistic narrow QRS puts too little energy at the spectrum's
    # fundamental for its arg-max to find the heart rate in 10 s
    from sleepecg import detect_heartbeats

    beats = detect_heartbeats(np.ascontiguousarray(x - x.mean()), fs)
    return float(fs / np.median(np.diff(beats)))


def test_heart_rate_follows_state(archive: Path):
    # stress (high arousal) beats faster than meditation (low arousal) in each subject
    for n in (2, 3):
        blob = _raw(archive / f"S{n}" / f"S{n}.pkl")
        ecg = blob["signal"]["chest"]["ECG"][:, 0]
        label = blob["label"]
        stress = _dominant_rate_hz(ecg[label == 2], 700)
        meditation = _dominant_rate_hz(ecg[label == 4], 700)
        assert stress > meditation


def test_writer_is_deterministic(tmp_path: Path, archive: Path):
    again = synth.write(tmp_path / "a", seed=7, n_subjects=2, phase_s=PHASE_S)
    for path in again:
        assert (
            path.read_bytes()
            == (archive / path.relative_to(tmp_path / "a")).read_bytes()
        )
    other = synth.write(tmp_path / "b", seed=8, n_subjects=1, phase_s=PHASE_S)
    assert other[0].read_bytes() != (archive / "S2" / "S2.pkl").read_bytes()


def test_writer_validates_arguments(tmp_path: Path):
    with pytest.raises(ValueError, match="n_subjects"):
        synth.write(tmp_path, seed=0, n_subjects=0)
    with pytest.raises(ValueError, match="phase_s"):
        synth.write(tmp_path, seed=0, n_subjects=1, phase_s=0.0)


# ------------------------------------------------------------------------- reader
def test_round_trip(archive: Path, caplog: pytest.LogCaptureFixture):
    reader = WesadReader(archive)
    assert reader.files() == [archive / "S2" / "S2.pkl", archive / "S3" / "S3.pkl"]
    with caplog.at_level(logging.INFO, logger="ecgssl.data.readers.wesad"):
        recs = list(reader.recordings())
    assert [r.subject for r in recs] == ["S02", "S03"]
    assert "S02" in caplog.text
    assert "S03" in caplog.text
    for rec in recs:
        blob = _raw(rec.source)
        assert rec.dataset == "wesad"
        assert rec.trial == "session"
        assert rec.fs == 700.0
        assert rec.labels == {"affect": None}
        assert rec.ecg.dtype == np.float64
        assert rec.ecg.ndim == 1
        np.testing.assert_array_equal(rec.ecg, blob["signal"]["chest"]["ECG"][:, 0])
        stream = rec.label_streams["affect"]
        assert stream.dtype == np.float64
        assert stream.shape == rec.ecg.shape
        label = blob["label"]
        kept = np.isin(label, [1, 2, 3, 4])
        np.testing.assert_array_equal(stream[kept], label[kept])
        assert np.all(np.isnan(stream[~kept]))
        assert set(np.unique(label[~kept])) == {0, 5, 6, 7}


def test_numeric_subject_order_and_partial_download(tmp_path: Path):
    root = tmp_path / "WESAD"
    for n in (10, 3):
        _plant(root, _valid_blob(subject=f"S{n}"), number=n)
    recs = list(WesadReader(root).recordings())
    assert [r.subject for r in recs] == ["S03", "S10"]


def test_reader_ignores_side_files_and_warns_on_folder_without_pickle(
    archive: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    root = _copy(archive, tmp_path)
    (root / "S5").mkdir()
    (root / "S5" / "S5_readme.txt").write_text("no pickle here")
    (root / "S2" / "S2_E4_Data.zip").write_bytes(b"PK")
    (root / "S2" / "S2_respiban.txt").write_text("# OpenSignals")
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.wesad"):
        files = WesadReader(root).files()
    assert [f.name for f in files] == ["S2.pkl", "S3.pkl"]
    assert "S5" in caplog.text
    assert "skipped" in caplog.text


def test_reader_is_lazy(tmp_path: Path):
    root = tmp_path / "WESAD"
    _plant(root, _valid_blob())
    (root / "S3").mkdir()
    (root / "S3" / "S3.pkl").write_bytes(b"")
    reader = WesadReader(root)  # must not read anything
    it = reader.recordings()
    assert next(it).subject == "S02"
    with pytest.raises(DataFormatError, match="S3.pkl"):
        next(it)


def test_missing_root_and_no_pickles(tmp_path: Path):
    with pytest.raises(DataFormatError) as info:
        WesadReader(tmp_path / "nope")
    assert info.value.field == "path"
    (tmp_path / "S2").mkdir()
    with pytest.raises(DataFormatError, match="no WESAD pickle"):
        WesadReader(tmp_path).files()


def _drop(blob: dict, keys: tuple[str, ...]) -> dict:
    inner = blob
    for key in keys[:-1]:
        inner = inner[key]
    del inner[keys[-1]]
    return blob


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        (("signal",), "signal"),
        (("label",), "label"),
        (("subject",), "subject"),
        (("signal", "chest"), "signal/chest"),
        (("signal", "chest", "ECG"), "signal/chest/ECG"),
    ],
)
def test_missing_keys(tmp_path: Path, keys: tuple[str, ...], field: str):
    path = _plant(tmp_path, _drop(_valid_blob(), keys))
    with pytest.raises(DataFormatError) as info:
        list(WesadReader(tmp_path).recordings())
    assert info.value.field == field
    assert info.value.path == path


def test_wrong_ecg_shape(tmp_path: Path):
    blob = _valid_blob()
    blob["signal"]["chest"]["ECG"] = np.zeros((700, 2))
    path = _plant(tmp_path, blob)
    with pytest.raises(DataFormatError, match=r"\(700, 2\)") as info:
        list(WesadReader(tmp_path).recordings())
    assert (info.value.path, info.value.field) == (path, "signal/chest/ECG")


def test_flat_ecg_is_accepted(tmp_path: Path):
    blob = _valid_blob()
    blob["signal"]["chest"]["ECG"] = blob["signal"]["chest"]["ECG"][:, 0]
    _plant(tmp_path, blob)
    (rec,) = WesadReader(tmp_path).recordings()
    assert rec.ecg.shape == (700,)


def test_label_length_mismatch(tmp_path: Path):
    blob = _valid_blob()
    blob["label"] = blob["label"][:-5]
    path = _plant(tmp_path, blob)
    with pytest.raises(DataFormatError, match="695 labels for 700") as info:
        list(WesadReader(tmp_path).recordings())
    assert (info.value.path, info.value.field) == (path, "label")


def test_signal_not_a_dict(tmp_path: Path):
    blob = _valid_blob()
    blob["signal"] = [1, 2]
    _plant(tmp_path, blob)
    with pytest.raises(DataFormatError) as info:
        list(WesadReader(tmp_path).recordings())
    assert info.value.field == "signal"


def test_zero_byte_and_truncated_pickles(tmp_path: Path):
    path = _plant(tmp_path, _valid_blob())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(DataFormatError) as info:
        list(WesadReader(tmp_path).recordings())
    assert (info.value.path, info.value.field) == (path, "pickle")
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        list(WesadReader(tmp_path).recordings())


def test_forbidden_global_via_reader(tmp_path: Path):
    folder = tmp_path / "S2"
    folder.mkdir()
    (folder / "S2.pkl").write_bytes(b"\x80\x02cposix\nsystem\nU\x04true\x85R.")
    with pytest.raises(DataFormatError) as info:
        list(WesadReader(tmp_path).recordings())
    assert info.value.field == "pickle global"


def test_duplicated_subject(tmp_path: Path):
    _plant(tmp_path, _valid_blob())
    _plant(tmp_path / "copy", _valid_blob())
    with pytest.raises(DataFormatError, match="duplicated subject S02") as info:
        WesadReader(tmp_path).files()
    assert info.value.field == "subject"


def test_subject_field_mismatch_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    _plant(tmp_path, _valid_blob(subject="S9"))
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.wesad"):
        (rec,) = WesadReader(tmp_path).recordings()
    assert rec.subject == "S02"
    assert "'S9'" in caplog.text
