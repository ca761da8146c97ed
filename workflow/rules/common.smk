# Helpers, target lists and wildcard constraints. No rules here.
from pathlib import Path

from snakemake.utils import validate

from ecgssl.config.defaults import SCHEMA_PATH
from ecgssl.config.validate import check_config, check_unique_keys
from ecgssl.data.datasets import entry, open_reader
from ecgssl.util.imports import code_digest
from ecgssl.util.seeds import stable_seed

check_unique_keys(workflow.configfiles)  # YAML keeps the last of two equal keys
validate(config, str(SCHEMA_PATH))  # workflow/schemas/config.schema.yaml links to it
check_config(config)

DATASETS = list(config["datasets"])
SRC = Path(workflow.basedir) / "src"
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"


wildcard_constraints:
    dataset="|".join(DATASETS),


def script_code(script, *modules):
    """Digest of the library code a rule's results depend on (its ``code`` param).

    ``module@sha256`` of the modules the rule's script imports (and of extra
    ``modules`` it loads by name, e.g. a dataset's reader), transitively, minus those
    that cannot change results (``ecgssl.util.imports.NO_RESULT_MODULES``), as one
    string. Snakemake reruns a job whose params changed, so an edit reruns exactly
    the rules that run the edited code, and a moved, copied or touched project
    reruns nothing.
    """
    digest = code_digest([SCRIPTS / f"{script}.py", *modules], SRC)
    return " ".join(f"{name}@{sha}" for name, sha in digest.items())


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
    return script_code("window_dataset", entry(wildcards.dataset).reader_module)


def writer_code(wildcards):
    return script_code("synthesize_dataset", entry(wildcards.dataset).writer_module)


def synthetic_seed(wildcards):
    return stable_seed(config["seed"], "synthetic", wildcards.dataset)


def window_targets():
    return expand("results/windows/{dataset}.parquet", dataset=DATASETS) + expand(
        "results/qc/{dataset}.tsv", dataset=DATASETS
    )


# ---- learning half -------------------------------------------------------------
PRETEXT = config["pretext"]
PRETEXT_NAME = PRETEXT["name"]
PRETEXT_DATASETS = PRETEXT.get("datasets") or DATASETS
FINETUNE = config["finetune"]
METHODS = FINETUNE["methods"]
PROTOCOLS = {p: spec["n_folds"] for p, spec in FINETUNE["protocols"].items()}
LABELS = config.get("labels", {})
LABEL_NAMES = sorted({label for labels in LABELS.values() for label in labels}) or [
    "none"
]
PRETEXT_KEYS = [k for k in PRETEXT if k not in ("name", "datasets", "device")]


wildcard_constraints:
    pretext=PRETEXT_NAME,
    label="|".join(LABEL_NAMES),
    scheme="multiclass|binary",
    protocol="|".join(PROTOCOLS) or "none",
    method="ssl_frozen|supervised|ssl_finetune",
    fold=r"\d+",


def pretext_params():
    return {k: PRETEXT[k] for k in PRETEXT_KEYS}


def label_spec(wildcards):
    """What the job's scheme uses (the threshold only matters to the binary scheme)."""
    spec = LABELS[wildcards.dataset][wildcards.label]
    return {"threshold": spec["threshold"]} if wildcards.scheme == "binary" else {}


def finetune_tasks():
    """(dataset, label, scheme, protocol, method, fold) of every fine-tune job."""
    for dataset, labels in LABELS.items():
        for label, spec in labels.items():
            for scheme in spec["schemes"]:
                for protocol, n_folds in PROTOCOLS.items():
                    for method in METHODS:
                        for fold in range(n_folds):
                            yield dataset, label, scheme, protocol, method, fold


def finetune_targets():
    return [
        f"results/finetune/{d}/{l}/{s}/{p}/{m}/fold{f}/metrics.json"
        for d, l, s, p, m, f in finetune_tasks()
    ]


def finetune_inputs(wildcards):
    """Windows for end-to-end methods, cached frozen features for ssl_frozen."""
    inputs = {
        "store": f"results/windows/{wildcards.dataset}.parquet",
        "folds": f"results/folds/{wildcards.dataset}/{wildcards.label}/{wildcards.protocol}.tsv",
    }
    if wildcards.method == "ssl_frozen":
        inputs["features"] = f"results/features/{PRETEXT_NAME}/{wildcards.dataset}.npy"
    if wildcards.method == "ssl_finetune":
        inputs["encoder"] = f"results/pretext/{PRETEXT_NAME}/encoder.pt"
    return inputs


def finetune_seed(wildcards):
    return stable_seed(
        config["seed"],
        "finetune",
        wildcards.dataset,
        wildcards.label,
        wildcards.scheme,
        wildcards.protocol,
        wildcards.method,
        wildcards.fold,
    )


def result_targets():
    targets = [f"results/pretext/{PRETEXT_NAME}/encoder.pt"]
    if LABELS and METHODS and PROTOCOLS:
        targets += [
            "results/tables/summary.tsv",
            "results/tables/paper_comparison.md",
        ]
    return targets
