//! The refusals and step selections, without a store: a plan from a
//! history, the rules from declared migrations.

use super::*;
use crate::checksum::Checksum;
use crate::history::{AppliedMigration, History, InDoubt};
use crate::migration::Direction;
use crate::plan::plan;

const E: Option<Phase> = Some(Phase::Expand);
const C: Option<Phase> = Some(Phase::Contract);

fn info(v: u64) -> MigrationInfo {
    MigrationInfo::new(v, format!("m{v}"), format!("source {v}").as_bytes())
}

fn applied(v: u64) -> AppliedMigration {
    AppliedMigration::new(&info(v), 0, 0)
}

/// Declared versions (all reversible but those in `irreversible`).
struct Fixture {
    declared: Vec<MigrationInfo>,
    options: Options,
}

impl Fixture {
    fn new(versions: impl IntoIterator<Item = u64>) -> Self {
        Self {
            declared: versions.into_iter().map(info).collect(),
            options: Options::default(),
        }
    }

    fn irreversible(mut self, version: u64) -> Self {
        let i = self.rules().index_of(version).expect("declared");
        self.declared[i].reversible = false;
        self
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            declared: &self.declared,
            options: &self.options,
            #[cfg(feature = "lint")]
            lint: None,
        }
    }

    fn plan(&self, history: &History) -> Plan {
        plan(&self.declared, history)
    }

    /// The versions of a run's steps.
    fn run(
        &self,
        history: &History,
        target: Option<u64>,
        phase: &PhaseRun,
    ) -> Result<Vec<u64>, Error> {
        let rules = self.rules();
        let plan = self.plan(history);
        rules.refuse_run(&plan)?;
        let run = rules.run_steps(plan, target, phase)?;
        Ok(run
            .steps
            .iter()
            .map(|&i| self.declared[i].version)
            .collect())
    }

    /// The versions of a rollback's steps.
    fn rollback(&self, history: &History, request: Rollback) -> Result<Vec<u64>, Error> {
        let rules = self.rules();
        let plan = self.plan(history);
        rules.refuse_rollback(&plan, request)?;
        let steps = rules.rollback_steps(&plan, request)?;
        Ok(steps.iter().map(|&i| self.declared[i].version).collect())
    }
}

const ALL: PhaseRun = PhaseRun::All {
    contract_needs_proof: false,
};

fn history(applied_versions: &[u64]) -> History {
    History::new(
        applied_versions.iter().map(|&v| applied(v)).collect(),
        vec![],
    )
}

#[test]
fn a_run_applies_the_pending_steps_in_order_up_to_the_target() {
    let f = Fixture::new([1, 2, 3, 4]);
    assert_eq!(f.run(&history(&[1]), None, &ALL).ok(), Some(vec![2, 3, 4]));
    assert_eq!(f.run(&history(&[1]), Some(3), &ALL).ok(), Some(vec![2, 3]));
    let rules = f.rules();
    assert!(matches!(
        rules.check_target(Some(7)),
        Err(Error::UnknownVersion {
            version: 7,
            lowest: Some(1),
            highest: Some(4)
        })
    ));
    assert!(rules.check_target(Some(4)).is_ok());
    let p = rules
        .run_steps(f.plan(&history(&[])), Some(2), &ALL)
        .expect("runs")
        .plan;
    assert_eq!(p.above_target.len(), 2, "the plan the run was checked on");
}

#[test]
fn duplicates_then_divergence_then_missing_stop_a_run_unless_opted_in() {
    let mut f = Fixture::new([1, 2, 3]);
    let mut edited = applied(2);
    edited.checksum = Checksum::of_source(b"edited");
    let h = History::new(vec![applied(1), edited, applied(9)], vec![]);
    assert!(matches!(
        f.run(&h, None, &ALL),
        Err(Error::Divergent { version: 2, .. })
    ));
    f.options.allow_divergent.insert(2);
    assert!(matches!(
        f.run(&h, None, &ALL),
        Err(Error::Missing { version: 9, .. })
    ));
    f.options.allow_missing.insert(9);
    // 3 is below the highest applied version (9).
    assert!(matches!(
        f.run(&h, None, &ALL),
        Err(Error::OutOfOrder {
            version: 3,
            highest_applied: 9,
            ..
        })
    ));
    f.options.allow_out_of_order = true;
    assert_eq!(f.run(&h, None, &ALL).ok(), Some(vec![3]));

    let dup = History::new(vec![applied(1), applied(1), applied(9)], vec![]);
    assert!(matches!(
        f.run(&dup, None, &ALL),
        Err(Error::DuplicateRecord { version: 1 })
    ));
}

#[test]
fn a_whole_run_policy_refuses_a_run_over_an_irreversible_step() {
    let mut f = Fixture::new([1, 2, 3]).irreversible(2);
    f.options.policy = RollbackPolicy::WholeRun;
    let err = f.run(&history(&[]), None, &ALL).expect_err("refused");
    assert!(
        err.to_string().contains(
            "migration 2 (m2) is not; use RollbackPolicy::FailedStep or run up to 2 first"
        ),
        "{err}"
    );
    assert_eq!(f.run(&history(&[1, 2]), None, &ALL).ok(), Some(vec![3]));
    f.options.policy = RollbackPolicy::FailedStep;
    assert_eq!(f.run(&history(&[]), None, &ALL).ok(), Some(vec![1, 2, 3]));
}

