//! Canary (being written).
use super::Cx;
use crate::CanaryStrategy;
pub(super) fn plan(_cx: &mut Cx<'_>, _c: &CanaryStrategy) {}
