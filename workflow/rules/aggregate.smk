# Per-fold metrics and predictions -> result tables with intervals, the comparison
# with the paper, plots.


# cheap: with a cluster executor it runs where Snakemake runs, not as a queued job
localrules:
    aggregate_metrics,
    clustering_table,


rule aggregate_metrics:
    input:
        metrics=finetune_targets(),
        sidecars=pretext_sidecars(),
        real_ecg=pretext_real_ecg(),
    output:
        summary=report(
            "results/tables/summary.tsv",
            caption="../report/summary.rst",
            category="Results",
        ),
        folds="results/tables/folds.tsv",
        subjects="results/tables/subjects.tsv",
        comparisons=report(
            "results/tables/comparisons.tsv",
            caption="../report/comparisons.rst",
            category="Results",
        ),
        pretext=report(
            "results/tables/pretext.tsv",
            caption="../report/pretext.rst",
            category="Results",
        ),
        config=report(
            "results/tables/config.json",
            caption="../report/config.rst",
            category="Configuration",
        ),
        paper_comparison="results/tables/paper_comparison.md",
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
        fraction_plot=report(
            "results/plots/label_fractions.png",
            caption="../report/label_fractions.rst",
            category="Plots",
        ),
        compare=report(
            "results/tables/compare.tsv",
            caption="../report/compare.rst",
            category="Results",
        ),
        compare_md="results/tables/compare.md",
        compare_plot=report(
            "results/plots/compare.png",
            caption="../report/compare.rst",
            category="Plots",
        ),
        pretrain_fraction_plot=report(
            "results/plots/pretrain_fractions.png",
            caption="../report/pretrain_fractions.rst",
            category="Plots",
        ),
    log:
        "logs/aggregate_metrics/aggregate_metrics.log",
    benchmark:
        "benchmarks/aggregate_metrics/aggregate_metrics.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        code=script_code("aggregate_metrics"),
        evaluation=config["evaluation"],
        seed=stable_seed(config["seed"], "aggregate"),
        config=config,
        pretexts=PLAN.pretexts,
    script:
        "../scripts/aggregate_metrics.py"


rule clustering_table:
    input:
        clustering_targets(),
    output:
        report(
            "results/tables/clustering.tsv",
            caption="../report/clustering.rst",
            category="Results",
        ),
    log:
        "logs/clustering_table/clustering_table.log",
    benchmark:
        "benchmarks/clustering_table/clustering_table.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=script_code("clustering_table"),
    script:
        "../scripts/clustering_table.py"