#[test]
fn expand_stops_before_the_first_contract_and_contract_before_the_next_expand() {
    let pending = [
        (1, "a", E),
        (2, "b", None),
        (3, "c", C),
        (4, "d", C),
        (5, "e", E),
    ];
    assert_eq!(select(&pending, &PhaseRun::Expand).ok(), Some(2));
    assert!(matches!(
        select(&pending, &PhaseRun::Contract),
        Err(Error::ExpandPending {
            version: 1,
            contract_version: 3,
            ..
        })
    ));
    assert_eq!(select(&pending[2..], &PhaseRun::Contract).ok(), Some(2));
    assert_eq!(select(&pending[4..], &PhaseRun::Contract).ok(), Some(0));
    assert_eq!(select(&pending[2..], &PhaseRun::Expand).ok(), Some(0));
    assert!(matches!(
        select(
            &pending,
            &PhaseRun::All {
                contract_needs_proof: true
            }
        ),
        Err(Error::ContractNeedsProof { version: 3, .. })
    ));
    assert_eq!(select(&pending, &ALL).ok(), Some(5));
}

#[test]
fn a_rollback_reverts_newest_first_and_refuses_what_it_cannot_revert() {
    let f = Fixture::new([1, 2, 3]).irreversible(1);
    let h = history(&[1, 2, 3]);
    assert_eq!(f.rollback(&h, Rollback::Last(2)).ok(), Some(vec![3, 2]));
    assert_eq!(f.rollback(&h, Rollback::To(1)).ok(), Some(vec![3, 2]));
    assert_eq!(f.rollback(&h, Rollback::To(3)).ok(), Some(vec![]));
    assert!(matches!(
        f.rollback(&h, Rollback::Last(4)),
        Err(Error::RollbackTooFar {
            requested: 4,
            applied: 3
        })
    ));
    assert!(matches!(
        f.rollback(&h, Rollback::To(0)),
        Err(Error::Irreversible { version: 1, .. })
    ));
    assert!(matches!(
        f.rollback(&h, Rollback::To(7)),
        Err(Error::UnknownVersion { version: 7, .. })
    ));
    let missing = history(&[1, 2, 3, 8]);
    assert!(matches!(
        f.rollback(&missing, Rollback::Last(1)),
        Err(Error::Missing { version: 8, .. })
    ));
    // Recorded (not declared) is a valid rollback target.
    assert_eq!(f.rollback(&missing, Rollback::To(8)).ok(), Some(vec![]));
}

#[test]
fn a_rollback_refuses_a_divergent_step_and_recorded_duplicates() {
    let mut f = Fixture::new([1, 2]);
    let mut edited = applied(2);
    edited.name = "renamed".into();
    let h = History::new(vec![applied(1), edited], vec![]);
    assert!(matches!(
        f.rollback(&h, Rollback::Last(1)),
        Err(Error::Divergent { version: 2, .. })
    ));
    // Only the steps it reverts are checked.
    let only_1 = History::new(vec![applied(1)], vec![]);
    assert_eq!(f.rollback(&only_1, Rollback::Last(1)).ok(), Some(vec![1]));
    f.options.allow_divergent.insert(2);
    assert_eq!(f.rollback(&h, Rollback::Last(1)).ok(), Some(vec![2]));

    let dup = History::new(vec![applied(1), applied(1)], vec![]);
    assert!(matches!(
        f.rollback(&dup, Rollback::Last(1)),
        Err(Error::DuplicateRecord { version: 1 })
    ));
    // Declared duplicates do not stop a rollback (the builder refuses them).
    let rules = f.rules();
    let mut p = f.plan(&only_1);
    p.duplicates.push(crate::plan::Duplicate {
        version: 2,
        names: vec!["a".into(), "b".into()],
        recorded: false,
    });
    assert!(rules.refuse_rollback(&p, Rollback::Last(1)).is_ok());
}

#[test]
fn a_version_recorded_in_doubt_is_a_valid_rollback_target() {
    let f = Fixture::new([1]);
    let h = History::new(
        vec![applied(1)],
        vec![InDoubt::new(&info(5), Direction::Up, 0)],
    );
    let p = f.plan(&h);
    assert!(f.rules().refuse_rollback(&p, Rollback::To(5)).is_ok());
    assert!(f.rules().refuse_rollback(&p, Rollback::To(6)).is_err());
}

#[test]
fn a_dry_run_schedules_out_of_order_steps_only_when_allowed() {
    let mut f = Fixture::new([1, 2, 3]);
    let h = history(&[2]);
    let p = f.rules().dry_run(f.plan(&h), None);
    assert_eq!(p.out_of_order.len(), 1);
    f.options.allow_out_of_order = true;
    let p = f.rules().dry_run(f.plan(&h), Some(1));
    assert_eq!(p.pending.iter().map(|m| m.version).collect::<Vec<_>>(), [1]);
    assert_eq!(p.above_target.len(), 1);
}
