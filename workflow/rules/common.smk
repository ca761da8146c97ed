# Helpers, target lists and wildcard constraints. No rules here.
from pathlib import Path

from snakemake.utils import validate

from ecgssl.config import check_config, stable_seed
from ecgssl.datasets import open_reader


validate(config, "../schemas/config.schema.yaml")
check_config(config)

DATASETS = list(config["datasets"])
SRC = Path(workflow.basedir) / "src" / "ecgssl"


wildcard_constraints:
    dataset="|".join(DATASETS),


def code(*modules):
    """Library modules a rule depends on (edits rerun the rule and what follows)."""
    return [str(SRC / m) for m in modules]


READER_CODE = {
    "dreamer": ["readers/dreamer.py"],
    "wesad": ["readers/wesad.py", "readers/safe_pickle.py"],
    "amigos": ["readers/amigos.py"],
    "swell": ["readers/swell.py", "readers/poly5.py"],
}
WRITER_CODE = {
    "dreamer": ["synthetic/dreamer.py"],
    "wesad": ["synthetic/wesad.py", "readers/safe_pickle.py"],
    "amigos": ["synthetic/amigos.py"],
    "swell": ["synthetic/swell.py", "readers/poly5.py"],
}


def dataset_cfg(dataset):
    return config["datasets"][dataset]


def dataset_root(dataset):
    """Folder the reader reads: the raw download, or the synthetic copy."""
    cfg = dataset_cfg(dataset)
    if cfg["source"] == "raw":
        return cfg["path"]
    return f"resources/synthetic/{dataset}"


def dataset_inputs(wildcards):
    """The raw files of a dataset (so touching one reruns its store), or the synthetic copy."""
    cfg = dataset_cfg(wildcards.dataset)
    if cfg["source"] == "synthetic":
        return [f"resources/synthetic/{wildcards.dataset}"]
    reader = open_reader(wildcards.dataset, Path(cfg["path"]), cfg.get("reader", {}))
    return [str(p) for p in reader.files()]


def reader_code(wildcards):
    return code(*READER_CODE[wildcards.dataset])


def writer_code(wildcards):
    return code("synthetic/ecg.py", *WRITER_CODE[wildcards.dataset])


def synthetic_seed(wildcards):
    return stable_seed(config["seed"], "synthetic", wildcards.dataset)


def window_targets():
    return expand("results/windows/{dataset}.parquet", dataset=DATASETS) + expand(
        "results/qc/{dataset}.tsv", dataset=DATASETS
    )
