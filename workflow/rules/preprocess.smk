# Raw (or synthetic) files -> Parquet window stores and QC tables.


rule synthesize_dataset:
    output:
        directory("resources/synthetic/{dataset}"),
    log:
        "logs/synthesize_dataset/{dataset}.log",
    benchmark:
        "benchmarks/synthesize_dataset/{dataset}.tsv"
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=writer_code,
        options=lambda wc: dataset_cfg(wc.dataset).get("synthetic", {}),
        seed=synthetic_seed,
    script:
        "../scripts/synthesize_dataset.py"


rule window_dataset:
    input:
        raw=dataset_inputs,
    output:
        store="results/windows/{dataset}.parquet",
        qc=report(
            "results/qc/{dataset}.tsv",
            caption="../report/qc.rst",
            category="Quality control",
        ),
    log:
        "logs/window_dataset/{dataset}.log",
    benchmark:
        "benchmarks/window_dataset/{dataset}.tsv"
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        code=reader_code,
        root=lambda wc: dataset_root(wc.dataset),
        reader=lambda wc: dataset_reader(wc.dataset),
        preprocess=config["preprocess"],
    script:
        "../scripts/window_dataset.py"
