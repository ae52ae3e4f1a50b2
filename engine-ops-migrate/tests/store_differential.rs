//! Differential test of the state stores: random sequences of store calls
//! (lock, begin, commit, abort, resolve, load, unlock, and a restart of the
//! process) go to every store, and every store must accept and refuse the
//! same calls and end with the same history.
//!
//! Stores that undo a failed step themselves (a transaction) keep a
//! transactional step out of the history until it commits; the others
//! record its intent first. So the stores are compared in two families, each
//! against its in-memory reference:
//!
//! - no transactions: `MemoryStore::new()` and `FileStore`;
//! - transactions: `MemoryStore::transactional()`, `SqliteStore` and
//!   `PostgresStore` (on `ENGINE_OPS_TEST_DATABASE_URL`, else a throwaway
//!   server this test process starts; only without a PostgreSQL server
//!   program does the PostgreSQL test print `SKIPPED` and pass, unless `CI`
//!   is set).
//!
//! The two references must agree with each other on sequences without
//! transactional steps.
//!
//! "The same" is checked after every call: success, or the same refusal
//! (`Error::Refused` with version, state and change, or
//! `Error::ProtocolViolation`), and `load()` returning equal histories.
//! Cases per run: 500 + 200 for the in-process stores, 160 for SQLite, 48
//! for PostgreSQL (each reconnect costs a password exchange); each test runs
//! more cases (up to four times as many) until every transition of the
//! record model and every kind of refusal was seen a minimum number of
//! times, so a generator that stops reaching them fails the test.

#[cfg(feature = "postgres")]
mod pg_server;

use std::path::{Path, PathBuf};

use engine_ops_migrate::{
    Direction, Error, FileStore, History, InDoubt, MemoryStore, MigrationInfo, Phase, ResolvedBy,
    Settlement, StateStore, StepIntent,
};
use proptest::prelude::*;

/// One call to a store.
#[derive(Debug, Clone)]
enum Op {
    Lock,
    Unlock,
    Load,
    /// The process ends (the store is dropped) and a new one opens the
    /// same state.
    Restart,
    Begin(Step),
    /// Commit the step begun last (the usual case).
    CommitLast {
        at: u64,
        took: u64,
    },
    /// Abort the step begun last.
    AbortLast,
    /// Commit or abort any step (protocol misuse).
    Commit(Step, u64, u64),
    Abort(Step),
    Resolve {
        version: u64,
        resolution: Settlement,
        by: ResolvedBy,
        at: u64,
    },
    /// Settle the version of the step begun last.
    ResolveLast {
        resolution: Settlement,
        by: ResolvedBy,
        at: u64,
    },
    /// Settle the first step in doubt (as loaded before this call).
    ResolveFirstInDoubt {
        resolution: Settlement,
        by: ResolvedBy,
        at: u64,
    },
}

/// A step: which migration (with which recorded facts), which way.
#[derive(Debug, Clone)]
struct Step {
    version: u64,
    direction: Direction,
    transactional: bool,
    /// Picks one of two names, sources and phases for the version, so
    /// records made by one build and read by another differ.
    variant: bool,
    at: u64,
}

impl Step {
    fn intent(&self) -> StepIntent {
        let (name, source, phase) = if self.variant {
            (
                format!("it's \"m{}\" renamed, ünïcode", self.version),
                format!("SELECT {} -- edited", self.version),
                Some(Phase::Contract),
            )
        } else {
            (
                format!("m{}", self.version),
                format!("SELECT {}", self.version),
                None,
            )
        };
        let info = MigrationInfo::new(self.version, name, source.as_bytes())
            .with_phase(phase)
            .with_transactional(self.transactional);
        StepIntent::new(&info, self.direction, self.at)
    }
}

/// Plausible Unix times in milliseconds (up to the year 2096).
fn time() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0_u64), 0_u64..4_000_000_000_000]
}

