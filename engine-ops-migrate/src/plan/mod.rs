//! The pure planner: declared migrations + recorded history -> [`Plan`].
//!
//! No I/O, no clock, no randomness: the same inputs always give the same
//! plan, so every rule is unit- and property-tested without a store.

pub(crate) mod check;
pub(crate) mod settle;
pub(crate) mod status;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checksum::Checksum;
use crate::history::{AppliedMigration, History, InDoubt};
use crate::migration::MigrationInfo;
use crate::phase::Phase;

/// A declared migration as it appears in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MigrationRef {
    /// Version.
    pub version: u64,
    /// Declared name.
    pub name: String,
    /// Declared checksum.
    pub checksum: Checksum,
    /// Declared phase.
    pub phase: Option<Phase>,
}

impl From<&MigrationInfo> for MigrationRef {
    fn from(info: &MigrationInfo) -> Self {
        Self {
            version: info.version,
            name: info.name.clone(),
            checksum: info.checksum,
            phase: info.phase,
        }
    }
}

/// A recorded migration whose declared name or source changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Divergence {
    /// Version.
    pub version: u64,
    /// Name in the code.
    pub declared_name: String,
    /// Name in the store.
    pub recorded_name: String,
    /// Checksum of the code's source.
    pub declared_checksum: Checksum,
    /// Checksum in the store.
    pub recorded_checksum: Checksum,
}

impl Divergence {
    /// Whether the name differs.
    #[must_use]
    pub fn name_changed(&self) -> bool {
        self.declared_name != self.recorded_name
    }

    /// Whether the source differs.
    #[must_use]
    pub fn checksum_changed(&self) -> bool {
        self.declared_checksum != self.recorded_checksum
    }
}

/// Two or more entries with the same version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Duplicate {
    /// The shared version.
    pub version: u64,
    /// The names of all entries carrying it, in input order.
    pub names: Vec<String>,
    /// `true` when the duplicates are in the store's history, `false` when
    /// they are among the declared migrations.
    pub recorded: bool,
}

/// One problem found by [`plan()`], as listed by [`Plan::problems`] and
/// [`VerifyReport`](crate::VerifyReport).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// A recorded migration's name or checksum differs from the code.
    Divergent(Divergence),
    /// A migration is recorded as applied but no longer declared.
    Missing(AppliedMigration),
    /// A declared migration below the highest applied version was never applied.
    OutOfOrder {
        /// The migration.
        migration: MigrationRef,
        /// The highest applied version.
        highest_applied: u64,
    },
    /// A step started and never finished.
    InDoubt(InDoubt),
    /// Several migrations share a version.
    Duplicate(Duplicate),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Divergent(d) => {
                write!(f, "migration {} ({}) diverged:", d.version, d.declared_name)?;
                if d.name_changed() {
                    write!(f, " recorded name {:?}", d.recorded_name)?;
                }
                if d.checksum_changed() {
                    write!(
                        f,
                        " recorded checksum {}, declared {}",
                        d.recorded_checksum, d.declared_checksum
                    )?;
                }
                Ok(())
            }
            Self::Missing(a) => write!(
                f,
                "migration {} ({}) is applied but no longer declared",
                a.version, a.name
            ),
            Self::OutOfOrder {
                migration,
                highest_applied,
            } => write!(
                f,
                "migration {} ({}) is pending below the highest applied version {}",
                migration.version, migration.name, highest_applied
            ),
            Self::InDoubt(d) => write!(
                f,
                "migration {} ({}) is in doubt: its {} step started and never finished",
                d.version, d.name, d.direction
            ),
            Self::Duplicate(d) => write!(
                f,
                "version {} is used by {} {} migrations: {}",
                d.version,
                d.names.len(),
                if d.recorded { "recorded" } else { "declared" },
                d.names.join(", ")
            ),
        }
    }
}

