# Helpers, target lists and wildcard constraints. No rules here.
import re
from pathlib import Path

from snakemake.utils import validate

from ecgssl.config.defaults import SCHEMA_PATH
from ecgssl.config.plan import (
    FEATURE_METHODS,
    NO_PRETEXT,
    Plan,
    format_fraction,
    parse_unit,
)
from ecgssl.config.validate import check_config, check_unique_keys
from ecgssl.data.datasets import entry, open_reader, reader_options
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
    if cfg["source"] in ("raw", "recordings"):
        return cfg["path"]
    return f"resources/synthetic/{dataset}"


def dataset_reader(dataset):
    """The reader options (for a synthetic recordings dataset, those of its copy)."""
    return reader_options(dataset, dataset_cfg(dataset))


def dataset_inputs(wildcards):
    """The raw files of a dataset (so touching one reruns its store), or the synthetic copy.

    For a recordings dataset: every recording file with its companions (WFDB signal
    and annotation files, BrainVision data), the manifest and the label tables.
    """
    cfg = dataset_cfg(wildcards.dataset)
    if cfg["source"] == "synthetic":
        return [f"resources/synthetic/{wildcards.dataset}"]
    reader = open_reader(
        wildcards.dataset, Path(cfg["path"]), dataset_reader(wildcards.dataset)
    )
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
PLAN = Plan(config)
PRETEXT = PLAN.pretext  # the shared settings (every configuration's, unless overridden)
FINETUNE = config["finetune"]
LABELS = config.get("labels", {})
LABEL_NAMES = sorted({label for labels in LABELS.values() for label in labels})


wildcard_constraints:
    pretext="|".join(re.escape(n) for n in [*PLAN.pretext_names, NO_PRETEXT]),
    unit=r"all|\w+?-fold\d+|fold\d+|without-\w+",
    label="|".join(LABEL_NAMES) or "none",
    scheme="multiclass|binary",
    protocol="|".join(PLAN.protocols) or "none",
    method="|".join(PLAN.methods) or "none",
    fraction=r"[0-9.e-]+",
    repeat=r"\d+",
    fold=r"\d+",


def pretext_settings(wildcards):
    """Full settings of the job's pretext configuration."""
    return PLAN.settings(wildcards.pretext)


def pretext_params(wildcards):
    """The configuration's training settings (what reruns its training when changed):
    every key but the workflow's, so a key the schema gains reaches training."""
    return PLAN.training_params(wildcards.pretext)


def pretrain_fraction(wildcards):
    return float(PLAN.settings(wildcards.pretext).get("pretrain_fraction", 1.0))


def pretrain_fraction_seed(wildcards):
    """Seed of a unit's window subset: the same windows for every configuration
    with the same share (so configurations compare on the same data)."""
    fraction = format_fraction(pretrain_fraction(wildcards))
    return stable_seed(config["seed"], "pretrain-fraction", wildcards.unit, fraction)


def pretext_inputs(wildcards):
    """Stores (and, for a fold unit, their folds) of the datasets a unit may see."""
    spec = parse_unit(wildcards.unit)
    datasets = PLAN.unit_datasets(wildcards.unit, wildcards.pretext)
    inputs = {"stores": [f"results/windows/{d}.parquet" for d in datasets]}
    if spec["scope"] == "train_folds":
        inputs["folds"] = [
            f"results/folds/{d}/{spec['protocol']}.tsv" for d in datasets
        ]
    elif spec["scope"] == "joint_folds":  # store by store, every protocol's folds
        inputs["folds"] = [
            f"results/folds/{d}/{p}.tsv" for d in datasets for p in PLAN.protocols
        ]
    return inputs


def unit_seed(wildcards):
    return stable_seed(config["seed"], "pretext", wildcards.pretext, wildcards.unit)


def label_spec(wildcards):
    """What the job's scheme uses (the threshold only matters to the binary scheme)."""
    spec = LABELS[wildcards.dataset][wildcards.label]
    return {"threshold": spec["threshold"]} if wildcards.scheme == "binary" else {}


def finetune_targets():
    return [f"{job.folder()}/metrics.json" for job in PLAN.finetune_jobs()]


def finetune_inputs(wildcards):
    """The store and folds; features, an encoder or HRV indices by method."""
    dataset, method = wildcards.dataset, wildcards.method
    inputs = {
        "store": f"results/windows/{dataset}.parquet",
        "folds": f"results/folds/{dataset}/{wildcards.protocol}.tsv",
        "label_check": f"results/labels/{dataset}/{wildcards.label}.json",
    }
    if wildcards.pretext != NO_PRETEXT:
        unit = PLAN.unit(
            wildcards.protocol, int(wildcards.fold), dataset, wildcards.pretext
        )
    if method in FEATURE_METHODS:
        inputs["features"] = (
            f"results/features/{wildcards.pretext}/{unit}/{dataset}.npy"
        )
    elif method == "ssl_finetune":
        inputs["encoder"] = f"results/pretext/{wildcards.pretext}/{unit}/encoder.pt"
    elif method == "hrv":
        inputs["hrv"] = f"results/hrv/{dataset}.parquet"
    return inputs


