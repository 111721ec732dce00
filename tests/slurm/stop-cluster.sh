#!/usr/bin/env bash
# Stop the test cluster start-cluster.sh started in DIR: cancel its jobs, then end munged,
# slurmctld and slurmd by the pids it recorded. `--purge` also deletes DIR.
#
#   bash tests/slurm/stop-cluster.sh [--purge] [DIR]   # DIR as for start-cluster.sh
set -euo pipefail

purge=false
if [[ "${1:-}" == --purge ]]; then
    purge=true
    shift
fi
DIR="${1:-${SLURM_TEST_DIR:-${TMPDIR:-/tmp}/medimprint-slurm}}"
[[ -d "$DIR" ]] || exit 0
DIR="$(cd "$DIR" && pwd)"
export SLURM_CONF="$DIR/slurm.conf"

alive() { [[ -s "$DIR/pids/$1.pid" ]] && kill -0 "$(cat "$DIR/pids/$1.pid")" 2>/dev/null; }

# Jobs first: their slurmstepd processes would outlive slurmd.
if alive slurmctld && [[ -f "$SLURM_CONF" ]]; then
    jobs="$(timeout 10 squeue -h -t PENDING,RUNNING,SUSPENDED,COMPLETING -o %i 2>/dev/null || true)"
    if [[ -n "$jobs" ]]; then
        # shellcheck disable=SC2086 # one argument per job id
        timeout 10 scancel $jobs || true
        for _ in $(seq 60); do
            [[ -z "$(timeout 10 squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null || true)" ]] && break
            sleep 0.5
        done
    fi
fi

for daemon in slurmd slurmctld munged; do
    pidfile="$DIR/pids/$daemon.pid"
    [[ -s "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "stop-cluster.sh: $daemon ($pid) ignored SIGTERM, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
done
echo "Slurm test cluster in $DIR stopped."
if $purge; then
    rm -rf "$DIR"
fi
