//! Migrations from a directory of SQL files: [`load_dir`] reads one at run
//! time; [`embed!`](crate::embed) reads it at compile time, with the same
//! rules.
//!
//! # File names
//!
//! - `<version>_<name>.sql`: an irreversible migration.
//! - `<version>_<name>.up.sql` and `<version>_<name>.down.sql`: a reversible
//!   one (an empty down file reverts nothing but the history).
//!
//! The version is a decimal number (leading zeros allowed, up to
//! `i64::MAX`, the largest a database column holds); migrations run in
//! numeric order, and gaps are fine (`0001`, `0002`, `0010`, or timestamps
//! such as `20250301120000`). The name uses letters, digits, `_` and `-`;
//! it is recorded with the version. Hidden files (`.gitkeep`) and files
//! not ending in `.sql` (`README.md`) are skipped, and so are
//! subdirectories. Every other problem is an error naming the file: a name
//! that does not parse, two files with one version (`0001_a.sql` and
//! `1_b.sql`), an up file without its down (or the reverse), a down file
//! beside a single file, or a bad directive.
//!
//! # Directives
//!
//! Comment lines at the top of a file, before its first statement:
//!
//! | directive | meaning |
//! |---|---|
//! | `-- engine-ops: no-transaction` | run outside the step transaction (`CREATE INDEX CONCURRENTLY`, `ALTER TYPE … ADD VALUE`); the step gets an intent record first and is shown *in doubt* if a crash interrupts it. sqlx's `-- no-transaction` as the first line means the same. |
//! | `-- engine-ops: phase expand` / `phase contract` | the expand / contract phase, recorded and reported |
//! | `-- engine-ops: validate <query>` | a query returning one boolean: the post-condition of this file's step (the up file: `validate_up`, the down file: `validate_down`); it also settles a step left in doubt |
//!
//! `no-transaction` and `phase` describe the whole migration and go in the
//! up (or single) file; a down file may repeat `no-transaction`.
//! Anywhere in the body, a line `-- engine-ops: batch` splits the file
//! into batches sent one after the other. PostgreSQL runs several
//! statements sent together in one implicit transaction, so in a
//! non-transactional file put each `CONCURRENTLY` statement in its own
//! batch. Any other `-- engine-ops:` line is an error.
//!
//! # What the checksum covers
//!
//! The up (or single) file, byte for byte, directives included, with CRLF
//! read as LF (so a Windows checkout does not look like an edit, while any
//! other change does; see [`Checksum`](crate::Checksum)). Not the down
//! file: the history records what was applied, which is the up; a down
//! that turns out to be wrong is fixed *after* its up was applied on every
//! database, and a checksum over it would then report every one of them
//! as divergent. A down file is checked by running it (roll back in CI),
//! and its `validate` directive checks it on every rollback.
//!
//! # Examples
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("0001_create_users.up.sql"), "CREATE TABLE users (id bigint PRIMARY KEY);\n")?;
//! std::fs::write(dir.path().join("0001_create_users.down.sql"), "DROP TABLE users;\n")?;
//! std::fs::write(
//!     dir.path().join("0002_users_email_idx.sql"),
//!     "-- engine-ops: no-transaction\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
//! )?;
//! let migrations = engine_ops_migrate::load_dir(dir.path())?;
//! assert_eq!(migrations.len(), 2);
//! assert!(migrations[0].is_reversible());
//! assert!(!migrations[1].is_transactional());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod rules;

use std::path::{Path, PathBuf};

use crate::Phase;
use crate::store::sql::SqlMigration;

/// Why a directory of migrations cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The directory or a file in it cannot be read.
    #[error("cannot read {}; check that it exists and is readable", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A migration file is not UTF-8 text.
    #[error("migration file {} is not UTF-8 text; save it as UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },

    /// A file name, a pair of files or a directive breaks the rules (see
    /// the [module docs](self)).
    #[error("{message} (in {})", dir.display())]
    Invalid {
        /// The directory.
        dir: PathBuf,
        /// The file at fault (the second one, for two files that clash).
        file: String,
        /// What is wrong and what to do, naming the file or files.
        message: String,
    },
}

/// Reads the migrations of a directory (see the [module docs](self) for
/// the rules), sorted by version.
///
/// # Errors
///
/// [`SourceError`] naming the directory or file: unreadable, not UTF-8, a
/// bad name, clashing versions, half a pair, a bad directive.
///
/// # Examples
///
/// See the [module docs](self).
pub fn load_dir(dir: impl AsRef<Path>) -> Result<Vec<SqlMigration>, SourceError> {
    let dir = dir.as_ref();
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| SourceError::Io { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        if !entry.file_type().map_err(io(&path))?.is_file() && !path.is_file() {
            continue;
        }
        let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
            // A name that is not UTF-8 cannot follow the rules; say so only
            // if it looks like a migration.
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
            {
                return Err(SourceError::NotUtf8 { path });
            }
            continue;
        };
        if !matches!(rules::parse_file_name(&file), Ok(None)) {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| SourceError::NotUtf8 { path: path.clone() })?;
            files.push((file, text));
        }
    }
    build(&files).map_err(|problem| SourceError::Invalid {
        dir: dir.to_owned(),
        file: problem_file(&problem),
        message: problem.to_string(),
    })
}

