# shellcheck shell=bash
DESCRIPTION="5 replicas, maxSurge 0, maxUnavailable 1, minReadySeconds 2: image v1 -> v2 (remove first)"
deployment() { web_deployment 5 '{type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}' 2; }
scenario() {
    set_image v2
    rollout_done
}
