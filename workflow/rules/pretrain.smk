# Window stores -> one self-supervised encoder per unit of the pretext scope ->
# frozen features per unit and dataset.


rule pretrain_encoder:
    input:
        unpack(pretext_inputs),
    output:
        model="results/pretext/{pretext}/{unit}/encoder.pt",
        sidecar="results/pretext/{pretext}/{unit}/encoder.json",
        history="results/pretext/{pretext}/{unit}/history.tsv",
        windows="results/pretext/{pretext}/{unit}/windows.parquet",
    log:
        "logs/pretrain_encoder/{pretext}/{unit}.log",
    benchmark:
        "benchmarks/pretrain_encoder/{pretext}/{unit}.tsv"
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
        config=pretext_params,
        unit=lambda wc: parse_unit(wc.unit),
        device=lambda wc: pretext_settings(wc)["device"],
        precision=lambda wc: pretext_settings(wc)["precision"],
        seed=unit_seed,
        pretrain_fraction=pretrain_fraction,
        fraction_seed=pretrain_fraction_seed,
        checkpoint="results/pretext/{pretext}/{unit}/checkpoint.pt",
    script:
        "../scripts/pretrain_encoder.py"


rule real_ecg_check:
    input:
        model="results/pretext/{pretext}/{unit}/encoder.pt",
    output:
        "results/pretext/{pretext}/{unit}/real_ecg.tsv",
    log:
        "logs/real_ecg_check/{pretext}/{unit}.log",
    benchmark:
        "benchmarks/real_ecg_check/{pretext}/{unit}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        code=script_code("real_ecg_check"),
        seed=lambda wc: stable_seed(config["seed"], "real_ecg", wc.pretext, wc.unit),
        repeats=real_ecg_repeats,
    script:
        "../scripts/real_ecg_check.py"


rule extract_features:
    input:
        model="results/pretext/{pretext}/{unit}/encoder.pt",
        store="results/windows/{dataset}.parquet",
    output:
        "results/features/{pretext}/{unit}/{dataset}.npy",
    log:
        "logs/extract_features/{pretext}/{unit}/{dataset}.log",
    benchmark:
        "benchmarks/extract_features/{pretext}/{unit}/{dataset}.tsv"
    priority: 50
    conda:
        "../../envs/torch.yaml"
    threads: 4
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=script_code("extract_features"),
        device=lambda wc: pretext_settings(wc)["device"],
        precision=lambda wc: pretext_settings(wc)["precision"],
    script:
        "../scripts/extract_features.py"


rule cluster_features:
    input:
        unpack(clustering_inputs),
    output:
        "results/clustering/{pretext}/{dataset}.tsv",
    log:
        "logs/cluster_features/{pretext}/{dataset}.log",
    benchmark:
        "benchmarks/cluster_features/{pretext}/{dataset}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        code=script_code("cluster_features"),
        units=clustering_units,
        labels=lambda wc: LABELS[wc.dataset],
        n_init=CLUSTERING["n_init"],
        seed=lambda wc: stable_seed(config["seed"], "cluster", wc.pretext, wc.dataset),
    script:
        "../scripts/cluster_features.py"