/// The file a problem is about (the second of two clashing files).
fn problem_file(problem: &rules::Problem) -> String {
    use rules::Problem as P;
    match problem {
        P::BadName { file, .. } | P::BadDirective { file, .. } | P::DownDirective { file, .. } => {
            file.clone()
        }
        P::Duplicate { second, .. } => second.clone(),
        P::NoDown { up, .. } => up.clone(),
        P::NoUp { down, .. } | P::DownOfSingle { down, .. } | P::NameMismatch { down, .. } => {
            down.clone()
        }
    }
}

/// Turns `(file name, text)` pairs into migrations.
fn build(files: &[(String, String)]) -> Result<Vec<SqlMigration>, rules::Problem> {
    let batches = |text: &str, script: &rules::Script| -> Vec<String> {
        script
            .batches
            .iter()
            .map(|&(from, to)| text[from..to].to_owned())
            .collect()
    };
    let assembled = rules::assemble(files)?;
    Ok(assembled
        .into_iter()
        .map(|a| {
            let text = &files[a.up].1;
            let mut m = SqlMigration::from_file(
                a.version,
                a.name,
                text.clone(),
                batches(text, &a.up_script),
            );
            if let Some(phase) = a.up_script.phase {
                m = m.phase(match phase {
                    rules::PhaseName::Expand => Phase::Expand,
                    rules::PhaseName::Contract => Phase::Contract,
                });
            }
            if a.up_script.no_transaction {
                m = m.no_transaction();
            }
            if let Some(query) = a.up_script.validate {
                m = m.validate_up(query);
            }
            if let Some((down, script)) = a.down {
                let text = &files[down].1;
                m = m.with_down(batches(text, &script));
                if let Some(query) = script.validate {
                    m = m.validate_down(query);
                }
            }
            m
        })
        .collect())
}

/// What [`embed!`](crate::embed) expands to calls this; not a public API.
#[doc(hidden)]
pub mod embedded {
    use super::{SqlMigration, build, rules};

    /// The migrations embedded from `dir` (absolute, as the build saw it):
    /// `files` are `(file name, text)`. When `check_fresh` (debug builds)
    /// and `dir` exists here, panics if its files differ from the embedded
    /// ones: the binary is older than the directory.
    ///
    /// # Panics
    ///
    /// As above, and if the embedded files break a rule the build checked
    /// (the macro and this crate disagree: a bug).
    #[must_use]
    pub fn migrations(dir: &str, check_fresh: bool, files: &[(&str, &str)]) -> Vec<SqlMigration> {
        let owned: Vec<(String, String)> = files
            .iter()
            .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
            .collect();
        if check_fresh && let Some(change) = changed_since_build(dir, &owned) {
            panic!(
                "the migrations in {dir} changed after this binary was built ({change}); rebuild it, and add a build script (build.rs) with `fn main() {{ println!(\"cargo::rerun-if-changed=migrations\"); }}` (your directory in place of `migrations`) so cargo rebuilds when a migration is added"
            );
        }
        match build(&owned) {
            Ok(migrations) => migrations,
            Err(problem) => panic!(
                "embedded migrations from {dir} break a rule that engine-ops-migrate-macros checked at build time ({problem}); use the same versions of engine-ops-migrate and engine-ops-migrate-macros"
            ),
        }
    }

    /// How the directory differs from the embedded files, if it exists.
    fn changed_since_build(dir: &str, embedded: &[(String, String)]) -> Option<String> {
        let entries = std::fs::read_dir(dir).ok()?;
        let mut seen = 0;
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if matches!(rules::parse_file_name(&name), Ok(None)) || !entry.path().is_file() {
                continue;
            }
            match embedded.iter().find(|(f, _)| *f == name) {
                None => return Some(format!("{name} was added")),
                Some((_, text)) => {
                    seen += 1;
                    if std::fs::read(entry.path()).ok()? != text.as_bytes() {
                        return Some(format!("{name} was edited"));
                    }
                }
            }
        }
        if seen != embedded.len() {
            let gone = embedded
                .iter()
                .find(|(f, _)| !std::path::Path::new(dir).join(f).is_file())
                .map_or("a file", |(f, _)| f.as_str());
            return Some(format!("{gone} was removed"));
        }
        None
    }
}
