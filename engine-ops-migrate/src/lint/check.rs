//! The checks, on PostgreSQL's own parse trees (libpg_query).

use std::collections::{BTreeMap, BTreeSet};

use pg_query::NodeEnum;
use pg_query::protobuf::{
    AlterTableCmd, AlterTableType, ColumnDef, ConstrType, Constraint, Node, ObjectType, RangeVar,
    TypeName,
};

use super::Rule;

/// What the linter knows from earlier migrations of the same list.
#[derive(Debug, Default)]
pub(super) struct History {
    /// `(table, column)` pairs a validated `CHECK (col IS NOT NULL)` proves.
    proven_not_null: BTreeSet<(String, String)>,
    /// Constraint name → `(table, column)` of a `CHECK (col IS NOT NULL)`
    /// added `NOT VALID`.
    pending_checks: BTreeMap<String, (String, String)>,
}

/// One statement to check.
pub(super) struct Statement<'a> {
    pub(super) node: Option<&'a NodeEnum>,
    /// Statements in its batch.
    pub(super) batch_len: usize,
}

/// A rule a statement breaks, and what exactly.
pub(super) struct Hit {
    pub(super) rule: Rule,
    pub(super) message: String,
}

fn hit(rule: Rule, message: impl Into<String>) -> Hit {
    Hit {
        rule,
        message: message.into(),
    }
}

/// The state of one migration being checked.
pub(super) struct Migration<'h> {
    history: &'h mut History,
    transactional: bool,
    /// Tables created by this migration: exempt from lock and
    /// compatibility rules (nobody uses them yet).
    created: BTreeSet<String>,
    /// Constraints added `NOT VALID` in this migration.
    not_valid: BTreeSet<String>,
    /// Columns added by this migration, as `(table, column)`.
    added_columns: BTreeSet<(String, String)>,
    /// Of those, the ones added `NOT NULL`.
    added_not_null: BTreeSet<(String, String)>,
    /// Existing tables locked SHARE ROW EXCLUSIVE or stronger in the
    /// current transaction (the migration, or the batch of a
    /// non-transactional one).
    strong_locked: BTreeSet<String>,
}

fn table(rel: Option<&RangeVar>) -> String {
    rel.map(|r| r.relname.to_lowercase()).unwrap_or_default()
}

fn string_of(node: &Node) -> Option<&str> {
    match node.node.as_ref()? {
        NodeEnum::String(s) => Some(&s.sval),
        _ => None,
    }
}

fn type_name(t: Option<&TypeName>) -> String {
    t.map(|t| {
        t.names
            .iter()
            .filter_map(string_of)
            .filter(|n| *n != "pg_catalog")
            .collect::<Vec<_>>()
            .join(".")
    })
    .unwrap_or_default()
}

/// Functions whose value changes per row: a column default calling one
/// makes `ADD COLUMN` rewrite the table.
const VOLATILE: &[&str] = &[
    "random",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "uuidv4",
    "uuidv7",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "txid_current",
    "statement_timestamp",
    "random_normal",
];

/// Whether an expression calls a volatile function (anywhere in it).
fn calls_volatile(node: &Node) -> Option<String> {
    let mut found = None;
    walk(node, &mut |n| {
        if let NodeEnum::FuncCall(f) = n {
            let name = f
                .funcname
                .iter()
                .filter_map(string_of)
                .next_back()
                .unwrap_or("");
            if found.is_none() && VOLATILE.contains(&name) {
                found = Some(name.to_owned());
            }
        }
    });
    found
}

/// Calls `f` on every node under `node` (a small generic walk through the
/// expression nodes a default or a check can hold).
fn walk(node: &Node, f: &mut dyn FnMut(&NodeEnum)) {
    let Some(inner) = node.node.as_ref() else {
        return;
    };
    f(inner);
    match inner {
        NodeEnum::FuncCall(c) => c.args.iter().for_each(|a| walk(a, f)),
        NodeEnum::TypeCast(c) => {
            if let Some(a) = &c.arg {
                walk(a, f);
            }
        }
        NodeEnum::AExpr(e) => {
            for side in [&e.lexpr, &e.rexpr].into_iter().flatten() {
                walk(side, f);
            }
        }
        NodeEnum::BoolExpr(b) => b.args.iter().for_each(|a| walk(a, f)),
        NodeEnum::CoalesceExpr(c) => c.args.iter().for_each(|a| walk(a, f)),
        NodeEnum::NullTest(t) => {
            if let Some(a) = &t.arg {
                walk(a, f);
            }
        }
        NodeEnum::List(l) => l.items.iter().for_each(|a| walk(a, f)),
        _ => {}
    }
}

