# shellcheck shell=bash
DESCRIPTION="4 replicas, maxSurge 200% (accepted: only maxUnavailable is capped at 100%), maxUnavailable 0, minReadySeconds 1: the new ReplicaSet gets all 4 at once"
deployment() { web_deployment 4 '{type: RollingUpdate, rollingUpdate: {maxSurge: 200%, maxUnavailable: 0}}' 1; }
scenario() {
    set_image v2
    rollout_done
}