def finetune_job(wildcards):
    """The job's identity (recorded in its metrics)."""
    return {
        "dataset": wildcards.dataset,
        "label": wildcards.label,
        "scheme": wildcards.scheme,
        "protocol": wildcards.protocol,
        "method": wildcards.method,
        "pretext": wildcards.pretext,
        "unit": (
            None
            if wildcards.pretext == NO_PRETEXT
            else PLAN.unit(
                wildcards.protocol,
                int(wildcards.fold),
                wildcards.dataset,
                wildcards.pretext,
            )
        ),
        "scope": (
            None
            if wildcards.pretext == NO_PRETEXT
            else PLAN.scope_of(wildcards.pretext)
        ),
        "label_fraction": float(wildcards.fraction),
        "repeat": int(wildcards.repeat),
        "fold": int(wildcards.fold),
    }


def finetune_seed(wildcards):
    return stable_seed(
        config["seed"], "finetune", wildcards.dataset, wildcards.label,
        wildcards.scheme, wildcards.protocol, wildcards.method, wildcards.pretext,
        wildcards.fraction, wildcards.repeat, wildcards.fold,
    )  # fmt: skip


def fraction_seed(wildcards):
    """The label subset's seed: the same windows for every method and scheme."""
    return stable_seed(
        config["seed"], "label-fraction", wildcards.dataset, wildcards.label,
        wildcards.protocol, wildcards.fraction, wildcards.repeat, wildcards.fold,
    )  # fmt: skip


def method_settings(wildcards):
    """The training settings block of the job's method."""
    name = (
        "ssl_frozen" if wildcards.method.startswith("ssl_frozen") else wildcards.method
    )
    return FINETUNE[name]


def finetune_encoder_config(wildcards):
    """Network settings of the job's configuration (the shared ones without one)."""
    if wildcards.pretext == NO_PRETEXT:
        return PRETEXT.get("encoder", {})
    return PLAN.settings(wildcards.pretext).get("encoder", {})


def pretext_sidecars():
    """Every encoder unit's provenance sidecar (its history next to it)."""
    return [
        f"results/pretext/{name}/{unit}/encoder.json"
        for name, unit in PLAN.encoder_units()
    ]


def pretext_real_ecg():
    """Every encoder unit's real-ECG check (none where it is switched off)."""
    return [
        f"results/pretext/{name}/{unit}/real_ecg.tsv"
        for name, unit in PLAN.encoder_units()
        if PLAN.settings(name)["real_ecg_check"]["enabled"]
        # it scores the transformation heads: other methods' files have none
        and PLAN.settings(name).get("method", "transformation_recognition")
        == "transformation_recognition"
    ]


def real_ecg_repeats(wildcards):
    return PLAN.settings(wildcards.pretext)["real_ecg_check"]["repeats"]


CLUSTERING = config["evaluation"]["clustering"]


def clustering_targets():
    """Per configuration and labelled dataset, the clustering of its frozen features."""
    if not CLUSTERING["enabled"]:
        return []
    return [
        f"results/clustering/{name}/{dataset}.tsv"
        for name in PLAN.pretext_names
        for dataset in PLAN.clustering_datasets()
    ]


def clustering_inputs(wildcards):
    return {
        "store": f"results/windows/{wildcards.dataset}.parquet",
        "folds": f"results/folds/{wildcards.dataset}/subject_kfold.tsv",
        "features": PLAN.clustering_features(wildcards.pretext, wildcards.dataset),
    }


def clustering_units(wildcards):
    """The encoder unit of each subject_kfold fold (in fold order)."""
    n_folds = PLAN.protocols["subject_kfold"]
    return [
        PLAN.unit("subject_kfold", k, wildcards.dataset, wildcards.pretext)
        for k in range(n_folds)
    ]


def result_targets():
    targets = [
        f"results/pretext/{name}/{u}/encoder.pt" for name, u in PLAN.encoder_units()
    ]
    targets += pretext_real_ecg()
    if LABELS and PLAN.methods and PLAN.protocols:
        targets += [
            "results/tables/summary.tsv",
            "results/tables/paper_comparison.md",
        ]
    if clustering_targets():
        targets.append("results/tables/clustering.tsv")
    return targets