/// What a run would do and everything that stands in its way.
///
/// Built by [`plan()`]; every list is sorted ascending by version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// Declared, never applied, above the highest applied version (and at or
    /// below the target, if one is set): what a run applies, in this order.
    pub pending: Vec<MigrationRef>,
    /// Recorded as applied (declared or not).
    pub applied: Vec<AppliedMigration>,
    /// Applied (or in doubt) with a different name or checksum in the code.
    pub divergent: Vec<Divergence>,
    /// Applied but no longer declared.
    pub missing: Vec<AppliedMigration>,
    /// Declared below the highest applied version and never applied.
    pub out_of_order: Vec<MigrationRef>,
    /// Started and never finished.
    pub in_doubt: Vec<InDoubt>,
    /// Versions used more than once.
    pub duplicates: Vec<Duplicate>,
    /// Pending migrations left out because they are above the target.
    pub above_target: Vec<MigrationRef>,
    /// The target version, if the plan was limited with [`Plan::with_target`].
    pub target: Option<u64>,
}

/// Compares declared migrations with a store's history.
///
/// Pure and O(n log n) in the number of migrations. Declared migrations may
/// come in any order. The result classifies every version exactly once
/// among pending / applied / out-of-order / in-doubt, and lists divergences,
/// missing migrations and duplicates on top.
///
/// # Examples
///
/// ```
/// use engine_ops_migrate::{plan, AppliedMigration, History, MigrationInfo};
///
/// let declared = vec![
///     MigrationInfo::new(1, "create_users", b"CREATE TABLE users ();"),
///     MigrationInfo::new(2, "add_email", b"ALTER TABLE users ADD email text;"),
/// ];
/// let history = History::new(vec![AppliedMigration::new(&declared[0], 0, 1)], vec![]);
/// let plan = plan(&declared, &history);
/// assert_eq!(plan.pending.iter().map(|m| m.version).collect::<Vec<_>>(), [2]);
/// assert!(plan.problems().is_empty());
/// ```
#[must_use]
pub fn plan(declared: &[MigrationInfo], history: &History) -> Plan {
    plan_owned(declared, history.clone())
}

/// [`plan()`], moving the records out of `history` instead of copying them.
pub(crate) fn plan_owned(declared: &[MigrationInfo], history: History) -> Plan {
    let mut out = Plan::default();

    // Declared migrations sorted by version; duplicates are reported and only
    // the first of each version takes part in the rest of the plan.
    let mut sorted: Vec<&MigrationInfo> = declared.iter().collect();
    sorted.sort_by_key(|m| m.version);
    let mut unique: Vec<&MigrationInfo> = Vec::with_capacity(sorted.len());
    for group in sorted.chunk_by(|a, b| a.version == b.version) {
        if group.len() > 1 {
            out.duplicates.push(Duplicate {
                version: group[0].version,
                names: group.iter().map(|m| m.name.clone()).collect(),
                recorded: false,
            });
        }
        unique.push(group[0]);
    }

    let History {
        applied: mut applied_unique,
        in_doubt,
    } = history;
    // Stable: the first record of a duplicated version stays first.
    applied_unique.sort_by_key(|a| a.version);
    for group in applied_unique.chunk_by(|a, b| a.version == b.version) {
        if group.len() > 1 {
            out.duplicates.push(Duplicate {
                version: group[0].version,
                names: group.iter().map(|a| a.name.clone()).collect(),
                recorded: true,
            });
        }
    }
    applied_unique.dedup_by_key(|a| a.version);

    // Later records of a version replace earlier ones, as a map insert does.
    let in_doubt: BTreeMap<u64, InDoubt> = in_doubt.into_iter().map(|d| (d.version, d)).collect();
    for d in in_doubt.values() {
        if applied_unique
            .binary_search_by_key(&d.version, |a| a.version)
            .is_ok()
        {
            out.duplicates.push(Duplicate {
                version: d.version,
                names: vec![d.name.clone(), d.name.clone()],
                recorded: true,
            });
        }
    }
    out.duplicates.sort_by_key(|d| d.version);

    let highest_applied = applied_unique.last().map(|a| a.version);

    // Merge walk over the two sorted lists.
    let (mut i, mut j) = (0, 0);
    while i < unique.len() || j < applied_unique.len() {
        let d = unique.get(i).copied();
        let a = applied_unique.get(j);
        match (d, a) {
            (Some(d), Some(a)) if d.version == a.version => {
                if d.name != a.name || d.checksum != a.checksum {
                    out.divergent.push(Divergence {
                        version: d.version,
                        declared_name: d.name.clone(),
                        recorded_name: a.name.clone(),
                        declared_checksum: d.checksum,
                        recorded_checksum: a.checksum,
                    });
                }
                i += 1;
                j += 1;
            }
            (Some(d), a) if a.is_none_or(|a| d.version < a.version) => {
                if let Some(doubt) = in_doubt.get(&d.version) {
                    if d.name != doubt.name || d.checksum != doubt.checksum {
                        out.divergent.push(Divergence {
                            version: d.version,
                            declared_name: d.name.clone(),
                            recorded_name: doubt.name.clone(),
                            declared_checksum: d.checksum,
                            recorded_checksum: doubt.checksum,
                        });
                    }
                } else if highest_applied.is_some_and(|h| d.version < h) {
                    out.out_of_order.push(MigrationRef::from(d));
                } else {
                    out.pending.push(MigrationRef::from(d));
                }
                i += 1;
            }
            (_, Some(a)) => {
                out.missing.push(a.clone());
                j += 1;
            }
            (None, None) => break,
            // Unreachable: `(Some(d), None)` is taken by the arm above.
            (Some(_), None) => break,
        }
    }
    out.divergent.sort_by_key(|d| d.version);
    // The walk visited every record once, in order: all of them are applied.
    out.applied = applied_unique;
    out.in_doubt = in_doubt.into_values().collect();
    out
}

