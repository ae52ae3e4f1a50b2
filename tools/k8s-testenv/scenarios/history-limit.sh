# shellcheck shell=bash
DESCRIPTION="3 replicas 25%/25%, revisionHistoryLimit 1: images v2, v3, v4 in turn; old ReplicaSets beyond the limit are deleted"
deployment() { web_deployment 3 '{type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}' 0 '  revisionHistoryLimit: 1'; }
scenario() {
    for v in v2 v3 v4; do
        set_image "$v"
        rollout_done
        sleep 1
    done
}
