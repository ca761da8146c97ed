"""k-means on each subject-wise test fold's frozen features (rule cluster_features)."""

from typing import TYPE_CHECKING

from ecgssl.util.jobserver import run_job

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main() -> None:
    run_job(
        "ecgssl.stages.clustering:clustering_stage",
        {
            "store": snakemake.input.store,
            "folds_path": snakemake.input.folds,
            "features_paths": list(snakemake.input.features),
            "units": list(snakemake.params.units),
            "labels": dict(snakemake.params.labels),
            "pretext": snakemake.wildcards.pretext,
            "out_path": snakemake.output[0],
            "seed": snakemake.params.seed,
            "n_init": snakemake.params.n_init,
        },
        log=snakemake.log[0],
        threads=snakemake.threads,
        paths=["store", "folds_path", "features_paths", "out_path"],
    )


main()
