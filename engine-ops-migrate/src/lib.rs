//! Checksummed migrations with automatic rollback, on a crash-safe file store.
//!
//! (Crate docs are completed with the file store.)

mod checksum;
mod error;
mod history;
mod migration;
mod migrator;
mod plan;
mod report;
pub mod store;

pub use checksum::{Checksum, ParseChecksumError};
pub use error::{Error, Result};
pub use history::{AppliedMigration, History, InDoubt, Resolution, ResolvedBy, StepIntent};
pub use migration::{BoxError, Direction, Migration, MigrationInfo, Phase, Validation};
pub use migrator::{Migrator, MigratorBuilder, Observer, Progress, Rollback, RollbackPolicy};
pub use plan::{Divergence, Duplicate, MigrationRef, Plan, Problem, plan};
pub use report::{
    MigrationState, ResolvedStep, RollbackReport, RunReport, StatusEntry, StatusReport, StepReport,
    VerifyReport,
};
pub use store::StateStore;
pub use store::memory::MemoryStore;
