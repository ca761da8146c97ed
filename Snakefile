# ecgssl: self-supervised ECG representation learning for emotion recognition.
#
# Path grammar (every output of the workflow):
#   resources/synthetic/{dataset}/            synthetic copy in the native raw format
#   results/windows/{dataset}.parquet         Parquet window store (one row per window)
#   results/qc/{dataset}.tsv                  per-recording QC counts (dropped windows)
#   results/folds/{dataset}/{protocol}.tsv    test fold of every window
#   results/labels/{dataset}/{label}.json     labelled-window count of a label
#   results/pretext/{pretext}/{unit}/         encoder.pt (+ .json, history.tsv,
#       windows.parquet, real_ecg.tsv); {unit} = <protocol>-fold<k>, fold<k>,
#       without-<dataset> or all, by the configuration's scope
#   results/features/{pretext}/{unit}/{dataset}.npy   frozen features, row-aligned
#   results/hrv/{dataset}.parquet             HRV indices per window
#   results/finetune/{dataset}/{label}/{scheme}/{protocol}/{method}/{pretext}/
#       frac{fraction}/rep{repeat}/fold{fold}/metrics.json, predictions.parquet
#   results/clustering/...                    k-means of frozen features (optional)
#   results/tables/*.tsv, *.md, config.json; results/plots/*.png
# Logs mirror outputs as logs/{rule}/{wildcards}.log, benchmarks as
# benchmarks/{rule}/{wildcards}.tsv.
from snakemake.utils import min_version

min_version("9.0")


# config.yaml unless --configfile names others: a config such as configs/paper.yaml
# replaces the default instead of being merged into it (Snakemake would otherwise keep
# every key of config.yaml that the other file lacks, e.g. a dataset or a protocol)
if not workflow.overwrite_configfiles:

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
