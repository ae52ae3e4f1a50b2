# shellcheck shell=bash
DESCRIPTION="4 replicas 25%/25%, progressDeadlineSeconds 10: v2 pods can never be scheduled (no node matches), the deadline passes (ProgressDeadlineExceeded), then kubectl rollout undo"
deployment() { web_deployment 4 '{type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}' 0 '  progressDeadlineSeconds: 10'; }
scenario() {
    k patch deployment web --type=json -p '[
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "'"$(image v2)"'"},
        {"op": "add", "path": "/spec/template/spec/nodeSelector", "value": {"engine-ops.invalid/nowhere": "true"}}]' >/dev/null ||
        fail "patch failed"
    wait_until 60 "ProgressDeadlineExceeded" is progressing_reason ProgressDeadlineExceeded
    k rollout undo deployment/web >/dev/null || fail "rollout undo failed"
    rollout_done
}
