//! What [`Migrator::status`](crate::Migrator::status) and
//! [`Migrator::verify`](crate::Migrator::verify) report: the state of every
//! declared or recorded migration, and the problems, from a [`Plan`].
//!
//! Pure. An unfinished step is *running* (and no problem) when another
//! migrator held the lock as the history was read (`lock_holder`), and *in
//! doubt* otherwise.

use crate::migration::MigrationInfo;
use crate::plan::{Plan, Problem};
use crate::report::{MigrationState, StatusEntry, StatusReport, VerifyReport};

/// The status of every migration `declared` (ascending by version,
/// unique) or recorded in `plan`, ascending by version.
pub(crate) fn status_report(
    store: String,
    declared: &[MigrationInfo],
    plan: Plan,
    lock_holder: Option<String>,
) -> StatusReport {
    let running = lock_holder.is_some();
    let doubt_state = if running {
        MigrationState::Running
    } else {
        MigrationState::InDoubt
    };
    let mut problems = plan.problems();
    if running {
        problems.retain(|p| !matches!(p, Problem::InDoubt(_)));
    }
    let Plan {
        applied,
        divergent,
        missing,
        out_of_order,
        in_doubt,
        ..
    } = plan;
    // Every list of the plan is sorted by version.
    let has = |list: &[u64], v: u64| list.binary_search(&v).is_ok();
    let divergent: Vec<u64> = divergent.iter().map(|d| d.version).collect();
    let out_of_order: Vec<u64> = out_of_order.iter().map(|m| m.version).collect();
    let doubt_of = |v: u64| {
        in_doubt
            .binary_search_by_key(&v, |x| x.version)
            .ok()
            .map(|k| &in_doubt[k])
    };
    let mut entries = Vec::with_capacity(declared.len() + missing.len());
    let mut applied = applied.into_iter().peekable();
    for d in declared {
        // Records below `d` are not declared: they are in `missing`.
        while applied.next_if(|a| a.version < d.version).is_some() {}
        let record = applied.next_if(|a| a.version == d.version);
        let doubt = doubt_of(d.version);
        let state = if has(&divergent, d.version) {
            MigrationState::Divergent
        } else if doubt.is_some() {
            doubt_state
        } else if record.is_some() {
            MigrationState::Applied
        } else if has(&out_of_order, d.version) {
            MigrationState::OutOfOrder
        } else {
            MigrationState::Pending
        };
        let (applied_at_ms, duration_ms, name) = match record {
            // The usual case: the record's name is the declared one, so it
            // is moved into the entry rather than copied.
            Some(r) if r.name == d.name => (Some(r.applied_at_ms), Some(r.duration_ms), r.name),
            Some(r) => (Some(r.applied_at_ms), Some(r.duration_ms), d.name.clone()),
            None => (None, None, d.name.clone()),
        };
        entries.push(StatusEntry {
            version: d.version,
            name,
            phase: d.phase,
            state,
            checksum: d.checksum,
            applied_at_ms,
            duration_ms,
            in_doubt: doubt.map(|x| x.direction),
        });
    }
    for m in missing {
        entries.push(StatusEntry {
            version: m.version,
            name: m.name,
            phase: m.phase,
            state: MigrationState::Missing,
            checksum: m.checksum,
            applied_at_ms: Some(m.applied_at_ms),
            duration_ms: Some(m.duration_ms),
            in_doubt: None,
        });
    }
    let is_declared = |v: u64| declared.binary_search_by_key(&v, |d| d.version).is_ok();
    for x in &in_doubt {
        if !is_declared(x.version) {
            entries.push(StatusEntry {
                version: x.version,
                name: x.name.clone(),
                phase: x.phase,
                state: doubt_state,
                checksum: x.checksum,
                applied_at_ms: None,
                duration_ms: None,
                in_doubt: Some(x.direction),
            });
        }
    }
    entries.sort_by_key(|e| e.version);
    StatusReport {
        store,
        entries,
        problems,
        lock_holder,
    }
}