impl Plan {
    /// Limits the plan to `target`: pending migrations above it move to
    /// [`above_target`](Self::above_target).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{plan, History, MigrationInfo};
    ///
    /// let declared: Vec<_> = (1..=5).map(|v| MigrationInfo::new(v, "m", b"m")).collect();
    /// let p = plan(&declared, &History::default()).with_target(3);
    /// assert_eq!(p.pending.len(), 3);
    /// assert_eq!(p.above_target.len(), 2);
    /// ```
    #[must_use]
    pub fn with_target(mut self, target: u64) -> Self {
        let split = self.pending.partition_point(|m| m.version <= target);
        let above = self.pending.split_off(split);
        self.above_target.extend(above);
        self.above_target.sort_by_key(|m| m.version);
        self.target = Some(target);
        self
    }

    /// Schedules out-of-order migrations with the pending ones (in version
    /// order) instead of reporting them as a problem. Call before
    /// [`with_target`](Self::with_target).
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{plan, AppliedMigration, History, MigrationInfo};
    ///
    /// let declared: Vec<_> = (1..=3).map(|v| MigrationInfo::new(v, "m", b"m")).collect();
    /// let history = History::new(vec![AppliedMigration::new(&declared[2], 0, 0)], vec![]);
    /// let p = plan(&declared, &history);
    /// assert_eq!(p.out_of_order.len(), 2);
    /// let p = p.allow_out_of_order();
    /// assert_eq!(p.pending.iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2]);
    /// ```
    #[must_use]
    pub fn allow_out_of_order(mut self) -> Self {
        let ooo = std::mem::take(&mut self.out_of_order);
        self.pending.extend(ooo);
        self.pending.sort_by_key(|m| m.version);
        self
    }

    /// The applied migrations in the order a rollback reverts them: newest
    /// (highest version) first.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{plan, AppliedMigration, History, MigrationInfo};
    ///
    /// let declared: Vec<_> = (1..=3).map(|v| MigrationInfo::new(v, "m", b"m")).collect();
    /// let applied = declared.iter().map(|d| AppliedMigration::new(d, 0, 0)).collect();
    /// let p = plan(&declared, &History::new(applied, vec![]));
    /// let order: Vec<u64> = p.rollback_order().map(|a| a.version).collect();
    /// assert_eq!(order, [3, 2, 1]);
    /// ```
    pub fn rollback_order(&self) -> impl Iterator<Item = &AppliedMigration> {
        self.applied.iter().rev()
    }

