//! A byte scanner for the `Accept` parser: the positions of one byte value
//! in a byte string, found eight bytes at a time in a `u64` (SWAR, "SIMD
//! within a register"), and a case-insensitive substring search built on
//! it. No `unsafe`, no platform intrinsics.

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of every byte of the eight at `base` (zero-padded past the
/// end) that equals `b` once OR-ed with `fold` (`0x20` in every byte folds
/// ASCII letters to lowercase; 0 compares exactly). Exact: no addition
/// carries across a byte.
#[inline(always)]
fn byte_mask(bytes: &[u8], base: usize, b: u8, fold: u64) -> u64 {
    let tail = bytes.get(base..).unwrap_or_default();
    let word = match tail.first_chunk::<8>() {
        Some(chunk) => u64::from_le_bytes(*chunk),
        // Assembled in a register: copying into a stack buffer and loading
        // it back would stall on store forwarding.
        None => tail
            .iter()
            .rev()
            .fold(0, |word, &b| (word << 8) | u64::from(b)),
    };
    let v = (word | fold) ^ (ONES * u64::from(b));
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// The positions of one byte value in a byte string, in order, found eight
/// bytes at a time (SWAR).
pub(super) struct Positions<'a> {
    bytes: &'a [u8],
    byte: u8,
    fold: u64,
    base: usize,
    mask: u64,
}

impl<'a> Positions<'a> {
    /// Positions of `byte`.
    #[inline(always)]
    pub(super) fn new(bytes: &'a [u8], byte: u8) -> Self {
        Positions::folded(bytes, byte, 0)
    }

    /// Positions of the ASCII letter `lower`, in either case.
    #[inline(always)]
    fn ignore_case(bytes: &'a [u8], lower: u8) -> Self {
        debug_assert!(lower.is_ascii_lowercase());
        Positions::folded(bytes, lower, ONES * 0x20)
    }

    #[inline(always)]
    fn folded(bytes: &'a [u8], byte: u8, fold: u64) -> Self {
        Positions {
            bytes,
            byte,
            fold,
            base: 0,
            mask: byte_mask(bytes, 0, byte, fold),
        }
    }
}

impl Iterator for Positions<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 8;
            if self.base >= self.bytes.len() {
                return None;
            }
            self.mask = byte_mask(self.bytes, self.base, self.byte, self.fold);
        }
        let at = self.base + (self.mask.trailing_zeros() / 8) as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Whether `haystack` contains `needle` (lowercase, starting with a
/// letter), ASCII case-insensitively: candidates are the positions of its
/// first letter, found eight bytes at a time.
pub(super) fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if !first.is_ascii_lowercase() {
        return haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle));
    }
    Positions::ignore_case(haystack, first).any(|at| {
        haystack
            .get(at + 1..at + needle.len())
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(rest))
    })
}