/// `col IS NOT NULL` → `col`.
fn not_null_check_column(expr: Option<&Node>) -> Option<String> {
    let NodeEnum::NullTest(t) = expr?.node.as_ref()? else {
        return None;
    };
    // NullTestType: IS_NULL = 1, IS_NOT_NULL = 2.
    if t.nulltesttype != 2 {
        return None;
    }
    let NodeEnum::ColumnRef(c) = t.arg.as_ref()?.node.as_ref()? else {
        return None;
    };
    c.fields
        .iter()
        .filter_map(string_of)
        .next_back()
        .map(str::to_lowercase)
}

fn constr_type(c: &Constraint) -> ConstrType {
    ConstrType::try_from(c.contype).unwrap_or(ConstrType::Undefined)
}

fn constraints_of(col: &ColumnDef) -> impl Iterator<Item = &Constraint> {
    col.constraints
        .iter()
        .filter_map(|n| match n.node.as_ref() {
            Some(NodeEnum::Constraint(c)) => Some(&**c),
            _ => None,
        })
}

/// Types a column can change to without a rewrite, from some older types
/// (`varchar(n)` widened or unbounded, `text`, `timestamptz` from
/// `timestamp` with UTC, `numeric` with more precision, `inet` from
/// `cidr`). The linter does not know the old type, so these are given the
/// benefit of the doubt for `table-rewrite`.
const MAYBE_IN_PLACE: &[&str] = &[
    "text",
    "varchar",
    "bpchar",
    "timestamptz",
    "numeric",
    "inet",
    "citext",
];

impl<'h> Migration<'h> {
    pub(super) fn new(history: &'h mut History, transactional: bool) -> Self {
        Self {
            history,
            transactional,
            created: BTreeSet::new(),
            not_valid: BTreeSet::new(),
            added_columns: BTreeSet::new(),
            added_not_null: BTreeSet::new(),
            strong_locked: BTreeSet::new(),
        }
    }

    /// A new batch starts (a new implicit transaction in a
    /// non-transactional migration).
    pub(super) fn next_batch(&mut self) {
        if !self.transactional {
            self.strong_locked.clear();
        }
    }

    fn existing(&self, table: &str) -> bool {
        !self.created.contains(table)
    }

    /// Records a strong lock on `table`; a hit when it is the second
    /// existing table of the transaction.
    fn lock_strong(&mut self, table: &str, hits: &mut Vec<Hit>) {
        if !self.existing(table) || !self.strong_locked.insert(table.to_owned()) {
            return;
        }
        if self.strong_locked.len() == 2 {
            let tables: Vec<&str> = self.strong_locked.iter().map(String::as_str).collect();
            hits.push(hit(
                Rule::LocksManyTables,
                format!(
                    "locks tables {} in one transaction (SHARE ROW EXCLUSIVE or stronger)",
                    tables.join(" and ")
                ),
            ));
        }
    }

