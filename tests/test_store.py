"""Parquet window store: schema, round trip, atomic writes."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecgssl.errors import DataFormatError
from ecgssl.store import (
    WindowStoreWriter,
    read_ecg,
    read_metadata,
    read_windows,
    window_schema,
)


def _rows(n, subject="s01"):
    return {
        "dataset": ["demo"] * n,
        "subject": [subject] * n,
        "trial": ["t1"] * n,
        "window": list(range(n)),
        "start_s": [10.0 * i for i in range(n)],
        "arousal": [None] + [3.0] * (n - 1),
    }


def test_schema_has_fixed_size_ecg_and_nullable_labels():
    schema = window_schema(["arousal", "valence"], 2560)
    assert schema.field("ecg").type == pa.list_(pa.float32(), 2560)
    assert schema.field("arousal").nullable
    assert schema.field("arousal").type == pa.float64()
    assert schema.names[:5] == ["dataset", "subject", "trial", "window", "start_s"]


def test_round_trip(tmp_path):
    path = tmp_path / "w.parquet"
    ecg = np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32)
    with WindowStoreWriter(
        path, label_columns=["arousal"], window_size=16, metadata={"fs": 256}
    ) as w:
        w.write(_rows(3), ecg[:3])
        w.write(_rows(2, "s02"), ecg[3:])
    df = read_windows(path)
    assert list(df.subject) == ["s01"] * 3 + ["s02"] * 2
    assert df.arousal.isna().tolist() == [True, False, False, True, False]
    np.testing.assert_array_equal(read_ecg(path), ecg)
    meta = read_metadata(path)
    assert meta["fs"] == 256
    assert meta["format"] == "ecgssl-windows-v1"
    col = pq.ParquetFile(path).schema_arrow.field("ecg")
    assert col.type.list_size == 16


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "w.parquet"

    def write_then_fail():
        with WindowStoreWriter(
            path, label_columns=["arousal"], window_size=4, metadata={}
        ) as w:
            w.write(_rows(1), np.zeros((1, 4)))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert list(tmp_path.iterdir()) == []


def test_wrong_shapes_are_rejected(tmp_path):
    with WindowStoreWriter(
        tmp_path / "w.parquet", label_columns=["arousal"], window_size=4, metadata={}
    ) as w:
        with pytest.raises(ValueError, match="shape"):
            w.write(_rows(1), np.zeros((1, 5)))
        with pytest.raises(ValueError, match="rows"):
            w.write(_rows(2), np.zeros((1, 4)))


def test_reading_a_non_store_names_the_file(tmp_path):
    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(DataFormatError, match="x.parquet"):
        read_windows(bad)
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": [1]}), plain)
    with pytest.raises(DataFormatError, match="metadata"):
        read_metadata(plain)


def test_outputs_are_readable_by_others(tmp_path):
    path = tmp_path / "w.parquet"
    with WindowStoreWriter(path, label_columns=[], window_size=4, metadata={}) as w:
        w.write({k: v for k, v in _rows(1).items() if k != "arousal"}, np.zeros((1, 4)))
    assert path.stat().st_mode & 0o777 == 0o644
