//! Unit tests of the journal: replay, torn tails and their
//! acknowledgements, damage; proptests over cuts and flipped bytes.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;
use crate::checksum::Checksum;
use crate::migration::Direction;
use crate::store::file::codec::{Event, JOURNAL_FORMAT, JournalRecord, decode_line, encode_line};

fn lines(events: Vec<Event>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        encode_line(
            &mut out,
            &JournalRecord {
                seq: i as u64 + 1,
                event,
            },
        );
    }
    out
}

fn open() -> Event {
    Event::Open {
        format: JOURNAL_FORMAT.into(),
        created_at_ms: 0,
    }
}

fn intent(v: u64) -> Event {
    Event::Intent {
        direction: Direction::Up,
        version: v,
        name: format!("m{v}"),
        checksum: Checksum::of_source(b"x"),
        phase: None,
        transactional: true,
        at_ms: 0,
    }
}

fn done(v: u64) -> Event {
    Event::Done {
        direction: Direction::Up,
        version: v,
        at_ms: 1,
        duration_ms: 0,
    }
}

#[test]
fn replays_applied_and_in_doubt() {
    let bytes = lines(vec![open(), intent(1), done(1), intent(2)]);
    let j = replay(Path::new("j"), &bytes).expect("valid");
    let h = j.history();
    assert_eq!(h.applied.len(), 1);
    assert_eq!(h.in_doubt.len(), 1);
    assert_eq!(j.next_seq, 5);
    assert!(j.tail.is_empty());
}

#[test]
fn torn_tail_is_ignored_and_acknowledged_tail_is_accepted() {
    let mut bytes = lines(vec![open(), intent(1)]);
    let full = lines(vec![open(), intent(1), done(1)]);
    let cut = &full[bytes.len()..full.len() - 10];
    bytes.extend_from_slice(cut);
    let j = replay(Path::new("j"), &bytes).expect("torn tail ignored");
    assert_eq!(j.tail, cut);
    assert_eq!(j.history().in_doubt.len(), 1);

    // What a writer appends after it: newline + skip acknowledging the bytes.
    let mut region = cut.to_vec();
    region.push(b'\n');
    bytes.push(b'\n');
    encode_line(
        &mut bytes,
        &JournalRecord {
            seq: 3,
            event: Event::Skip {
                bytes: region.len() as u64,
                sha256: hex::encode(Sha256::digest(&region)),
            },
        },
    );
    let j = replay(Path::new("j"), &bytes).expect("acknowledged");
    assert!(j.tail.is_empty());
    assert_eq!(j.next_seq, 4);
}

#[test]
fn damage_before_a_valid_record_is_an_error() {
    let mut bytes = lines(vec![open(), intent(1), done(1)]);
    // Flip one byte inside the second line.
    let second = bytes.iter().position(|&b| b == b'\n').expect("newline") + 30;
    bytes[second] ^= 0x01;
    let err = replay(Path::new("j"), &bytes).expect_err("damaged");
    assert!(matches!(err, Error::Corrupt { line: 2, .. }), "{err}");
}

#[test]
fn impossible_sequences_are_errors() {
    let bytes = lines(vec![open(), done(1)]);
    let err = replay(Path::new("j"), &bytes).expect_err("done without intent");
    assert!(
        err.to_string()
            .contains("it records the end of the up step for migration 1, which is not applied"),
        "{err}"
    );
    let bytes = lines(vec![intent(1)]);
    assert!(replay(Path::new("j"), &bytes).is_err());
    let mut bytes = lines(vec![open(), intent(1)]);
    bytes.extend(lines(vec![open()])); // seq 1 again
    let err = replay(Path::new("j"), &bytes).expect_err("seq");
    assert!(err.to_string().contains("record number 1 where 3"), "{err}");
}

