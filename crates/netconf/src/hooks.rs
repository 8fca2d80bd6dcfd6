//! Plan hooks: per-plan fixes applied once the NICs are matched.
//!
//! Upstream runs them after the bonds are computed, so truncating the NIC
//! list does not shrink the bonds; [`crate::context`] keeps that order.

use crate::context::Nic;

/// Plans whose metadata lists NICs that are not cabled: only the first is kept.
const SINGLE_INTERFACE_PLANS: [&str; 2] = ["baremetal_1e", "x1.small.x86"];

/// Plans whose NICs keep their kernel names (no udev predictable names).
const LOGICAL_NAME_PLANS: [&str; 1] = ["baremetal_hua"];

/// Renames the NICs to their kernel names on the plans that need it.
pub(crate) fn use_logical_names(plan: Option<&str>, nics: &mut [Nic]) {
    if plan.is_some_and(|p| LOGICAL_NAME_PLANS.contains(&p)) {
        for nic in nics {
            nic.name.clone_from(&nic.names.logical);
        }
    }
}

/// Keeps only the first NIC on the plans that have a single usable one.
pub(crate) fn keep_single_interface(plan: Option<&str>, nics: &mut Vec<Nic>) {
    if plan.is_some_and(|p| SINGLE_INTERFACE_PLANS.contains(&p)) {
        nics.truncate(1);
    }
}
