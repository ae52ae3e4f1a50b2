//! The step protocol around the records, the same for every store: writes
//! need the lock; one step at a time; `commit` and `abort` end the step that
//! was begun (and always end it); `lock` and `unlock` abandon a step left
//! open by a cancelled operation (a step run in a transaction is rolled
//! back, a recorded intent stays in doubt). What the records themselves may
//! become is the [ledger](super::ledger)'s concern.

use crate::error::Error;
use crate::history::{RecordChange, Settlement, StepIntent};
use crate::migration::Direction;

/// A step that was begun and has not ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenStep {
    pub(crate) version: u64,
    pub(crate) direction: Direction,
    /// Run in a transaction the store rolls back on abort: nothing of it
    /// is recorded until it commits.
    pub(crate) hidden: bool,
}

impl std::fmt::Display for OpenStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} step of migration {} is still open",
            self.direction, self.version
        )
    }
}

/// A call against the step protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) version: u64,
    pub(crate) change: RecordChange,
    pub(crate) problem: String,
}

impl Violation {
    pub(crate) fn into_error(self, store: impl Into<String>) -> Error {
        Error::ProtocolViolation {
            store: store.into(),
            version: self.version,
            change: self.change,
            problem: self.problem,
        }
    }
}

/// The step protocol: the lock, and the step begun and not yet ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    locked: bool,
    open: Option<OpenStep>,
}

impl Session {
    pub(crate) fn is_locked(&self) -> bool {
        self.locked
    }

    /// The step begun and not yet ended.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn open_step(&self) -> Option<OpenStep> {
        self.open
    }

    /// The lock is taken (or was held already). Returns the step a
    /// cancelled operation left open: the store abandons it.
    pub(crate) fn lock(&mut self) -> Option<OpenStep> {
        self.locked = true;
        self.open.take()
    }

    /// Takes the step a cancelled operation left open, without touching
    /// the lock: the store abandons it.
    #[cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]
    pub(crate) fn abandon(&mut self) -> Option<OpenStep> {
        self.open.take()
    }

    /// The lock is released (or the connection holding it was lost).
    /// Returns the step left open: the store abandons it.
    pub(crate) fn unlock(&mut self) -> Option<OpenStep> {
        self.locked = false;
        self.open.take()
    }

    fn violation(version: u64, change: RecordChange, problem: String) -> Violation {
        Violation {
            version,
            change,
            problem,
        }
    }

    /// Whether a step of `intent` may begin now.
    pub(crate) fn check_begin(&self, intent: &StepIntent) -> Result<(), Violation> {
        let change = RecordChange::Begin(intent.direction);
        if !self.locked {
            return Err(Self::violation(
                intent.version,
                change,
                "the store is not locked".into(),
            ));
        }
        if let Some(open) = self.open {
            return Err(Self::violation(intent.version, change, open.to_string()));
        }
        Ok(())
    }

    /// Records that the step of `intent` began (after
    /// [`check_begin`](Self::check_begin) and, for a recorded intent, after
    /// the record was written).
    pub(crate) fn begun(&mut self, intent: &StepIntent, hidden: bool) {
        self.open = Some(OpenStep {
            version: intent.version,
            direction: intent.direction,
            hidden,
        });
    }

    /// Ends the open step, which must be `intent`'s; `commit` tells a
    /// commit from an abort. The step ends whatever the store then records.
    pub(crate) fn end(&mut self, intent: &StepIntent, commit: bool) -> Result<OpenStep, Violation> {
        let change = if commit {
            RecordChange::Commit(intent.direction)
        } else {
            RecordChange::Abort(intent.direction)
        };
        let problem = match self.open {
            Some(open) if open.version == intent.version && open.direction == intent.direction => {
                self.open = None;
                return Ok(open);
            }
            Some(open) => format!(
                "the open step is the {} step of migration {}",
                open.direction, open.version
            ),
            None if !self.locked => "the store is not locked".into(),
            None => "no step was begun".into(),
        };
        Err(Self::violation(intent.version, change, problem))
    }

    /// Whether a step in doubt may be settled now.
    pub(crate) fn check_resolve(
        &self,
        version: u64,
        resolution: Settlement,
    ) -> Result<(), Violation> {
        let change = RecordChange::Resolve(resolution);
        if !self.locked {
            return Err(Self::violation(
                version,
                change,
                "the store is not locked".into(),
            ));
        }
        if let Some(open) = self.open {
            return Err(Self::violation(version, change, open.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::MigrationInfo;

    fn intent(version: u64) -> StepIntent {
        StepIntent::new(
            &MigrationInfo::new(version, format!("m{version}"), b"x"),
            Direction::Up,
            7,
        )
    }

    #[test]
    fn the_session_allows_one_step_at_a_time_under_the_lock() {
        let up = intent(1);
        let mut session = Session::default();
        assert!(
            session
                .check_begin(&up)
                .expect_err("unlocked")
                .problem
                .contains("not locked")
        );
        assert_eq!(session.lock(), None);
        session.check_begin(&up).expect("locked");
        session.begun(&up, true);
        let two = intent(2);
        assert!(session.check_begin(&two).is_err());
        assert!(session.check_resolve(2, Settlement::Applied).is_err());
        let err = session.end(&two, true).expect_err("not the open step");
        assert_eq!(err.problem, "the open step is the up step of migration 1");
        assert_eq!(session.end(&up, true).map(|s| s.hidden), Ok(true));
        assert_eq!(
            session.end(&up, false).expect_err("ended").problem,
            "no step was begun"
        );
        session.begun(&up, false);
        assert_eq!(session.unlock().map(|s| s.version), Some(1));
        assert_eq!(session.open_step(), None);
    }
}