/// The last record lost its newline (a torn write, or `truncate -s -1`):
/// readers ignore it, the next writer acknowledges it, and from then on
/// the journal reads as that writer saw it.
#[test]
fn a_whole_record_without_its_newline_is_a_torn_tail() {
    let p = Path::new("j");
    let mut file = lines(vec![open(), intent(1), done(1)]);
    file.pop();
    let mut view = replay(p, &file).expect("opens");
    assert_eq!(
        view.history().in_doubt.len(),
        1,
        "the done record is ignored"
    );
    let appended = view.append_bytes(&[done(1)], 0).expect("append");
    file.extend_from_slice(&appended);
    let read = replay(p, &file).expect("reads after the append");
    assert_eq!(read.history(), view.history());
    assert_eq!(read.history().applied.len(), 1);
    assert_eq!(read.records, 4, "open, intent, skip, done");
}

/// The append that acknowledges torn bytes is itself cut just before
/// its final newline: the next writer sees the first torn record as
/// committed (its acknowledgement never completed) and acknowledges the
/// cut skip record; readers agree.
#[test]
fn a_torn_acknowledgement_is_acknowledged_in_turn() {
    let p = Path::new("j");
    let mut file = lines(vec![open(), intent(1), done(1)]);
    file.pop();
    let mut first = replay(p, &file).expect("opens");
    let appended = first.append_bytes(&[], 0).expect("a bare acknowledgement");
    file.extend_from_slice(&appended[..appended.len() - 1]);
    let mut second = replay(p, &file).expect("opens after the torn acknowledgement");
    assert_eq!(
        second.history().applied.len(),
        1,
        "the done record now counts"
    );
    let appended = second.append_bytes(&[intent(2)], 0).expect("append");
    file.extend_from_slice(&appended);
    let read = replay(p, &file).expect("reads");
    assert_eq!(read.history(), second.history());
    assert_eq!(read.next_seq, second.next_seq);
}

#[test]
fn unknown_format_is_refused() {
    let bytes = lines(vec![Event::Open {
        format: "engine-ops-migrate/journal/v9".into(),
        created_at_ms: 0,
    }]);
    let err = replay(Path::new("j"), &bytes).expect_err("future format");
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err}");
}

/// A journal of `steps` valid events after the open record: versions go
/// up, some are reverted, some are left in doubt.
fn journal(steps: &[(u8, bool)]) -> Vec<Event> {
    let mut events = vec![open()];
    let mut applied: Vec<u64> = Vec::new();
    let mut next = 1;
    for &(kind, finish) in steps {
        match kind % 3 {
            // Apply the next version (or leave it in doubt, and stop).
            0 | 1 => {
                events.push(intent(next));
                if !finish {
                    return events;
                }
                events.push(done(next));
                applied.push(next);
                next += 1;
            }
            // Revert the newest applied version.
            _ => {
                if let Some(v) = applied.pop() {
                    events.push(Event::Intent {
                        direction: Direction::Down,
                        version: v,
                        name: format!("m{v}"),
                        checksum: Checksum::of_source(b"x"),
                        phase: None,
                        transactional: true,
                        at_ms: 0,
                    });
                    events.push(Event::Done {
                        direction: Direction::Down,
                        version: v,
                        at_ms: 2,
                        duration_ms: 0,
                    });
                }
            }
        }
    }
    events
}

/// Where a crash cuts bytes: anywhere, or (half the time) within two
/// bytes of a newline, where torn records lose or keep their newline.
#[derive(Debug, Clone, Copy)]
enum Cut {
    Anywhere(f64),
    NearNewline(f64, i8),
}

impl Cut {
    fn at(self, bytes: &[u8]) -> usize {
        match self {
            Self::Anywhere(f) => ((bytes.len() as f64) * f) as usize,
            Self::NearNewline(f, delta) => {
                let newlines: Vec<usize> = bytes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b'\n')
                    .map(|(i, _)| i + 1)
                    .collect();
                let Some(&end) = newlines.get(((newlines.len() as f64) * f) as usize) else {
                    return bytes.len();
                };
                end.saturating_add_signed(isize::from(delta))
                    .min(bytes.len())
            }
        }
    }
}

fn cut_point() -> impl proptest::strategy::Strategy<Value = Cut> {
    use proptest::strategy::Strategy;
    proptest::prop_oneof![
        (0.0_f64..=1.0).prop_map(Cut::Anywhere),
        (0.0_f64..1.0, -2_i8..=1).prop_map(|(f, d)| Cut::NearNewline(f, d)),
    ]
}

