# Folds per dataset x label x protocol; one classifier per scheme x method x fold.


rule assign_folds:
    input:
        store="results/windows/{dataset}.parquet",
    output:
        "results/folds/{dataset}/{label}/{protocol}.tsv",
    log:
        "logs/assign_folds/{dataset}/{label}/{protocol}.log",
    # above the training rules' 50: a configured label without any labelled
    # window fails here (seconds) before any model is trained
    priority: 100
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=script_code("assign_folds"),
        n_folds=lambda wc: PROTOCOLS[wc.protocol],
        seed=lambda wc: stable_seed(
            config["seed"], "folds", wc.dataset, wc.label, wc.protocol
        ),
    script:
        "../scripts/assign_folds.py"


rule finetune_classifier:
    input:
        unpack(finetune_inputs),
    output:
        metrics="results/finetune/{dataset}/{label}/{scheme}/{protocol}/{method}/fold{fold}/metrics.json",
        predictions="results/finetune/{dataset}/{label}/{scheme}/{protocol}/{method}/fold{fold}/predictions.parquet",
    log:
        "logs/finetune_classifier/{dataset}/{label}/{scheme}/{protocol}/{method}/fold{fold}.log",
    benchmark:
        "benchmarks/finetune_classifier/{dataset}/{label}/{scheme}/{protocol}/{method}/fold{fold}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        code=script_code("finetune_classifier"),
        label=label_spec,
        train=lambda wc: FINETUNE[wc.method],
        device=FINETUNE["device"],
        seed=finetune_seed,
        encoder=PRETEXT.get("encoder", {}),
        checkpoint="results/finetune/{dataset}/{label}/{scheme}/{protocol}/{method}/fold{fold}/checkpoint.pt",
    script:
        "../scripts/finetune_classifier.py"
