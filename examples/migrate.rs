//! `migrate`: a command-line tool for your SQL migrations (a directory of
//! `<version>_<name>.sql` files, or `.up.sql` / `.down.sql` pairs; see the
//! `engine_ops_migrate::source` docs for the rules), on PostgreSQL, SQLite
//! or a journal file; and the demo of engine-ops' original `npm run
//! migrate` family.
//!
//! ```text
//! migrate [--source DIR] [--database-url URL] <command>
//!   add NAME [--reversible | --irreversible]   create the next numbered file(s)
//!   migrate [--to V] [--dry-run]                apply pending migrations
//!   plan [--to V] [--json]                      what `migrate` would do; changes nothing
//!   status [--json]                             every migration and its state
//!   verify                                      check every checksum; exit 1 on any problem
//!   lint [--json]                               check the SQL for zero-downtime problems; exit 1 on errors
//!   migrate --phase expand                      only the expand migrations (before a rollout)
//!   migrate --phase contract --old-version-gone EVIDENCE
//!                                               only the contract ones (once the old version is gone)
//!   rollback [N | --to V]                       revert the last N (default 1), or all above V
//!   resolve V applied|not-applied               settle a step a crash left in doubt
//! ```
//!
//! `--source` defaults to `./migrations`; the database URL comes from
//! `--database-url`, else `$DATABASE_URL`: `postgres://user:pw@host/db`
//! (TLS from `?sslmode=`), `sqlite:PATH`, or a journal file path (the
//! history only: SQL cannot run there). `add` needs no database.
//!
//! Exit codes: 0 success, 1 failed verification or any error, 2 bad usage,
//! with one line saying what is wrong and nothing changed (unknown
//! command, `abc` or `-1` as a count, `--to` a version no migration has,
//! rolling back more migrations than are applied, an empty or unknown
//! database URL, a migrations directory that breaks the rules, ...). A
//! closed stdout or stderr (`| head`) stops the output, never the work:
//! the command finishes and exits as usual.
//!
//! `--demo` (or `--state PATH`) runs the built-in demo migrations instead:
//! they maintain a small JSON "database" (`demo-db.json` next to the state
//! file) through an expand / contract change: create `items`, add `sku`,
//! backfill it from `legacy_code`, then drop `legacy_code` (irreversible).
//! The state file comes from `--state PATH`, else
//! `$ENGINE_OPS_MIGRATE_STATE`, else a per-user state directory (printed on
//! every run; never a source folder). With a database URL, `--demo` runs
//! the demo's SQL for real. Set `ENGINE_OPS_MIGRATE_DEMO_FAIL=V` to make
//! demo migration V's `up` fail and watch the automatic rollback, or
//! `ENGINE_OPS_MIGRATE_DEMO_PAUSE=V` to make it wait a minute first (run
//! `status` meanwhile: the step is running, and the lock's holder is named).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use engine_ops_migrate::{
    AnyContext, BoxError, ConnectOptions, Direction, FileStore, Migration, MigrationState,
    Migrator, Phase, Progress, Rollback, Settlement, SqlMigration, StateStore, StatusReport,
    Validation,
};
use serde_json::{Value, json};

/// Prints a line on stdout. A closed stdout (`| head`) ends the output,
/// not the command: the work goes on, and the exit code is the usual one.
macro_rules! say {
    ($($arg:tt)*) => { emit(Stream::Out, format_args!($($arg)*)) };
}

/// Prints a line on stderr, like [`say!`].
macro_rules! note {
    ($($arg:tt)*) => { emit(Stream::Err, format_args!($($arg)*)) };
}

#[derive(Debug, Clone, Copy)]
enum Stream {
    Out,
    Err,
}

/// The first write error other than a closed pipe (a full disk, say),
/// reported when the command ends.
static OUTPUT_ERROR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn emit(stream: Stream, args: std::fmt::Arguments<'_>) {
    let written = match stream {
        Stream::Out => writeln!(std::io::stdout().lock(), "{args}"),
        Stream::Err => writeln!(std::io::stderr().lock(), "{args}"),
    };
    if let Err(e) = written
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        let _ = OUTPUT_ERROR.set(format!("cannot write the output: {e}"));
    }
}

/// Runs the SQL migrations of a directory against PostgreSQL, SQLite or a
/// journal file (or, with --demo, engine-ops' demo migrations).
#[derive(Debug, Parser)]
#[command(name = "migrate", version)]
struct Cli {
    /// The migrations directory.
    #[arg(long, global = true, value_name = "DIR", default_value = "migrations")]
    source: PathBuf,

