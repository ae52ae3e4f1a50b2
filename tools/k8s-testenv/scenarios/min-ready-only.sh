# shellcheck shell=bash
DESCRIPTION="4 replicas 25%/25%: only minReadySeconds changes (0 -> 3: written onto the existing ReplicaSet, no new revision), then scaled to 6"
deployment() { web_deployment 4 '{type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}' 0; }
scenario() {
    k patch deployment web -p '{"spec": {"minReadySeconds": 3}}' >/dev/null || fail "patch failed"
    sleep 2
    k scale deployment/web --replicas=6 >/dev/null || fail "scale failed"
    rollout_done
}
