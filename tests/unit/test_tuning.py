"""Run-time probes: measured once per machine, cached, switchable off."""

from __future__ import annotations

import json

import pytest

import ecgssl.learning.tuning as tuning
from ecgssl.learning.device import PROBE_ENV


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(PROBE_ENV, raising=False)
    return tmp_path / "ecgssl" / "tuning.json"


def test_micro_batch_probe_measures_once_then_reads_the_cache(cache, monkeypatch):
    first = tuning.pretext_micro_batch("fp32", candidates=(4, 8), length=1024)
    assert first in (4, 8)
    stored = json.loads(cache.read_text())
    (key,) = stored
    assert "fp32" in key
    assert "threads" in key  # per thread count: a 2-core and a 16-core job differ
    assert stored[key] == first

    def no_probe(*args):
        raise AssertionError("probed again despite the cache")

    monkeypatch.setattr(tuning, "_probe", no_probe)
    assert tuning.pretext_micro_batch("fp32", candidates=(4, 8), length=1024) == first
    # another precision is another question
    with pytest.raises(AssertionError, match="probed again"):
        tuning.pretext_micro_batch("bf16", candidates=(4, 8), length=1024)


def test_the_fastest_candidate_wins(cache, monkeypatch):
    seen = []

    def fake(precision, sizes, length):
        seen.append((precision, sizes, length))
        return sizes[-1]

    monkeypatch.setattr(tuning, "_probe", fake)
    assert tuning.pretext_micro_batch("bf16", candidates=(64, 32, 32)) == 64
    assert seen == [("bf16", [32, 64], 2560)]


def test_switched_off_probe_uses_the_default(cache, monkeypatch):
    monkeypatch.setenv(PROBE_ENV, "0")
    monkeypatch.setattr(tuning, "_probe", lambda *a: pytest.fail("probed"))
    assert tuning.pretext_micro_batch("fp32") == tuning.DEFAULT_MICRO_BATCH
    assert not cache.exists()


def test_unreadable_cache_means_probing_again(cache, monkeypatch):
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    monkeypatch.setattr(tuning, "_probe", lambda *a: 32)
    assert tuning.pretext_micro_batch("fp32") == 32
    assert list(json.loads(cache.read_text()).values()) == [32]


def test_precision_is_checked(cache):
    with pytest.raises(ValueError, match="precision"):
        tuning.pretext_micro_batch("fp16")
