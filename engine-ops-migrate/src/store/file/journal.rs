//! The replayed journal: which lines count (torn tails and their
//! acknowledgements), what the events say through the [`Ledger`], and the
//! bytes an append writes. Pure: bytes in, history out; no I/O.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::codec::{Event, JOURNAL_FORMAT, JournalRecord, acknowledges, decode_line, encode_line};
use crate::error::{Error, Result};
use crate::history::{History, StepIntent};
use crate::store::ledger::{Ledger, Refusal, Transition};

/// Why an event cannot follow the ones before it.
#[derive(Debug)]
pub(super) enum Mismatch {
    /// A record the ledger refuses.
    Refused(Refusal),
    /// An `open` record out of place.
    Structure(String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(r) => r.fmt(f),
            Self::Structure(s) => f.write_str(s),
        }
    }
}

/// The replayed journal.
#[derive(Debug, Default, Clone)]
pub(super) struct Journal {
    ledger: Ledger,
    opened: bool,
    pub(super) next_seq: u64,
    pub(super) records: u64,
    /// Bytes after the last valid record.
    pub(super) tail: Vec<u8>,
}

impl Journal {
    /// The journal of a missing or empty file.
    pub(super) fn empty() -> Self {
        Self {
            next_seq: 1,
            ..Self::default()
        }
    }

    pub(super) fn history(&self) -> History {
        self.ledger.history()
    }

    /// The bytes that append `events` after this journal, as a writer
    /// writes them in one `write`: first a newline and a `skip` record for
    /// an uncommitted tail, then an `open` record for a new journal, then
    /// the events. The journal moves ahead as if they were written; `Err`
    /// (a refused event) leaves it part-way, to be read again.
    pub(super) fn append_bytes(
        &mut self,
        events: &[Event],
        now_ms: u64,
    ) -> std::result::Result<Vec<u8>, Mismatch> {
        let mut out = Vec::with_capacity(256 * (events.len() + 2));
        let mut all: Vec<Event> = Vec::with_capacity(events.len() + 2);
        if !self.tail.is_empty() {
            // The tail has no newline (that is what makes it a tail): end
            // it, and acknowledge it with its newline.
            let mut region = std::mem::take(&mut self.tail);
            region.push(b'\n');
            out.push(b'\n');
            all.push(Event::Skip {
                bytes: region.len() as u64,
                sha256: hex::encode(Sha256::digest(&region)),
            });
        }
        if !self.opened {
            all.push(Event::Open {
                format: JOURNAL_FORMAT.to_owned(),
                created_at_ms: now_ms,
            });
        }
        all.extend(events.iter().cloned());
        for event in all {
            self.apply(&event)?;
            encode_line(
                &mut out,
                &JournalRecord {
                    seq: self.next_seq,
                    event,
                },
            );
            self.next_seq += 1;
            self.records += 1;
        }
        Ok(out)
    }

    /// Applies one event; `Err` says why it cannot follow.
    fn apply(&mut self, event: &Event) -> std::result::Result<(), Mismatch> {
        let transition = match event {
            Event::Open { format, .. } => {
                if self.opened {
                    return Err(Mismatch::Structure("a second open record".into()));
                }
                if format != JOURNAL_FORMAT {
                    return Err(Mismatch::Structure(format!("unknown format {format:?}")));
                }
                self.opened = true;
                return Ok(());
            }
            Event::Skip { .. } => return Ok(()),
            _ if !self.opened => {
                return Err(Mismatch::Structure(
                    "a record before the open record".into(),
                ));
            }
            Event::Intent {
                direction,
                version,
                name,
                checksum,
                phase,
                transactional,
                at_ms,
            } => Transition::Begin(StepIntent {
                direction: *direction,
                version: *version,
                name: name.clone(),
                checksum: *checksum,
                phase: *phase,
                transactional: *transactional,
                started_at_ms: *at_ms,
            }),
            Event::Done {
                direction,
                version,
                at_ms,
                duration_ms,
            } => Transition::Finish {
                direction: *direction,
                version: *version,
                at_ms: *at_ms,
                duration_ms: *duration_ms,
            },
            Event::Aborted { direction, version } => Transition::Undo {
                direction: *direction,
                version: *version,
            },
            Event::Resolved {
                version,
                resolution,
                at_ms,
                ..
            } => Transition::Resolve {
                version: *version,
                resolution: *resolution,
                at_ms: *at_ms,
            },
        };
        self.ledger.apply(transition).map_err(Mismatch::Refused)
    }
}

/// Replays the journal bytes; never modifies anything.
pub(super) fn replay(path: &Path, bytes: &[u8]) -> Result<Journal> {
    let mut j = Journal::empty();
    let corrupt = |line: usize, reason: String| Error::Corrupt {
        path: path.to_owned(),
        line,
        reason,
    };
    // Complete lines (start, end without the newline), then the
    // unterminated tail: bytes a crash cut short, never committed.
    let mut lines = Vec::new();
    let mut offset = 0;
    while let Some(nl) = bytes[offset..].iter().position(|&b| b == b'\n') {
        lines.push((offset, offset + nl));
        offset += nl + 1;
    }
    let decoded: Vec<_> = lines
        .iter()
        .map(|&(start, end)| decode_line(&bytes[start..end]))
        .collect();
    // A line is torn bytes acknowledged by the writer after it when the
    // next line is a skip record covering exactly it, and that skip is not
    // itself acknowledged (a torn acknowledgement: the writer after it saw
    // the line before it as committed). Decided from the end.
    let mut acknowledged = vec![false; lines.len()];
    for i in (0..lines.len().saturating_sub(1)).rev() {
        let (start, _) = lines[i];
        let (next_start, _) = lines[i + 1];
        acknowledged[i] =
            !acknowledged[i + 1] && acknowledges(&decoded[i + 1], &bytes[start..next_start]);
    }
    for (i, rec) in decoded.into_iter().enumerate() {
        let line_no = i + 1;
        if acknowledged[i] {
            continue;
        }
        // A complete line that fails its check: appends are whole lines
        // in one write, so a crash cannot produce it. Damage.
        let rec = rec.map_err(|reason| corrupt(line_no, reason))?;
        if matches!(rec.event, Event::Skip { .. }) && !(i > 0 && acknowledged[i - 1]) {
            return Err(corrupt(
                line_no,
                "a skip record with no torn bytes before it".into(),
            ));
        }
        if rec.seq != j.next_seq {
            return Err(corrupt(
                line_no,
                format!(
                    "record number {} where {} was expected (a line was removed, repeated or reordered)",
                    rec.seq, j.next_seq
                ),
            ));
        }
        if let Event::Open { format, .. } = &rec.event
            && format != JOURNAL_FORMAT
            && !j.opened
        {
            return Err(Error::UnsupportedFormat {
                store: path.display().to_string(),
                found: format.clone(),
            });
        }
        j.apply(&rec.event)
            .map_err(|reason| corrupt(line_no, reason.to_string()))?;
        j.next_seq += 1;
        j.records += 1;
    }
    j.tail = bytes[offset..].to_vec();
    Ok(j)
}

#[cfg(test)]
mod tests;
