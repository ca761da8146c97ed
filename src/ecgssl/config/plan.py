"""The jobs a configuration asks for: the workflow's table of contents, testable.

The Snakefile's rules expand over what :class:`Plan` enumerates: which encoders to
pretrain (one per *unit* of the pretext scope), which encoder scores which fold, and
every fine-tuning job (dataset x label x scheme x protocol x method x pretext x label
fraction x repeat x fold). Keeping this here, not in ``common.smk``, lets tests check
the plan without running Snakemake.

Encoder units (``results/pretext/<pretext>/<unit>/``):

- ``all``: every window of the pretext datasets (scope ``all``, transductive);
- ``<protocol>-fold<k>``: every pretext dataset's windows outside test fold ``k`` of
  ``protocol`` (scope ``train_folds``; folds are shared by all datasets' labels);
- ``fold<k>``: every pretext dataset's windows outside test fold ``k`` of *every*
  protocol (scope ``joint_folds``: one encoder serves fold ``k`` of each protocol, so
  ``n`` encoders instead of ``n`` per protocol, each pretrained on fewer windows);
- ``without-<dataset>``: every window of the other pretext datasets (scope
  ``leave_dataset_out``).

Pretext configurations (``results/pretext/<pretext>/``): the ``pretext`` block is one
configuration named ``pretext.name``, or, with ``pretext.configs`` and/or
``pretext.sweep``, several. Its keys (other than ``name``, ``configs`` and ``sweep``)
are the shared settings; each entry of ``configs`` overrides some of them (nested
blocks merged key by key); each entry ``<prefix>: {<key path>: [values]}`` of
``sweep`` expands the grid of its values into configurations named
``<prefix>_<key path>=<value>[_<key path>=<value>...]`` (:func:`pretext_configs`).
Each configuration has its own scope, datasets, units, encoders and features.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ecgssl.util.errors import ConfigError

__all__ = [
    "ENCODER_METHODS",
    "FEATURE_METHODS",
    "NO_PRETEXT",
    "PRETEXT_WORKFLOW_KEYS",
    "TRANSDUCTIVE_METHODS",
    "FOLD_SCOPES",
    "FinetuneJob",
    "Plan",
    "format_fraction",
    "parse_unit",
    "pretext_configs",
    "pretext_name_of",
]

#: Methods that use a pretrained encoder (its features or its weights).
ENCODER_METHODS = (
    "ssl_frozen", "ssl_frozen_subject_norm", "ssl_finetune", "linear_probe",
    "knn_probe",
)  # fmt: skip
#: Methods that read an encoder unit's frozen features.
FEATURE_METHODS = ("ssl_frozen", "ssl_frozen_subject_norm", "linear_probe", "knn_probe")
#: Methods that use the test windows' own unlabelled data (never the headline).
TRANSDUCTIVE_METHODS = ("ssl_frozen_subject_norm",)
#: The pretext wildcard of methods without an encoder.
NO_PRETEXT = "none"
#: Keys of a pretext configuration that are not training hyperparameters: the name
#: and the scope appear in the paths, datasets in the inputs, device and precision
#: reach the job as parameters of their own, and the real-ECG check is a rule of its
#: own after training; ``pretrain_fraction`` selects the unit's windows (a parameter
#: of its own); ``configs`` and ``sweep`` define the configurations.
PRETEXT_WORKFLOW_KEYS = (
    "name", "datasets", "device", "precision", "scope", "real_ecg_check",
    "pretrain_fraction", "configs", "sweep", "swept",
)  # fmt: skip
#: Keys of the ``pretext`` block that are not settings of one configuration.
PRETEXT_SET_KEYS = ("name", "configs", "sweep")
#: What a configuration name may be made of (it is a folder name and a wildcard).
PRETEXT_NAME = re.compile(r"^[A-Za-z0-9_.=-]+$")

#: Scopes whose encoders are pretrained on the training part of folds.
FOLD_SCOPES = ("train_folds", "joint_folds")

_UNIT = re.compile(
    r"^(?:all|(?P<protocol>\w+?)-fold(?P<fold>\d+)|fold(?P<joint>\d+)"
    r"|without-(?P<dataset>\w+))$"
)


def format_fraction(fraction: float) -> str:
    """A label fraction as it appears in paths and tables: ``1``, ``0.2``, ``0.05``."""
    return f"{float(fraction):g}"


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s keys, nested mappings merged key by key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _format_value(value: Any) -> str:
    """A swept value as it appears in a configuration name."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def pretext_name_of(prefix: str, values: Mapping[str, Any]) -> str:
    """``<prefix>_<key path>=<value>...`` of one point of a sweep grid."""
    parts = [f"{key}={_format_value(value)}" for key, value in values.items()]
    return "_".join([prefix, *parts])


