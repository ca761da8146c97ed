"""Deterministic test folds of a dataset's windows (rule assign_folds).

Runs in the pre-warmed job server where possible (ecgssl.util.jobserver).
"""

from typing import TYPE_CHECKING

from ecgssl.util.jobserver import run_job

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run_job(
        "ecgssl.stages.folds:folds_stage",
        {
            "store": snakemake.input.store,
            "out_path": snakemake.output[0],
            "protocol": snakemake.wildcards.protocol,
            "n_folds": snakemake.params.n_folds,
            "seed": snakemake.params.seed,
        },
        log=snakemake.log[0],
        threads=snakemake.threads,
        paths=["store", "out_path"],
    )


main()
