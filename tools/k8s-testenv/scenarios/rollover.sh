# shellcheck shell=bash
DESCRIPTION="8 replicas 25%/25%, minReadySeconds 3: image v2, then v3 mid-rollout (rollover: three ReplicaSets)"
deployment() { web_deployment 8 '{type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}' 3; }
scenario() {
    set_image v2
    wait_until 30 "two active ReplicaSets" is active_rs 2
    set_image v3
    rollout_done
}
