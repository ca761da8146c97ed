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
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ecgssl.util.errors import ConfigError

__all__ = [
    "ENCODER_METHODS",
    "NO_PRETEXT",
    "PRETEXT_WORKFLOW_KEYS",
    "TRANSDUCTIVE_METHODS",
    "FOLD_SCOPES",
    "FinetuneJob",
    "Plan",
    "format_fraction",
    "parse_unit",
]

#: Methods that use a pretrained encoder (its features or its weights).
ENCODER_METHODS = ("ssl_frozen", "ssl_frozen_subject_norm", "ssl_finetune")
#: Methods that use the test windows' own unlabelled data (never the headline).
TRANSDUCTIVE_METHODS = ("ssl_frozen_subject_norm",)
#: The pretext wildcard of methods without an encoder.
NO_PRETEXT = "none"
#: Keys of a pretext configuration that are not training hyperparameters: the name
#: and the scope appear in the paths, datasets in the inputs, device and precision
#: reach the job as parameters of their own, and the real-ECG check is a rule of its
#: own after training.
PRETEXT_WORKFLOW_KEYS = (
    "name", "datasets", "device", "precision", "scope", "real_ecg_check"
)  # fmt: skip

#: Scopes whose encoders are pretrained on the training part of folds.
FOLD_SCOPES = ("train_folds", "joint_folds")

_UNIT = re.compile(
    r"^(?:all|(?P<protocol>\w+?)-fold(?P<fold>\d+)|fold(?P<joint>\d+)"
    r"|without-(?P<dataset>\w+))$"
)


def format_fraction(fraction: float) -> str:
    """A label fraction as it appears in paths and tables: ``1``, ``0.2``, ``0.05``."""
    return f"{float(fraction):g}"


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
        self.pretext = dict(config.get("pretext", {}))
        self.pretext_name = self.pretext.get("name", "default")
        self.scope = self.pretext.get("scope", "train_folds")
        self.pretext_datasets = list(self.pretext.get("datasets") or self.datasets)
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
        if self.scope == "joint_folds" and len(set(self.protocols.values())) > 1:
            raise ConfigError(
                "pretext.scope: joint_folds shares encoder k between fold k of every "
                "protocol, so finetune.protocols must have one n_folds, got "
                + ", ".join(f"{p}: {n}" for p, n in self.protocols.items())
            )

    # ---- encoders -------------------------------------------------------------
    def unit(self, protocol: str, fold: int, dataset: str) -> str:
        """The encoder unit that scores a dataset's test fold of a protocol."""
        if self.scope == "train_folds":
            return f"{protocol}-fold{fold}"
        if self.scope == "joint_folds":
            return f"fold{fold}"
        if self.scope == "leave_dataset_out":
            return f"without-{dataset}"
        return "all"

    def units(self) -> list[str]:
        """Every encoder unit the scope defines (also without encoder methods).

        Without labels nothing is scored, so there is no fold to keep apart: one
        encoder on every window (``all``), whatever the scope.
        """
        if not self.labels:
            return ["all"]
        if self.scope == "train_folds":
            return [f"{p}-fold{k}" for p, n in self.protocols.items() for k in range(n)]
        if self.scope == "joint_folds":
            return [f"fold{k}" for k in range(max(self.protocols.values(), default=0))]
        if self.scope == "leave_dataset_out":
            return [f"without-{d}" for d in self.labels]
        return ["all"]

    def unit_datasets(self, unit: str) -> list[str]:
        """Pretext datasets whose windows (some or all) may train ``unit``."""
        spec = parse_unit(unit)
        if spec["scope"] == "leave_dataset_out":
            return [d for d in self.pretext_datasets if d != spec["dataset"]]
        return list(self.pretext_datasets)

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
                pretext = self.pretext_name if method in ENCODER_METHODS else NO_PRETEXT
                for fraction in fractions:
                    for repeat in range(self.repeats):
                        for fold in range(n_folds):
                            yield FinetuneJob(
                                dataset, label, scheme, protocol, method, pretext,
                                fraction, repeat, fold,
                            )  # fmt: skip

    def feature_targets(self) -> list[str]:
        """Frozen-feature files the fine-tuning jobs read."""
        out = {
            f"results/features/{job.pretext}/"
            f"{self.unit(job.protocol, job.fold, job.dataset)}/{job.dataset}.npy"
            for job in self.finetune_jobs()
            if job.method in ("ssl_frozen", "ssl_frozen_subject_norm")
        }
        return sorted(out)
