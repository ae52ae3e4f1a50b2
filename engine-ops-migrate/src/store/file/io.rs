//! File-system helpers of the file store: the error of a failed I/O call,
//! and making a new directory entry durable.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// The [`Error::Io`] of `operation` on `path`, for `map_err`.
pub(super) fn io_err(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        operation,
        path,
        source,
    }
}

#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> Result<()> {
    // Directories cannot be opened as files on this platform; the file
    // system orders metadata updates itself.
    Ok(())
}
