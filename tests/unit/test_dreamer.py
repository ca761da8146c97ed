"""Tests of the DREAMER synthetic writer and reader (native v5 struct layout)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from _matfixtures import (
    cell_col,
    cell_row,
    pad_compressed,
    savemat,
    truncate,
    write_v73,
    zero_bytes,
)

from ecgssl.data.readers.dreamer import DreamerReader
from ecgssl.data.synthetic import dreamer as synth
from ecgssl.util.errors import DataFormatError

TOP_FIELDS = (
    "Data",
    "EEG_SamplingRate",
    "ECG_SamplingRate",
    "EEG_Electrodes",
    "noOfSubjects",
    "noOfVideoSequences",
    "Disclaimer",
    "Provider",
    "Version",
    "Acknowledgement",
)
SUBJECT_FIELDS = (
    "Age",
    "Gender",
    "EEG",
    "ECG",
    "ScoreValence",
    "ScoreArousal",
    "ScoreDominance",
)
SMALL = {"n_subjects": 2, "n_trials": 2, "stimulus_s": (12.0, 16.0), "baseline_s": 10.0}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic DREAMER folder (written once per module)."""
    root = tmp_path_factory.mktemp("dreamer")
    synth.write(root, seed=7, **SMALL)
    return root


def _struct(n_subjects: int = 2, n_trials: int = 2, n: int = 64) -> dict:
    """A minimal hand-built DREAMER struct with distinct, known scores."""
    subjects = []
    for s in range(n_subjects):
        ecg = {
            "baseline": cell_col(
                [np.full((n, 2), 10.0 * s + t) for t in range(n_trials)]
            ),
            "stimuli": cell_col(
                [
                    np.column_stack([np.arange(n + t), -np.arange(n + t)]) + 1000 * s
                    for t in range(n_trials)
                ]
            ),
        }
        eeg = {
            "baseline": cell_col([np.zeros((n // 2, 14))] * n_trials),
            "stimuli": cell_col([np.zeros((n // 2, 14))] * n_trials),
        }
        subjects.append(
            {
                "Age": "25",
                "Gender": "female",
                "EEG": eeg,
                "ECG": ecg,
                "ScoreValence": np.array([[3.0 + t % 2] for t in range(n_trials)]),
                "ScoreArousal": np.array([[1.0 + t % 2] for t in range(n_trials)]),
                "ScoreDominance": np.array([[5.0 - t % 2] for t in range(n_trials)]),
            }
        )
    return {
        "Data": cell_row(subjects),
        "EEG_SamplingRate": 128.0,
        "ECG_SamplingRate": 256.0,
        "noOfSubjects": float(n_subjects),
    }


def _save(tmp_path: Path, top: dict, var: str = "DREAMER") -> Path:
    savemat(tmp_path / "DREAMER.mat", {var: top})
    return tmp_path


def _read(root: Path, **options: object) -> list:
    return list(DreamerReader(root, **options).recordings())


# ---------------------------------------------------------------- round trip


def test_round_trip_subjects_trials_fs_lengths(synthetic: Path) -> None:
    recs = _read(synthetic)
    assert [r.subject for r in recs] == ["s01"] * 4 + ["s02"] * 4
    assert [r.trial for r in recs[:4]] == [
        "baseline_01",
        "stimuli_01",
        "baseline_02",
        "stimuli_02",
    ]
    assert all(r.fs == 256.0 and r.dataset == "dreamer" for r in recs)
    assert all(r.source == synthetic / "DREAMER.mat" for r in recs)
    raw = scipy.io.loadmat(synthetic / "DREAMER.mat")["DREAMER"][0, 0]["Data"]
    for r in recs:
        s = int(r.subject[1:]) - 1
        part, t = r.trial.split("_")
        matrix = raw[0, s]["ECG"][0, 0][part][0, 0][int(t) - 1, 0]
        assert r.ecg.dtype == np.float64
        assert r.ecg.ndim == 1
        np.testing.assert_array_equal(r.ecg, matrix[:, 0])
        if part == "baseline":
            assert r.ecg.size == 10 * 256
        else:
            assert 12 * 256 <= r.ecg.size <= 16 * 256
            assert r.ecg.size % 256 == 0  # whole seconds


def test_labels_from_the_right_fields_and_baselines_unlabelled(synthetic: Path) -> None:
    raw = scipy.io.loadmat(synthetic / "DREAMER.mat")["DREAMER"][0, 0]["Data"]
    for r in _read(synthetic):
        assert set(r.labels) == {"arousal", "valence", "dominance"}
        if r.trial.startswith("baseline"):
            assert all(v is None for v in r.labels.values())
            continue
        item = raw[0, int(r.subject[1:]) - 1]
        t = int(r.trial[-2:]) - 1
        assert r.labels["arousal"] == item["ScoreArousal"][0, 0][t, 0]
        assert r.labels["valence"] == item["ScoreValence"][0, 0][t, 0]
        assert r.labels["dominance"] == item["ScoreDominance"][0, 0][t, 0]


def test_valence_is_not_dominance(tmp_path: Path) -> None:
    """The original code's bug read dominance as valence: distinct known scores."""
    recs = _read(_save(tmp_path, _struct(n_subjects=1, n_trials=2)))
    stim = [r for r in recs if r.trial.startswith("stimuli")]
    assert [r.labels["arousal"] for r in stim] == [1.0, 2.0]
    assert [r.labels["valence"] for r in stim] == [3.0, 4.0]
    assert [r.labels["dominance"] for r in stim] == [5.0, 4.0]


def test_ecg_lead_selects_the_column(tmp_path: Path) -> None:
    root = _save(tmp_path, _struct(n_subjects=1, n_trials=1))
    stim0 = [r for r in _read(root, ecg_lead=0) if r.trial == "stimuli_01"][0]
    stim1 = [r for r in _read(root, ecg_lead=1) if r.trial == "stimuli_01"][0]
    np.testing.assert_array_equal(stim0.ecg, np.arange(64.0))
    np.testing.assert_array_equal(stim1.ecg, -np.arange(64.0))


@pytest.mark.parametrize(("lead", "exc"), [(2, ValueError), ("0", TypeError)])
def test_ecg_lead_validated(tmp_path: Path, lead: object, exc: type) -> None:
    with pytest.raises(exc, match="ecg_lead"):
        DreamerReader(tmp_path, ecg_lead=lead)  # type: ignore[arg-type]


def test_counts_read_from_file_not_hard_coded(tmp_path: Path) -> None:
    recs = _read(_save(tmp_path, _struct(n_subjects=3, n_trials=5)))
    assert sorted({r.subject for r in recs}) == ["s01", "s02", "s03"]
    assert len(recs) == 3 * 5 * 2
    assert recs[-1].trial == "stimuli_05"


def test_logs_what_was_found(synthetic: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ecgssl.data.readers.dreamer"):
        _read(synthetic)
    assert "2 subjects" in caplog.text
    assert "s02: 2 trials" in caplog.text


# ---------------------------------------------------------------- the file itself


def test_loader_idioms_of_public_code(synthetic: Path) -> None:
    path = synthetic / "DREAMER.mat"
    m = scipy.io.loadmat(path)
    assert len(m["DREAMER"][0, 0]["Data"][0]) == 2
    x = m["DREAMER"][0, 0]["Data"][0, 1]["ECG"][0, 0]["stimuli"][0, 0][1, 0]
    assert x.ndim == 2
    assert x.shape[1] == 2
    assert x.dtype == np.float64
    score = m["DREAMER"][0, 0]["Data"][0, 1]["ScoreValence"][0, 0][1, 0]
    assert score in {1.0, 2.0, 3.0, 4.0, 5.0}
    d = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["DREAMER"]
    np.testing.assert_array_equal(d.Data[1].ECG.stimuli[1], x)
    dreamer = scipy.io.loadmat(path, squeeze_me=True)["DREAMER"]
    part = dreamer["Data"].item()[1]
    np.testing.assert_array_equal(part["ECG"].item()["stimuli"].item()[1], x)


def test_native_struct_layout(synthetic: Path) -> None:
    top = scipy.io.loadmat(synthetic / "DREAMER.mat")["DREAMER"]
    assert top.shape == (1, 1)
    assert top.dtype.names == TOP_FIELDS
    top = top[0, 0]
    assert top["EEG_SamplingRate"][0, 0] == 128.0
    assert top["ECG_SamplingRate"][0, 0] == 256.0
    assert top["noOfSubjects"][0, 0] == 2.0
    assert top["noOfVideoSequences"][0, 0] == 2.0
    assert top["EEG_Electrodes"].shape == (1, 14)
    assert top["EEG_Electrodes"][0, 0][0] == "AF3"
    assert top["Data"].shape == (1, 2)
    assert top["Data"].dtype == object
    item = top["Data"][0, 0]
    assert item.shape == (1, 1)
    assert item.dtype.names == SUBJECT_FIELDS
    for signal, cols in (("EEG", 14), ("ECG", 2)):
        for part in ("baseline", "stimuli"):
            cell = item[signal][0, 0][part][0, 0]
            assert cell.shape == (2, 1)
            assert cell.dtype == object
            assert all(m.shape[1] == cols for m in cell[:, 0])
    eeg_base = item["EEG"][0, 0]["baseline"][0, 0][0, 0]
    assert eeg_base.shape == (10 * 128, 14)
    for t in range(2):  # EEG and ECG of a trial cover the same duration
        eeg = item["EEG"][0, 0]["stimuli"][0, 0][t, 0]
        ecg = item["ECG"][0, 0]["stimuli"][0, 0][t, 0]
        assert 2 * eeg.shape[0] == ecg.shape[0]


def test_scores_integers_varying_within_subject(tmp_path: Path) -> None:
    synth.write(tmp_path, seed=3, n_subjects=3, n_trials=4, stimulus_s=(1.0, 2.0))
    data = scipy.io.loadmat(tmp_path / "DREAMER.mat")["DREAMER"][0, 0]["Data"]
    for s in range(3):
        for field in ("ScoreArousal", "ScoreValence", "ScoreDominance"):
            v = data[0, s][field][0, 0]
            assert v.shape == (4, 1)
            assert v.dtype == np.float64
            assert np.all(v == np.round(v))
            assert v.min() >= 1
            assert v.max() <= 5
            assert np.ptp(v) > 0, f"{field} constant within subject {s}"


def test_ecg_in_adc_like_counts_two_related_leads(synthetic: Path) -> None:
    recs = _read(synthetic)
    lead0 = recs[1].ecg
    lead1 = _read(synthetic, ecg_lead=1)[1].ecg
    for lead in (lead0, lead1):
        assert np.all(lead == np.round(lead))
        assert 1700 < np.median(lead) < 2300
    # two leads of the same heart: strongly correlated, not identical
    r = np.corrcoef(lead0, lead1)[0, 1]
    assert 0.8 < r < 0.9999


def test_deterministic(tmp_path: Path) -> None:
    a = synth.write(tmp_path / "a", seed=11, **SMALL)[0].read_bytes()
    b = synth.write(tmp_path / "b", seed=11, **SMALL)[0].read_bytes()
    c = synth.write(tmp_path / "c", seed=12, **SMALL)[0].read_bytes()
    assert a == b
    assert a != c


def test_write_validates_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_subjects"):
        synth.write(tmp_path, seed=1, n_subjects=0)
    with pytest.raises(ValueError, match="stimulus_s"):
        synth.write(tmp_path, seed=1, stimulus_s=(10.0, 5.0))
    with pytest.raises(TypeError, match="n_trials"):
        synth.write(tmp_path, seed=1, n_trials=2.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- broken inputs


def test_init_reads_nothing_and_checks_root(tmp_path: Path) -> None:
    zero_bytes(tmp_path / "DREAMER.mat")
    reader = DreamerReader(tmp_path)  # a broken file does not fail here
    assert reader.files() == [tmp_path / "DREAMER.mat"]
    with pytest.raises(DataFormatError) as err:
        DreamerReader(tmp_path / "nope")
    assert err.value.field == "path"


def test_no_data_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="DREAMER.mat") as err:
        DreamerReader(tmp_path).files()
    assert err.value.field == "path"


def _expect(root: Path, field: str, match: str | None = None) -> DataFormatError:
    with pytest.raises(DataFormatError, match=match) as err:
        _read(root)
    assert err.value.path == root / "DREAMER.mat"
    assert err.value.field == field
    assert str(root / "DREAMER.mat") in str(err.value)
    return err.value


@pytest.mark.parametrize(
    ("breaker", "match"),
    [
        (zero_bytes, "0 bytes"),
        (truncate, "truncated"),
        (write_v73, "v7.3"),
    ],
)
def test_unreadable_files(tmp_path: Path, breaker, match: str) -> None:
    path = _save(tmp_path, _struct()) / "DREAMER.mat"
    breaker(path)
    _expect(tmp_path, "file", match)


def test_missing_dreamer_variable(tmp_path: Path) -> None:
    _expect(_save(tmp_path, _struct(), var="Dreamer"), "DREAMER", "missing")


def test_renamed_ecg_field(tmp_path: Path) -> None:
    top = _struct()
    item = top["Data"][0, 1]
    item["ECG_data"] = item.pop("ECG")
    _expect(_save(tmp_path, top), "DREAMER.Data{2}.ECG", "missing field")


def test_ecg_with_three_columns(tmp_path: Path) -> None:
    top = _struct()
    top["Data"][0, 0]["ECG"]["stimuli"][1, 0] = np.zeros((64, 3))
    _expect(_save(tmp_path, top), "DREAMER.Data{1}.ECG.stimuli{2}", "2 ECG columns")


def test_score_count_not_matching_trials(tmp_path: Path) -> None:
    top = _struct(n_trials=3)
    top["Data"][0, 1]["ScoreArousal"] = np.array([[1.0], [2.0]])
    _expect(_save(tmp_path, top), "DREAMER.Data{2}.ScoreArousal", "2 scores for 3")


def test_baseline_count_not_matching_trials(tmp_path: Path) -> None:
    top = _struct(n_trials=3)
    top["Data"][0, 0]["ECG"]["baseline"] = cell_col([np.zeros((8, 2))] * 2)
    _expect(_save(tmp_path, top), "DREAMER.Data{1}.ECG.baseline")


def test_data_not_a_cell(tmp_path: Path) -> None:
    top = _struct()
    top["Data"] = np.zeros((1, 2))
    _expect(_save(tmp_path, top), "DREAMER.Data", "cell")


@pytest.mark.parametrize("fs", [None, 0.0, -256.0])
def test_sampling_rate_missing_or_not_positive(
    tmp_path: Path, fs: float | None
) -> None:
    top = _struct()
    if fs is None:
        del top["ECG_SamplingRate"]
    else:
        top["ECG_SamplingRate"] = fs
    _expect(_save(tmp_path, top), "DREAMER.ECG_SamplingRate")


def test_integrity_check_false_alarm_is_read_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """scipy issue #6999: a compressed variable with trailing bytes is still valid."""
    path = pad_compressed(_save(tmp_path, _struct()) / "DREAMER.mat")
    with pytest.raises(ValueError, match="miCOMPRESSED"):
        scipy.io.loadmat(path)  # scipy's default refuses it
    with caplog.at_level(logging.WARNING, logger="ecgssl.data.readers.matlab"):
        recs = _read(tmp_path)
    assert "scipy issue #6999" in caplog.text
    assert str(path) in caplog.text
    reference = _read(_save(tmp_path / "plain", _struct()))
    assert [(r.trial, r.labels) for r in recs] == [
        (r.trial, r.labels) for r in reference
    ]
    for a, b in zip(recs, reference, strict=True):
        np.testing.assert_array_equal(a.ecg, b.ecg)


def test_integrity_retry_still_refuses_a_truncated_file(tmp_path: Path) -> None:
    path = pad_compressed(_save(tmp_path, _struct()) / "DREAMER.mat")
    truncate(path, keep=0.8)
    _expect(tmp_path, "file", "truncated")