fn step(transactions: bool) -> impl Strategy<Value = Step> {
    (
        1_u64..=3,
        prop_oneof![Just(Direction::Up), Just(Direction::Down)],
        if transactions {
            any::<bool>().boxed()
        } else {
            Just(false).boxed()
        },
        any::<bool>(),
        time(),
    )
        .prop_map(|(version, direction, transactional, variant, at)| Step {
            version,
            direction,
            transactional,
            variant,
            at,
        })
}

fn resolution() -> impl Strategy<Value = (Settlement, ResolvedBy, u64)> {
    (
        prop_oneof![Just(Settlement::Applied), Just(Settlement::NotApplied)],
        prop_oneof![Just(ResolvedBy::Validation), Just(ResolvedBy::Operator)],
        time(),
    )
}

/// A few calls: mostly what a migrator does (a step begun, then
/// committed, aborted, cut short by a restart or an unlock and settled, or
/// left open; a `down` step first applies its version), mixed with every
/// call made at random (misuse).
fn calls(transactions: bool) -> impl Strategy<Value = Vec<Op>> {
    let step_chunk = (
        step(transactions),
        any::<bool>(),
        0_u8..6,
        time(),
        resolution(),
    )
        .prop_map(
            |(step, applied_in_a_transaction, end, at, (resolution, by, resolved_at))| {
                let mut ops = Vec::new();
                if step.direction == Direction::Down {
                    ops.push(Op::Begin(Step {
                        direction: Direction::Up,
                        transactional: applied_in_a_transaction && step.transactional,
                        ..step.clone()
                    }));
                    ops.push(Op::CommitLast { at, took: 1 });
                }
                ops.push(Op::Begin(step));
                let settle = Op::ResolveLast {
                    resolution,
                    by,
                    at: resolved_at,
                };
                ops.extend(match end {
                    0 => vec![Op::CommitLast { at, took: 2 }],
                    1 => vec![Op::AbortLast],
                    2 => vec![Op::Restart, Op::Lock, settle],
                    3 => vec![Op::Unlock, Op::Lock, settle],
                    4 => vec![Op::Restart, Op::Lock],
                    _ => vec![],
                });
                ops
            },
        );
    prop_oneof![
        12 => step_chunk,
        2 => Just(vec![Op::Lock]),
        1 => Just(vec![Op::Unlock]),
        1 => Just(vec![Op::Load]),
        1 => Just(vec![Op::Restart]),
        1 => resolution().prop_map(|(resolution, by, at)| {
            vec![Op::ResolveFirstInDoubt { resolution, by, at }]
        }),
        1 => step(transactions).prop_map(|s| vec![Op::Begin(s)]),
        1 => (time(), 0_u64..1_000).prop_map(|(at, took)| vec![Op::CommitLast { at, took }]),
        1 => Just(vec![Op::AbortLast]),
        1 => (step(transactions), time(), 0_u64..1_000)
            .prop_map(|(s, at, took)| vec![Op::Commit(s, at, took)]),
        1 => step(transactions).prop_map(|s| vec![Op::Abort(s)]),
        1 => (1_u64..=3, resolution()).prop_map(|(version, (resolution, by, at))| {
            vec![Op::Resolve { version, resolution, by, at }]
        }),
    ]
}

/// Call sequences; most start by taking the lock, as callers do.
fn ops(transactions: bool) -> impl Strategy<Value = Vec<Op>> {
    (
        proptest::bool::weighted(0.9),
        proptest::collection::vec(calls(transactions), 1..30),
    )
        .prop_map(|(lock_first, chunks)| {
            let mut ops: Vec<Op> = chunks.into_iter().flatten().collect();
            if lock_first {
                ops.insert(0, Op::Lock);
            }
            ops
        })
}

/// What a caller observes of one call: success, or the refusal (with the
/// refused version, state and change when the store names them).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok,
    Loaded(History),
    Refused(String),
}

fn outcome(result: Result<Option<History>, Error>) -> Outcome {
    match result {
        Ok(Some(history)) => Outcome::Loaded(history),
        Ok(None) => Outcome::Ok,
        Err(e) => Outcome::Refused(refusal(&e)),
    }
}

