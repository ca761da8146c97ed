#!/usr/bin/env bash
# The workflow through a real (single-node, throw-away) SLURM cluster: `make test-cluster`.
#
# Starts the cluster (tests/slurm/start-slurm.sh; installs SLURM with apt when missing, so
# it needs root on Debian/Ubuntu), runs .test/config-slurm.yaml with the users'
# profile (profiles/slurm) plus the CI polling overlay (profiles/ci-fast), checks that
# every non-local job went through sbatch, COMPLETED and got the CPUs, memory and
# runtime its rule asks for, then runs the same config locally (--cores 2) and compares
# the results. Exits non-zero on any failure. The cluster is stopped on exit.
#
# Environment: VENV_BIN (the venv's bin folder with snakemake and the SLURM plugin;
# default .venv/bin), SLURM_CI_* (see start-slurm.sh; defaults here: 8 CPUs and 32000 MB
# advertised, so that the profile's largest requests fit on a small CI machine),
# CLUSTER_TEST_KEEP=1 keeps the cluster running and the work folder.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${VENV_BIN:-$REPO/.venv/bin}
SNAKEMAKE=$BIN/snakemake
PYTHON=$BIN/python
START=$REPO/tests/slurm/start-slurm.sh
CONFIG=$REPO/.test/config-slurm.yaml
LIMIT=${CLUSTER_TEST_LIMIT:-900}
export SLURM_CI_DIR=${SLURM_CI_DIR:-/tmp/slurm-ci}
# pretrain_encoder asks for 8 CPUs and (profiles/slurm) 16 GB: advertise enough for it;
# without cgroups (the default) nothing is enforced, and the tiny jobs need little
export SLURM_CI_CPUS=${SLURM_CI_CPUS:-8}
export SLURM_CI_MEM_MB=${SLURM_CI_MEM_MB:-32000}
ACCOUNTING=${SLURM_CI_ACCOUNTING:-slurmdbd}
unset SNAKEMAKE_PROFILE

say() { echo "[cluster-test] $*" >&2; }
fail() {
    say "FAIL: $*"
    exit 1
}

[[ -x $SNAKEMAKE ]] || fail "no snakemake in $BIN (set VENV_BIN; run make install)"
"$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null ||
    fail "the SLURM executor plugin is not installed: pip install -e '.[cluster]'"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecgssl-cluster.XXXXXX")
status=1
cleanup() {
    if [[ ${CLUSTER_TEST_KEEP:-0} == 1 ]]; then
        say "kept the cluster running and $WORK"
        return
    fi
    bash "$START" stop || true
    if [[ $status == 0 ]]; then rm -rf "$WORK"; else say "work folder kept: $WORK"; fi
}
trap cleanup EXIT

t0=$SECONDS
bash "$START" start
t_start=$((SECONDS - t0))

# a Snakemake run in its own working directory; the config is copied there because the
# Snakefile's `configfile: "config.yaml"` is resolved against it
run_snakemake() { # name, extra args...
    local dir=$WORK/$1
    shift
    mkdir -p "$dir"
    cp "$CONFIG" "$dir/config.yaml"
    (cd "$REPO" && timeout -s INT -k 60 "$LIMIT" "$SNAKEMAKE" \
        --snakefile "$REPO/Snakefile" --directory "$dir" \
        --configfile "$dir/config.yaml" "$@") >"$WORK/$(basename "$dir").log" 2>&1
}

status_args=()
status_check=sacct
if [[ $ACCOUNTING == none ]]; then
    # no slurmdbd: the plugin's default sacct status check would wait forever
    status_args=(--slurm-status-command squeue)
    status_check=squeue
fi

say "workflow through SLURM (log: $WORK/slurm.log)"
t0=$SECONDS
# SIGINT, not TERM, stops a hung Snakemake and cancels its jobs
if ! run_snakemake slurm --profile "$REPO/profiles/slurm" \
    --workflow-profile "$REPO/profiles/ci-fast" "${status_args[@]}"; then
    tail -n 40 "$WORK/slurm.log" >&2
    for f in "$WORK"/slurm/.snakemake/slurm_logs/*/*/*.log; do
        [[ -f $f ]] && {
            say "--- $f"
            tail -n 20 "$f" >&2
        }
    done
    fail "snakemake through SLURM failed"
fi
t_slurm=$((SECONDS - t0))

say "checking the jobs with $status_check"
"$PYTHON" "$REPO/tests/slurm/check_run.py" jobs "$WORK/slurm.log" --status "$status_check" ||
    fail "SLURM jobs"

say "same config locally, --cores 2 (log: $WORK/local.log)"
t0=$SECONDS
run_snakemake local --cores 2 || {
    tail -n 40 "$WORK/local.log" >&2
    fail "local snakemake failed"
}
t_local=$((SECONDS - t0))

"$PYTHON" "$REPO/tests/slurm/check_run.py" compare "$WORK/slurm" "$WORK/local" ||
    fail "SLURM and local results differ"

status=0
say "OK: cluster start ${t_start} s, workflow through SLURM ${t_slurm} s, locally ${t_local} s"
