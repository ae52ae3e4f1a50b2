//! engine-ops-apiversion (being written).
