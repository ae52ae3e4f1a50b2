//! The rules for migration files: their names, their leading directives,
//! and how a directory's files pair up.
//!
//! This file exists twice, byte for byte: in `engine-ops-migrate`
//! (`src/source/rules.rs`, the loader) and in `engine-ops-migrate-macros`
//! (`src/rules.rs`, `embed!`), because a proc-macro crate cannot share code
//! with the crate that re-exports it. A test of `engine-ops-migrate` keeps
//! the two copies identical. It uses `std` only.

use std::fmt;

/// The prefix of every directive comment.
pub(crate) const DIRECTIVE: &str = "-- engine-ops:";

/// Which part of a migration a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `<version>_<name>.sql`: an irreversible migration.
    Single,
    /// `<version>_<name>.up.sql`.
    Up,
    /// `<version>_<name>.down.sql`.
    Down,
}

/// What a migration file's name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileName {
    pub(crate) version: u64,
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

/// Parses a file name. `Ok(None)`: not a migration file, skipped (hidden
/// files such as `.gitkeep` or editor swap files, and names not ending in
/// `.sql`, such as `README.md`).
pub(crate) fn parse_file_name(file: &str) -> Result<Option<FileName>, String> {
    if file.starts_with('.') {
        return Ok(None);
    }
    let Some(stem) = file.strip_suffix(".sql") else {
        let lower = file.to_ascii_lowercase();
        if lower.ends_with(".sql") {
            return Err("the extension must be lower-case .sql".into());
        }
        return Ok(None);
    };
    let (stem, kind) = if let Some(s) = stem.strip_suffix(".up") {
        (s, Kind::Up)
    } else if let Some(s) = stem.strip_suffix(".down") {
        (s, Kind::Down)
    } else {
        (stem, Kind::Single)
    };
    let expected = "expected <version>_<name>.sql, <version>_<name>.up.sql or <version>_<name>.down.sql, such as 0001_create_users.sql";
    let Some((digits, name)) = stem.split_once('_') else {
        return Err(format!("no `_` between version and name; {expected}"));
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the version {digits:?} is not a number; {expected}"
        ));
    }
    let version = digits
        .parse::<u64>()
        .ok()
        .filter(|v| i64::try_from(*v).is_ok())
        .ok_or_else(|| {
            format!(
                "the version {digits} is above {} (databases store versions as signed 64-bit integers)",
                i64::MAX
            )
        })?;
    if name.is_empty() {
        return Err(format!("the name after the version is empty; {expected}"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "the name {name:?} contains {bad:?}; use letters, digits, `_` and `-`"
        ));
    }
    Ok(Some(FileName {
        version,
        name: name.to_owned(),
        kind,
    }))
}

/// The expand / contract phase a directive declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhaseName {
    Expand,
    Contract,
}

/// A migration file's directives and statement batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Script {
    /// `-- engine-ops: no-transaction` (or sqlx's `-- no-transaction` as
    /// the first line).
    pub(crate) no_transaction: bool,
    /// `-- engine-ops: phase expand|contract`.
    pub(crate) phase: Option<PhaseName>,
    /// `-- engine-ops: validate <query>`.
    pub(crate) validate: Option<String>,
    /// Byte ranges of the batches (the text between `-- engine-ops: batch`
    /// lines; the first starts with the file's leading comments), those
    /// with nothing but comments left out.
    pub(crate) batches: Vec<(usize, usize)>,
}

/// A problem on one line of a file (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineProblem {
    pub(crate) line: usize,
    pub(crate) reason: String,
}

/// Reads a file's leading directives and splits it into batches.
pub(crate) fn parse_script(text: &str) -> Result<Script, LineProblem> {
    let mut script = Script::default();
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut in_header = true;
    let mut batch_start = start;
    let mut offset = start;
    for (index, raw) in text[start..].split_inclusive('\n').enumerate() {
        let line = index + 1;
        let here = offset;
        offset += raw.len();
        let trimmed = raw.trim();
        let problem = |reason: String| LineProblem { line, reason };
        if let Some(rest) = trimmed.strip_prefix(DIRECTIVE) {
            let directive = rest.trim();
            // The linter's allow comments: checked here for their shape (the
            // linter checks the rule names); `allow-file` in the header only.
            if directive.starts_with("allow(") || directive.starts_with("allow-file(") {
                let allow = parse_allow(directive).map_err(problem)?;
                if allow.file && !in_header {
                    return Err(problem(
                        "`allow-file(...)` must come before the first statement; use `allow(...)` before a statement".into(),
                    ));
                }
                continue;
            }
            let (word, arg) = directive
                .split_once(char::is_whitespace)
                .map_or((directive, ""), |(w, a)| (w, a.trim()));
            if word == "batch" && arg.is_empty() {
                if in_header {
                    return Err(problem(
                        "`batch` separates statements; put it between two of them".into(),
                    ));
                }
                push_batch(text, &mut script.batches, batch_start, here);
                batch_start = offset;
                continue;
            }
            if !in_header {
                return Err(problem(format!(
                    "the directive `{directive}` must come before the first statement"
                )));
            }
            match (word, arg) {
                ("no-transaction", "") => {
                    if script.no_transaction {
                        return Err(problem("`no-transaction` is given twice".into()));
                    }
                    script.no_transaction = true;
                }
                ("phase", value) => {
                    if script.phase.is_some() {
                        return Err(problem("`phase` is given twice".into()));
                    }
                    script.phase = Some(match value {
                        "expand" => PhaseName::Expand,
                        "contract" => PhaseName::Contract,
                        other => {
                            return Err(problem(format!(
                                "unknown phase {other:?}; use `phase expand` or `phase contract`"
                            )));
                        }
                    });
                }
                ("validate", query) if !query.is_empty() => {
                    if script.validate.is_some() {
                        return Err(problem("`validate` is given twice".into()));
                    }
                    script.validate = Some(query.to_owned());
                }
                _ => {
                    return Err(problem(format!(
                        "unknown directive `{directive}`; known: `no-transaction`, `phase expand`, `phase contract`, `validate <query returning one boolean>`, `batch`, `allow(rule, ...) reason=\"...\"`, `allow-file(rule, ...) reason=\"...\"`"
                    )));
                }
            }
            continue;
        }
        if in_header {
            if trimmed == "-- no-transaction" && line == 1 {
                script.no_transaction = true;
                continue;
            }
            if trimmed.is_empty() || trimmed.starts_with("--") {
                continue;
            }
            in_header = false;
        }
    }
    push_batch(text, &mut script.batches, batch_start, text.len());
    Ok(script)
}