    /// The database: `postgres://user:pw@host/db` (TLS from `?sslmode=`),
    /// `sqlite:PATH`, or a journal file path. Default: $DATABASE_URL.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    /// Run the built-in demo migrations instead of --source.
    #[arg(long, global = true)]
    demo: bool,

    /// The demo's state file (JSON-lines journal); implies --demo. Default:
    /// $ENGINE_OPS_MIGRATE_STATE, else a per-user state directory.
    #[arg(long, global = true, conflicts_with = "database_url")]
    state: Option<PathBuf>,

    /// How long to wait for another migrator's lock, in seconds.
    #[arg(long, global = true, default_value_t = 60)]
    lock_timeout: u64,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the next migration file in --source (two files, up and down,
    /// when reversible).
    Add {
        /// Its name: letters, digits, `_` and `-`.
        name: String,
        /// Create `.up.sql` and `.down.sql` (the default when the directory
        /// already holds pairs).
        #[arg(long, conflicts_with = "irreversible")]
        reversible: bool,
        /// Create one `.sql` file (the default otherwise).
        #[arg(long)]
        irreversible: bool,
    },
    /// Print what `migrate` would apply and every problem; change nothing.
    Plan {
        /// Stop after this version.
        #[arg(long, value_name = "V")]
        to: Option<u64>,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply pending migrations.
    Migrate {
        /// Stop after this version.
        #[arg(long, value_name = "V")]
        to: Option<u64>,
        /// Print what would run; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only the expand migrations (up to the first contract one), or
        /// only the contract ones (needs --old-version-gone).
        #[arg(long, conflicts_with_all = ["to", "dry_run"])]
        phase: Option<PhaseArg>,
        /// What shows that the previous application version no longer
        /// serves (recorded with the run), for --phase contract.
        #[arg(long, value_name = "EVIDENCE", requires = "phase")]
        old_version_gone: Option<String>,
    },
    /// Lint the SQL migrations of --source for zero-downtime problems
    /// (locks, and what the old version cannot survive, by phase); exit 1
    /// when there is an error. Needs no database.
    Lint {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show every migration and its state.
    Status {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revert the last N migrations (default 1), or all above --to V.
    Rollback {
        /// How many migrations to revert (1 or more).
        #[arg(value_name = "N", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "to")]
        count: Option<u64>,
        /// Revert every migration above this version.
        #[arg(long, value_name = "V")]
        to: Option<u64>,
    },
    /// Check every checksum and report every problem; exit 1 if any.
    Verify,
    /// Settle a migration left in doubt by a crash, after inspecting it.
    Resolve {
        /// The version in doubt.
        version: u64,
        /// Your verdict.
        verdict: Verdict,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PhaseArg {
    /// Pending expand migrations (and those without a phase).
    Expand,
    /// Pending contract migrations.
    Contract,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Verdict {
    /// Its effects are present.
    Applied,
    /// Its effects are absent.
    NotApplied,
}

/// The demo "database": a JSON document rewritten atomically.
#[derive(Debug)]
struct DemoDb {
    path: PathBuf,
}

impl DemoDb {
    fn load(&self) -> Result<Value, BoxError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({ "tables": {} })),
            Err(e) => Err(e.into()),
        }
    }

    /// Temp file + fsync + rename, so a crash never leaves half a document.
    fn save(&self, db: &Value) -> Result<(), BoxError> {
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(serde_json::to_string_pretty(db)?.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    fn items(db: &mut Value) -> Result<&mut Value, BoxError> {
        db.pointer_mut("/tables/items")
            .ok_or_else(|| "table items does not exist".into())
    }

    fn has_column(db: &Value, column: &str) -> bool {
        db.pointer("/tables/items/columns")
            .and_then(Value::as_array)
            .is_some_and(|cols| cols.iter().any(|c| c == column))
    }
}

/// What a demo migration does to the document.
#[derive(Debug, Clone, Copy)]
enum Change {
    CreateItems,
    AddSku,
    BackfillSku,
    DropLegacyCode,
}

#[derive(Debug)]
struct DemoMigration {
    version: u64,
    name: &'static str,
    phase: Phase,
    /// The SQL this step stands for: what the checksum covers.
    sql: &'static str,
    change: Change,
}

const DEMO: &[(u64, &str, Phase, &str, Change)] = &[
    (
        1,
        "create_items",
        Phase::Expand,
        "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, legacy_code text);\n\
         INSERT INTO items VALUES (1, 'bolt', 'B-1'), (2, 'nut', 'N-7');\n",
        Change::CreateItems,
    ),
    (
        2,
        "add_items_sku",
        Phase::Expand,
        "ALTER TABLE items ADD COLUMN sku text;\n",
        Change::AddSku,
    ),
    (
        3,
        "backfill_items_sku",
        Phase::Expand,
        "UPDATE items SET sku = legacy_code WHERE sku IS NULL;\n",
        Change::BackfillSku,
    ),
    (
        4,
        "drop_items_legacy_code",
        Phase::Contract,
        "ALTER TABLE items DROP COLUMN legacy_code;\n",
        Change::DropLegacyCode,
    ),
];

fn demo_migrations() -> Vec<Box<dyn Migration<DemoDb>>> {
    DEMO.iter()
        .map(|&(version, name, phase, sql, change)| {
            Box::new(DemoMigration {
                version,
                name,
                phase,
                sql,
                change,
            }) as Box<dyn Migration<DemoDb>>
        })
        .collect()
}

fn injected_failure(version: u64) -> Result<(), BoxError> {
    match std::env::var("ENGINE_OPS_MIGRATE_DEMO_FAIL") {
        Ok(v) if v.trim() == version.to_string() => {
            Err(format!("failure injected by ENGINE_OPS_MIGRATE_DEMO_FAIL={version}").into())
        }
        _ => Ok(()),
    }
}

/// Waits a minute when `ENGINE_OPS_MIGRATE_DEMO_PAUSE` names `version`.
async fn injected_pause(version: u64) {
    if std::env::var("ENGINE_OPS_MIGRATE_DEMO_PAUSE").is_ok_and(|v| v.trim() == version.to_string())
    {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

#[engine_ops_migrate::async_trait]
impl Migration<DemoDb> for DemoMigration {
    fn version(&self) -> u64 {
        self.version
    }

    fn name(&self) -> &str {
        self.name
    }

    fn source(&self) -> &[u8] {
        self.sql.as_bytes()
    }

    fn phase(&self) -> Option<Phase> {
        Some(self.phase)
    }

    fn reversible(&self) -> bool {
        !matches!(self.change, Change::DropLegacyCode)
    }

    async fn up(&self, ctx: &mut DemoDb) -> Result<(), BoxError> {
        injected_pause(self.version).await;
        let mut db = ctx.load()?;
        match self.change {
            Change::CreateItems => {
                db["tables"]["items"] = json!({
                    "columns": ["id", "name", "legacy_code"],
                    "rows": [
                        { "id": 1, "name": "bolt", "legacy_code": "B-1" },
                        { "id": 2, "name": "nut", "legacy_code": "N-7" },
                    ],
                });
            }
            Change::AddSku => {
                let items = DemoDb::items(&mut db)?;
                if let Some(cols) = items["columns"].as_array_mut() {
                    cols.push(json!("sku"));
                }
                for row in items["rows"].as_array_mut().into_iter().flatten() {
                    row["sku"] = Value::Null;
                }
            }
            Change::BackfillSku => {
                let items = DemoDb::items(&mut db)?;
                for row in items["rows"].as_array_mut().into_iter().flatten() {
                    if row["sku"].is_null() {
                        row["sku"] = row["legacy_code"].clone();
                    }
                }
            }
            Change::DropLegacyCode => {
                let items = DemoDb::items(&mut db)?;
                if let Some(cols) = items["columns"].as_array_mut() {
                    cols.retain(|c| c != "legacy_code");
                }
                for row in items["rows"].as_array_mut().into_iter().flatten() {
                    if let Some(obj) = row.as_object_mut() {
                        obj.remove("legacy_code");
                    }
                }
            }
        }
        ctx.save(&db)?;
        injected_failure(self.version)
    }

    async fn down(&self, ctx: &mut DemoDb) -> Result<(), BoxError> {
        let mut db = ctx.load()?;
        match self.change {
            Change::CreateItems => {
                if let Some(tables) = db["tables"].as_object_mut() {
                    tables.remove("items");
                }
            }
            Change::AddSku => {
                let items = DemoDb::items(&mut db)?;
                if let Some(cols) = items["columns"].as_array_mut() {
                    cols.retain(|c| c != "sku");
                }
                for row in items["rows"].as_array_mut().into_iter().flatten() {
                    if let Some(obj) = row.as_object_mut() {
                        obj.remove("sku");
                    }
                }
            }
            Change::BackfillSku => {
                let items = DemoDb::items(&mut db)?;
                for row in items["rows"].as_array_mut().into_iter().flatten() {
                    row["sku"] = Value::Null;
                }
            }
            Change::DropLegacyCode => return Err("dropping legacy_code cannot be undone".into()),
        }
        ctx.save(&db)
    }

    async fn validate_up(&self, ctx: &mut DemoDb) -> Result<Validation, BoxError> {
        let db = ctx.load()?;
        let rows = db
            .pointer("/tables/items/rows")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(match self.change {
            Change::CreateItems => Validation::check(
                db.pointer("/tables/items").is_some(),
                "table items is missing",
            ),
            Change::AddSku => Validation::check(
                DemoDb::has_column(&db, "sku"),
                "column items.sku is missing",
            ),
            Change::BackfillSku => Validation::check(
                DemoDb::has_column(&db, "sku") && rows.iter().all(|r| !r["sku"].is_null()),
                "some items have no sku",
            ),
            Change::DropLegacyCode => Validation::check(
                !DemoDb::has_column(&db, "legacy_code"),
                "column items.legacy_code still exists",
            ),
        })
    }

    async fn validate_down(&self, ctx: &mut DemoDb) -> Result<Validation, BoxError> {
        let db = ctx.load()?;
        Ok(match self.change {
            Change::CreateItems => Validation::check(
                db.pointer("/tables/items").is_none(),
                "table items still exists",
            ),
            Change::AddSku => Validation::check(
                !DemoDb::has_column(&db, "sku"),
                "column items.sku still exists",
            ),
            Change::BackfillSku | Change::DropLegacyCode => Validation::NotChecked,
        })
    }
}

/// The demo's SQL run for real on a database: the same versions, names and
/// sources (so the same checksums) as the document migrations.
#[derive(Debug)]
struct DemoSql {
    sql: SqlMigration,
    fail: bool,
}

fn sql_migrations<C: Send + ?Sized + 'static>() -> Vec<Box<dyn Migration<C>>>
where
    SqlMigration: Migration<C>,
{
    DEMO.iter()
        .map(|&(version, name, phase, sql, change)| {
            let m = SqlMigration::new(version, name, sql).phase(phase);
            let m = match change {
                Change::CreateItems => m.down("DROP TABLE items"),
                Change::AddSku => m.down("ALTER TABLE items DROP COLUMN sku"),
                Change::BackfillSku => m
                    .down("UPDATE items SET sku = NULL")
                    .validate_up("SELECT NOT EXISTS (SELECT 1 FROM items WHERE sku IS NULL)"),
                Change::DropLegacyCode => m,
            };
            Box::new(DemoSql {
                sql: m,
                fail: injected_failure(version).is_err(),
            }) as Box<dyn Migration<C>>
        })
        .collect()
}

#[engine_ops_migrate::async_trait]
impl<C: Send + ?Sized> Migration<C> for DemoSql
where
    SqlMigration: Migration<C>,
{
    fn version(&self) -> u64 {
        self.sql.version()
    }
    fn name(&self) -> &str {
        Migration::<C>::name(&self.sql)
    }
    fn source(&self) -> &[u8] {
        Migration::<C>::source(&self.sql)
    }
    fn phase(&self) -> Option<Phase> {
        Migration::<C>::phase(&self.sql)
    }
    fn reversible(&self) -> bool {
        Migration::<C>::reversible(&self.sql)
    }
    fn transactional(&self) -> bool {
        Migration::<C>::transactional(&self.sql)
    }
    async fn up(&self, ctx: &mut C) -> Result<(), BoxError> {
        injected_pause(self.sql.version()).await;
        Migration::<C>::up(&self.sql, ctx).await?;
        if self.fail {
            injected_failure(self.sql.version())?;
        }
        Ok(())
    }
    async fn down(&self, ctx: &mut C) -> Result<(), BoxError> {
        Migration::<C>::down(&self.sql, ctx).await
    }
    async fn validate_up(&self, ctx: &mut C) -> Result<Validation, BoxError> {
        Migration::<C>::validate_up(&self.sql, ctx).await
    }
    async fn validate_down(&self, ctx: &mut C) -> Result<Validation, BoxError> {
        Migration::<C>::validate_down(&self.sql, ctx).await
    }
}

fn default_state_path() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("engine-ops")
        .join("migrate-demo")
        .join("state.jsonl")
}

fn phase_label(phase: Option<Phase>) -> &'static str {
    match phase {
        Some(Phase::Expand) => "expand",
        Some(Phase::Contract) => "contract",
        _ => "-",
    }
}

/// One progress line per migration, with its duration.
fn print_progress(event: &Progress) {
    match event {
        Progress::Finished {
            version,
            name,
            direction,
            duration,
            ..
        } => {
            let verb = if *direction == Direction::Up {
                "applied "
            } else {
                "reverted"
            };
            say!("  {verb} {version:>4} {name:<28} {:>6.1} ms", ms(*duration));
        }
        Progress::Failed {
            version,
            name,
            direction,
            error,
            ..
        } => {
            say!("  FAILED   {version:>4} {name:<28} ({direction}): {error}");
        }
        Progress::LockTimeout {
            version,
            name,
            attempt,
            ..
        } => {
            // `attempt` reads: attempt N: lock timeout T ms, gave up after
            // W ms (55P03); blocked by pid P (mode on table, ...): query;
            // next attempt in P ms.
            let verdict = if attempt.pause_ms.is_some() {
                "retrying"
            } else {
                "giving up"
            };
            say!("  LOCKED   {version:>4} {name:<28} {attempt}; {verdict}");
        }
        Progress::Resolved(step) => {
            say!(
                "  settled  {:>4} {:<28} in doubt ({}) -> {:?} by {:?}",
                step.version,
                step.name,
                step.direction,
                step.resolution,
                step.by
            );
        }
        _ => {}
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_status(status: &StatusReport) {
    say!(
        "{:>7}  {:<28} {:<8} {:<11} applied at (unix ms)",
        "version",
        "name",
        "phase",
        "state"
    );
    for e in &status.entries {
        let state = match e.state {
            MigrationState::Applied => "applied",
            MigrationState::Divergent => "DIVERGENT",
            MigrationState::Missing => "MISSING",
            MigrationState::Pending => "pending",
            MigrationState::OutOfOrder => "OUT-OF-ORDER",
            MigrationState::InDoubt => "IN-DOUBT",
            MigrationState::Running => "RUNNING",
            _ => "?",
        };
        let at = e
            .applied_at_ms
            .map_or_else(|| "-".to_owned(), |t| t.to_string());
        say!(
            "{:>7}  {:<28} {:<8} {:<11} {at}",
            e.version,
            e.name,
            phase_label(e.phase),
            state
        );
    }
    for p in &status.problems {
        say!("problem: {p}");
    }
    if let Some(holder) = &status.lock_holder {
        for e in status
            .entries
            .iter()
            .filter(|e| e.state == MigrationState::Running)
        {
            say!(
                "note: migration {} ({}) is running: the migration lock is held by {holder}",
                e.version,
                e.name
            );
        }
    }
    say!(
        "{} applied, {} pending, {} problem(s)",
        status.count(MigrationState::Applied),
        status.count(MigrationState::Pending),
        status.problems.len()
    );
}

/// Why a command cannot start: bad usage (exit 2, one line).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Opens the store a URL names, with the CLI's settings.
async fn open(url: &str, lock_timeout: Duration) -> anyhow::Result<engine_ops_migrate::AnyStore> {
    let options = ConnectOptions::new()
        .lock_timeout(lock_timeout)
        .application_name("engine-ops migrate");
    let store = engine_ops_migrate::connect_with(url, &options).await?;
    note!("database: {}", store.describe());
    Ok(store)
}

/// Your migrations, from --source, on the database at `url`.
async fn execute_source(cli: Cli, url: &str) -> anyhow::Result<ExitCode> {
    let migrations = engine_ops_migrate::load_dir(&cli.source).map_err(|e| Usage(e.to_string()))?;
    check_target(&cli.command, migrations.iter().map(SqlMigration::version))?;
    let store = open(url, Duration::from_secs(cli.lock_timeout)).await?;
    let migrator = Migrator::builder(store)
        .migrations(migrations)
        .observer(print_progress)
        .build()?;
    drive(migrator, cli.command, |_| Ok(())).await
}

/// The demo migrations: the JSON document on the state file, or their SQL
/// on a database.
async fn execute_demo(cli: Cli, url: Option<String>, state: PathBuf) -> anyhow::Result<ExitCode> {
    check_target(&cli.command, DEMO.iter().map(|d| d.0))?;
    let lock_timeout = Duration::from_secs(cli.lock_timeout);
    if let Some(url) = url {
        let store = open(&url, lock_timeout).await?;
        let migrator = Migrator::builder(store)
            .migrations(sql_migrations::<AnyContext>())
            .observer(print_progress)
            .build()?;
        return drive(migrator, cli.command, |_| Ok(())).await;
    }
    let dir = match state.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let writes = matches!(
        cli.command,
        Command::Migrate { dry_run: false, .. }
            | Command::Rollback { .. }
            | Command::Resolve { .. }
    );
    if writes {
        std::fs::create_dir_all(&dir)?;
    }
    let store = FileStore::builder(&state)
        .lock_timeout(lock_timeout)
        .context(DemoDb {
            path: dir.join("demo-db.json"),
        })
        .build()?;
    let migrator = Migrator::builder(store)
        .migrations(demo_migrations())
        .observer(print_progress)
        .build()?;
    drive(migrator, cli.command, |store| {
        let torn = store.summary()?.uncommitted_tail_bytes;
        if torn > 0 {
            say!(
                "note: the state file ends with {torn} byte(s) of a record cut short by a crash; they were never committed and are ignored"
            );
        }
        Ok(())
    })
    .await
}

/// `--to V` must name a declared version (0 also for a rollback): checked
/// before anything is opened.
fn check_target(command: &Command, declared: impl Iterator<Item = u64>) -> Result<(), Usage> {
    let (target, zero_ok) = match command {
        Command::Migrate { to: Some(v), .. } | Command::Plan { to: Some(v), .. } => (*v, false),
        Command::Rollback { to: Some(v), .. } => (*v, true),
        _ => return Ok(()),
    };
    let declared: Vec<u64> = declared.collect();
    if declared.contains(&target) || (zero_ok && target == 0) {
        return Ok(());
    }
    Err(Usage(
        engine_ops_migrate::Error::UnknownVersion {
            version: target,
            lowest: declared.iter().min().copied(),
            highest: declared.iter().max().copied(),
        }
        .to_string(),
    ))
}

/// Runs one command on any store: the same output and exit codes everywhere.
async fn drive<S: StateStore>(
    mut migrator: Migrator<S>,
    command: Command,
    status_note: impl Fn(&S) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Add { .. } | Command::Lint { .. } => {
            Err(Usage("add and lint run without a database".into()).into())
        }
        Command::Plan { to, json: true } => {
            let plan = migrator.plan(to).await?;
            say!("{}", serde_json::to_string_pretty(&plan)?);
            Ok(if plan.problems().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Plan { to, json: false }
        | Command::Migrate {
            to, dry_run: true, ..
        } => {
            let plan = migrator.plan(to).await?;
            for m in &plan.pending {
                say!(
                    "  would apply {:>4} {:<28} {}",
                    m.version,
                    m.name,
                    phase_label(m.phase)
                );
            }
            let mut problems = plan.problems();
            if !plan.in_doubt.is_empty() {
                // Unfinished steps: running (another migrator holds the
                // lock; this run would wait for it) or in doubt.
                let verify = migrator.verify().await?;
                for d in &verify.running {
                    say!(
                        "running: migration {} ({}): its {} step is running (the migration lock is held by {})",
                        d.version,
                        d.name,
                        d.direction,
                        verify.lock_holder.as_deref().unwrap_or("another migrator")
                    );
                }
                problems.retain(|p| {
                    !matches!(p, engine_ops_migrate::Problem::InDoubt(d)
                        if verify.running.iter().any(|r| r.version == d.version))
                });
            }
            for p in &problems {
                say!("problem: {p}");
            }
            say!(
                "dry run: {} to apply, {} above the target, {} problem(s); nothing was changed",
                plan.pending.len(),
                plan.above_target.len(),
                problems.len()
            );
            Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Migrate {
            to,
            dry_run: false,
            phase,
            old_version_gone,
        } => {
            let report = match (phase, to, old_version_gone) {
                (Some(PhaseArg::Expand), ..) => migrator.run_expand().await?,
                (Some(PhaseArg::Contract), _, Some(evidence)) => {
                    let proof = engine_ops_migrate::OldVersionGone::attest(
                        "the previous application version",
                        evidence,
                    );
                    migrator.run_contract(proof).await?
                }
                (Some(PhaseArg::Contract), _, None) => {
                    return Err(Usage("--phase contract needs --old-version-gone".into()).into());
                }
                (None, Some(v), _) => migrator.run_to(v).await?,
                (None, None, _) => migrator.run().await?,
            };
            say!(
                "migrate: {} applied, {} settled, {} still pending, took {} ms",
                report.applied.len(),
                report.resolved.len(),
                report.still_pending,
                report.duration_ms
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => {
            let status = migrator.status().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status);
                status_note(migrator.store())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rollback { count, to } => {
            let request = match (count, to) {
                (_, Some(v)) => Rollback::To(v),
                (n, None) => Rollback::Last(usize::try_from(n.unwrap_or(1))?),
            };
            let report = migrator.rollback(request).await?;
            say!(
                "rollback: {} reverted, took {} ms",
                report.reverted.len(),
                report.duration_ms
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify => {
            let report = migrator.verify().await?;
            for p in &report.problems {
                say!("problem: {p}");
            }
            for d in &report.running {
                say!(
                    "running: migration {} ({}): its {} step is running (the migration lock is held by {})",
                    d.version,
                    d.name,
                    d.direction,
                    report.lock_holder.as_deref().unwrap_or("another migrator")
                );
            }
            say!(
                "verify: {} declared, {} recorded, {} problem(s)",
                report.declared,
                report.recorded,
                report.problems.len()
            );
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Resolve { version, verdict } => {
            let resolution = match verdict {
                Verdict::Applied => Settlement::Applied,
                Verdict::NotApplied => Settlement::NotApplied,
            };
            let doubt = migrator.resolve(version, resolution).await?;
            say!(
                "resolve: migration {} ({}) recorded as {:?}",
                doubt.version,
                doubt.name,
                resolution
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe_state(state: &Path, from_default: bool) {
    if from_default {
        note!(
            "state file: {} (default; set --state or ENGINE_OPS_MIGRATE_STATE)",
            state.display()
        );
    } else {
        note!("state file: {}", state.display());
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // clap exits with 2 on bad usage (unknown command, `abc` or `-1` as N).
    let cli = Cli::parse();
    if let Some(usage) = bad_usage(&cli) {
        note!("error: {usage}");
        return ExitCode::from(2);
    }
    // An empty variable counts as unset.
    let url = cli
        .database_url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()));
    if let Command::Add {
        name,
        reversible,
        irreversible,
    } = &cli.command
    {
        let choice = match (reversible, irreversible) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        return finish(add(&cli.source, name, choice));
    }
    if let Command::Lint { json } = &cli.command {
        return finish(lint(&cli.source, *json));
    }
    if let Command::Migrate {
        phase: Some(PhaseArg::Contract),
        old_version_gone: None,
        ..
    } = &cli.command
    {
        note!(
            "error: --phase contract needs --old-version-gone EVIDENCE: what shows that the previous version no longer serves (for example the rollout's final state)"
        );
        return ExitCode::from(2);
    }
    if cli.demo || cli.state.is_some() {
        let url = if cli.state.is_some() { None } else { url };
        let explicit = cli
            .state
            .clone()
            .or_else(|| std::env::var_os("ENGINE_OPS_MIGRATE_STATE").map(PathBuf::from))
            .filter(|p| !p.as_os_str().is_empty());
        let from_default = explicit.is_none();
        let state = explicit.unwrap_or_else(default_state_path);
        if url.is_none() {
            describe_state(&state, from_default);
        }
        return finish(execute_demo(cli, url, state).await);
    }
    let Some(url) = url else {
        note!(
            "error: no database URL; give --database-url URL or set DATABASE_URL (postgres://user:password@host/db, sqlite:PATH or a journal file path), or try the demo with --demo"
        );
        return ExitCode::from(2);
    };
    finish(execute_source(cli, &url).await)
}

/// Bad usage clap cannot see: empty values (checked before anything is
/// created or connected to).
fn bad_usage(cli: &Cli) -> Option<String> {
    if cli.database_url.as_deref() == Some("") {
        return Some(
            "--database-url is empty; give postgres://user:password@host/db, sqlite:PATH or a journal file path, or leave it out to use DATABASE_URL".into(),
        );
    }
    if cli.state.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        return Some("--state is empty; give the state file's path, or leave it out".into());
    }
    if cli.source.as_os_str().is_empty() {
        return Some(
            "--source is empty; give the migrations directory, or leave it out for ./migrations"
                .into(),
        );
    }
    None
}

/// `lint`: the linter's report on --source, human or JSON; exit 1 on an
/// error finding.
#[cfg(feature = "lint")]
fn lint(source: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let migrations = engine_ops_migrate::load_dir(source).map_err(|e| Usage(e.to_string()))?;
    let started = std::time::Instant::now();
    let report = engine_ops_migrate::lint::lint(&migrations);
    let took = started.elapsed();
    if json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say!("{report} in {:.1} ms", ms(took));
    }
    Ok(if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `lint` in a build without the linter: say how to get it (exit 2).
#[cfg(not(feature = "lint"))]
fn lint(_source: &Path, _json: bool) -> anyhow::Result<ExitCode> {
    Err(Usage(
        "this build has no SQL linter: run it with `--features lint` \
         (it builds libpg_query, which needs libclang: apt-get install libclang-dev)"
            .into(),
    )
    .into())
}

/// `add NAME`: the next version, numbered like the files already there
/// (zero-padded to their width, or a UTC timestamp when they use
/// timestamps); reversible (a pair) when asked, else when the directory
/// already holds pairs.
fn add(source: &Path, name: &str, reversible: Option<bool>) -> anyhow::Result<ExitCode> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(Usage(format!(
            "the name {name:?} must be letters, digits, `_` and `-` (it becomes part of the file name)"
        ))
        .into());
    }
    let existing = if source.is_dir() {
        engine_ops_migrate::load_dir(source).map_err(|e| Usage(e.to_string()))?
    } else {
        Vec::new()
    };
    let width = std::fs::read_dir(source)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let digits = name.split_once('_')?.0;
            (name.ends_with(".sql") && digits.bytes().all(|b| b.is_ascii_digit()))
                .then_some(digits.len())
        })
        .max()
        .unwrap_or(4);
    let highest = existing.iter().map(SqlMigration::version).max();
    let version = match highest {
        Some(v) if v >= 10_000_000_000_000 => utc_timestamp().max(v + 1),
        Some(v) => v + 1,
        None => 1,
    };
    let reversible = reversible.unwrap_or_else(|| existing.iter().any(SqlMigration::is_reversible));
    let base = format!("{version:0width$}_{name}");
    let files: Vec<(String, String)> = if reversible {
        vec![
            (
                format!("{base}.up.sql"),
                format!(
                    "-- {base}: applied by `migrate migrate`.
"
                ),
            ),
            (
                format!("{base}.down.sql"),
                format!(
                    "-- {base}: undoes the up file, run by `migrate rollback`.
"
                ),
            ),
        ]
    } else {
        vec![(
            format!("{base}.sql"),
            format!(
                "-- {base}: irreversible (no down file).
"
            ),
        )]
    };
    std::fs::create_dir_all(source)?;
    for (file, text) in &files {
        let path = source.join(file);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        out.write_all(text.as_bytes())?;
        say!("created {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Now, as the number `YYYYMMDDHHMMSS` (UTC).
fn utc_timestamp() -> u64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    ((year * 100 + month) * 100 + day) * 1_000_000
        + (rem / 3600) * 10_000
        + (rem % 3600 / 60) * 100
        + rem % 60
}

fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    let code = match result {
        Ok(code) => code,
        Err(err) => report(&err),
    };
    match OUTPUT_ERROR.get() {
        Some(e) if code == ExitCode::SUCCESS => {
            note!("error: {e}");
            ExitCode::FAILURE
        }
        _ => code,
    }
}

/// Prints `err` for a CLI user and picks the exit code: 2 for bad usage
/// (one line), 1 otherwise.
fn report(err: &anyhow::Error) -> ExitCode {
    use engine_ops_migrate::Error;
    if let Some(usage) = err.downcast_ref::<Usage>() {
        note!("error: {usage}");
        return ExitCode::from(2);
    }
    match err.downcast_ref::<Error>() {
        Some(
            e
            @ (Error::UnknownVersion { .. } | Error::RollbackTooFar { .. } | Error::BadUrl { .. }),
        ) => {
            note!("error: {e}");
            return ExitCode::from(2);
        }
        // The library's advice names a library call; a CLI user runs a
        // command.
        Some(Error::InDoubt {
            version,
            name,
            direction,
            detail,
            ..
        }) => {
            note!(
                "error: migration {version} ({name}) is in doubt: its {direction} step started and never finished ({detail}); inspect the data, then run `migrate resolve {version} applied` if its effects are there or `migrate resolve {version} not-applied` if they are not (with the same --source and --database-url, or --state)"
            );
            return ExitCode::FAILURE;
        }
        Some(Error::UndoFailed {
            version,
            name,
            direction,
            cause,
            source,
            ..
        }) => {
            note!(
                "error: migration {version} ({name}) failed during {direction} ({cause}) and could not be undone ({source}), so it is left in doubt; inspect the data, then run `migrate resolve {version} applied` or `migrate resolve {version} not-applied` (with the same --source and --database-url, or --state)"
            );
            return ExitCode::FAILURE;
        }
        _ => {}
    }
    note!("error: {err}");
    for cause in err.chain().skip(1) {
        note!("  caused by: {cause}");
    }
    ExitCode::FAILURE
}
