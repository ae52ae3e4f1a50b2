//! The journal's line codec: what a record holds, and how a line carries
//! it with the SHA-256 of its bytes (see the
//! [format](super#file-format-engine-ops-migratejournalv1)). Pure: no I/O.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checksum::Checksum;
use crate::history::{ResolvedBy, Settlement};
use crate::migration::Direction;
use crate::phase::Phase;

/// The journal format this build reads and writes.
pub const JOURNAL_FORMAT: &str = "engine-ops-migrate/journal/v1";

const PREFIX: &[u8] = br#"{"sum":""#;
const MIDDLE: &[u8] = br#"","rec":"#;
const HEX_LEN: usize = 64;

/// One journal record: its number (from 1, no gap) and its event. Written
/// as the `rec` member of a line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct JournalRecord {
    pub(super) seq: u64,
    pub(super) event: Event,
}

/// What a record says happened (the `event` member of a record).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Event {
    Open {
        format: String,
        created_at_ms: u64,
    },
    Intent {
        direction: Direction,
        version: u64,
        name: String,
        checksum: Checksum,
        phase: Option<Phase>,
        transactional: bool,
        at_ms: u64,
    },
    Done {
        direction: Direction,
        version: u64,
        at_ms: u64,
        duration_ms: u64,
    },
    Aborted {
        direction: Direction,
        version: u64,
    },
    Resolved {
        version: u64,
        resolution: Settlement,
        by: ResolvedBy,
        at_ms: u64,
    },
    Skip {
        bytes: u64,
        sha256: String,
    },
}

/// Checks and decodes one line (without its newline).
pub(super) fn decode_line(line: &[u8]) -> std::result::Result<JournalRecord, String> {
    let head = PREFIX.len() + HEX_LEN + MIDDLE.len();
    if line.last() == Some(&b'\r') {
        return Err("the line ends with a carriage return: the file was converted to CRLF (Windows) line endings; convert it back to LF line endings (for example with dos2unix) and try again".into());
    }
    if line.len() <= head
        || !line.starts_with(PREFIX)
        || &line[PREFIX.len() + HEX_LEN..head] != MIDDLE
        || line.last() != Some(&b'}')
    {
        return Err("not a journal record (expected {\"sum\":...,\"rec\":...})".into());
    }
    let sum = &line[PREFIX.len()..PREFIX.len() + HEX_LEN];
    // Only the exact bytes a writer produces: lowercase hex.
    if !sum.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("its sum is not lowercase hex".into());
    }
    let mut expected = [0_u8; 32];
    hex::decode_to_slice(sum, &mut expected).map_err(|_| "its sum is not hex".to_owned())?;
    let rec = &line[head..line.len() - 1];
    let actual: [u8; 32] = Sha256::digest(rec).into();
    if actual != expected {
        return Err("its SHA-256 does not match its content".into());
    }
    serde_json::from_slice(rec).map_err(|e| format!("its record is not valid: {e}"))
}

pub(super) fn encode_line(out: &mut Vec<u8>, rec: &JournalRecord) {
    // Serialising these plain structs cannot fail.
    let body = serde_json::to_vec(rec).unwrap_or_default();
    let sum = Sha256::digest(&body);
    out.extend_from_slice(PREFIX);
    let mut hex_buf = [0_u8; HEX_LEN];
    if hex::encode_to_slice(sum, &mut hex_buf).is_ok() {
        out.extend_from_slice(&hex_buf);
    }
    out.extend_from_slice(MIDDLE);
    out.extend_from_slice(&body);
    out.extend_from_slice(b"}\n");
}

/// Whether the complete line `line` (without its newline) is a `skip`
/// record acknowledging exactly `before` (a line and its newline).
pub(super) fn acknowledges(
    rec: &std::result::Result<JournalRecord, String>,
    before: &[u8],
) -> bool {
    matches!(rec, Ok(JournalRecord { event: Event::Skip { bytes: n, sha256 }, .. })
        if usize::try_from(*n).ok() == Some(before.len())
            && *sha256 == hex::encode(Sha256::digest(before)))
}
