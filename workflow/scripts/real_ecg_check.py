"""Pretext heads of an encoder unit scored on real ECG (rule real_ecg_check).

Runs in the pre-warmed job server where possible (ecgssl.util.jobserver).
"""

from typing import TYPE_CHECKING

from ecgssl.util.jobserver import run_job

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run_job(
        "ecgssl.stages.real_ecg:real_ecg_stage",
        {
            "model_path": snakemake.input.model,
            "out_path": snakemake.output[0],
            "seed": snakemake.params.seed,
            "repeats": snakemake.params.repeats,
        },
        log=snakemake.log[0],
        threads=snakemake.threads,
        paths=["model_path", "out_path"],
    )


main()
