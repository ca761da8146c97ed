# Per-fold metrics -> result tables, comparison with the paper, plots.


# cheap: with a cluster executor it runs where Snakemake runs, not as a queued job
localrules:
    aggregate_metrics,


rule aggregate_metrics:
    input:
        metrics=finetune_targets(),
        history=f"results/pretext/{PRETEXT_NAME}/history.tsv",
    output:
        summary=report(
            "results/tables/summary.tsv",
            caption="../report/summary.rst",
            category="Results",
        ),
        folds="results/tables/folds.tsv",
        config=report(
            "results/tables/config.json",
            caption="../report/config.rst",
            category="Configuration",
        ),
        comparison="results/tables/paper_comparison.md",
        pretext_plot=report(
            "results/plots/pretext_history.png",
            caption="../report/plot.rst",
            category="Plots",
        ),
        accuracy_plot=report(
            "results/plots/accuracy_by_method.png",
            caption="../report/plot.rst",
            category="Plots",
        ),
        confusion_plot=report(
            "results/plots/confusion_matrices.png",
            caption="../report/plot.rst",
            category="Plots",
        ),
    log:
        "logs/aggregate_metrics/aggregate_metrics.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        code=script_code("aggregate_metrics"),
        config=config,
    script:
        "../scripts/aggregate_metrics.py"
