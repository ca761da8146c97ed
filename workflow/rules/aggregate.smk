# Per-fold metrics -> result tables, comparison with the paper, plots.


rule aggregate_metrics:
    input:
        metrics=finetune_targets(),
        history=f"results/pretext/{PRETEXT_NAME}/history.tsv",
        code=code("aggregate.py"),
    output:
        summary="results/tables/summary.tsv",
        folds="results/tables/folds.tsv",
        comparison="results/tables/paper_comparison.md",
        pretext_plot="results/plots/pretext_history.png",
        accuracy_plot="results/plots/accuracy_by_method.png",
        confusion_plot="results/plots/confusion_matrices.png",
    log:
        "logs/aggregate_metrics/aggregate_metrics.log",
    conda:
        "../../envs/ecgssl.yaml"
    threads: 1
    script:
        "../scripts/aggregate_metrics.py"
