# shellcheck shell=bash
DESCRIPTION="6 replicas, maxSurge 3 (a count), maxUnavailable 0, minReadySeconds 2: image v1 -> v2 (surge first)"
deployment() { web_deployment 6 '{type: RollingUpdate, rollingUpdate: {maxSurge: 3, maxUnavailable: 0}}' 2; }
scenario() {
    set_image v2
    rollout_done
}
