//! engine-ops-migrate (being written).