    /// The rules `statement` breaks.
    pub(super) fn check(&mut self, statement: &Statement<'_>) -> Vec<Hit> {
        let mut hits = Vec::new();
        let Some(node) = statement.node else {
            return hits;
        };
        match node {
            NodeEnum::CreateStmt(c) => {
                self.created.insert(table(c.relation.as_ref()));
            }
            NodeEnum::IndexStmt(i) => {
                let t = table(i.relation.as_ref());
                if i.concurrent {
                    self.concurrently(statement, &mut hits);
                } else if self.existing(&t) {
                    hits.push(hit(
                        Rule::IndexNotConcurrent,
                        format!("CREATE INDEX on {t} takes a SHARE lock: writes wait for the whole build"),
                    ));
                }
            }
            NodeEnum::DropStmt(d) => self.drop(d, statement, &mut hits),
            NodeEnum::AlterTableStmt(a) => {
                let t = table(a.relation.as_ref());
                if ObjectType::try_from(a.objtype) == Ok(ObjectType::ObjectTable)
                    && a.cmds.iter().any(|c| !is_light(c))
                {
                    self.lock_strong(&t, &mut hits);
                }
                for cmd in &a.cmds {
                    if let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() {
                        self.alter(&t, cmd, &mut hits);
                    }
                }
            }
            NodeEnum::RenameStmt(r) => {
                let t = table(r.relation.as_ref());
                if r.relation.is_none() || self.existing(&t) {
                    hits.push(hit(
                        Rule::Rename,
                        format!(
                            "renames {} to {}: the old version still uses the old name",
                            if r.subname.is_empty() {
                                t.clone()
                            } else {
                                format!("{t}.{}", r.subname)
                            },
                            r.newname
                        ),
                    ));
                }
            }
            NodeEnum::UpdateStmt(u) => {
                let t = table(u.relation.as_ref());
                self.backfill(&t, "UPDATE", &mut hits);
            }
            NodeEnum::DeleteStmt(d) => {
                let t = table(d.relation.as_ref());
                self.backfill(&t, "DELETE", &mut hits);
                if self.existing(&t) {
                    hits.push(hit(
                        Rule::DestructiveInExpand,
                        format!("deletes rows of {t}"),
                    ));
                }
            }
            NodeEnum::TruncateStmt(tr) => {
                for rel in &tr.relations {
                    if let Some(NodeEnum::RangeVar(r)) = rel.node.as_ref() {
                        let t = table(Some(r));
                        if self.existing(&t) {
                            hits.push(hit(Rule::DestructiveInExpand, format!("truncates {t}")));
                        }
                    }
                }
            }
            NodeEnum::VariableSetStmt(v)
                if !self.transactional && !v.is_local && !v.name.is_empty() =>
            {
                hits.push(hit(
                    Rule::SessionSetting,
                    format!(
                        "SET {} stays on the migrator's session after this step",
                        v.name
                    ),
                ));
            }
            NodeEnum::DoStmt(_) => hits.push(hit(
                Rule::OpaqueStatement,
                "a DO block: the linter cannot see what it runs",
            )),
            NodeEnum::CreateFunctionStmt(_) => hits.push(hit(
                Rule::OpaqueStatement,
                "a function body: the linter cannot see what it runs",
            )),
            NodeEnum::AlterEnumStmt(e) if !e.new_val.is_empty() => {
                hits.push(hit(
                    Rule::EnumAddValue,
                    format!(
                        "adds value {:?} to an enum the old version decodes",
                        e.new_val
                    ),
                ));
            }
            NodeEnum::CreateTrigStmt(t) => {
                let t = table(t.relation.as_ref());
                self.lock_strong(&t, &mut hits);
            }
            _ => {}
        }
        hits
    }

    fn concurrently(&self, statement: &Statement<'_>, hits: &mut Vec<Hit>) {
        if self.transactional {
            hits.push(hit(
                Rule::ConcurrentlyInTransaction,
                "CONCURRENTLY in a transactional migration: PostgreSQL refuses it (cannot run inside a transaction block)",
            ));
        } else if statement.batch_len > 1 {
            hits.push(hit(
                Rule::ConcurrentlyInTransaction,
                format!(
                    "CONCURRENTLY in a batch of {} statements: PostgreSQL runs them as one implicit transaction and refuses it",
                    statement.batch_len
                ),
            ));
        }
    }

    fn drop(
        &mut self,
        d: &pg_query::protobuf::DropStmt,
        statement: &Statement<'_>,
        hits: &mut Vec<Hit>,
    ) {
        let kind = ObjectType::try_from(d.remove_type).unwrap_or(ObjectType::Undefined);
        let names: Vec<String> = d
            .objects
            .iter()
            .map(|o| match o.node.as_ref() {
                Some(NodeEnum::List(l)) => l
                    .items
                    .iter()
                    .filter_map(string_of)
                    .next_back()
                    .unwrap_or_default()
                    .to_lowercase(),
                Some(NodeEnum::String(s)) => s.sval.to_lowercase(),
                _ => String::new(),
            })
            .collect();
        if kind == ObjectType::ObjectIndex {
            if d.concurrent {
                self.concurrently(statement, hits);
            } else {
                hits.push(hit(
                    Rule::IndexNotConcurrent,
                    format!(
                        "DROP INDEX {} takes an ACCESS EXCLUSIVE lock on its table: reads and writes wait",
                        names.join(", ")
                    ),
                ));
            }
            return;
        }
        let what = match kind {
            ObjectType::ObjectTable => "table",
            ObjectType::ObjectView => "view",
            ObjectType::ObjectMatview => "materialized view",
            ObjectType::ObjectSequence => "sequence",
            ObjectType::ObjectType | ObjectType::ObjectDomain => "type",
            ObjectType::ObjectFunction | ObjectType::ObjectProcedure => "function",
            ObjectType::ObjectSchema => "schema",
            ObjectType::ObjectTrigger => "trigger",
            _ => return,
        };
        let existing: Vec<&String> = names.iter().filter(|n| self.existing(n)).collect();
        if !existing.is_empty() {
            let names: Vec<&str> = existing.iter().map(|s| s.as_str()).collect();
            hits.push(hit(
                Rule::DropObject,
                format!(
                    "drops {what} {}: the old version may still use it",
                    names.join(", ")
                ),
            ));
        }
    }

