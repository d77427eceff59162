//! The five capability sets from process.capabilities.
//!
//! Applied as runc's libcontainer/capabilities does: the bounding set is dropped while init
//! is still root (PR_CAPBSET_DROP needs CAP_SETPCAP), then, after the user switch with
//! PR_SET_KEEPCAPS, effective, permitted and inheritable are written with ONE capset(2), then
//! ambient. One capset matters: the kernel checks each new set against the *old* sets, so
//! writing permitted first and inheritable after it fails with EPERM as soon as inheritable
//! is not a subset of the (already reduced) permitted set and CAP_SETPCAP is gone.

use super::SecurityError;
use ::caps::{Capability, CapsHashSet};
use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

/// Highest capability number we try to drop from the bounding set. The kernel answers
/// EINVAL past its own last capability, so the loop stops there.
const MAX_CAP: u8 = 63;

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

fn mask(set: &CapsHashSet) -> u64 {
    set.iter().fold(0u64, |m, c| m | c.bitmask())
}

/// Capability sets resolved to the `caps` crate's types, ready to apply.
pub struct Sets {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    inheritable: CapsHashSet,
    permitted: CapsHashSet,
    ambient: CapsHashSet,
    /// Mask of the capabilities the running kernel has, learnt by `drop_bounding` (where
    /// PR_CAPBSET_DROP answers EINVAL); all ones until then.
    known: std::cell::Cell<u64>,
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set.
const CAP_V3: u32 = 0x2008_0522;

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
            known: std::cell::Cell::new(u64::MAX),
        })
    }

    /// Drops from the bounding set everything not listed. Needs CAP_SETPCAP, so it runs
    /// before the switch to the container user. One prctl per capability, no read first:
    /// dropping a capability that is already gone is a no-op for the kernel.
    pub fn drop_bounding(&self) -> Result<(), SecurityError> {
        let keep = mask(&self.bounding);
        for cap in 0..=MAX_CAP {
            if keep & (1u64 << cap) != 0 {
                continue;
            }
            // SAFETY: PR_CAPBSET_DROP takes the capability number; no memory is passed.
            let r =
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
            match Errno::result(r) {
                Ok(_) => {}
                // Past the kernel's last capability: nothing more to drop. Remember where
                // the kernel ends: capset refuses bits it does not know (runc also ignores
                // unavailable capabilities).
                Err(Errno::EINVAL) => {
                    self.known.set((1u64 << cap) - 1);
                    break;
                }
                Err(e) => {
                    return Err(SecurityError::Caps {
                        op: "drop",
                        set: "bounding",
                        reason: format!("capability {cap}: {e}"),
                    })
                }
            }
        }
        Ok(())
    }

    /// Sets effective, permitted and inheritable in one capset(2), then ambient; after the
    /// uid switch (with PR_SET_KEEPCAPS, so permitted is still full).
    pub fn apply(&self) -> Result<(), SecurityError> {
        let known = self.known.get();
        let (eff, prm, inh) = (
            mask(&self.effective) & known,
            mask(&self.permitted) & known,
            mask(&self.inheritable) & known,
        );
        let mut hdr = CapHeader {
            version: CAP_V3,
            pid: 0,
        };
        let data = [
            CapData {
                effective: eff as u32,
                permitted: prm as u32,
                inheritable: inh as u32,
            },
            CapData {
                effective: (eff >> 32) as u32,
                permitted: (prm >> 32) as u32,
                inheritable: (inh >> 32) as u32,
            },
        ];
        // SAFETY: header and two data words in the v3 layout the kernel expects, both alive
        // for the duration of the call; capset only reads them (the header's version may be
        // written back, hence &mut).
        let r =
            unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
        Errno::result(r).map_err(|e| SecurityError::Caps {
            op: "capset",
            set: "effective/permitted/inheritable",
            reason: format!("effective {eff:#x}, permitted {prm:#x}, inheritable {inh:#x}: {e}"),
        })?;
        // SAFETY: prctl with integer arguments only.
        let r = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            )
        };
        // EINVAL: a kernel without ambient capabilities; there is nothing to clear then.
        match Errno::result(r) {
            Ok(_) | Err(Errno::EINVAL) => {}
            Err(e) => {
                return Err(SecurityError::Caps {
                    op: "clear",
                    set: "ambient",
                    reason: e.to_string(),
                })
            }
        }
        for cap in self.ambient.iter().filter(|c| known & c.bitmask() != 0) {
            // Ambient needs the cap in permitted and inheritable; runc ignores failures too.
            // SAFETY: prctl with integer arguments only.
            let _ = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    libc::c_ulong::from(cap.index()),
                    0,
                    0,
                )
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_bit_per_capability() {
        let mut s = CapsHashSet::new();
        s.insert(Capability::CAP_CHOWN);
        s.insert(Capability::CAP_KILL);
        s.insert(Capability::CAP_CHECKPOINT_RESTORE);
        assert_eq!(mask(&s), 1 | (1 << 5) | (1 << 40));
    }
}