/// A linter allow comment: `allow(rule-a, rule-b) reason="why"` (the next
/// statement) or `allow-file(...) reason="..."` (the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "the linter reads the rules and the reason; the loaders check the shape only"
)]
pub(crate) struct Allow {
    pub(crate) file: bool,
    pub(crate) rules: Vec<String>,
    pub(crate) reason: String,
}

/// Parses the text after `-- engine-ops:` of an allow comment.
pub(crate) fn parse_allow(directive: &str) -> Result<Allow, String> {
    let (file, rest) = if let Some(rest) = directive.strip_prefix("allow-file(") {
        (true, rest)
    } else if let Some(rest) = directive.strip_prefix("allow(") {
        (false, rest)
    } else {
        return Err(format!("`{directive}` is not an allow comment"));
    };
    let example = "write `-- engine-ops: allow(rule-name) reason=\"why it is safe here\"`";
    let Some((names, tail)) = rest.split_once(')') else {
        return Err(format!("the rule list is not closed with `)`; {example}"));
    };
    let rules: Vec<String> = names
        .split(',')
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    if rules.is_empty() {
        return Err(format!("an allow comment names no rule; {example}"));
    }
    let reason = tail
        .trim()
        .strip_prefix("reason=")
        .and_then(|r| r.trim().strip_prefix('"'))
        .and_then(|r| r.strip_suffix('"'))
        .map(str::trim)
        .unwrap_or_default();
    if reason.is_empty() {
        return Err(format!(
            "an allow comment needs a reason (who checked what, and why it is safe); {example}"
        ));
    }
    Ok(Allow {
        file,
        rules,
        reason: reason.to_owned(),
    })
}

/// Keeps a batch unless it holds nothing but blank lines and `--` comments.
fn push_batch(text: &str, batches: &mut Vec<(usize, usize)>, from: usize, to: usize) {
    let blank = text[from..to].lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with("--")
    });
    if !blank {
        batches.push((from, to));
    }
}

/// One migration assembled from its file or files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assembled {
    pub(crate) version: u64,
    pub(crate) name: String,
    /// Index (into the files given to [`assemble`]) of the single or up file.
    pub(crate) up: usize,
    pub(crate) up_script: Script,
    /// Index of the down file, for a reversible migration.
    pub(crate) down: Option<(usize, Script)>,
}

/// What is wrong with a directory of migration files. Every problem names
/// the file (or files) at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A file name that does not follow the rules.
    BadName { file: String, reason: String },
    /// A bad directive.
    BadDirective {
        file: String,
        line: usize,
        reason: String,
    },
    /// Two files claim one version (or one half of a pair).
    Duplicate {
        version: u64,
        first: String,
        second: String,
    },
    /// An up file without its down file.
    NoDown {
        up: String,
        down: String,
        single: String,
    },
    /// A down file without its up file.
    NoUp { down: String, up: String },
    /// A down file next to the single file of an irreversible migration.
    DownOfSingle {
        single: String,
        down: String,
        up: String,
    },
    /// The up and down files of a version name different migrations.
    NameMismatch { up: String, down: String },
    /// A directive in a down file that only an up file may give.
    DownDirective {
        file: String,
        line: usize,
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadName { file, reason } => {
                write!(f, "migration file {file}: bad name: {reason}")
            }
            Self::BadDirective { file, line, reason }
            | Self::DownDirective { file, line, reason } => {
                write!(f, "migration file {file}, line {line}: {reason}")
            }
            Self::Duplicate {
                version,
                first,
                second,
            } => write!(
                f,
                "migration files {first} and {second} both have version {version}; give each migration its own version"
            ),
            Self::NoDown { up, down, single } => write!(
                f,
                "migration file {up} has no {down}; add it, or rename {up} to {single} for an irreversible migration"
            ),
            Self::NoUp { down, up } => {
                write!(
                    f,
                    "migration file {down} has no {up}; add it, or remove {down}"
                )
            }
            Self::DownOfSingle { single, down, up } => write!(
                f,
                "migration file {down} undoes {single}, which is irreversible (a single file); rename {single} to {up}, or remove {down}"
            ),
            Self::NameMismatch { up, down } => write!(
                f,
                "migration files {up} and {down} have one version but different names; rename one of them"
            ),
        }
    }
}

