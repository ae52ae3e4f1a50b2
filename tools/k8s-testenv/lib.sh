# Shared helpers of up, down and e2e (sourced, not run).
# shellcheck shell=bash

dir=${ENGINE_OPS_K8S_DIR:-/tmp/engine-ops-k8s}
api_port=${ENGINE_OPS_K8S_PORT:-16443}
etcd_port=$((api_port + 1))
etcd_peer_port=$((api_port + 2))
component_order=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { echo "k8s-testenv: $*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# Prints the last lines of a component's log to stderr.
log_tail() {
    local f=$dir/logs/$1.log
    if [ -f "$f" ]; then
        echo "----- last 40 lines of $f -----" >&2
        tail -n 40 "$f" >&2
        echo "----- end of $1 log -----" >&2
    fi
}

# Starts a component detached from the caller's session (so that `$(up)` returns
# and a Ctrl-C in the calling terminal does not reach it) and records
# "name pid binary" in $dir/pids.
start_component() {
    local name=$1 binary=$2
    shift 2
    log "starting $name"
    setsid "$binary" "$@" </dev/null >"$dir/logs/$name.log" 2>&1 &
    echo "$name $! $binary" >>"$dir/pids"
}

pid_of() { awk -v n="$1" '$1 == n {print $2}' "$dir/pids" 2>/dev/null; }

# True if the recorded pid still runs the recorded binary (guards against pid reuse).
is_ours() {
    local pid=$1 binary=$2
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$binary" ]
}

all_alive() {
    local name pid binary n=0
    while read -r name pid binary; do
        is_ours "$pid" "$binary" || return 1
        n=$((n + 1))
    done <"$dir/pids"
    [ "$n" = ${#component_order[@]} ]
}

api_ready() {
    [ "$(KUBECONFIG=$dir/kubeconfig kubectl get --raw /readyz --request-timeout=5s 2>/dev/null)" = ok ]
}

# Sends SIGTERM to every recorded pid that still runs its binary (last started
# first), waits up to 20 s, then SIGKILLs whatever is left.
stop_recorded() {
    [ -f "$dir/pids" ] || return 0
    local lines=() i name pid binary left
    mapfile -t lines <"$dir/pids"
    for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
        read -r name pid binary <<<"${lines[$i]}"
        if is_ours "$pid" "$binary"; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            # etcd and the API server flush on TERM; stop them in order.
            for _ in $(seq 1 100); do
                is_ours "$pid" "$binary" || break
                sleep 0.2
            done
            if is_ours "$pid" "$binary"; then
                log "$name (pid $pid) ignored SIGTERM for 20 s; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    done
    left=0
    for line in "${lines[@]}"; do
        read -r name pid binary <<<"$line"
        if is_ours "$pid" "$binary"; then left=1; log "$name (pid $pid) is still running"; fi
    done
    return $left
}

# Removes the state directory, but only if `up` created it (it holds the marker).
remove_state() {
    if [ -f "$dir/.engine-ops-k8s-testenv" ] || [ -z "$(ls -A "$dir" 2>/dev/null)" ]; then
        rm -rf "$dir"
    else
        die "$dir was not created by k8s-testenv (no .engine-ops-k8s-testenv marker); not removing it"
    fi
}

port_in_use() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for COMPONENT SECONDS COMMAND...: polls COMMAND (a string for eval, or a
# function name) every half second; fails with the component's log tail if it
# does not succeed in time or if the component's process exits.
wait_for() {
    local name=$1 timeout=$2 deadline pid binary
    shift 2
    timeout=${ENGINE_OPS_K8S_TIMEOUT:-$timeout}
    deadline=$((SECONDS + timeout))
    read -r _ pid binary < <(awk -v n="$name" '$1 == n' "$dir/pids")
    until eval "$*"; do
        if ! is_ours "$pid" "$binary"; then
            log_tail "$name"
            die "$name (pid $pid) exited during start-up; its log tail is above"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log_tail "$name"
            die "$name not ready after ${timeout} s (waited for: $*); its log tail is above"
        fi
        sleep 0.5
    done
}
