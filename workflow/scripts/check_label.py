"""A configured label must have labelled windows (rule check_label)."""

from typing import TYPE_CHECKING

from ecgssl.util.jobserver import run_job

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run_job(
        "ecgssl.stages.labels:label_stage",
        {
            "store": snakemake.input.store,
            "label": snakemake.wildcards.label,
            "out_path": snakemake.output[0],
        },
        log=snakemake.log[0],
        threads=snakemake.threads,
        paths=["store", "out_path"],
    )


main()
