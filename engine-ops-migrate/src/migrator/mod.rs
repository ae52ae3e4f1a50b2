//! The [`Migrator`]: runs, reverts, checks and reports migrations on a
//! [`StateStore`](crate::StateStore).
//!
//! - `operations.rs`: the operations, each as lock → load → check →
//!   settle → execute → unlock;
//! - `execute.rs`: one step through the store's protocol, and the
//!   [`RollbackPolicy`](crate::RollbackPolicy) after a failed one;
//! - `builder.rs`: [`MigratorBuilder`];
//! - `progress.rs`: [`Progress`] events and the [`Observer`].

mod builder;
mod execute;
mod operations;
mod progress;

pub use builder::MigratorBuilder;
pub use operations::Migrator;
pub use progress::{Observer, Progress};
