# shellcheck shell=bash
DESCRIPTION="10 replicas, maxSurge 25%, maxUnavailable 25%, minReadySeconds 2: image v1 -> v2 in waves"
deployment() { web_deployment 10 '{type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}' 2; }
scenario() {
    set_image v2
    rollout_done
}
