# ecgssl: self-supervised ECG representation learning for emotion recognition.
#
# Path grammar (every output of the workflow):
#   resources/synthetic/{dataset}/            synthetic copy in the native raw format
#   results/windows/{dataset}.parquet         Parquet window store (one row per window)
#   results/qc/{dataset}.tsv                  per-recording QC counts (dropped windows)
# Logs mirror outputs as logs/{rule}/{wildcards}.log, benchmarks as
# benchmarks/{rule}/{wildcards}.tsv.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/preprocess.smk"


rule all:
    input:
        window_targets(),
    default_target: True
