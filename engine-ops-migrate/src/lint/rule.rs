//! The linter's rules: names, what each catches, its severity per phase
//! and the safe alternative it prints.

use serde::{Deserialize, Serialize};

use crate::Phase;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Worth a look; does not fail `migrate lint` nor a `Deny` policy.
    Warning,
    /// Blocks readers or writers, or breaks the version still serving.
    Error,
}

macro_rules! rules {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $alt:literal; )*) => {
        /// A lint rule. Lock rules hold in every phase; compatibility
        /// rules depend on the migration's [`Phase`] (see
        /// [`severity`](Self::severity)).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        #[non_exhaustive]
        pub enum Rule {
            $( $(#[$doc])* $variant, )*
        }

        impl Rule {
            /// Every rule.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            /// The rule's name, as allow comments write it.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(Rule::$variant => $name,)* }
            }

            /// The safe way to do what the statement wanted.
            #[must_use]
            pub fn alternative(self) -> &'static str {
                match self { $(Rule::$variant => $alt,)* }
            }

            /// The rule named `name`.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Rule> {
                match name { $($name => Some(Rule::$variant),)* _ => None }
            }
        }
    };
}

rules! {
    /// `CREATE INDEX` (SHARE lock: blocks writes for the whole build) or
    /// `DROP INDEX` (ACCESS EXCLUSIVE) without `CONCURRENTLY`, on a table
    /// this migration did not create.
    IndexNotConcurrent = "index-not-concurrent",
    "build it with CREATE INDEX CONCURRENTLY (SqlMigration::create_index_concurrently: alone in a non-transactional migration, checks indisvalid, retried on lock timeouts); drop it with DROP INDEX CONCURRENTLY IF EXISTS, alone in its batch of a non-transactional migration";
    /// `CONCURRENTLY` in a transactional migration or in a batch with other
    /// statements: PostgreSQL refuses it (a multi-statement request is an
    /// implicit transaction).
    ConcurrentlyInTransaction = "concurrently-in-transaction",
    "put the statement alone in its batch (`-- engine-ops: batch`) of a non-transactional migration (`-- engine-ops: no-transaction`, SqlMigration::no_transaction)";
    /// `ADD CONSTRAINT … CHECK / FOREIGN KEY` without `NOT VALID` (a scan of
    /// the whole table under an ACCESS EXCLUSIVE / SHARE ROW EXCLUSIVE
    /// lock), or its `VALIDATE` in the same transaction as the `NOT VALID`.
    ConstraintNotValid = "constraint-not-valid",
    "add it with NOT VALID now (no scan; new rows are checked), and VALIDATE CONSTRAINT in a later migration (SHARE UPDATE EXCLUSIVE: reads and writes go on)";
    /// `ADD UNIQUE` / `ADD PRIMARY KEY` that builds its index under an
    /// ACCESS EXCLUSIVE lock.
    UniqueBuildsIndex = "unique-builds-index",
    "build the index first with CREATE UNIQUE INDEX CONCURRENTLY (SqlMigration::create_unique_index_concurrently), then ADD CONSTRAINT name UNIQUE USING INDEX index_name (no scan)";
    /// `SET NOT NULL` without a validated `CHECK (col IS NOT NULL)`: a scan
    /// of the whole table under an ACCESS EXCLUSIVE lock.
    SetNotNullScans = "set-not-null-scans",
    "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; in a later migration VALIDATE CONSTRAINT c; then SET NOT NULL (PostgreSQL 12+ proves it from the check: no scan) and DROP CONSTRAINT c";
    /// A statement that rewrites the whole table under an ACCESS EXCLUSIVE
    /// lock: a column with a volatile default, a stored generated or
    /// identity / serial column, a type change PostgreSQL cannot do in
    /// place.
    TableRewrite = "table-rewrite",
    "add the column nullable without the default, SET DEFAULT in a separate statement, backfill existing rows in batches in a non-transactional migration; for a type change, add a new column, write both, backfill, switch reads, drop the old one";
    /// `UPDATE` / `DELETE` of a table that the same transaction has locked
    /// for DDL: the lock is held for the whole backfill.
    BackfillInDdlTransaction = "backfill-in-ddl-transaction",
    "commit the DDL first; backfill in a later, non-transactional migration in batches (UPDATE … WHERE id BETWEEN …), so no lock is held for long";
    /// Two or more existing tables locked SHARE ROW EXCLUSIVE or stronger
    /// in one transaction: lock queues on both, and deadlocks.
    LocksManyTables = "locks-many-tables",
    "change one table per migration (and add one foreign key per migration)";
    /// A session-level `SET` in a non-transactional migration: it stays on
    /// the migrator's connection for every later step.
    SessionSetting = "session-setting",
    "use the store's per-step limits (StepTimeouts: lock_timeout, statement_timeout, SET LOCAL in every attempt) or SET LOCAL inside a transactional migration";
    /// A statement PostgreSQL's grammar does not accept.
    Unparsable = "unparsable",
    "fix the syntax (the migration would fail on the server too)";
    /// A `DO` block or a function body: the linter cannot see what it runs.
    OpaqueStatement = "opaque-statement",
    "write the statements out plainly so they can be checked, or allow it with a reason that says what it does and which locks it takes";
    /// `DROP TABLE / COLUMN / VIEW / …` in an expand migration: the old
    /// version still reads and writes it.
    DropObject = "drop-object",
    "drop it in a contract migration, after the old version is gone (Migrator::run_contract); make the new version stop using it first";
    /// `RENAME` of a table or column: the old version's queries name the
    /// old one.
    Rename = "rename",
    "add the new column (or a view with the new name), write both (trigger or application), backfill, switch reads, stop writing the old one, drop it in a contract migration";
    /// `ADD COLUMN … NOT NULL` without a default: the old version's INSERTs
    /// do not set it and fail.
    RequiredColumn = "required-column",
    "add it with a constant DEFAULT (catalog-only since PostgreSQL 11), or nullable and make it NOT NULL in a contract migration";
    /// A constraint (CHECK, NOT NULL, FOREIGN KEY, UNIQUE) added to existing
    /// columns in an expand migration, even `NOT VALID`: it checks new and
    /// updated rows, so the old version's INSERT / UPDATE fail.
    ConstraintBreaksOldWriters = "constraint-breaks-old-writers",
    "add it in a contract migration, once the old version is gone (NOT VALID still checks every new or updated row)";
    /// A changed column type, even a widening done in place: the old
    /// version's prepared statements fail ("cached plan must not change
    /// result type"), and most changes rewrite the table.
    TypeChange = "type-change",
    "add a column of the new type, write both, backfill, switch reads, drop the old column in a contract migration";
    /// `SET DEFAULT` / `DROP DEFAULT` of an existing column in an expand
    /// migration: the old version's INSERTs relied on the old default.
    DefaultChange = "default-change",
    "change the default in a contract migration, or make sure the old version sets the column itself";
    /// `ALTER TYPE … ADD VALUE` in an expand migration: the old version may
    /// not decode rows with the new value.
    EnumAddValue = "enum-add-value",
    "check that the old version tolerates the new value before writing it, or add it in a contract migration";
    /// `TRUNCATE` or `DELETE` in an expand migration: data the old version
    /// still serves disappears.
    DestructiveInExpand = "destructive-in-expand",
    "remove data in a contract migration, after the old version is gone";
    /// A migration without a phase: the compatibility rules take it as
    /// expand.
    PhaseMissing = "phase-missing",
    "declare it: `-- engine-ops: phase expand` or `phase contract` (SqlMigration::phase)";
    /// An allow comment naming an unknown rule, or without a reason.
    BadAllow = "bad-allow",
    "name rules this linter knows (the message lists them) and give a reason: `-- engine-ops: allow(rule) reason=\"...\"`";
    /// An allow comment that silenced nothing.
    UnusedAllow = "unused-allow",
    "remove it";
}

