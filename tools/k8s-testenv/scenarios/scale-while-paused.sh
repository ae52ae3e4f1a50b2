# shellcheck shell=bash
DESCRIPTION="10 replicas 25%/25%, minReadySeconds 3: image v2, paused mid-rollout, scaled to 15 while paused (proportional scaling), resumed"
deployment() { web_deployment 10 '{type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}' 3; }
scenario() {
    set_image v2
    wait_until 30 "two active ReplicaSets" is active_rs 2
    k rollout pause deployment/web >/dev/null || fail "rollout pause failed"
    sleep 2
    k scale deployment/web --replicas=15 >/dev/null || fail "scale failed"
    sleep 5
    k rollout resume deployment/web >/dev/null || fail "rollout resume failed"
    rollout_done
}