    /// The highest applied version.
    #[must_use]
    pub fn highest_applied(&self) -> Option<u64> {
        self.applied.last().map(|a| a.version)
    }

    /// Every problem, in a stable order: duplicates, divergences, missing,
    /// in doubt, out of order.
    ///
    /// # Examples
    ///
    /// ```
    /// use engine_ops_migrate::{plan, History, MigrationInfo, Problem};
    ///
    /// let declared = vec![MigrationInfo::new(1, "a", b"a"), MigrationInfo::new(1, "b", b"b")];
    /// let problems = plan(&declared, &History::default()).problems();
    /// assert!(matches!(problems[0], Problem::Duplicate(_)));
    /// ```
    #[must_use]
    pub fn problems(&self) -> Vec<Problem> {
        let highest = self.highest_applied().unwrap_or(0);
        let mut out = Vec::new();
        out.extend(self.duplicates.iter().cloned().map(Problem::Duplicate));
        out.extend(self.divergent.iter().cloned().map(Problem::Divergent));
        out.extend(self.missing.iter().cloned().map(Problem::Missing));
        out.extend(self.in_doubt.iter().cloned().map(Problem::InDoubt));
        out.extend(
            self.out_of_order
                .iter()
                .cloned()
                .map(|migration| Problem::OutOfOrder {
                    migration,
                    highest_applied: highest,
                }),
        );
        out
    }

    /// `true` when [`problems`](Self::problems) is empty.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.duplicates.is_empty()
            && self.divergent.is_empty()
            && self.missing.is_empty()
            && self.in_doubt.is_empty()
            && self.out_of_order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::Direction;

    fn info(v: u64) -> MigrationInfo {
        MigrationInfo::new(v, format!("m{v}"), format!("source {v}").as_bytes())
    }

    fn applied(v: u64) -> AppliedMigration {
        AppliedMigration::new(&info(v), 0, 0)
    }

    #[test]
    fn versions_are_ordered_numerically_not_as_strings() {
        let declared = vec![info(10), info(9), info(100), info(2)];
        let p = plan(&declared, &History::default());
        let order: Vec<u64> = p.pending.iter().map(|m| m.version).collect();
        assert_eq!(order, [2, 9, 10, 100]);
    }

    #[test]
    fn classifies_every_kind() {
        let mut renamed = info(2);
        renamed.name = "renamed".into();
        let declared = vec![
            info(1),
            renamed,
            info(3),
            info(5),
            info(7),
            info(7),
            info(9),
        ];
        let doubt = InDoubt {
            version: 9,
            name: "m9".into(),
            checksum: info(9).checksum,
            phase: None,
            direction: Direction::Up,
            started_at_ms: 0,
        };
        let history = History::new(
            vec![applied(1), applied(2), applied(4), applied(5)],
            vec![doubt],
        );
        let p = plan(&declared, &history);
        assert_eq!(p.divergent.len(), 1);
        assert!(p.divergent[0].name_changed() && !p.divergent[0].checksum_changed());
        assert_eq!(p.missing.iter().map(|m| m.version).collect::<Vec<_>>(), [4]);
        assert_eq!(
            p.out_of_order.iter().map(|m| m.version).collect::<Vec<_>>(),
            [3]
        );
        assert_eq!(p.pending.iter().map(|m| m.version).collect::<Vec<_>>(), [7]);
        assert_eq!(p.in_doubt.len(), 1);
        assert_eq!(p.duplicates.len(), 1);
        assert_eq!(p.duplicates[0].names, ["m7", "m7"]);
        assert_eq!(p.problems().len(), 5);
        assert!(!p.is_clean());
    }

    #[test]
    fn in_doubt_with_changed_source_is_divergent() {
        let declared = vec![info(1)];
        let doubt = InDoubt {
            version: 1,
            name: "m1".into(),
            checksum: Checksum::of_source(b"old"),
            phase: None,
            direction: Direction::Up,
            started_at_ms: 0,
        };
        let p = plan(&declared, &History::new(vec![], vec![doubt]));
        assert_eq!(p.divergent.len(), 1);
        assert!(p.pending.is_empty());
    }
}
