//! Resolution, the sans-IO core: from request parts to a [`Resolution`] or
//! a [`VersionError`](crate::VersionError), with [`resolve()`] and
//! [`resolve_at()`].
//!
//! Nothing here touches a body, performs I/O or allocates on the success
//! path: sources are scanned in place and values are parsed from bytes.

mod accept;
mod decide;
mod resolved;
mod sources;
mod swar;
#[cfg(test)]
mod tests;

pub(crate) use decide::resolve_with;
pub use decide::{resolve, resolve_at};
pub use resolved::{PathRewrite, Resolution};
