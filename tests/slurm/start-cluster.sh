#!/usr/bin/env bash
# Start a throwaway single-node Slurm cluster on localhost (munged + slurmctld + slurmd, one fake
# GPU, partitions `cpu` and `gpu`) for testing profiles/slurm. Needs root (slurmd launches jobs).
#
#   bash tests/slurm/start-cluster.sh [DIR]      # DIR: $SLURM_TEST_DIR, else $TMPDIR/medimprint-slurm
#   export SLURM_CONF=DIR/slurm.conf PATH=DIR/bin:$PATH   # then sbatch/squeue/snakemake use it
#   bash tests/slurm/stop-cluster.sh [DIR]
#
# Everything it writes (config, munge key and socket, state, spool, logs, pid files) is under DIR.
# Environment: SLURMCTLD_PORT (16817), SLURMD_PORT (16818), SLURM_TEST_CPUS (8),
# SLURM_TEST_MEM_MB (32000): what the node claims, enough for the profile's GPU rules (4 CPUs and
# 16 GB per GPU) however small the machine; SLURM_TEST_START_TIMEOUT (60 s).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${1:-${SLURM_TEST_DIR:-${TMPDIR:-/tmp}/medimprint-slurm}}"
CTLD_PORT="${SLURMCTLD_PORT:-16817}"
SLURMD_PORT="${SLURMD_PORT:-16818}"
CPUS="${SLURM_TEST_CPUS:-8}"
MEM_MB="${SLURM_TEST_MEM_MB:-32000}"
TIMEOUT="${SLURM_TEST_START_TIMEOUT:-60}"
NODE=localhost

die() {
    echo "start-cluster.sh: error: $*" >&2
    exit 1
}

export PATH="$PATH:/usr/sbin:/sbin" # the daemons, where a user's PATH lacks them
[[ "$(id -u)" == 0 ]] || die "needs root (slurmd runs the jobs; SlurmUser=root)"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
    ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    echo "Installing slurm-wlm and munge ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; } ||
        die "could not install slurm-wlm and munge with apt-get"
fi

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
export SLURM_CONF="$DIR/slurm.conf"

usage() {
    cat <<USAGE
Slurm test cluster is up (state in $DIR):
    export SLURM_CONF=$SLURM_CONF PATH=$DIR/bin:\$PATH
    sinfo; squeue
    bash $HERE/stop-cluster.sh $DIR
USAGE
}

alive() { [[ -s "$DIR/pids/$1.pid" ]] && kill -0 "$(cat "$DIR/pids/$1.pid")" 2>/dev/null; }

node_idle() {
    local state
    state="$(timeout 10 sinfo -h -n "$NODE" -o %t 2>/dev/null | sort -u | tr '\n' ' ')" || return 1
    [[ "$state" == "idle " || "$state" == "mix " || "$state" == "alloc " ]]
}

if alive munged && alive slurmctld && alive slurmd; then
    if node_idle; then
        usage
        exit 0
    fi
    die "daemons of $DIR are running but node $NODE is not up; run stop-cluster.sh $DIR first"
fi
# A half-started earlier cluster: stop what is left of it.
if compgen -G "$DIR/pids/*.pid" >/dev/null; then
    bash "$HERE/stop-cluster.sh" "$DIR"
fi

rm -rf "${DIR:?}"/{state,spool,log,run} # a fresh cluster: no jobs recovered from a former one
mkdir -p "$DIR"/{munge,state,spool/slurmd,log,run,pids}
chmod 0755 "$DIR/munge" # munged: not writable by others; clients reach the socket
if [[ ! -s "$DIR/munge/munge.key" ]]; then
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile="$DIR/munge/munge.key"
    else
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    fi
fi
chmod 0400 "$DIR/munge/munge.key"

sed -e "s|@DIR@|$DIR|g" -e "s|@HOST@|$(hostname -s)|g" \
    -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
    -e "s|@CPUS@|$CPUS|g" -e "s|@MEM_MB@|$MEM_MB|g" \
    "$HERE/slurm.conf.in" >"$DIR/slurm.conf"
cp "$HERE/gres.conf" "$DIR/gres.conf" # slurmd reads it next to slurm.conf
: >"$DIR/plugstack.conf"              # no site SPANK plugins from /etc/slurm
# Inside a job, Snakemake's slurm-jobstep executor runs the rule through `srun` after removing
# every SLURM_* variable but the job's ids, SLURM_CONF included, so that srun would look for
# /etc/slurm/slurm.conf. This srun, first on PATH, puts it back; the system stays untouched.
mkdir -p "$DIR/bin"
real_srun=""
IFS=: read -ra path_dirs <<<"$PATH"
for path_dir in "${path_dirs[@]}"; do
    if [[ "$path_dir" != "$DIR/bin" && -x "$path_dir/srun" ]]; then
        real_srun="$path_dir/srun"
        break
    fi
done
[[ -n "$real_srun" ]] || die "srun not found on PATH"
cat >"$DIR/bin/srun" <<SRUN
#!/bin/sh
export SLURM_CONF="\${SLURM_CONF:-$SLURM_CONF}"
exec "$real_srun" "\$@"
SRUN
chmod +x "$DIR/bin/srun"

# Each daemon in the foreground of its own session, detached from this shell's output, its pid
# recorded for stop-cluster.sh.
start() {
    local name="$1"
    shift
    setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
    echo $! >"$DIR/pids/$name.pid"
}

tail_logs() {
    for log in "$DIR"/log/*.out; do # each daemon's stderr: its log, and what came before
        echo "==> $log <==" >&2
        tail -n 20 "$log" >&2
    done
}

fail() {
    echo "start-cluster.sh: error: $*" >&2
    tail_logs
    bash "$HERE/stop-cluster.sh" "$DIR" >&2 || true
    exit 1
}

start munged munged --foreground --force \
    --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket.2" \
    --pid-file="$DIR/run/munged.pid" --seed-file="$DIR/munge/munged.seed" \
    --log-file="$DIR/log/munged.log"
for _ in $(seq 50); do
    [[ -S "$DIR/munge/munge.socket.2" ]] && break
    alive munged || fail "munged exited"
    sleep 0.1
done
[[ -S "$DIR/munge/munge.socket.2" ]] || fail "munged did not open its socket"

start slurmctld slurmctld -D -f "$SLURM_CONF"
start slurmd slurmd -D -f "$SLURM_CONF" -N "$NODE"

deadline=$((SECONDS + TIMEOUT))
until node_idle; do
    for daemon in munged slurmctld slurmd; do
        alive "$daemon" || fail "$daemon exited"
    done
    ((SECONDS < deadline)) || fail "node $NODE not idle after ${TIMEOUT}s: $(sinfo -N 2>&1 || true)"
    sleep 0.5
done
usage
