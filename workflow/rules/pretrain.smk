# Window stores -> self-supervised encoder -> frozen features per dataset.


rule pretrain_encoder:
    input:
        stores=expand("results/windows/{dataset}.parquet", dataset=PRETEXT_DATASETS),
    output:
        model="results/pretext/{pretext}/encoder.pt",
        sidecar="results/pretext/{pretext}/encoder.json",
        history="results/pretext/{pretext}/history.tsv",
    log:
        "logs/pretrain_encoder/{pretext}.log",
    benchmark:
        "benchmarks/pretrain_encoder/{pretext}.tsv"
    priority: 50
    conda:
        "../../envs/torch.yaml"
    # local runs scale threads down to --cores; on SLURM this is --cpus-per-task
    threads: 8
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        code=script_code("pretrain_encoder"),
        config=pretext_params(),
        device=PRETEXT["device"],
        seed=stable_seed(config["seed"], "pretext", PRETEXT_NAME),
        checkpoint="results/pretext/{pretext}/checkpoint.pt",
    script:
        "../scripts/pretrain_encoder.py"


rule extract_features:
    input:
        model="results/pretext/{pretext}/encoder.pt",
        store="results/windows/{dataset}.parquet",
    output:
        "results/features/{pretext}/{dataset}.npy",
    log:
        "logs/extract_features/{pretext}/{dataset}.log",
    priority: 50
    conda:
        "../../envs/torch.yaml"
    threads: 4
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=script_code("extract_features"),
        device=PRETEXT["device"],
    script:
        "../scripts/extract_features.py"
