//! Names of the first release that were renamed, kept so that code
//! written against them still compiles, with a warning naming the new
//! name. Hidden from the docs.

#![allow(missing_docs)]

use crate::history;

#[deprecated(
    note = "renamed `engine_ops_migrate::Settlement` (how a step in doubt was settled), apart from the negotiated version of engine-ops-apiversion"
)]
pub type Resolution = history::Settlement;
