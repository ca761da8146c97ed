# Folds per dataset x protocol (label-independent); a check that each configured label
# has labelled windows; HRV indices per dataset; one
# classifier per dataset x label x scheme x protocol x method x pretext x label
# fraction x repeat x fold.


rule assign_folds:
    input:
        store="results/windows/{dataset}.parquet",
    output:
        "results/folds/{dataset}/{protocol}.tsv",
    log:
        "logs/assign_folds/{dataset}/{protocol}.log",
    benchmark:
        "benchmarks/assign_folds/{dataset}/{protocol}.tsv"
    priority: 60
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=script_code("assign_folds"),
        n_folds=lambda wc: PLAN.protocols[wc.protocol],
        seed=lambda wc: stable_seed(config["seed"], "folds", wc.dataset, wc.protocol),
    script:
        "../scripts/assign_folds.py"


rule check_label:
    input:
        store="results/windows/{dataset}.parquet",
    output:
        "results/labels/{dataset}/{label}.json",
    log:
        "logs/check_label/{dataset}/{label}.log",
    benchmark:
        "benchmarks/check_label/{dataset}/{label}.tsv"
    # above every training rule: a configured label that the data cannot provide
    # stops the run (in seconds, naming dataset, label and reason) before training
    priority: 100
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=script_code("check_label"),
    script:
        "../scripts/check_label.py"


rule hrv_features:
    input:
        store="results/windows/{dataset}.parquet",
    output:
        "results/hrv/{dataset}.parquet",
    log:
        "logs/hrv_features/{dataset}.log",
    benchmark:
        "benchmarks/hrv_features/{dataset}.tsv"
    conda:
        "../../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        code=script_code("hrv_features"),
    script:
        "../scripts/hrv_features.py"


rule finetune_classifier:
    input:
        unpack(finetune_inputs),
    output:
        metrics="results/finetune/{dataset}/{label}/{scheme}/{protocol}/{method}/{pretext}/frac{fraction}/rep{repeat}/fold{fold}/metrics.json",
        predictions="results/finetune/{dataset}/{label}/{scheme}/{protocol}/{method}/{pretext}/frac{fraction}/rep{repeat}/fold{fold}/predictions.parquet",
    log:
        "logs/finetune_classifier/{dataset}/{label}/{scheme}/{protocol}/{method}/{pretext}/frac{fraction}/rep{repeat}/fold{fold}.log",
    benchmark:
        "benchmarks/finetune_classifier/{dataset}/{label}/{scheme}/{protocol}/{method}/{pretext}/frac{fraction}/rep{repeat}/fold{fold}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        code=script_code("finetune_classifier"),
        job=finetune_job,
        label=label_spec,
        train=method_settings,
        device=FINETUNE["device"],
        precision=FINETUNE["precision"],
        seed=finetune_seed,
        fraction_seed=fraction_seed,
        validation_fraction=FINETUNE["validation_fraction"],
        encoder=finetune_encoder_config,
        checkpoint="results/finetune/{dataset}/{label}/{scheme}/{protocol}/{method}/{pretext}/frac{fraction}/rep{repeat}/fold{fold}/checkpoint.pt",
    script:
        "../scripts/finetune_classifier.py"
