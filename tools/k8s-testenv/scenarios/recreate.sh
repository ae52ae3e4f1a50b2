# shellcheck shell=bash
DESCRIPTION="4 replicas, strategy Recreate, minReadySeconds 1: every old pod goes before the new ReplicaSet is created at 4"
deployment() { web_deployment 4 '{type: Recreate}' 1; }
scenario() {
    set_image v2
    rollout_done
}