def _sweep_points(prefix: str, grid: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The points of one sweep grid in a stable order (keys as written)."""
    where = f"pretext.sweep.{prefix}"
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(f"{where}: must map key paths to lists of values")
    keys = list(grid)
    for key in keys:
        values = grid[key]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.{key}: must be a non-empty list of values")
        for value in values:
            if isinstance(value, (list, dict)) or value is None:
                raise ConfigError(
                    f"{where}.{key}: sweep values must be numbers, strings or "
                    f"booleans, got {value!r}"
                )
    for combo in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, combo, strict=True))


def _nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"transforms.scale": 1.2}`` -> ``{"transforms": {"scale": 1.2}}``."""
    out: dict[str, Any] = {}
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def pretext_configs(pretext: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The named pretext configurations of a ``pretext`` block, in a stable order.

    Parameters
    ----------
    pretext : mapping
        The ``pretext`` block (defaults filled for the shared settings).

    Returns
    -------
    dict
        Name -> the configuration's full settings (the shared settings with its
        overrides merged in, ``name`` set to its name; for a sweep point also
        ``swept``: the key paths and values that made it). Without ``configs`` and
        ``sweep``: the block itself under ``pretext.name`` (default ``default``).
        The overrides are checked against the schema by
        :func:`ecgssl.config.validate.check_config`.

    Raises
    ------
    ConfigError
        For a name given twice, a name that is not path-safe or is ``none``, or a
        malformed sweep.
    """
    base = {
        k: copy.deepcopy(v) for k, v in pretext.items() if k not in PRETEXT_SET_KEYS
    }
    configs = pretext.get("configs") or {}
    sweep = pretext.get("sweep") or {}
    if not configs and not sweep:
        name = pretext.get("name", "default")
        return {name: {**base, "name": name}}
    out: dict[str, dict[str, Any]] = {}

    def add(name: str, override: Mapping[str, Any], where: str) -> None:
        if not PRETEXT_NAME.match(name) or name == NO_PRETEXT:
            raise ConfigError(
                f"{where}: configuration name {name!r} must match "
                f"{PRETEXT_NAME.pattern} and not be {NO_PRETEXT!r}"
            )
        if name in out:
            raise ConfigError(f"{where}: configuration {name!r} is defined twice")
        bad = sorted(set(override) & set(PRETEXT_SET_KEYS))
        if bad:
            raise ConfigError(f"{where}: {bad} cannot be set per configuration")
        out[name] = {**_merge(base, override), "name": name}

    for name, override in configs.items():
        add(name, override or {}, f"pretext.configs.{name}")
    for prefix, grid in sweep.items():
        for point in _sweep_points(prefix, grid):
            name = pretext_name_of(prefix, point)
            add(name, _nested(point), f"pretext.sweep.{prefix}")
            out[name]["swept"] = dict(point)
    return out


def parse_unit(unit: str) -> dict[str, Any]:
    """``{"scope": ..., "protocol": ..., "fold": ..., "dataset": ...}`` of a unit name.

    Raises
    ------
    ValueError
        For a name that is not a unit.
    """
    match = _UNIT.match(unit)
    if match is None:
        raise ValueError(
            "unit must be 'all', '<protocol>-fold<k>', 'fold<k>' or "
            f"'without-<dataset>', got {unit!r}"
        )
    if match["protocol"] is not None:
        return {"scope": "train_folds", "protocol": match["protocol"],
                "fold": int(match["fold"]), "dataset": None}  # fmt: skip
    if match["joint"] is not None:
        return {"scope": "joint_folds", "protocol": None,
                "fold": int(match["joint"]), "dataset": None}  # fmt: skip
    if match["dataset"] is not None:
        return {"scope": "leave_dataset_out", "protocol": None, "fold": None,
                "dataset": match["dataset"]}  # fmt: skip
    return {"scope": "all", "protocol": None, "fold": None, "dataset": None}


@dataclass(frozen=True)
class FinetuneJob:
    """The identity of one fine-tuning job (one classifier on one fold)."""

    dataset: str
    label: str
    scheme: str
    protocol: str
    method: str
    pretext: str
    fraction: str
    repeat: int
    fold: int

    def folder(self) -> str:
        """``results/finetune/...`` folder of the job's outputs."""
        return (
            f"results/finetune/{self.dataset}/{self.label}/{self.scheme}/"
            f"{self.protocol}/{self.method}/{self.pretext}/frac{self.fraction}/"
            f"rep{self.repeat}/fold{self.fold}"
        )


class Plan:
    """What a (validated, defaults filled) workflow configuration asks for.

    Parameters
    ----------
    config : dict
        The workflow config after schema validation.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.datasets = list(config["datasets"])
        #: The shared settings (``pretext`` without ``configs`` and ``sweep``).
        self.pretext = {
            k: v for k, v in config.get("pretext", {}).items()
            if k not in PRETEXT_SET_KEYS[1:]
        }  # fmt: skip
        #: Name -> full settings of every pretext configuration.
        self.pretexts = pretext_configs(config.get("pretext", {}))
        self.pretext_names = list(self.pretexts)
        #: The first configuration (the only one of a one-configuration block).
        self.pretext_name = self.pretext_names[0]
        self.scope = self.scope_of(self.pretext_name)
        self.pretext_datasets = self.datasets_of(self.pretext_name)
        finetune = config.get("finetune", {})
        self.methods = list(finetune.get("methods", []))
        self.protocols = {
            name: spec["n_folds"]
            for name, spec in finetune.get("protocols", {}).items()
        }
        self.labels = config.get("labels", {})
        self.fractions = [
            format_fraction(f) for f in finetune.get("label_fractions", [1])
        ]
        self.fraction_protocols = list(
            finetune.get("label_fraction_protocols", list(self.protocols))
        )
        self.repeats = int(finetune.get("repeats", 1))
        joint = [n for n in self.pretext_names if self.scope_of(n) == "joint_folds"]
        if joint and len(set(self.protocols.values())) > 1:
            raise ConfigError(
                f"pretext.scope of {', '.join(joint)}: joint_folds shares encoder k "
                "between fold k of every protocol, so finetune.protocols must have "
                "one n_folds, got "
                + ", ".join(f"{p}: {n}" for p, n in self.protocols.items())
            )

    # ---- pretext configurations ----------------------------------------------
    def settings(self, pretext: str | None = None) -> dict[str, Any]:
        """Full settings of a configuration (None: the first)."""
        name = self.pretext_name if pretext is None else pretext
        if name not in self.pretexts:
            raise KeyError(f"no pretext configuration {name!r} ({self.pretext_names})")
        return self.pretexts[name]

    def scope_of(self, pretext: str | None = None) -> str:
        """The scope of a configuration."""
        return self.settings(pretext).get("scope", "train_folds")

    def datasets_of(self, pretext: str | None = None) -> list[str]:
        """The pretext datasets of a configuration (null: every dataset)."""
        return list(self.settings(pretext).get("datasets") or self.datasets)

    def training_params(self, pretext: str | None = None) -> dict[str, Any]:
        """A configuration's settings that reach training (every key but
        :data:`PRETEXT_WORKFLOW_KEYS`, so a key the schema gains reaches it too)."""
        return {
            k: copy.deepcopy(v) for k, v in self.settings(pretext).items()
            if k not in PRETEXT_WORKFLOW_KEYS
        }  # fmt: skip

    def encoder_units(self) -> list[tuple[str, str]]:
        """Every (configuration, unit) pair that trains an encoder."""
        return [
            (name, unit) for name in self.pretext_names for unit in self.units(name)
        ]

    # ---- encoders -------------------------------------------------------------
    def unit(
        self, protocol: str, fold: int, dataset: str, pretext: str | None = None
    ) -> str:
        """The encoder unit of a configuration that scores a dataset's test fold."""
        scope = self.scope_of(pretext)
        if scope == "train_folds":
            return f"{protocol}-fold{fold}"
        if scope == "joint_folds":
            return f"fold{fold}"
        if scope == "leave_dataset_out":
            return f"without-{dataset}"
        return "all"

    def units(self, pretext: str | None = None) -> list[str]:
        """Every encoder unit a configuration's scope defines (also without encoder
        methods).

        Without labels nothing is scored, so there is no fold to keep apart: one
        encoder on every window (``all``), whatever the scope.
        """
        if not self.labels:
            return ["all"]
        scope = self.scope_of(pretext)
        if scope == "train_folds":
            return [f"{p}-fold{k}" for p, n in self.protocols.items() for k in range(n)]
        if scope == "joint_folds":
            return [f"fold{k}" for k in range(max(self.protocols.values(), default=0))]
        if scope == "leave_dataset_out":
            return [f"without-{d}" for d in self.labels]
        return ["all"]

    def unit_datasets(self, unit: str, pretext: str | None = None) -> list[str]:
        """Pretext datasets whose windows (some or all) may train ``unit``."""
        spec = parse_unit(unit)
        datasets = self.datasets_of(pretext)
        if spec["scope"] == "leave_dataset_out":
            return [d for d in datasets if d != spec["dataset"]]
        return datasets

    # ---- fine-tuning ----------------------------------------------------------
    def finetune_jobs(self) -> Iterator[FinetuneJob]:
        """Every fine-tuning job, in a stable order."""
        for dataset, labels in self.labels.items():
            for label, spec in labels.items():
                for scheme in spec["schemes"]:
                    yield from self._jobs(dataset, label, scheme)

    def _jobs(self, dataset: str, label: str, scheme: str) -> Iterator[FinetuneJob]:
        for protocol, n_folds in self.protocols.items():
            fractions = [
                f for f in self.fractions
                if f == "1" or protocol in self.fraction_protocols
            ]  # fmt: skip
            for method in self.methods:
                pretexts = (
                    self.pretext_names if method in ENCODER_METHODS else [NO_PRETEXT]
                )
                for pretext in pretexts:
                    for fraction in fractions:
                        for repeat in range(self.repeats):
                            for fold in range(n_folds):
                                yield FinetuneJob(
                                    dataset, label, scheme, protocol, method,
                                    pretext, fraction, repeat, fold,
                                )  # fmt: skip

    def feature_targets(self) -> list[str]:
        """Frozen-feature files the fine-tuning jobs read."""
        out = {
            f"results/features/{job.pretext}/"
            f"{self.unit(job.protocol, job.fold, job.dataset, job.pretext)}/"
            f"{job.dataset}.npy"
            for job in self.finetune_jobs()
            if job.method in FEATURE_METHODS
        }
        return sorted(out)

    def clustering_datasets(self) -> list[str]:
        """Labelled datasets whose frozen features are clustered (under
        ``subject_kfold``; none without that protocol)."""
        if "subject_kfold" not in self.protocols:
            return []
        return list(self.labels)

    def clustering_features(self, pretext: str, dataset: str) -> list[str]:
        """Features of each ``subject_kfold`` fold's scoring unit for a dataset."""
        return [
            f"results/features/{pretext}/"
            f"{self.unit('subject_kfold', k, dataset, pretext)}/{dataset}.npy"
            for k in range(self.protocols["subject_kfold"])
        ]
