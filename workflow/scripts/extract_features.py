"""Frozen encoder features of a dataset's windows (rule extract_features).

Runs in the pre-warmed job server where possible (ecgssl.util.jobserver).
"""

from typing import TYPE_CHECKING

from ecgssl.util.jobserver import run_job

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run_job(
        "ecgssl.stages.features:features_stage",
        {
            "model_path": snakemake.input.model,
            "store": snakemake.input.store,
            "out_path": snakemake.output[0],
            "device": snakemake.params.device,
            "precision": snakemake.params.precision,
        },
        log=snakemake.log[0],
        threads=snakemake.threads,
        paths=["model_path", "store", "out_path"],
    )


main()
