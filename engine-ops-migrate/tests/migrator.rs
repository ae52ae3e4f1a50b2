//! Migrator behaviour on the in-memory store: run, target, rollback,
//! automatic rollback, refusals, steps in doubt, progress, JSON reports.

use std::sync::{Arc, Mutex};

use engine_ops_migrate::{
    BoxError, Direction, Error, History, InDoubt, MemoryStore, Migration, MigrationInfo,
    MigrationState, Migrator, Phase, Progress, Rollback, RollbackPolicy, Settlement, Validation,
};

/// The "database": effects present, plus a log of every call.
#[derive(Debug, Clone, Default)]
struct Db {
    effects: Vec<u64>,
    calls: Vec<String>,
}

#[derive(Debug, Clone)]
struct M {
    version: u64,
    name: String,
    source: String,
    fail_up: bool,
    fail_validate: bool,
    fail_down: bool,
    reversible: bool,
    validates: bool,
    phase: Option<Phase>,
}

fn m(version: u64) -> M {
    M {
        version,
        name: format!("m{version}"),
        source: format!("-- migration {version}\nSELECT {version};\n"),
        fail_up: false,
        fail_validate: false,
        fail_down: false,
        reversible: true,
        validates: true,
        phase: None,
    }
}

#[async_trait::async_trait]
impl Migration<Db> for M {
    fn version(&self) -> u64 {
        self.version
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn source(&self) -> &[u8] {
        self.source.as_bytes()
    }
    fn phase(&self) -> Option<Phase> {
        self.phase
    }
    fn reversible(&self) -> bool {
        self.reversible
    }
    async fn up(&self, db: &mut Db) -> Result<(), BoxError> {
        db.calls.push(format!("up {}", self.version));
        if !self.fail_validate {
            db.effects.push(self.version);
        }
        if self.fail_up {
            return Err(format!("boom in up {}", self.version).into());
        }
        Ok(())
    }
    async fn down(&self, db: &mut Db) -> Result<(), BoxError> {
        db.calls.push(format!("down {}", self.version));
        if self.fail_down {
            return Err("down exploded".into());
        }
        db.effects.retain(|&e| e != self.version);
        Ok(())
    }
    async fn validate_up(&self, db: &mut Db) -> Result<Validation, BoxError> {
        if !self.validates {
            return Ok(Validation::NotChecked);
        }
        Ok(Validation::check(
            db.effects.contains(&self.version),
            format!("effect {} missing", self.version),
        ))
    }
    async fn validate_down(&self, db: &mut Db) -> Result<Validation, BoxError> {
        if !self.validates {
            return Ok(Validation::NotChecked);
        }
        Ok(Validation::check(
            !db.effects.contains(&self.version),
            format!("effect {} still present", self.version),
        ))
    }
}

fn migrator(store: MemoryStore<Db>, ms: Vec<M>) -> Migrator<MemoryStore<Db>> {
    ms.into_iter()
        .fold(Migrator::builder(store), |b, m| b.migration(m))
        .build()
        .expect("no duplicates")
}

fn versions(steps: &[engine_ops_migrate::StepReport]) -> Vec<u64> {
    steps.iter().map(|s| s.version).collect()
}

#[tokio::test]
async fn run_applies_in_numeric_order_once() -> anyhow::Result<()> {
    let mut mig = migrator(
        MemoryStore::with_context(Db::default()),
        vec![m(10), m(2), m(1)],
    );
    let report = mig.run().await?;
    assert_eq!(versions(&report.applied), [1, 2, 10]);
    assert!(report.applied.iter().all(|s| s.direction == Direction::Up));
    assert_eq!(mig.store().context_ref().effects, [1, 2, 10]);

    let again = mig.run().await?;
    assert!(again.applied.is_empty());
    assert_eq!(mig.store().context_ref().calls.len(), 3);
    assert!(!mig.store().is_locked());

    let status = mig.status().await?;
    assert_eq!(status.count(MigrationState::Applied), 3);
    assert!(status.problems.is_empty());
    assert!(mig.verify().await?.is_ok());

    let json = serde_json::to_value(&report)?;
    assert_eq!(json["applied"][2]["version"], 10);
    let json = serde_json::to_value(&status)?;
    assert_eq!(json["entries"][0]["state"], "applied");
    Ok(())
}

#[tokio::test]
async fn run_to_target_and_dry_run_plan() -> anyhow::Result<()> {
    let mut mig = migrator(
        MemoryStore::with_context(Db::default()),
        (1..=5).map(m).collect(),
    );
    let plan = mig.plan(Some(3)).await?;
    assert_eq!(plan.pending.len(), 3);
    assert!(
        mig.store().context_ref().calls.is_empty(),
        "plan touched nothing"
    );
    assert_eq!(serde_json::to_value(&plan)?["target"], 3);

    let report = mig.run_to(3).await?;
    assert_eq!(versions(&report.applied), [1, 2, 3]);
    assert_eq!(report.still_pending, 2);
    let status = mig.status().await?;
    assert_eq!(status.count(MigrationState::Pending), 2);
    Ok(())
}

#[tokio::test]
async fn rollback_last_n_and_to_target_newest_first() -> anyhow::Result<()> {
    let mut mig = migrator(
        MemoryStore::with_context(Db::default()),
        (1..=5).map(m).collect(),
    );
    mig.run().await?;
    let report = mig.rollback(Rollback::Last(2)).await?;
    assert_eq!(versions(&report.reverted), [5, 4]);
    assert_eq!(mig.store().context_ref().effects, [1, 2, 3]);

    let err = mig
        .rollback(Rollback::Last(4))
        .await
        .expect_err("must fail");
    assert!(
        matches!(
            err,
            Error::RollbackTooFar {
                requested: 4,
                applied: 3
            }
        ),
        "{err}"
    );

    let report = mig.rollback(Rollback::To(1)).await?;
    assert_eq!(versions(&report.reverted), [3, 2]);
    assert_eq!(mig.store().context_ref().effects, [1]);
    assert_eq!(
        serde_json::to_value(&report)?["reverted"][0]["direction"],
        "down"
    );
    Ok(())
}

#[tokio::test]
async fn rollback_across_an_irreversible_migration_is_refused_before_anything_runs()
-> anyhow::Result<()> {
    let mut irreversible = m(2);
    irreversible.reversible = false;
    let mut mig = migrator(
        MemoryStore::with_context(Db::default()),
        vec![m(1), irreversible, m(3)],
    );
    mig.run().await?;
    let calls_before = mig.store().context_ref().calls.len();
    let err = mig.rollback(Rollback::To(0)).await.expect_err("must fail");
    assert!(
        matches!(err, Error::Irreversible { version: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("migration 2 (m2) is irreversible"));
    assert_eq!(
        mig.store().context_ref().calls.len(),
        calls_before,
        "no down ran"
    );
    assert_eq!(mig.status().await?.count(MigrationState::Applied), 3);
    // Reverting only what is above it still works.
    assert_eq!(
        versions(&mig.rollback(Rollback::To(2)).await?.reverted),
        [3]
    );
    Ok(())
}

#[tokio::test]
async fn failed_up_runs_down_records_nothing_and_names_the_cause() -> anyhow::Result<()> {
    let mut bad = m(2);
    bad.fail_up = true;
    let mut mig = migrator(
        MemoryStore::with_context(Db::default()),
        vec![m(1), bad, m(3)],
    );
    let err = mig.run().await.expect_err("must fail");
    assert!(
        matches!(
            err,
            Error::StepFailed {
                version: 2,
                direction: Direction::Up,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("migration 2 (m2) failed during up"),
        "{err}"
    );
    assert!(err.to_string().contains("its down ran"), "{err}");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("boom in up 2"));

    let db = mig.store().context_ref();
    assert_eq!(db.calls, ["up 1", "up 2", "down 2"]);
    assert_eq!(db.effects, [1], "step 2 undone, step 3 never ran");
    let status = mig.status().await?;
    assert_eq!(status.count(MigrationState::Applied), 1);
    assert_eq!(status.count(MigrationState::Pending), 2);
    assert_eq!(status.count(MigrationState::InDoubt), 0);
    Ok(())
}

#[tokio::test]
async fn failed_validation_is_undone_like_a_failed_up() -> anyhow::Result<()> {
    let mut bad = m(1);
    bad.fail_validate = true;
    let mut mig = migrator(MemoryStore::with_context(Db::default()), vec![bad]);
    let err = mig.run().await.expect_err("must fail");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(
        cause.as_deref(),
        Some("validate_up failed: effect 1 missing")
    );
    assert_eq!(mig.store().context_ref().calls, ["up 1", "down 1"]);
    assert_eq!(mig.status().await?.count(MigrationState::Pending), 1);
    Ok(())
}

#[tokio::test]
async fn whole_run_policy_reverts_the_earlier_steps_of_the_run() -> anyhow::Result<()> {
    let mut bad = m(4);
    bad.fail_up = true;
    let store = MemoryStore::with_context(Db::default());
    let mut mig = [m(1), m(2), m(3), bad]
        .into_iter()
        .fold(
            Migrator::builder(store).rollback_policy(RollbackPolicy::WholeRun),
            |b, m| b.migration(m),
        )
        .build()?;
    mig.run_to(1).await?;
    let err = mig.run().await.expect_err("must fail");
    assert!(
        err.to_string()
            .contains("whole run was rolled back (reverted 3, 2)"),
        "{err}"
    );
    let db = mig.store().context_ref();
    assert_eq!(db.effects, [1], "step 1 came from an earlier run and stays");
    assert_eq!(
        &db.calls[db.calls.len() - 3..],
        ["down 4", "down 3", "down 2"]
    );
    assert_eq!(mig.status().await?.count(MigrationState::Applied), 1);
    Ok(())
}

#[tokio::test]
async fn transactional_store_discards_a_failed_step_without_calling_down() -> anyhow::Result<()> {
    let mut bad = m(2);
    bad.fail_up = true;
    let mut mig = migrator(MemoryStore::transactional(Db::default()), vec![m(1), bad]);
    let err = mig.run().await.expect_err("must fail");
    assert!(
        err.to_string().contains("its transaction was rolled back"),
        "{err}"
    );
    let db = mig.store().context_ref();
    // The snapshot taken at `begin` of step 2 was restored: its `up` call and
    // effect are gone, and `down` never ran.
    assert_eq!(db.calls, ["up 1"]);
    assert_eq!(db.effects, [1]);
    Ok(())
}

#[tokio::test]
async fn a_failed_irreversible_step_is_left_in_doubt_and_blocks_the_next_run() -> anyhow::Result<()>
{
    let mut bad = m(1);
    bad.fail_up = true;
    bad.reversible = false;
    bad.validates = false;
    let mut mig = migrator(MemoryStore::with_context(Db::default()), vec![bad.clone()]);
    let err = mig.run().await.expect_err("must fail");
    assert!(matches!(err, Error::UndoFailed { version: 1, .. }), "{err}");
    assert!(err.to_string().contains("left in doubt"), "{err}");

    let status = mig.status().await?;
    assert_eq!(status.count(MigrationState::InDoubt), 1);
    assert_eq!(status.entries[0].in_doubt, Some(Direction::Up));
    assert!(!mig.verify().await?.is_ok());

    let err = mig.run().await.expect_err("must fail");
    assert!(matches!(err, Error::InDoubt { version: 1, .. }), "{err}");
    assert!(err.to_string().contains("Migrator::resolve(1"), "{err}");

    // The operator inspects and decides.
    let doubt = mig.resolve(1, Settlement::NotApplied).await?;
    assert_eq!(doubt.direction, Direction::Up);
    assert_eq!(mig.status().await?.count(MigrationState::Pending), 1);
    Ok(())
}

fn doubt(v: u64) -> InDoubt {
    InDoubt::new(&MigrationInfo::of::<Db>(&m(v)), Direction::Up, 0)
}

#[tokio::test]
async fn in_doubt_steps_are_settled_by_validate_up() -> anyhow::Result<()> {
    // Effect of step 2 present: recorded as applied, `up` not run again.
    let db = Db {
        effects: vec![2],
        calls: vec![],
    };
    let store = MemoryStore::with_context(db).with_history(History::new(vec![], vec![doubt(2)]));
    let mut mig = migrator(store, vec![m(2), m(3)]);
    let report = mig.run().await?;
    assert_eq!(report.resolved.len(), 1);
    assert_eq!(report.resolved[0].resolution, Settlement::Applied);
    assert_eq!(versions(&report.applied), [3]);
    assert_eq!(mig.store().context_ref().calls, ["up 3"]);

    // Effect absent: recorded as not applied, and applied again.
    let store =
        MemoryStore::with_context(Db::default()).with_history(History::new(vec![], vec![doubt(2)]));
    let mut mig = migrator(store, vec![m(2)]);
    let report = mig.run().await?;
    assert_eq!(report.resolved[0].resolution, Settlement::NotApplied);
    assert_eq!(versions(&report.applied), [2]);
    assert_eq!(mig.store().context_ref().effects, [2]);
    Ok(())
}

#[tokio::test]
async fn an_interrupted_down_is_settled_by_validate_down_then_validate_up() -> anyhow::Result<()> {
    let down_doubt = |v: u64| InDoubt::new(&MigrationInfo::of::<Db>(&m(v)), Direction::Down, 0);

    // Effect gone: the revert finished; a rollback goes on with what is left.
    let store = MemoryStore::with_context(Db::default())
        .with_history(History::new(vec![], vec![down_doubt(1)]));
    let mut mig = migrator(store, vec![m(1)]);
    let report = mig.rollback(Rollback::To(0)).await?;
    assert_eq!(report.resolved[0].resolution, Settlement::NotApplied);
    assert!(report.reverted.is_empty());
    assert_eq!(mig.status().await?.count(MigrationState::Pending), 1);

    // Effect still there: the step is still applied, and the rollback reverts it.
    let db = Db {
        effects: vec![1],
        calls: vec![],
    };
    let store =
        MemoryStore::with_context(db).with_history(History::new(vec![], vec![down_doubt(1)]));
    let mut mig = migrator(store, vec![m(1)]);
    let report = mig.rollback(Rollback::To(0)).await?;
    assert_eq!(report.resolved[0].resolution, Settlement::Applied);
    assert_eq!(versions(&report.reverted), [1]);
    assert!(mig.store().context_ref().effects.is_empty());
    Ok(())
}

#[tokio::test]
async fn divergent_and_missing_are_refused_unless_opted_in_by_version() -> anyhow::Result<()> {
    let mut mig = migrator(
        MemoryStore::with_context(Db::default()),
        vec![m(1), m(2), m(3)],
    );
    mig.run().await?;
    let store = mig.into_store();

    // v2 edited (CRLF alone would not count), v3 no longer declared, v4 new.
    let mut edited = m(2);
    edited.source = "-- migration 2\r\nSELECT 'edited';\r\n".into();
    let crlf_only = {
        let mut x = m(1);
        x.source = x.source.replace('\n', "\r\n");
        x
    };
    let mut mig = migrator(store, vec![crlf_only.clone(), edited.clone(), m(4)]);
    let verify = mig.verify().await?;
    assert_eq!(verify.problems.len(), 2, "{:?}", verify.problems);
    let text: Vec<String> = verify.problems.iter().map(ToString::to_string).collect();
    assert!(text[0].starts_with("migration 2 (m2) diverged"), "{text:?}");
    assert!(
        text[1].contains("migration 3 (m3) is applied but no longer declared"),
        "{text:?}"
    );

    let err = mig.run().await.expect_err("must fail");
    assert!(matches!(err, Error::Divergent { version: 2, .. }), "{err}");
    assert!(
        err.to_string().contains("dangerous_allow_divergent(2)"),
        "{err}"
    );
    let store = mig.into_store();

    let mut mig = Migrator::builder(store)
        .migration(crlf_only.clone())
        .migration(edited.clone())
        .migration(m(4))
        .dangerous_allow_divergent(2)
        .build()?;
    let err = mig.run().await.expect_err("must fail");
    assert!(matches!(err, Error::Missing { version: 3, .. }), "{err}");
    let store = mig.into_store();

    let mut mig = Migrator::builder(store)
        .migration(crlf_only)
        .migration(edited)
        .migration(m(4))
        .dangerous_allow_divergent(2)
        .allow_missing(3)
        .build()?;
    assert_eq!(versions(&mig.run().await?.applied), [4]);
    Ok(())
}

#[tokio::test]
async fn out_of_order_is_refused_unless_allowed() -> anyhow::Result<()> {
    let mut mig = migrator(MemoryStore::with_context(Db::default()), vec![m(1), m(3)]);
    mig.run().await?;
    let store = mig.into_store();
    let mut mig = migrator(store, vec![m(1), m(2), m(3)]);
    let err = mig.run().await.expect_err("must fail");
    assert!(
        matches!(
            err,
            Error::OutOfOrder {
                version: 2,
                highest_applied: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(mig.status().await?.count(MigrationState::OutOfOrder), 1);
    let store = mig.into_store();
    let mut mig = Migrator::builder(store)
        .migrations([m(1), m(2), m(3)].map(|x| Box::new(x) as Box<dyn Migration<Db>>))
        .allow_out_of_order(true)
        .build()?;
    assert_eq!(versions(&mig.run().await?.applied), [2]);
    Ok(())
}

#[tokio::test]
async fn duplicate_versions_are_an_error_at_build() {
    let mut other = m(1);
    other.name = "other".into();
    let err = Migrator::builder(MemoryStore::with_context(Db::default()))
        .migration(m(1))
        .migration(other)
        .build()
        .expect_err("must fail");
    assert!(matches!(err, Error::Duplicate { version: 1, .. }), "{err}");
    assert!(
        err.to_string()
            .contains("version 1 is declared twice (m1 and other)")
    );
}

#[tokio::test]
async fn observer_sees_one_start_and_finish_per_step() -> anyhow::Result<()> {
    let events: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = Arc::clone(&events);
    let mut expand = m(1);
    expand.phase = Some(Phase::Expand);
    let mut mig = Migrator::builder(MemoryStore::with_context(Db::default()))
        .migration(expand)
        .migration(m(2))
        .observer(move |e: &Progress| sink.lock().expect("lock").push(e.clone()))
        .build()?;
    let report = mig.run().await?;
    assert_eq!(report.applied[0].phase, Some(Phase::Expand));
    let events = events.lock().expect("lock");
    let kinds: Vec<(&str, u64)> = events
        .iter()
        .map(|e| match e {
            Progress::Started { version, .. } => ("start", *version),
            Progress::Finished { version, .. } => ("finish", *version),
            Progress::Failed { version, .. } => ("fail", *version),
            _ => ("other", 0),
        })
        .collect();
    assert_eq!(
        kinds,
        [("start", 1), ("finish", 1), ("start", 2), ("finish", 2)]
    );
    Ok(())
}

#[tokio::test]
async fn a_target_that_is_not_a_migration_is_refused_before_anything_runs() -> anyhow::Result<()> {
    let mut mig = migrator(
        MemoryStore::with_context(Db::default()),
        vec![m(1), m(2), m(3)],
    );
    let err = mig.run_to(7).await.expect_err("no migration 7");
    assert!(
        matches!(err, Error::UnknownVersion { version: 7, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("1 to 3"), "{err}");
    assert!(mig.store().context_ref().calls.is_empty(), "nothing ran");

    mig.run_to(2).await?;
    let err = mig
        .rollback(Rollback::To(99))
        .await
        .expect_err("no migration 99");
    assert!(
        matches!(err, Error::UnknownVersion { version: 99, .. }),
        "{err}"
    );
    let err = mig
        .rollback(Rollback::Last(5))
        .await
        .expect_err("only 2 applied");
    assert!(matches!(err, Error::RollbackTooFar { .. }), "{err}");
    assert_eq!(mig.status().await?.count(MigrationState::Applied), 2);
    // 0 (everything) and any declared version are targets.
    assert!(mig.rollback(Rollback::To(3)).await?.reverted.is_empty());
    assert_eq!(mig.rollback(Rollback::To(0)).await?.reverted.len(), 2);
    Ok(())
}

/// Code written against the former name of [`Settlement`] still compiles
/// and means the same values.
#[test]
#[allow(deprecated)]
fn the_former_name_of_settlement_still_names_it() {
    let settled: engine_ops_migrate::Resolution = Settlement::NotApplied;
    assert_eq!(settled, engine_ops_migrate::Settlement::NotApplied);
    assert_eq!(
        serde_json::to_string(&engine_ops_migrate::Resolution::Applied).expect("json"),
        "\"applied\""
    );
}