/// The comparable part of a refusal: what was refused, for which version,
/// and why. Anything else is a store failing, not refusing.
fn refusal(e: &Error) -> String {
    match e {
        Error::Refused {
            version,
            state,
            change,
            ..
        } => format!("refused {change} for {version}, which is {state}"),
        Error::ProtocolViolation {
            version,
            change,
            problem,
            ..
        } => format!("out of protocol: {change} for {version}: {problem}"),
        other => panic!("a store failed instead of refusing: {other}"),
    }
}

/// A store under test: how to make it, and how to restart it.
trait Subject: Send {
    type S: StateStore;
    fn store(&mut self) -> &mut Self::S;
    /// Drops the store (as a process exit does) and opens the same state again.
    fn restart(&mut self) -> impl Future<Output = ()> + Send;
    fn name(&self) -> String;
}

/// A memory store cannot outlive its process; its restart is the end of the
/// session (`unlock`), which is what a restart does to the others.
struct Memory(MemoryStore);

impl Subject for Memory {
    type S = MemoryStore;
    fn store(&mut self) -> &mut MemoryStore {
        &mut self.0
    }
    async fn restart(&mut self) {
        let _ = self.0.unlock().await;
    }
    fn name(&self) -> String {
        "memory".into()
    }
}

struct File {
    path: PathBuf,
    store: Option<FileStore>,
}

impl File {
    fn new(dir: &Path, case: u64) -> Self {
        let path = dir.join(format!("case{case}.jsonl"));
        let store = FileStore::builder(&path).build().expect("file store");
        Self {
            path,
            store: Some(store),
        }
    }
}

