"""Parquet window store: schema, round trip, atomic writes."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecgssl.data.store import (
    WindowStoreWriter,
    ecg_memmap,
    iter_ecg,
    read_ecg,
    read_metadata,
    read_windows,
    window_schema,
)
from ecgssl.util.errors import DataFormatError


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


def _store(path, ecg, subject="s01"):
    with WindowStoreWriter(
        path, label_columns=["arousal"], window_size=ecg.shape[1], metadata={}
    ) as w:
        for start in range(0, len(ecg), 3):  # several row groups
            part = ecg[start : start + 3]
            w.write(_rows(len(part), subject), part)
    return path


def test_iter_ecg_streams_all_rows_in_order(tmp_path):
    ecg = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    path = _store(tmp_path / "w.parquet", ecg)
    blocks = list(iter_ecg(path, batch_size=2))
    assert all(b.shape[0] <= 2 and b.dtype == np.float32 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), ecg)
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_ecg(path, batch_size=0))


def test_ecg_memmap_concatenates_stores_without_loading(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 16)).astype(np.float32)
    b = rng.standard_normal((4, 16)).astype(np.float32)
    stores = [_store(tmp_path / "a.parquet", a), _store(tmp_path / "b.parquet", b)]
    x = ecg_memmap(stores, tmp_path / "x.npy")
    assert isinstance(x, np.memmap)
    assert not x.flags.writeable
    np.testing.assert_array_equal(x, np.concatenate([a, b]))
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), x)


def test_ecg_memmap_refuses_mixed_window_sizes(tmp_path):
    a = _store(tmp_path / "a.parquet", np.zeros((2, 16), np.float32))
    b = _store(tmp_path / "b.parquet", np.zeros((2, 8), np.float32))
    with pytest.raises(DataFormatError, match="b.parquet: field 'ecg'"):
        ecg_memmap([a, b], tmp_path / "x.npy")
    with pytest.raises(ValueError, match="stores"):
        ecg_memmap([], tmp_path / "x.npy")
