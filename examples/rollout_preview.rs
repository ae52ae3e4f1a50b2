//! Example rollout_preview (being written).
fn main() {}
