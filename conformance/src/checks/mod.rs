//! The requirement checks, one module per spec document.

mod config;
mod features;
mod linux;
mod runtime;
mod seccomp_profiles;

use crate::Req;

/// Every requirement, in spec order.
pub fn all() -> Vec<Req> {
    let mut v = runtime::reqs();
    v.extend(config::reqs());
    v.extend(linux::reqs());
    v.extend(seccomp_profiles::reqs());
    v.extend(features::reqs());
    v
}
