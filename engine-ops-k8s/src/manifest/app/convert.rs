//! Saturating conversions to the `int32` fields of Kubernetes objects.

pub(crate) fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub(super) fn to_i32_i64(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}
