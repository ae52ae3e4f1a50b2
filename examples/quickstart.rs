//! Example quickstart (being written).
fn main() {}
