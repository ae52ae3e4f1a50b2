//! Example versioned_api (being written).
fn main() {}
