# shellcheck shell=bash
DESCRIPTION="8 replicas 25%/25%, minReadySeconds 3: image v2, kubectl rollout undo mid-rollout"
deployment() { web_deployment 8 '{type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}' 3; }
scenario() {
    set_image v2
    wait_until 30 "two active ReplicaSets" is active_rs 2
    k rollout undo deployment/web >/dev/null || fail "rollout undo failed"
    rollout_done
}
