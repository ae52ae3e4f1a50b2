//! Example migrate (being written).
fn main() {}