    fn backfill(&self, t: &str, verb: &str, hits: &mut Vec<Hit>) {
        if self.strong_locked.contains(t) {
            hits.push(hit(
                Rule::BackfillInDdlTransaction,
                format!("{verb} of {t} in the transaction that changed its schema: the ACCESS EXCLUSIVE lock is held until it ends"),
            ));
        }
    }

    fn alter(&mut self, t: &str, cmd: &AlterTableCmd, hits: &mut Vec<Hit>) {
        let existing = self.existing(t);
        let kind = AlterTableType::try_from(cmd.subtype).unwrap_or(AlterTableType::Undefined);
        let def = cmd.def.as_deref().and_then(|d| d.node.as_ref());
        match kind {
            AlterTableType::AtAddColumn => {
                if let Some(NodeEnum::ColumnDef(col)) = def {
                    self.add_column(t, col, existing, hits);
                }
            }
            AlterTableType::AtDropColumn if existing => hits.push(hit(
                Rule::DropObject,
                format!(
                    "drops column {t}.{}: the old version still reads or writes it",
                    cmd.name
                ),
            )),
            AlterTableType::AtAlterColumnType if existing => {
                if let Some(NodeEnum::ColumnDef(col)) = def {
                    let ty = type_name(col.type_name.as_ref());
                    let base = ty.rsplit('.').next().unwrap_or(&ty);
                    let using = col.raw_default.is_some();
                    if using || !MAYBE_IN_PLACE.contains(&base) {
                        hits.push(hit(
                            Rule::TableRewrite,
                            format!("changing {t}.{} to {ty} rewrites the table under an ACCESS EXCLUSIVE lock", cmd.name),
                        ));
                    }
                    // Even a change done in place (varchar(n) to text) gives
                    // the old version's prepared statements another result
                    // type: "cached plan must not change result type".
                    hits.push(hit(
                        Rule::TypeChange,
                        format!("changes the type of {t}.{} to {ty}: the old version's prepared statements fail (cached plan must not change result type)", cmd.name),
                    ));
                }
            }
            AlterTableType::AtSetNotNull if existing => {
                let column = cmd.name.to_lowercase();
                if !self.added_columns.contains(&(t.to_owned(), column.clone())) {
                    hits.push(hit(
                        Rule::ConstraintBreaksOldWriters,
                        format!("SET NOT NULL on {t}.{column}: the old version's INSERTs that omit it fail"),
                    ));
                }
                if !self
                    .history
                    .proven_not_null
                    .contains(&(t.to_owned(), column.clone()))
                {
                    hits.push(hit(
                        Rule::SetNotNullScans,
                        format!("SET NOT NULL on {t}.{column} scans the whole table under an ACCESS EXCLUSIVE lock"),
                    ));
                }
            }
            AlterTableType::AtColumnDefault if existing => {
                let column = cmd.name.to_lowercase();
                let key = (t.to_owned(), column.clone());
                if cmd.def.is_none() && self.added_not_null.contains(&key) {
                    hits.push(hit(
                        Rule::RequiredColumn,
                        format!("drops the default of {t}.{column}, added NOT NULL: the old version's INSERTs fail"),
                    ));
                }
                if !self.added_columns.contains(&key) {
                    hits.push(hit(
                        Rule::DefaultChange,
                        format!("changes the default of {t}.{column}"),
                    ));
                }
            }
            AlterTableType::AtAddConstraint => {
                if let Some(NodeEnum::Constraint(c)) = def {
                    self.add_constraint(t, c, existing, hits);
                }
            }
            AlterTableType::AtValidateConstraint => {
                let name = cmd.name.to_lowercase();
                if self.transactional && self.not_valid.contains(&name) {
                    hits.push(hit(
                        Rule::ConstraintNotValid,
                        format!("VALIDATE CONSTRAINT {name} in the transaction that added it NOT VALID: the scan runs under the ACCESS EXCLUSIVE lock of the ADD"),
                    ));
                }
                if let Some(proves) = self.history.pending_checks.remove(&name) {
                    self.history.proven_not_null.insert(proves);
                }
            }
            _ => {}
        }
    }

