//! engine-ops-rollout (being written).
