# shellcheck shell=bash
DESCRIPTION="10 replicas 25%/25%, minReadySeconds 3: image v2, scaled to 5 mid-rollout (proportional scaling), completes"
deployment() { web_deployment 10 '{type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}' 3; }
scenario() {
    set_image v2
    wait_until 30 "two active ReplicaSets" is active_rs 2
    k scale deployment/web --replicas=5 >/dev/null || fail "scale failed"
    rollout_done
}