    fn add_column(&mut self, t: &str, col: &ColumnDef, existing: bool, hits: &mut Vec<Hit>) {
        let column = col.colname.to_lowercase();
        self.added_columns.insert((t.to_owned(), column.clone()));
        if !existing {
            return;
        }
        let ty = type_name(col.type_name.as_ref());
        let mut default = col.raw_default.as_deref();
        let mut not_null = col.is_not_null;
        let mut generated = false;
        for c in constraints_of(col) {
            match constr_type(c) {
                ConstrType::ConstrDefault => default = c.raw_expr.as_deref(),
                ConstrType::ConstrNotnull => not_null = true,
                ConstrType::ConstrIdentity | ConstrType::ConstrGenerated => generated = true,
                ConstrType::ConstrCheck
                | ConstrType::ConstrForeign
                | ConstrType::ConstrUnique
                | ConstrType::ConstrPrimary => {
                    self.add_constraint(t, c, true, hits);
                }
                _ => {}
            }
        }
        let serial = [
            "serial",
            "bigserial",
            "smallserial",
            "serial4",
            "serial8",
            "serial2",
        ]
        .contains(&ty.as_str());
        if generated || serial {
            hits.push(hit(
                Rule::TableRewrite,
                format!("adding {t}.{column} as a generated, identity or serial column rewrites the table"),
            ));
        } else if let Some(f) = default.and_then(calls_volatile) {
            hits.push(hit(
                Rule::TableRewrite,
                format!("adding {t}.{column} with the volatile default {f}() rewrites the table (every row gets its own value)"),
            ));
        }
        if not_null {
            self.added_not_null.insert((t.to_owned(), column.clone()));
        }
        if not_null && default.is_none() && !generated && !serial {
            hits.push(hit(
                Rule::RequiredColumn,
                format!(
                    "adds {t}.{column} NOT NULL without a default: the old version's INSERTs fail"
                ),
            ));
        }
    }

    fn add_constraint(&mut self, t: &str, c: &Constraint, existing: bool, hits: &mut Vec<Hit>) {
        let kind = constr_type(c);
        let name = c.conname.to_lowercase();
        let label = if name.is_empty() {
            String::new()
        } else {
            format!(" {name}")
        };
        let not_null_col = (kind == ConstrType::ConstrCheck)
            .then(|| not_null_check_column(c.raw_expr.as_deref()))
            .flatten();
        if c.skip_validation {
            self.not_valid.insert(name.clone());
            if let Some(col) = &not_null_col {
                self.history
                    .pending_checks
                    .insert(name.clone(), (t.to_owned(), col.clone()));
            }
        } else if let Some(col) = not_null_col.clone() {
            self.history.proven_not_null.insert((t.to_owned(), col));
        }
        if !existing {
            return;
        }
        match kind {
            ConstrType::ConstrCheck | ConstrType::ConstrForeign => {
                if kind == ConstrType::ConstrForeign
                    && let Some(pk) = c.pktable.as_ref()
                {
                    let pk = table(Some(pk));
                    let mut sink = Vec::new();
                    self.lock_strong(&pk, &mut sink);
                    hits.extend(sink);
                }
                if !c.skip_validation {
                    hits.push(hit(
                        Rule::ConstraintNotValid,
                        format!(
                            "ADD CONSTRAINT{label} on {t} checks every row while it holds its lock"
                        ),
                    ));
                }
                hits.push(hit(
                    Rule::ConstraintBreaksOldWriters,
                    format!(
                        "ADD CONSTRAINT{label} on {t}{}: it checks every new and updated row, so the old version's INSERT / UPDATE can fail",
                        if c.skip_validation { " (even NOT VALID)" } else { "" }
                    ),
                ));
            }
            ConstrType::ConstrUnique | ConstrType::ConstrPrimary | ConstrType::ConstrExclusion
                if c.indexname.is_empty() =>
            {
                hits.push(hit(
                        Rule::UniqueBuildsIndex,
                        format!("ADD CONSTRAINT{label} on {t} builds its index under an ACCESS EXCLUSIVE lock"),
                    ));
                hits.push(hit(
                    Rule::ConstraintBreaksOldWriters,
                    format!(
                        "ADD CONSTRAINT{label} on {t}: the old version's writes that break it fail"
                    ),
                ));
            }
            _ => {}
        }
    }
}

/// Commands that take less than SHARE ROW EXCLUSIVE (statistics, storage
/// options, comments) and do not count as a strong lock.
fn is_light(cmd: &Node) -> bool {
    let Some(NodeEnum::AlterTableCmd(c)) = cmd.node.as_ref() else {
        return false;
    };
    matches!(
        AlterTableType::try_from(c.subtype),
        Ok(AlterTableType::AtSetStatistics
            | AlterTableType::AtSetOptions
            | AlterTableType::AtResetOptions
            | AlterTableType::AtValidateConstraint
            | AlterTableType::AtSetRelOptions
            | AlterTableType::AtResetRelOptions
            | AlterTableType::AtClusterOn
            | AlterTableType::AtDropCluster)
    )
}
