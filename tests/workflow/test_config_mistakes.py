"""Config mistakes the workflow must refuse before any job: duplicates, wrong types."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from _snakemake import run_snakemake

from ecgssl.config.validate import check_unique_keys
from ecgssl.util.errors import ConfigError

GOOD = """\
seed: 7
datasets:
  dreamer:
    source: synthetic
  wesad:
    source: synthetic
labels:
  dreamer:
    arousal:
      schemes: [multiclass]
"""


def _dry_run(workdir: Path, *configs: Path) -> subprocess.CompletedProcess:
    """``snakemake -n`` on the repository's workflow with the given config files."""
    return run_snakemake(workdir, "--cores", "1", "--dry-run", configfiles=configs)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("seed: 1\nseed: 2\n", "seed", 2),
        (
            GOOD + "  dreamer:\n    arousal:\n      schemes: [binary]\n",
            "labels.dreamer",
            11,
        ),
        (
            GOOD.replace("  wesad:\n", "    source: raw\n  wesad:\n"),
            "datasets.dreamer.source",
            5,
        ),
        ("a:\n  - {x: 1}\n  - x: 1\n    y: 2\n    x: 3\n", "a[1].x", 5),
        ('{"seed": 1, "finetune": {"epochs": 1, "epochs": 2}}\n', "finetune.epochs", 1),
    ],
)
def test_duplicate_keys_at_any_depth(
    tmp_path: Path, text: str, key: str, line: int
) -> None:
    path = _write(tmp_path / "config.yaml", text)
    with pytest.raises(ConfigError) as info:
        check_unique_keys([path])
    message = str(info.value)
    assert str(path) in message
    assert f"key '{key}' appears twice" in message
    assert f"line {line}:" in message


def test_merge_keys_aliases_and_same_key_in_two_files_are_fine(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.yaml", "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n")
    b = _write(tmp_path / "b.yaml", "base: {x: 5}\nloop: &l [1, *l]\n")
    check_unique_keys([a, b, a, tmp_path / "missing.yaml"])
    # the two files parse to what Snakemake would read
    assert yaml.safe_load(a.read_text())["other"] == {"x": 3, "y": 2}


def test_workflow_refuses_a_dataset_listed_twice(tmp_path: Path) -> None:
    text = GOOD.replace("  wesad:\n    source: synthetic\n", "") + (
        "datasets:\n  dreamer:\n    source: synthetic\n"
    )
    config = _write(tmp_path / "config.yaml", text)
    proc = _dry_run(tmp_path, config)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "key 'datasets' appears twice" in out
    assert "Job stats" not in out


def test_workflow_refuses_duplicate_in_second_configfile_but_not_overrides(
    tmp_path: Path,
) -> None:
    first = _write(tmp_path / "config.yaml", GOOD)
    override = _write(
        tmp_path / "more.yaml", "seed: 8\ndatasets:\n  wesad:\n    source: synthetic\n"
    )
    proc = _dry_run(tmp_path, first, override, first)
    assert proc.returncode == 0, proc.stderr[-3000:]
    broken = _write(tmp_path / "broken.yaml", "seed: 8\nfinetune: {}\nseed: 9\n")
    proc = _dry_run(tmp_path, first, broken)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "broken.yaml: line 3: key 'seed' appears twice" in out


def test_workflow_refuses_a_wrong_type_naming_the_key(tmp_path: Path) -> None:
    config = _write(tmp_path / "config.yaml", GOOD.replace("seed: 7", "seed: seven"))
    proc = _dry_run(tmp_path, config)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "seed" in out
    assert "'seven' is not of type 'integer'" in out


def test_a_configfile_replaces_the_default_config(tmp_path):
    """--configfile other.yaml is not merged into config.yaml: none of its keys stay."""
    two = {"datasets": {"dreamer": {"source": "synthetic"},
                        "wesad": {"source": "synthetic"}}}  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(two))
    one = tmp_path / "other.yaml"
    one.write_text(yaml.safe_dump({"datasets": {"wesad": {"source": "synthetic"}}}))
    proc = run_snakemake(tmp_path, "--dry-run", configfiles=(one,))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "results/windows/wesad.parquet" in out
    assert "dreamer" not in out
    # without --configfile, config.yaml is the config
    proc = run_snakemake(tmp_path, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "results/windows/dreamer.parquet" in proc.stdout + proc.stderr
