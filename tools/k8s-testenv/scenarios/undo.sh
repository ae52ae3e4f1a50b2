# shellcheck shell=bash
DESCRIPTION="6 replicas 25%/25%, minReadySeconds 1: image v2 to completion, then kubectl rollout undo (revision 1 comes back as revision 3)"
deployment() { web_deployment 6 '{type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}' 1; }
scenario() {
    set_image v2
    rollout_done
    k rollout undo deployment/web >/dev/null || fail "rollout undo failed"
    rollout_done
}