impl Subject for File {
    type S = FileStore;
    fn store(&mut self) -> &mut FileStore {
        self.store.as_mut().expect("open")
    }
    async fn restart(&mut self) {
        self.store = None;
        self.store = Some(FileStore::builder(&self.path).build().expect("file store"));
    }
    fn name(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// Runs one call on `store`; `last` is the step begun last (for the
/// `*Last` calls), `doubt` the first version in doubt before the call.
async fn call<T: Subject>(
    subject: &mut T,
    op: &Op,
    last: Option<&StepIntent>,
    doubt: Option<u64>,
) -> Outcome {
    let fallback = Step {
        version: 1,
        direction: Direction::Up,
        transactional: false,
        variant: false,
        at: 0,
    }
    .intent();
    let last = last.unwrap_or(&fallback);
    let result = match op {
        Op::Lock => subject.store().lock().await.map(|()| None),
        Op::Unlock => subject.store().unlock().await.map(|()| None),
        Op::Load => subject.store().load().await.map(Some),
        Op::Restart => {
            subject.restart().await;
            Ok(None)
        }
        Op::Begin(s) => subject.store().begin(&s.intent()).await.map(|()| None),
        Op::CommitLast { at, took } => subject
            .store()
            .commit(last, *at, *took)
            .await
            .map(|()| None),
        Op::AbortLast => subject.store().abort(last).await.map(|()| None),
        Op::Commit(s, at, took) => subject
            .store()
            .commit(&s.intent(), *at, *took)
            .await
            .map(|()| None),
        Op::Abort(s) => subject.store().abort(&s.intent()).await.map(|()| None),
        Op::Resolve {
            version: _,
            resolution,
            by,
            at,
        }
        | Op::ResolveLast { resolution, by, at }
        | Op::ResolveFirstInDoubt { resolution, by, at } => {
            let version = match op {
                Op::Resolve { version, .. } => *version,
                Op::ResolveLast { .. } => last.version,
                _ => doubt.unwrap_or(1),
            };
            // The caller names the step by its version; the rest of the
            // description is what a caller may have got wrong.
            let doubt = InDoubt::new(
                &MigrationInfo::new(version, "whatever", b"whatever"),
                Direction::Up,
                0,
            );
            subject
                .store()
                .resolve(&doubt, *resolution, *by, *at)
                .await
                .map(|()| None)
        }
    };
    outcome(result)
}

/// Runs `ops` on the reference and on every other subject; after each call
/// the outcomes and the loaded histories must be equal.
async fn differential<R: Subject, T: Subject>(
    ops: &[Op],
    reference: &mut R,
    others: &mut [T],
) -> Result<Vec<String>, TestCaseError> {
    let mut last: Option<StepIntent> = None;
    let mut doubt: Option<u64> = None;
    let mut before = History::default();
    let mut seen = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let expected = call(reference, op, last.as_ref(), doubt).await;
        let expected_history = reference.store().load().await.expect("reference loads");
        for other in others.iter_mut() {
            let got = call(other, op, last.as_ref(), doubt).await;
            prop_assert_eq!(
                &got,
                &expected,
                "call {} ({:?}) on {} differs from {}",
                i,
                op,
                other.name(),
                reference.name()
            );
            let history = other.store().load().await;
            prop_assert!(
                history.is_ok(),
                "{} cannot load after call {} ({:?}): {:?}",
                other.name(),
                i,
                op,
                history
            );
            prop_assert_eq!(
                history.expect("checked"),
                expected_history.clone(),
                "history of {} after call {} ({:?}) differs from {}",
                other.name(),
                i,
                op,
                reference.name()
            );
        }
        seen.push(label(
            op,
            &expected,
            last.as_ref(),
            doubt,
            &before,
            &expected_history,
        ));
        if let Op::Begin(s) = op {
            last = Some(s.intent());
        }
        doubt = expected_history.in_doubt.first().map(|d| d.version);
        before = expected_history;
    }
    Ok(seen)
}

/// The state of `version` in `history`, for coverage labels.
fn state_of(history: &History, version: u64) -> String {
    if history.applied.iter().any(|a| a.version == version) {
        return "applied".into();
    }
    match history.in_doubt.iter().find(|d| d.version == version) {
        Some(d) => format!("in doubt ({})", d.direction),
        None => "not applied".into(),
    }
}

/// What the reference did with a call: `<kind>: <from> -> <to>` for an
/// accepted write, `<kind> refused by the record` or `<kind> out of
/// protocol` for a refusal, `other` for the rest.
fn label(
    op: &Op,
    outcome: &Outcome,
    last: Option<&StepIntent>,
    doubt: Option<u64>,
    before: &History,
    after: &History,
) -> String {
    let (kind, version) = match op {
        Op::Begin(s) => ("begin", s.version),
        Op::Commit(s, ..) => ("commit", s.version),
        Op::Abort(s) => ("abort", s.version),
        Op::CommitLast { .. } => ("commit", last.map_or(1, |i| i.version)),
        Op::AbortLast => ("abort", last.map_or(1, |i| i.version)),
        Op::Resolve { version, .. } => ("resolve", *version),
        Op::ResolveLast { .. } => ("resolve", last.map_or(1, |i| i.version)),
        Op::ResolveFirstInDoubt { .. } => ("resolve", doubt.unwrap_or(1)),
        Op::Lock | Op::Unlock | Op::Load | Op::Restart => return "other".into(),
    };
    match outcome {
        Outcome::Ok | Outcome::Loaded(_) => format!(
            "{kind}: {} -> {}",
            state_of(before, version),
            state_of(after, version)
        ),
        Outcome::Refused(r) if r.starts_with("refused") => format!("{kind} refused by the record"),
        Outcome::Refused(_) => format!("{kind} out of protocol"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A temp dir on tmpfs when there is one (fsync there is cheap).
fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temp dir")
}

/// What the reference did, per kind of call, over all cases: a test whose
/// calls were all refused (or all accepted) would prove little.
#[derive(Debug, Default)]
struct Coverage(std::sync::Mutex<std::collections::BTreeMap<String, usize>>);

impl Coverage {
    fn tally(&self, labels: &[String]) {
        let mut map = self.0.lock().expect("coverage");
        for label in labels {
            *map.entry(label.clone()).or_default() += 1;
        }
    }

    /// Which transition of the record model (or kind of refusal the
    /// protocol allows) happened fewer than `min` times, if any; `hides`:
    /// the reference keeps transactional steps out of the history until
    /// they commit.
    fn missing(&self, min: usize, hides: bool) -> Option<String> {
        let map = self.0.lock().expect("coverage");
        let mut keys = vec![
            "begin: not applied -> in doubt (up)",
            "begin: applied -> in doubt (down)",
            "commit: in doubt (up) -> applied",
            "commit: in doubt (down) -> not applied",
            "abort: in doubt (up) -> not applied",
            "abort: in doubt (down) -> applied",
            "resolve: in doubt (up) -> applied",
            "resolve: in doubt (up) -> not applied",
            "resolve: in doubt (down) -> applied",
            "resolve: in doubt (down) -> not applied",
            "begin refused by the record",
            "resolve refused by the record",
            "begin out of protocol",
            "commit out of protocol",
            "abort out of protocol",
            "resolve out of protocol",
        ];
        if hides {
            // A transactional step: nothing recorded until it commits;
            // its commit is checked against the record.
            keys.extend([
                "begin: not applied -> not applied",
                "begin: applied -> applied",
                "commit: not applied -> applied",
                "commit: applied -> not applied",
                "abort: not applied -> not applied",
                "abort: applied -> applied",
                "commit refused by the record",
            ]);
        }
        keys.into_iter().find_map(|key| {
            let n = map.get(key).copied().unwrap_or(0);
            (n < min).then(|| format!("only {n} calls were \"{key}\" (want {min}): {map:#?}"))
        })
    }
}

/// Runs at least `cases` random call sequences (with transactional steps if
/// `transactions`) through `case`, and more (up to four times as many) until
/// the reference went through every transition and refusal at least `min`
/// times (`hides`: see [`Coverage::missing`]).
fn run_cases(
    cases: u32,
    transactions: bool,
    hides: bool,
    min: usize,
    case: impl Fn(u64, &[Op]) -> Result<Vec<String>, TestCaseError>,
) {
    let coverage = Coverage::default();
    let counter = std::sync::atomic::AtomicU64::new(0);
    for round in 0..4 {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let result = runner.run(&ops(transactions), |ops| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let labels = case(n, &ops)?;
            coverage.tally(&labels);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        match coverage.missing(min, hides) {
            None => return,
            Some(missing) if round == 3 => panic!("{missing}"),
            Some(_) => {}
        }
    }
}

/// The file store and the memory store without transactions accept, refuse
/// and record exactly the same; so does the transactional memory store when
/// no step is transactional.
#[test]
fn memory_and_file_stores_agree_on_every_call() {
    let rt = runtime();
    let dir = fast_tempdir();
    run_cases(500, true, false, 50, |n, ops| {
        rt.block_on(async {
            let mut reference = Memory(MemoryStore::new());
            let mut files = [File::new(dir.path(), n)];
            differential(ops, &mut reference, &mut files).await
        })
    });
    // Without transactional steps, the transactional memory store agrees
    // with the file store too (so with the other memory store).
    run_cases(200, false, false, 20, |n, plain| {
        rt.block_on(async {
            let mut reference = Memory(MemoryStore::transactional(()));
            let mut files = [File::new(dir.path(), 1_000_000 + n)];
            differential(plain, &mut reference, &mut files).await
        })
    });
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use engine_ops_migrate::store::sqlite::SqliteStore;

    struct Sqlite {
        path: PathBuf,
        store: Option<SqliteStore>,
    }

    impl Sqlite {
        fn open(path: &Path) -> SqliteStore {
            SqliteStore::builder(path)
                .lock_timeout(std::time::Duration::from_secs(10))
                .open()
                .expect("sqlite store")
        }
    }

    impl Subject for Sqlite {
        type S = SqliteStore;
        fn store(&mut self) -> &mut SqliteStore {
            self.store.as_mut().expect("open")
        }
        async fn restart(&mut self) {
            self.store = None;
            self.store = Some(Self::open(&self.path));
        }
        fn name(&self) -> String {
            format!("sqlite {}", self.path.display())
        }
    }

    /// SQLite accepts, refuses and records exactly what the transactional
    /// memory store does.
    #[test]
    fn sqlite_agrees_with_the_transactional_memory_store() {
        let rt = runtime();
        let dir = fast_tempdir();
        run_cases(160, true, true, 20, |n, ops| {
            let path = dir.path().join(format!("case{n}.db"));
            rt.block_on(async {
                let mut reference = Memory(MemoryStore::transactional(()));
                let mut others = [Sqlite {
                    store: Some(Sqlite::open(&path)),
                    path,
                }];
                differential(ops, &mut reference, &mut others).await
            })
        });
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use engine_ops_migrate::store::postgres::PostgresStore;
    use std::io::Write;
    use std::str::FromStr;
    use std::time::Duration;

    /// The test server's configuration, or `None` (after printing
    /// `SKIPPED`) when there is none and `CI` is not set.
    fn server(rt: &tokio::runtime::Runtime) -> Option<tokio_postgres::Config> {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        let url = super::pg_server::test_url()?;
        let config = tokio_postgres::Config::from_str(&url).expect("valid test database URL");
        let reachable = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                config.connect(tokio_postgres::NoTls),
            )
            .await
            .map_err(|_| "timeout".to_owned())
            .and_then(|r| r.map(|_| ()).map_err(|e| e.to_string()))
        });
        match reachable {
            Ok(()) => Some(config),
            Err(e) => {
                assert!(
                    !ci,
                    "CI is set but PostgreSQL is not reachable at {url}: {e}"
                );
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: PostgreSQL not reachable at {url} ({e})"
                );
                None
            }
        }
    }

    /// A schema of its own, dropped at the end.
    struct Schema {
        name: String,
        config: tokio_postgres::Config,
    }

    impl Schema {
        async fn admin(&self) -> tokio_postgres::Client {
            let (client, conn) = self
                .config
                .connect(tokio_postgres::NoTls)
                .await
                .expect("admin connection");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            client
        }
    }

    struct Pg {
        config: tokio_postgres::Config,
        schema: String,
        table: String,
        store: Option<PostgresStore>,
    }

    impl Pg {
        async fn open(&self) -> PostgresStore {
            PostgresStore::builder_from_config(self.config.clone())
                .history_table(self.schema.clone(), self.table.clone())
                .lock_timeout(Duration::from_secs(10))
                // A restarted store waits for the server to end the old
                // session: poll often.
                .lock_poll_max(Duration::from_millis(2))
                .connect()
                .await
                .expect("postgres store")
        }
    }

    impl Subject for Pg {
        type S = PostgresStore;
        fn store(&mut self) -> &mut PostgresStore {
            self.store.as_mut().expect("open")
        }
        async fn restart(&mut self) {
            self.store = None;
            self.store = Some(self.open().await);
        }
        fn name(&self) -> String {
            format!("postgres {}.{}", self.schema, self.table)
        }
    }

    #[test]
    fn postgres_agrees_with_the_transactional_memory_store() {
        let rt = runtime();
        let Some(config) = server(&rt) else { return };
        let schema = Schema {
            name: format!("eo_diff_{}", std::process::id()),
            config,
        };
        rt.block_on(async {
            schema
                .admin()
                .await
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}",
                    schema.name
                ))
                .await
                .expect("create schema");
        });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_cases(48, true, true, 3, |case, ops| {
                rt.block_on(async {
                    let mut pg = Pg {
                        config: schema.config.clone(),
                        schema: schema.name.clone(),
                        table: format!("history_{case}"),
                        store: None,
                    };
                    pg.store = Some(pg.open().await);
                    let mut reference = Memory(MemoryStore::transactional(()));
                    differential(ops, &mut reference, &mut [pg]).await
                })
            });
        }));
        rt.block_on(async {
            let _ = schema
                .admin()
                .await
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.name))
                .await;
        });
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}
