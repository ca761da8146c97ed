"""Train and evaluate one emotion classifier on one fold (rule finetune_classifier).

The call runs in a pre-warmed job server where possible (ecgssl.util.jobserver):
these jobs are short, and a fresh interpreter would spend most of their time
importing torch and scikit-learn.
"""

from typing import TYPE_CHECKING

from ecgssl.util.jobserver import run_job

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    inputs, params = snakemake.input, snakemake.params
    optional = {
        f"{name}_path": inputs[name]
        for name in ("features", "encoder", "hrv")
        if name in inputs.keys()
    }
    paths = ["store", "folds_path", "metrics_path", "predictions_path"]
    run_job(
        "ecgssl.stages.finetune:finetune_stage",
        {
            "store": inputs.store,
            "folds_path": inputs.folds,
            "metrics_path": snakemake.output.metrics,
            "predictions_path": snakemake.output.predictions,
            "job": params.job,
            "label_spec": params.label,
            "train": params.train,
            "seed": params.seed,
            "fraction_seed": params.fraction_seed,
            "validation_fraction": params.validation_fraction,
            "device": params.device,
            "precision": params.precision,
            "encoder_config": params.encoder,
            "checkpoint_path": params.checkpoint,
            **optional,
        },
        log=snakemake.log[0],
        threads=snakemake.threads,
        paths=[*paths, "checkpoint_path", *optional],
    )


main()