proptest::proptest! {
    /// A crash can cut the file at any byte: it still opens, and says
    /// exactly what the complete records say.
    #[test]
    fn any_truncation_opens_as_its_committed_prefix(
        steps in proptest::collection::vec((0_u8..3, proptest::bool::weighted(0.9)), 0..12),
        cut_at in 0.0_f64..1.0,
    ) {
        let events = journal(&steps);
        let bytes = lines(events.clone());
        let cut = ((bytes.len() as f64) * cut_at) as usize;
        let truncated = &bytes[..cut];
        let j = replay(Path::new("j"), truncated).expect("a truncated journal opens");
        let complete = truncated.iter().filter(|&&b| b == b'\n').count();
        let expected = replay(Path::new("j"), &lines(events[..complete].to_vec())).expect("prefix");
        proptest::prop_assert_eq!(j.history(), expected.history());
        proptest::prop_assert_eq!(j.records as usize, complete);
        proptest::prop_assert_eq!(j.tail.len(), cut - truncated.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1));
    }

    /// A writer appends after a journal cut at any byte; its own append
    /// may be cut at any byte too (a crash during it), and another
    /// writer appends after that. Every reader then sees exactly what
    /// the writer before it saw: no record it relied on disappears, and
    /// no torn record appears. The one exception, reported as damage:
    /// torn bytes that are not a whole record, whose acknowledging
    /// append is itself cut between its first newline and the end of
    /// the skip record.
    #[test]
    fn appends_after_any_cut_read_back_as_their_writer_saw_them(
        steps in proptest::collection::vec((0_u8..3, proptest::bool::weighted(0.9)), 0..10),
        cut_at in cut_point(),
        second_cut in proptest::option::of(cut_point()),
    ) {
        let p = Path::new("j");
        let bytes = lines(journal(&steps));
        let cut = cut_at.at(&bytes);
        let mut file = bytes[..cut].to_vec();
        let mut view = replay(p, &file).expect("a cut journal opens");
        let torn = view.tail.clone();
        let appended = view.append_bytes(&[intent(1000)], 0).expect("a new version may begin");
        file.extend_from_slice(&appended);
        let read = replay(p, &file).expect("the journal reads after the append");
        proptest::prop_assert_eq!(read.history(), view.history());
        proptest::prop_assert!(read.tail.is_empty());
        proptest::prop_assert_eq!(read.next_seq, view.next_seq);

        if let Some(c2) = second_cut {
            let keep = cut + c2.at(&appended);
            let file = &file[..keep];
            match replay(p, file) {
                Ok(mut view) => {
                    let mut file = file.to_vec();
                    let appended = view
                        .append_bytes(&[intent(1001)], 0)
                        .expect("another new version may begin");
                    file.extend_from_slice(&appended);
                    let read = replay(p, &file).expect("the journal reads after both appends");
                    proptest::prop_assert_eq!(read.history(), view.history());
                    proptest::prop_assert!(read.tail.is_empty());
                }
                Err(e) => {
                    let skip_line_end = appended
                        .iter()
                        .skip(1)
                        .position(|&b| b == b'\n')
                        .map_or(0, |i| i + 2);
                    let documented = !torn.is_empty()
                        && decode_line(&torn).is_err()
                        && keep > cut
                        && keep < cut + skip_line_end;
                    proptest::prop_assert!(documented, "cut {} then {}: {}", cut, keep, e);
                }
            }
        }
    }

    /// Any changed byte, except in the final newline, is an error
    /// naming its line.
    #[test]
    fn any_damaged_byte_is_an_error_naming_its_line(
        steps in proptest::collection::vec((0_u8..2, proptest::strategy::Just(true)), 1..8),
        pick in 0.0_f64..1.0,
        flip in 1_u8..=255,
    ) {
        let bytes = lines(journal(&steps));
        // Any byte but the final newline (whose loss looks like a torn write).
        let at = (((bytes.len() - 1) as f64) * pick) as usize;
        let mut damaged = bytes.clone();
        damaged[at] ^= flip;
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let err = replay(Path::new("j"), &damaged).expect_err("damage is an error");
        proptest::prop_assert!(matches!(err, Error::Corrupt { line: l, .. } if l == line), "{}", err);
    }
}
