# ecgssl: self-supervised ECG representation learning for emotion recognition.
#
# Path grammar (every output of the workflow):
#   resources/synthetic/{dataset}/            synthetic copy in the native raw format
#   results/windows/{dataset}.parquet         Parquet window store (one row per window)
#   results/qc/{dataset}.tsv                  per-recording QC counts (dropped windows)
#   results/pretext/{pretext}/encoder.pt      pretrained encoder + heads (+ .json, history.tsv)
#   results/features/{pretext}/{dataset}.npy  frozen features, row-aligned with the store
#   results/folds/{dataset}/{label}/{protocol}.tsv            test fold per labelled window
#   results/finetune/{dataset}/{label}/{scheme}/{protocol}/{method}/fold{fold}/
#       metrics.json, predictions.parquet     one classifier per fold
#   results/tables/{summary,folds}.tsv, results/tables/paper_comparison.md
#   results/plots/*.png
# Logs mirror outputs as logs/{rule}/{wildcards}.log, benchmarks as
# benchmarks/{rule}/{wildcards}.tsv.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/aggregate.smk"


rule all:
    default_target: True
    input:
        window_targets(),
        result_targets(),