/// Pairs and checks a directory's migration files, given as `(file name,
/// text)`; files that are not migrations must be left out by the caller
/// (see [`parse_file_name`]). Returns the migrations by ascending version;
/// gaps between versions are allowed.
pub(crate) fn assemble(files: &[(String, String)]) -> Result<Vec<Assembled>, Problem> {
    struct Slot {
        name: String,
        single_or_up: Option<(usize, Kind)>,
        down: Option<usize>,
    }
    let mut slots: std::collections::BTreeMap<u64, Slot> = std::collections::BTreeMap::new();
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|a, b| files[*a].0.cmp(&files[*b].0));
    for index in order {
        let file = &files[index].0;
        let parsed = match parse_file_name(file) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => continue,
            Err(reason) => {
                return Err(Problem::BadName {
                    file: file.clone(),
                    reason,
                });
            }
        };
        let slot = slots.entry(parsed.version).or_insert_with(|| Slot {
            name: parsed.name.clone(),
            single_or_up: None,
            down: None,
        });
        let taken = match parsed.kind {
            Kind::Single | Kind::Up => slot.single_or_up.map(|(i, _)| i),
            Kind::Down => slot.down,
        };
        if let Some(other) = taken {
            return Err(Problem::Duplicate {
                version: parsed.version,
                first: files[other].0.clone(),
                second: file.clone(),
            });
        }
        match parsed.kind {
            Kind::Single | Kind::Up => slot.single_or_up = Some((index, parsed.kind)),
            Kind::Down => slot.down = Some(index),
        }
        if parsed.name != slot.name {
            let (up, down) = match (parsed.kind, slot.single_or_up, slot.down) {
                (Kind::Down, Some((up, _)), _) => (files[up].0.clone(), file.clone()),
                (_, _, Some(down)) => (file.clone(), files[down].0.clone()),
                _ => (file.clone(), String::new()),
            };
            return Err(Problem::NameMismatch { up, down });
        }
    }
    let mut out = Vec::with_capacity(slots.len());
    for (version, slot) in slots {
        let digits = |i: usize| {
            files[i]
                .0
                .split_once('_')
                .map_or_else(String::new, |(d, _)| d.to_owned())
        };
        let (up, down) = match (slot.single_or_up, slot.down) {
            (Some((up, Kind::Up)), Some(down)) => (up, Some(down)),
            (Some((up, Kind::Up)), None) => {
                let base = format!("{}_{}", digits(up), slot.name);
                return Err(Problem::NoDown {
                    up: files[up].0.clone(),
                    down: format!("{base}.down.sql"),
                    single: format!("{base}.sql"),
                });
            }
            (Some((single, _)), Some(down)) => {
                return Err(Problem::DownOfSingle {
                    single: files[single].0.clone(),
                    down: files[down].0.clone(),
                    up: format!("{}_{}.up.sql", digits(single), slot.name),
                });
            }
            (Some((up, _)), None) => (up, None),
            (None, Some(down)) => {
                return Err(Problem::NoUp {
                    down: files[down].0.clone(),
                    up: format!("{}_{}.up.sql", digits(down), slot.name),
                });
            }
            (None, None) => continue,
        };
        let up_script = parse_script(&files[up].1).map_err(|p| Problem::BadDirective {
            file: files[up].0.clone(),
            line: p.line,
            reason: p.reason,
        })?;
        let down = match down {
            None => None,
            Some(down) => {
                let file = &files[down].0;
                let script = parse_script(&files[down].1).map_err(|p| Problem::BadDirective {
                    file: file.clone(),
                    line: p.line,
                    reason: p.reason,
                })?;
                let misplaced = |what: &str| Problem::DownDirective {
                    file: file.clone(),
                    line: directive_line(&files[down].1, what),
                    reason: format!(
                        "`{what}` belongs in {}: it applies to the whole migration",
                        files[up].0
                    ),
                };
                if script.phase.is_some() {
                    return Err(misplaced("phase"));
                }
                if script.no_transaction && !up_script.no_transaction {
                    return Err(misplaced("no-transaction"));
                }
                Some((down, script))
            }
        };
        out.push(Assembled {
            version,
            name: slot.name,
            up,
            up_script,
            down,
        });
    }
    Ok(out)
}

/// The line (1-based) of the first directive `word` in `text`.
fn directive_line(text: &str, word: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim();
            t == "-- no-transaction"
                || t.strip_prefix(DIRECTIVE)
                    .is_some_and(|rest| rest.trim().starts_with(word))
        })
        .map_or(1, |i| i + 1)
}
