//! The five capability sets from process.capabilities.

use super::SecurityError;
use ::caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

fn convert(set: &Option<Capabilities>) -> Result<CapsHashSet, SecurityError> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{name}")
        };
        let cap: Capability = name
            .parse()
            .map_err(|_| SecurityError::UnknownCap { name: name.clone() })?;
        out.insert(cap);
    }
    Ok(out)
}

/// Capability sets resolved to the `caps` crate's types, ready to apply.
pub struct Sets {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    inheritable: CapsHashSet,
    permitted: CapsHashSet,
    ambient: CapsHashSet,
}

impl Sets {
    pub fn from_spec(c: Option<&LinuxCapabilities>) -> Result<Self, SecurityError> {
        let empty = LinuxCapabilities::default();
        let c = c.unwrap_or(&empty);
        // A missing set means empty, as in runc: the spec gives the exact sets.
        Ok(Sets {
            bounding: convert(c.bounding())?,
            effective: convert(c.effective())?,
            inheritable: convert(c.inheritable())?,
            permitted: convert(c.permitted())?,
            ambient: convert(c.ambient())?,
        })
    }

    /// Drops from the bounding set everything not listed. Needs CAP_SETPCAP, so it runs
    /// before the switch to the container user.
    pub fn drop_bounding(&self) -> Result<(), SecurityError> {
        for cap in ::caps::all() {
            if self.bounding.contains(&cap) {
                continue;
            }
            // Capabilities newer than the kernel are not in the bounding set at all.
            if !::caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                continue;
            }
            ::caps::drop(None, CapSet::Bounding, cap).map_err(|e| SecurityError::Caps {
                op: "drop",
                set: "bounding",
                reason: format!("{cap}: {e}"),
            })?;
        }
        Ok(())
    }

    /// Sets permitted, inheritable, effective and ambient, after the uid switch.
    pub fn apply(&self) -> Result<(), SecurityError> {
        let err = |set, e: ::caps::errors::CapsError| SecurityError::Caps {
            op: "set",
            set,
            reason: e.to_string(),
        };
        // Effective may only shrink to a subset of permitted; widen it to permitted first so
        // the later sets can be written in any order.
        ::caps::set(None, CapSet::Effective, &self.permitted).map_err(|e| err("effective", e))?;
        ::caps::set(None, CapSet::Permitted, &self.permitted).map_err(|e| err("permitted", e))?;
        ::caps::set(None, CapSet::Inheritable, &self.inheritable)
            .map_err(|e| err("inheritable", e))?;
        ::caps::set(None, CapSet::Effective, &self.effective).map_err(|e| err("effective", e))?;
        ::caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
        for cap in &self.ambient {
            // Ambient needs the cap in permitted and inheritable; runc ignores failures too.
            let _ = ::caps::raise(None, CapSet::Ambient, *cap);
        }
        Ok(())
    }
}
