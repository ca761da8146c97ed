"""Recordings datasets: the user's own ECG files in each format, written here with the
formats' own libraries (MNE export, wfdb, a hand-written BDF), read back as windows
and labels; bad input fails with one line naming the file, and writes nothing."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ecgssl.config.defaults import SCHEMA_PATH, defaults, schema
from ecgssl.config.validate import check_config
from ecgssl.data.datasets import (
    RECORDINGS,
    entry,
    is_recordings,
    open_reader,
    reader_options,
    write_synthetic,
)
from ecgssl.data.preprocess import PreprocessConfig, build_window_store
from ecgssl.data.readers.recordings import RecordingsReader, read_ecg, select_channel
from ecgssl.data.store import read_metadata, read_windows
from ecgssl.data.synthetic.ecg import draw_subject, simulate_ecg
from ecgssl.util.errors import ConfigError, DataFormatError

mne = pytest.importorskip("mne")
wfdb = pytest.importorskip("wfdb")

FS = 250.0
SECONDS = 30.0
FORMATS = ("edf", "bdf", "vhdr", "fif", "wfdb")


def _ecg(seed: int, seconds: float = SECONDS, fs: float = FS) -> np.ndarray:
    """Synthetic ECG in mV."""
    rng = np.random.default_rng(seed)
    return simulate_ecg(
        draw_subject(rng), duration_s=seconds, fs=fs, arousal=0.5, valence=0.5,
        rng=rng,
    )  # fmt: skip


def _write_bdf(path: Path, signals: dict[str, np.ndarray], fs: float) -> None:
    """A plain BDF file (24-bit), written byte by byte as the format describes."""
    n = next(iter(signals.values())).size
    per_record = int(fs)  # one-second data records
    n_records = n // per_record
    names = list(signals)

    def field(text: str, width: int) -> bytes:
        return text.encode("ascii").ljust(width)[:width]

    header = b"\xffBIOSEMI" + field("X X X X", 80) + field("Startdate X", 80)
    header += field("01.01.20", 8) + field("00.00.00", 8)
    header += field(str(256 * (len(names) + 1)), 8) + field("24BIT", 44)
    header += field(str(n_records), 8) + field("1", 8) + field(str(len(names)), 4)
    header += b"".join(field(name, 16) for name in names)
    header += b"".join(field("", 80) for _ in names)  # transducer
    header += b"".join(field("uV", 8) for _ in names)
    header += b"".join(field("-100000", 8) for _ in names)  # physical min (uV)
    header += b"".join(field("100000", 8) for _ in names)
    header += b"".join(field("-8388608", 8) for _ in names)
    header += b"".join(field("8388607", 8) for _ in names)
    header += b"".join(field("", 80) for _ in names)  # prefiltering
    header += b"".join(field(str(per_record), 8) for _ in names)
    header += b"".join(field("", 32) for _ in names)
    scale = (8388607 + 8388608) / 200000.0  # digital units per uV
    digital = {
        k: np.round((v * 1000.0 + 100000) * scale - 8388608).astype(np.int32)
        for k, v in signals.items()  # mV -> uV -> counts
    }
    body = bytearray()
    for r in range(n_records):
        for name in names:
            chunk = digital[name][r * per_record : (r + 1) * per_record]
            b = chunk.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
            body += b.tobytes()
    path.write_bytes(header + bytes(body))


def _write(
    folder: Path,
    stem: str,
    fmt: str,
    ecg: np.ndarray,
    *,
    fs: float = FS,
    names: tuple[str, str] = ("Fp1", "ECG"),
    annotations: list[tuple[float, float, str]] | None = None,
) -> Path:
    """One recording with an EEG-like channel and an ECG channel, in ``fmt``."""
    folder.mkdir(parents=True, exist_ok=True)
    other = 0.01 * np.sin(np.arange(ecg.size) / fs * 2 * np.pi * 10)
    if fmt == "wfdb":
        wfdb.wrsamp(
            stem, fs=fs, units=["mV", "mV"], sig_name=list(names),
            p_signal=np.column_stack([other, ecg]), fmt=["16", "16"],
            adc_gain=[1000.0, 1000.0], baseline=[0, 0], write_dir=str(folder),
        )  # fmt: skip
        return folder / f"{stem}.hea"
    if fmt == "bdf":
        path = folder / f"{stem}.bdf"
        _write_bdf(path, {names[0]: other, names[1]: ecg}, fs)
        return path
    types = ["eeg", "ecg" if "ECG" in names[1] else "eeg"]
    info = mne.create_info(list(names), fs, ch_types=types)
    raw = mne.io.RawArray(np.vstack([other, ecg]) * 1e-3, info, verbose="error")
    if annotations:
        onset, duration, text = zip(*annotations, strict=True)
        raw.set_annotations(mne.Annotations(onset, duration, text))
    if fmt == "fif":
        path = folder / f"{stem}_raw.fif"
        raw.save(path, verbose="error")
        return path
    if fmt == "vhdr":
        pytest.importorskip("pybv")
    else:
        pytest.importorskip("edfio")
    path = folder / f"{stem}.{fmt}"
    mne.export.export_raw(path, raw, fmt={"vhdr": "brainvision"}.get(fmt, fmt),
                          verbose="error")  # fmt: skip
    return path


def _labels(path: Path, rows: list[tuple]) -> None:
    pd.DataFrame(
        rows, columns=["subject", "recording", "start_s", "end_s", "condition"]
    ).to_csv(path, index=False)


def _study(root: Path, fmt: str) -> dict:
    """Two subjects, one recording each, with a label table; reader options."""
    signals = {}
    for k, subject in enumerate(("p01", "p02")):
        signals[subject] = _ecg(k)
        _write(root / subject, f"{subject}_rest", fmt, signals[subject])
    _labels(
        root / "labels.csv",
        [("p01", "rest", 0, 15, 0), ("p01", "rest", 15, 30, 1),
         ("p02", "rest", 0, 12, 1)],
    )  # fmt: skip
    return {
        "pattern": r"(?P<subject>p\d+)_(?P<recording>[a-z]+)",
        "labels": {"columns": ["condition"], "table": "labels.csv"},
        "signals": signals,
    }


def _build(reader, tmp_path: Path) -> tuple[Path, Path]:
    store, qc = tmp_path / "out" / "lab.parquet", tmp_path / "out" / "lab.tsv"
    build_window_store(
        reader, root=reader.root, store_path=store, qc_path=qc,
        config=PreprocessConfig(),
    )  # fmt: skip
    return store, qc


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_gives_windows_and_labels(tmp_path, fmt):
    root = tmp_path / "study"
    options = _study(root, fmt)
    signals = options.pop("signals")
    reader = open_reader("lab", root, options)
    assert reader.name == "lab"
    store, qc = _build(reader, tmp_path)
    df = read_windows(store)
    assert list(df.columns[-1:]) == ["condition"]
    assert sorted(df.subject.unique()) == ["p01", "p02"]
    assert (df.trial == "rest").all()
    assert (df.groupby("subject").size() == 3).all()  # 30 s -> three 10-s windows
    p01 = df[df.subject == "p01"].sort_values("window").condition.tolist()
    # 0-10 s rest, 10-20 s crosses the change (no label), 20-30 s task
    assert p01[0] == 0
    assert p01[2] == 1
    assert p01[1] is None or math.isnan(p01[1])
    p02 = df[df.subject == "p02"].sort_values("window").condition.tolist()
    assert p02[0] == 1
    assert all(v is None or math.isnan(v) for v in p02[1:])
    meta = read_metadata(store)
    assert meta["dataset"] == "lab"
    assert meta["label_columns"] == ["condition"]
    assert "labels.csv" in {item["path"] for item in meta["inputs"]}
    assert pd.read_csv(qc, sep="\t").fs_in.eq(FS).all()
    # the ECG channel itself was read (not the other one), in the file's units
    ecg, fs, name = read_ecg(reader.entries()[0][2])
    assert (fs, name) == (FS, "ECG")
    scale = 1.0 if fmt == "wfdb" else 1e-3  # MNE gives volts
    assert np.corrcoef(ecg, signals["p01"])[0, 1] > 0.999
    assert np.abs(ecg / scale - signals["p01"]).max() < 0.01


def test_files_are_the_recordings_their_companions_and_tables(tmp_path):
    root = tmp_path / "study"
    options = _study(root, "wfdb")
    options.pop("signals")
    (root / "notes.txt").write_text("not a recording")
    reader = RecordingsReader(root, name="lab", **options)
    names = [p.relative_to(root).as_posix() for p in reader.files()]
    assert names == [
        "labels.csv", "p01/p01_rest.dat", "p01/p01_rest.hea", "p02/p02_rest.dat",
        "p02/p02_rest.hea",
    ]  # fmt: skip


def test_mne_annotations_label_windows(tmp_path):
    pytest.importorskip("edfio")
    root = tmp_path / "study"
    _write(root, "s1", "edf", _ecg(3), annotations=[(0, 10, "rest"), (20, 10, "task")])
    _write(root, "s2", "fif", _ecg(4), annotations=[(10, 20, "task")])
    reader = RecordingsReader(
        root, name="lab",
        labels={"columns": ["stress"],
                "annotations": {"rest": {"stress": 0}, "task": {"stress": 1}}},
    )  # fmt: skip
    df = read_windows(_build(reader, tmp_path)[0])
    got = {(s, w): v for s, w, v in zip(df.subject, df.window, df.stress, strict=True)}
    assert got[("s1", 0)] == 0
    assert got[("s1", 2)] == 1
    assert got[("s1", 1)] is None or math.isnan(got[("s1", 1)])
    assert got[("s2_raw", 1)] == 1
    assert got[("s2_raw", 2)] == 1


def test_wfdb_annotations_and_header_comments(tmp_path):
    root = tmp_path / "study"
    _write(root, "r1", "wfdb", _ecg(5))
    # rhythm changes as in PhysioNet .atr files: each lasts until the next
    wfdb.wrann("r1", "atr", np.array([0, 4000]), np.array(["+", "+"]),
               aux_note=["(N", "(AFIB"], write_dir=str(root))  # fmt: skip
    wfdb.wrsamp(
        "r2", fs=FS, units=["mV"], sig_name=["II"], p_signal=_ecg(6)[:, None],
        fmt=["16"], adc_gain=[1000.0], baseline=[0], comments=["rhythm: AF"],
        write_dir=str(root),
    )  # fmt: skip
    reader = RecordingsReader(
        root, name="lab",
        labels={"columns": ["rhythm"], "annotation_extension": "atr",
                "annotations": {"(N": {"rhythm": 0}, "(AFIB": {"rhythm": 1}},
                "header": True, "values": {"rhythm": {"AF": 1}}},
    )  # fmt: skip
    assert root / "r1.atr" in reader.files()
    df = read_windows(_build(reader, tmp_path)[0])
    r1 = df[df.subject == "r1"].sort_values("window").rhythm.tolist()
    assert r1[0] == 0
    assert r1[2] == 1
    assert (df[df.subject == "r2"].rhythm == 1).all()


def test_manifest_names_subjects_and_recordings(tmp_path):
    root = tmp_path / "study"
    _write(root / "raw", "a", "wfdb", _ecg(1, 20))
    _write(root / "raw", "b", "wfdb", _ecg(2, 20))
    pd.DataFrame(
        {"subject": ["X", "X"], "recording": ["day1", "day2"],
         "file": ["raw/a.hea", "raw/b.hea"]}
    ).to_csv(root / "manifest.csv", index=False)  # fmt: skip
    reader = RecordingsReader(root, name="lab", manifest="manifest.csv")
    recs = list(reader.recordings())
    assert [(r.subject, r.trial) for r in recs] == [("X", "day1"), ("X", "day2")]
    assert root / "manifest.csv" in reader.files()
    (root / "manifest.csv").write_text("subject,recording,file\nX,d,raw/c.hea\n")
    with pytest.raises(DataFormatError, match=r"manifest.csv.*raw/c.hea.*not found"):
        RecordingsReader(root, name="lab", manifest="manifest.csv").entries()


def test_channel_by_name_pattern_and_type():
    names, types = ["Fp1", "EKG left", "ECG II"], ["eeg", "misc", "ecg"]
    path = Path("x.edf")
    assert select_channel(names, types, path=path, channel="Fp1") == 0
    assert select_channel(names, types, path=path, channel_pattern="ekg*") == 1
    assert select_channel(names, types, path=path) == 2  # MNE type ecg
    # untyped files: names containing ECG or EKG
    with pytest.raises(DataFormatError, match=r"x.edf.*2 channels.*EKG left, ECG II"):
        select_channel(names, ["eeg"] * 3, path=path)
    assert select_channel(["I", "Resp"], None, path=path) == 0  # WFDB lead name
    assert select_channel(["sig"], None, path=path) == 0  # a lone WFDB signal
    with pytest.raises(DataFormatError, match=r"no channel named 'ECG'.*Fp1, EKG"):
        select_channel(names, types, path=path, channel="ECG")


# ---- bad input: one line naming the file, nothing written -------------------------
def _open_and_build(open_reader_, tmp_path: Path) -> None:
    _build(open_reader_(), tmp_path)


def _fails(open_reader_, tmp_path: Path, match: str) -> str:
    with pytest.raises(DataFormatError, match=match) as info:
        _open_and_build(open_reader_, tmp_path)
    assert not (tmp_path / "out" / "lab.parquet").exists()
    assert not (tmp_path / "out" / "lab.tsv").exists()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_file_without_ecg_channel_fails(tmp_path):
    root = tmp_path / "study"
    _write(root, "p01_a", "fif", _ecg(1, 20))
    _write(root, "p02_a", "fif", _ecg(2, 20), names=("Fp1", "Fp2"))
    message = _fails(
        lambda: RecordingsReader(root, name="lab"),
        tmp_path,
        r"p02_a_raw.fif: field 'channel': no channel of type 'ecg' "
        r"\(channels: Fp1, Fp2\)",
    )
    assert "p01" not in message


def test_label_table_naming_a_missing_recording_fails(tmp_path):
    root = tmp_path / "study"
    options = _study(root, "wfdb")
    options.pop("signals")
    _labels(root / "labels.csv", [("p01", "rest", 0, 10, 0), ("p03", "rest", 0, 5, 1)])
    _fails(
        lambda: RecordingsReader(root, name="lab", **options),
        tmp_path,
        r"labels.csv: field 'row 3': subject 'p03' recording 'rest' is not a "
        "recording",
    )


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([("p01", "rest", 0, 15, 0), ("p01", "rest", 10, 30, 1)],
         r"p01_rest.hea: field 'labels': condition intervals overlap: \[0, 15\) s "
         r"from .*labels.csv row 2 and one from .*row 3 starting at 10 s"),
        ([("p01", "rest", 20, 45, 1)],
         r"p01_rest.hea: field 'labels': condition interval \[20, 45\) s from "
         r".*labels.csv row 2 is outside the recording \(0-30 s\)"),
        ([("p01", "rest", 20, 10, 1)],
         r"labels.csv: field 'row 2': interval \[20, 10\) s is empty or negative"),
        ([("p01", "rest", 0, 10, "high")],
         r"labels.csv: field 'row 2': condition value 'high' is not a number"),
    ],
    ids=["overlap", "out-of-range", "reversed", "text"],
)  # fmt: skip
def test_bad_label_intervals_fail(tmp_path, rows, match):
    root = tmp_path / "study"
    options = _study(root, "wfdb")
    options.pop("signals")
    _labels(root / "labels.csv", rows)
    _fails(lambda: RecordingsReader(root, name="lab", **options), tmp_path, match)


def test_wrong_sampling_rate_header_fails(tmp_path):
    root = tmp_path / "study"
    _write(root, "p01_a", "wfdb", _ecg(1, 20))
    _write(root, "p02_a", "wfdb", _ecg(2, 20), fs=FS)
    _fails(
        lambda: RecordingsReader(root, name="lab", fs=500.0),
        tmp_path,
        r"p01_a.hea: field 'sampling rate': header gives 250 Hz, expected 500 Hz",
    )
    header = root / "p02_a.hea"
    lines = header.read_text().splitlines()
    first = lines[0].split()
    first[2] = "0"  # wfdb reads a rate of 0 Hz
    header.write_text("\n".join([" ".join(first), *lines[1:]]) + "\n")
    (root / "p01_a.hea").unlink()
    _fails(
        lambda: RecordingsReader(root, name="lab"),
        tmp_path,
        r"p02_a.hea: field .sampling rate.: header gives 0, not a positive rate in Hz",
    )


def test_duplicate_recordings_and_empty_folders_fail(tmp_path):
    root = tmp_path / "study"
    _write(root / "a", "p01_x", "wfdb", _ecg(1, 20))
    _write(root / "b", "p01_x", "wfdb", _ecg(2, 20))
    with pytest.raises(DataFormatError, match=r"p01_x.hea.*'p01'.*'x' is also"):
        RecordingsReader(
            root, pattern=r"(?P<subject>p\d+)_(?P<recording>\w)\."
        ).entries()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match=r"empty: field 'files': no recording"):
        RecordingsReader(tmp_path / "empty").files()
    with pytest.raises(DataFormatError, match=r"needs a named group"):
        RecordingsReader(root, pattern=r"p\d+")


# ---- PhysioNet/CinC Challenge 2017 layout (docs/recordings.md) --------------------
def _cinc2017(root: Path) -> dict[str, str]:
    """Single-lead .mat/.hea records at 300 Hz and REFERENCE.csv, as released."""
    from wfdb.io.convert.matlab import wfdb_to_mat

    root.mkdir(parents=True)
    labels = {"A00001": "N", "A00002": "A", "A00003": "O", "A00004": "~"}
    cwd = Path.cwd()
    try:
        import os

        os.chdir(root)
        for k, record in enumerate(labels):
            wfdb.wrsamp(record, fs=300, units=["mV"], sig_name=["ECG"],
                        p_signal=_ecg(10 + k, 20, 300.0)[:, None], fmt=["16"],
                        adc_gain=[1000.0], baseline=[0])  # fmt: skip
            wfdb_to_mat(record)  # writes <record>m.mat/.hea; rename as released
            Path(f"{record}m.mat").rename(f"{record}.mat")
            text = Path(f"{record}m.hea").read_text().replace(f"{record}m", record)
            Path(f"{record}.hea").write_text(text)
            for name in (f"{record}m.hea", f"{record}.dat"):
                Path(name).unlink()
    finally:
        os.chdir(cwd)
    (root / "REFERENCE.csv").write_text(
        "".join(f"{r},{v}\n" for r, v in labels.items())
    )
    return labels


def test_physionet_2017_layout_reads_as_a_labelled_dataset(tmp_path):
    root = tmp_path / "training2017"
    labels = _cinc2017(root)
    options = {
        "fs": 300,
        "labels": {"columns": ["rhythm"], "reference": "REFERENCE.csv",
                   "values": {"rhythm": {"N": 0, "A": 1, "O": 2, "~": 3}}},
    }  # fmt: skip
    reader = open_reader("cinc2017", root, options)
    assert {p.suffix for p in reader.files()} == {".hea", ".mat", ".csv"}
    df = read_windows(_build(reader, tmp_path)[0])
    assert sorted(df.subject.unique()) == sorted(labels)
    codes = {"N": 0, "A": 1, "O": 2, "~": 3}
    for record, text in labels.items():
        assert (df[df.subject == record].rhythm == codes[text]).all()
    assert len(df) == 2 * len(labels)
    # atrial fibrillation against the rest; noisy records left unlabelled
    af = {"N": 0, "A": 1, "O": 0, "~": None}
    options["labels"]["values"]["rhythm"] = af
    df = read_windows(_build(open_reader("cinc2017", root, options), tmp_path)[0])
    labelled = df[df.subject != "A00004"]
    assert labelled.groupby("subject").rhythm.first().to_dict() == {
        "A00001": 0, "A00002": 1, "A00003": 0,
    }  # fmt: skip
    assert df[df.subject == "A00004"].rhythm.isna().all()
    (root / "REFERENCE.csv").write_text("A00001,N\nA09999,A\n")
    with pytest.raises(DataFormatError, match=r"REFERENCE.csv.*'A09999' is not a"):
        list(open_reader("cinc2017", root, options).recordings())


# ---- config and registry ---------------------------------------------------------
def test_other_names_are_recordings_datasets():
    assert is_recordings("mystudy")
    assert not is_recordings("wesad")
    assert entry("mystudy") is RECORDINGS
    with pytest.raises(ConfigError, match="unknown dataset 'My-Study'"):
        entry("My-Study")


def test_reader_defaults_match_the_schema():
    import inspect

    params = inspect.signature(RecordingsReader).parameters
    schema = defaults("$defs.recordings_dataset.reader")
    for name, default in schema.items():
        if name != "labels":
            assert params[name].default == default, name
    assert set(schema["labels"]) == {
        "columns", "table", "reference", "annotations", "annotation_extension",
        "header", "values",
    }  # fmt: skip


def test_synthetic_copy_reads_back_with_its_options(tmp_path):
    cfg = {"source": "synthetic", "synthetic": {"format": "wfdb"},
           "reader": defaults("$defs.recordings_dataset.reader")}  # fmt: skip
    options = reader_options("lab", cfg)
    assert options["labels"]["table"] == "labels.csv"
    assert options["channel"] == "ECG"
    write_synthetic("lab", tmp_path, seed=1, format="wfdb", n_subjects=2,
                    n_recordings=1, recording_s=30)  # fmt: skip
    recs = list(open_reader("lab", tmp_path, options).recordings())
    assert [r.subject for r in recs] == ["sub-01", "sub-02"]
    stream = recs[0].label_streams["condition"]
    assert stream[0] == 0
    assert stream[-1] == 1
    assert not np.isnan(stream).any()


def test_config_checks_labels_against_declared_columns(tmp_path):
    config = {
        "datasets": {"lab": {"source": "recordings", "path": str(tmp_path),
                             "reader": {"labels": {"columns": ["condition"]}}}},
        "labels": {"lab": {"condition": {"schemes": ["multiclass"]}}},
    }  # fmt: skip
    check_config(config)
    config["labels"]["lab"]["stress"] = {"schemes": ["multiclass"]}
    with pytest.raises(ConfigError, match=r"labels.lab.stress: not a label column"):
        check_config(config)
    del config["datasets"]["lab"]["path"]
    with pytest.raises(ConfigError, match=r"datasets.lab.path: required"):
        check_config(config)


def _doc_configs() -> list[dict]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "recordings.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    return [yaml.safe_load(block) for block in blocks]


def test_the_documented_configs_validate(tmp_path):
    from snakemake.utils import validate

    configs = _doc_configs()
    assert len(configs) == 3
    for config in configs:
        validate(config, str(SCHEMA_PATH))
        for ds in config["datasets"].values():
            if ds["source"] == "recordings":
                ds["path"] = str(tmp_path)
        check_config(config)
    bad = _doc_configs()[1]
    bad["datasets"]["cinc2017"]["reader"]["chanel"] = "ECG"
    with pytest.raises(Exception, match="chanel"):
        validate(bad, str(SCHEMA_PATH))


def test_every_recordings_key_has_description_and_default():
    def leaves(node, path):
        for name, prop in node.get("properties", {}).items():
            if prop.get("type") == "object" and prop.get("properties"):
                yield from leaves(prop, f"{path}.{name}")
            else:
                yield f"{path}.{name}", prop

    found = list(leaves(schema()["$defs"]["recordings_dataset"], "recordings"))
    assert len(found) > 15
    assert [p for p, s in found if not s.get("description")] == []
    assert [p for p, s in found if "default" not in s] == []
