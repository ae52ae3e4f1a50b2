//! Blue-green (being written).
use super::Cx;
use crate::BlueGreenStrategy;
pub(super) fn plan(_cx: &mut Cx<'_>, _b: &BlueGreenStrategy) {}