/// Every problem of `plan` against `declared` migrations (out of order
/// ones only when not `allow_out_of_order`); unfinished steps are
/// [`running`](VerifyReport::running) instead while `lock_holder` holds
/// the lock.
pub(crate) fn verify_report(
    store: String,
    declared: usize,
    plan: &Plan,
    lock_holder: Option<String>,
    allow_out_of_order: bool,
) -> VerifyReport {
    let mut problems = plan.problems();
    if allow_out_of_order {
        problems.retain(|p| !matches!(p, Problem::OutOfOrder { .. }));
    }
    let running = if lock_holder.is_some() {
        problems.retain(|p| !matches!(p, Problem::InDoubt(_)));
        plan.in_doubt.clone()
    } else {
        Vec::new()
    };
    VerifyReport {
        store,
        declared,
        recorded: plan.applied.len() + plan.in_doubt.len(),
        problems,
        running,
        lock_holder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{AppliedMigration, History, InDoubt};
    use crate::migration::Direction;
    use crate::plan::plan;

    fn info(v: u64) -> MigrationInfo {
        MigrationInfo::new(v, format!("m{v}"), format!("source {v}").as_bytes())
    }

    /// Declared 1..=6 except 4; recorded: 1 applied, 2 applied with
    /// another source, 4 applied (no longer declared), 5 applied, 6 in
    /// doubt, 9 in doubt (not declared); 3 is below the highest applied.
    fn scene() -> (Vec<MigrationInfo>, Plan) {
        let declared: Vec<_> = [1, 2, 3, 5, 6].into_iter().map(info).collect();
        let mut changed = AppliedMigration::new(&info(2), 20, 2);
        changed.checksum = crate::checksum::Checksum::of_source(b"edited");
        let history = History::new(
            vec![
                AppliedMigration::new(&info(1), 10, 1),
                changed,
                AppliedMigration::new(&info(4), 40, 4),
                AppliedMigration::new(&info(5), 50, 5),
            ],
            vec![
                InDoubt::new(&info(6), Direction::Up, 60),
                InDoubt::new(&info(9), Direction::Down, 90),
            ],
        );
        let p = plan(&declared, &history);
        (declared, p)
    }

    #[test]
    fn every_declared_or_recorded_version_gets_one_state() {
        let (declared, p) = scene();
        let report = status_report("s".into(), &declared, p, None);
        let states: Vec<(u64, MigrationState)> = report
            .entries
            .iter()
            .map(|e| (e.version, e.state))
            .collect();
        use MigrationState::*;
        assert_eq!(
            states,
            [
                (1, Applied),
                (2, Divergent),
                (3, OutOfOrder),
                (4, Missing),
                (5, Applied),
                (6, InDoubt),
                (9, InDoubt)
            ]
        );
        let e1 = &report.entries[0];
        assert_eq!((e1.applied_at_ms, e1.duration_ms), (Some(10), Some(1)));
        assert_eq!(report.entries[5].in_doubt, Some(Direction::Up));
        assert_eq!(report.entries[6].in_doubt, Some(Direction::Down));
        assert_eq!(report.count(InDoubt), 2);
        assert!(
            report
                .problems
                .iter()
                .any(|p| matches!(p, Problem::InDoubt(_)))
        );
    }

    #[test]
    fn while_the_lock_is_held_unfinished_steps_are_running_not_problems() {
        let (declared, p) = scene();
        let verify = verify_report("s".into(), declared.len(), &p, Some("pid 7".into()), true);
        assert_eq!(verify.running.len(), 2);
        assert!(
            !verify
                .problems
                .iter()
                .any(|p| matches!(p, Problem::InDoubt(_) | Problem::OutOfOrder { .. }))
        );
        assert_eq!((verify.declared, verify.recorded), (5, 6));
        let report = status_report("s".into(), &declared, p, Some("pid 7".into()));
        assert_eq!(report.count(MigrationState::Running), 2);
        assert_eq!(report.count(MigrationState::InDoubt), 0);
        assert!(
            !report
                .problems
                .iter()
                .any(|p| matches!(p, Problem::InDoubt(_)))
        );
        assert_eq!(report.lock_holder.as_deref(), Some("pid 7"));
    }

    #[test]
    fn verify_without_a_holder_lists_every_problem() {
        let (declared, p) = scene();
        let verify = verify_report("s".into(), declared.len(), &p, None, false);
        assert!(verify.running.is_empty());
        assert_eq!(verify.problems.len(), p.problems().len());
        assert!(!verify.is_ok());
    }
}