impl Rule {
    /// How the rule weighs in a migration of `phase` (`None`: taken as
    /// expand); `None` when it does not apply (a drop in a contract
    /// migration).
    #[must_use]
    pub fn severity(self, phase: Option<Phase>) -> Option<Severity> {
        let contract = phase == Some(Phase::Contract);
        match self {
            Rule::LocksManyTables
            | Rule::OpaqueStatement
            | Rule::PhaseMissing
            | Rule::UnusedAllow => Some(Severity::Warning),
            Rule::DropObject | Rule::ConstraintBreaksOldWriters | Rule::DestructiveInExpand => {
                (!contract).then_some(Severity::Error)
            }
            Rule::DefaultChange | Rule::EnumAddValue => (!contract).then_some(Severity::Warning),
            _ => Some(Severity::Error),
        }
    }

    /// Whether the rule is about locks (every phase) rather than about the
    /// old version's compatibility.
    #[must_use]
    pub fn is_lock_rule(self) -> bool {
        matches!(
            self,
            Rule::IndexNotConcurrent
                | Rule::ConcurrentlyInTransaction
                | Rule::ConstraintNotValid
                | Rule::UniqueBuildsIndex
                | Rule::SetNotNullScans
                | Rule::TableRewrite
                | Rule::BackfillInDdlTransaction
                | Rule::LocksManyTables
                | Rule::SessionSetting
                | Rule::Unparsable
                | Rule::OpaqueStatement
        )
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
