//! Per-process kernel attributes from config.json that init (and every `exec`'d process)
//! sets on itself before execve: linux.personality, process.ioPriority, process.scheduler,
//! process.execCPUAffinity. Plus the features we refuse or ignore: linux.intelRdt,
//! SELinux labels and AppArmor profiles.
//!
//! Everything is checked and converted to raw syscall arguments by the runtime before the
//! clone (a bad value fails `create`/`exec` with the field named, before any process
//! exists); the child only makes the syscalls. Absent fields cost nothing.

use nix::errno::Errno;
use oci_spec::runtime::{
    IOPriorityClass, LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process,
    Spec,
};
use std::path::Path;

/// linux.personality, process.ioPriority, process.scheduler, process.execCPUAffinity or a
/// setting this host cannot honour was refused, or could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum AttrError {
    /// A value in config.json that we refuse; `field` is its JSON path.
    #[error("{field}: {reason}")]
    Field {
        /// The field's JSON path.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The syscall that applies `field` failed in the container process.
    #[error("{field}: {syscall}: {errno}")]
    Apply {
        /// The field's JSON path.
        field: &'static str,
        /// The system call.
        syscall: &'static str,
        /// The error it returned.
        errno: Errno,
    },
}

fn field(field: &'static str, reason: impl Into<String>) -> AttrError {
    AttrError::Field {
        field,
        reason: reason.into(),
    }
}

/// The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1, with utilization clamps).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// What the child applies, as raw syscall arguments.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    /// personality(2) persona.
    pub(crate) personality: Option<libc::c_ulong>,
    /// ioprio_set(2) value: class << 13 | level.
    ioprio: Option<libc::c_int>,
    sched: Option<SchedAttr>,
    /// execCPUAffinity.initial / final (exec only).
    affinity_initial: Option<libc::cpu_set_t>,
    affinity_final: Option<libc::cpu_set_t>,
}

// personality.h
const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;
const PERSONALITY_FLAGS: &[(&str, libc::c_ulong)] = &[
    ("UNAME26", 0x0020000),
    ("ADDR_NO_RANDOMIZE", 0x0040000),
    ("FDPIC_FUNCPTRS", 0x0080000),
    ("MMAP_PAGE_ZERO", 0x0100000),
    ("ADDR_COMPAT_LAYOUT", 0x0200000),
    ("READ_IMPLIES_EXEC", 0x0400000),
    ("ADDR_LIMIT_32BIT", 0x0800000),
    ("SHORT_INODE", 0x1000000),
    ("WHOLE_SECONDS", 0x2000000),
    ("STICKY_TIMEOUTS", 0x4000000),
    ("ADDR_LIMIT_3GB", 0x8000000),
];

// linux/ioprio.h
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;

// linux/sched.h and uapi/linux/sched/types.h
const SCHED_ISO: u32 = 4;
const SCHED_DEADLINE: u32 = 6;
const SCHED_ATTR_SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;

fn personality(spec: &Spec) -> Result<Option<libc::c_ulong>, AttrError> {
    let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) else {
        return Ok(None);
    };
    let mut v = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    for f in p.flags().iter().flatten() {
        let bits = PERSONALITY_FLAGS
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                field(
                    "linux.personality.flags",
                    format!("unknown flag {f:?} (known: the personality(2) flag names, e.g. ADDR_NO_RANDOMIZE)"),
                )
            })?;
        v |= bits;
    }
    Ok(Some(v))
}

fn ioprio(p: &Process) -> Result<Option<libc::c_int>, AttrError> {
    let Some(io) = p.io_priority() else {
        return Ok(None);
    };
    let class: libc::c_int = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let prio = io.priority();
    if !(0..=7).contains(&prio) {
        return Err(field(
            "process.ioPriority.priority",
            format!("{prio} is out of range (0-7)"),
        ));
    }
    Ok(Some(class << IOPRIO_CLASS_SHIFT | prio as libc::c_int))
}

fn sched(p: &Process) -> Result<Option<SchedAttr>, AttrError> {
    let Some(s) = p.scheduler() else {
        return Ok(None);
    };
    use LinuxSchedulerPolicy::*;
    let policy = match s.policy() {
        SchedOther => libc::SCHED_OTHER as u32,
        SchedFifo => libc::SCHED_FIFO as u32,
        SchedRr => libc::SCHED_RR as u32,
        SchedBatch => libc::SCHED_BATCH as u32,
        SchedIso => SCHED_ISO,
        SchedIdle => libc::SCHED_IDLE as u32,
        SchedDeadline => SCHED_DEADLINE,
    };
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(field(
            "process.scheduler.nice",
            format!("{nice} is out of range (-20 to 19)"),
        ));
    }
    let prio = s.priority().unwrap_or(0);
    let realtime = matches!(s.policy(), SchedFifo | SchedRr);
    // runc's rules (sched_setattr(2)): static priority 1-99 for the real-time policies, 0
    // for the others.
    if realtime && !(1..=99).contains(&prio) {
        return Err(field(
            "process.scheduler.priority",
            format!("{prio} is out of range for {} (1-99)", s.policy()),
        ));
    }
    if !realtime && prio != 0 {
        return Err(field(
            "process.scheduler.priority",
            format!("must be 0 for {}, not {prio}", s.policy()),
        ));
    }
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        use LinuxSchedulerFlag::*;
        flags |= match f {
            SchedResetOnFork => 0x01,
            SchedFlagReclaim => 0x02,
            SchedFlagDLOverrun => 0x04,
            SchedFlagKeepPolicy => 0x08,
            SchedFlagKeepParams => 0x10,
            SchedFlagUtilClampMin => 0x20,
            SchedFlagUtilClampMax => 0x40,
        };
    }
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if *s.policy() == SchedDeadline && (runtime == 0 || deadline == 0) {
        return Err(field(
            "process.scheduler",
            "SCHED_DEADLINE needs runtime and deadline",
        ));
    }
    Ok(Some(SchedAttr {
        size: SCHED_ATTR_SIZE,
        policy,
        flags,
        nice,
        priority: prio as u32,
        runtime,
        deadline,
        period,
        util_min: 0,
        util_max: 1024,
    }))
}

/// Parses a cpu list ("0-3,7") into a cpu_set_t.
fn cpu_list(at: &'static str, s: &str) -> Result<Option<libc::cpu_set_t>, AttrError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    let bad = |part: &str| field(at, format!("invalid cpu list entry {part:?}"));
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.trim().parse().map_err(|_| bad(part))?;
        let b: usize = b.trim().parse().map_err(|_| bad(part))?;
        if a > b || b >= max {
            return Err(bad(part));
        }
        for cpu in a..=b {
            // SAFETY: cpu < CPU_SETSIZE (checked above), so the bit is inside `set`.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    Ok(Some(set))
}

impl Attrs {
    /// For init: the config's process and linux.personality. execCPUAffinity does not apply
    /// to init (runtime-spec).
    pub fn for_init(spec: &Spec) -> Result<Self, AttrError> {
        let mut a = Attrs {
            personality: personality(spec)?,
            ..Attrs::default()
        };
        if let Some(p) = spec.process() {
            a.ioprio = ioprio(p)?;
            a.sched = sched(p)?;
        }
        Ok(a)
    }

    /// For an `exec`'d process: its own process fields, the container's personality.
    /// `personality` is the container's (kept in its state since create).
    pub fn for_exec(personality: Option<libc::c_ulong>, p: &Process) -> Result<Self, AttrError> {
        let mut a = Attrs {
            personality,
            ioprio: ioprio(p)?,
            sched: sched(p)?,
            ..Attrs::default()
        };
        if let Some(aff) = p.exec_cpu_affinity() {
            if let Some(s) = aff.initial() {
                a.affinity_initial = cpu_list("process.execCPUAffinity.initial", s)?;
            }
            if let Some(s) = aff.cpu_affinity_final() {
                a.affinity_final = cpu_list("process.execCPUAffinity.final", s)?;
            }
        }
        Ok(a)
    }

    /// In the container process, before capabilities are dropped (a real-time policy or
    /// I/O class needs CAP_SYS_NICE / CAP_SYS_ADMIN) and before seccomp is loaded (the
    /// profile need not allow these syscalls).
    pub fn apply(&self) -> Result<(), AttrError> {
        if let Some(p) = self.personality {
            // SAFETY: personality(2) takes a plain integer.
            if unsafe { libc::personality(p) } < 0 {
                return Err(AttrError::Apply {
                    field: "linux.personality",
                    syscall: "personality",
                    errno: Errno::last(),
                });
            }
        }
        if let Some(v) = self.ioprio {
            // SAFETY: ioprio_set(2) takes plain integers; 0 is the calling thread.
            let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) };
            if r < 0 {
                return Err(AttrError::Apply {
                    field: "process.ioPriority",
                    syscall: "ioprio_set",
                    errno: Errno::last(),
                });
            }
        }
        if let Some(attr) = &self.sched {
            // SAFETY: `attr` is a live sched_attr whose `size` field matches its layout;
            // the kernel only reads it.
            let r = unsafe {
                libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0u32)
            };
            if r < 0 {
                return Err(AttrError::Apply {
                    field: "process.scheduler",
                    syscall: "sched_setattr",
                    errno: Errno::last(),
                });
            }
        }
        Ok(())
    }

    /// execCPUAffinity.initial, in the intermediate before the cgroup join.
    pub fn apply_initial_affinity(&self) -> Result<(), AttrError> {
        set_affinity(
            self.affinity_initial.as_ref(),
            "process.execCPUAffinity.initial",
        )
    }

    /// execCPUAffinity.final, in the process after it joined the container's cgroup.
    pub fn apply_final_affinity(&self) -> Result<(), AttrError> {
        set_affinity(
            self.affinity_final.as_ref(),
            "process.execCPUAffinity.final",
        )
    }
}

fn set_affinity(set: Option<&libc::cpu_set_t>, at: &'static str) -> Result<(), AttrError> {
    let Some(set) = set else {
        return Ok(());
    };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; the kernel only reads it.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if r < 0 {
        return Err(AttrError::Apply {
            field: at,
            syscall: "sched_setaffinity",
            errno: Errno::last(),
        });
    }
    Ok(())
}

/// Refuses what this runtime cannot do, before anything is made: linux.intelRdt (needs a
/// resctrl mount, and we do not implement it), and SELinux labels / AppArmor profiles on a
/// host where those LSMs are enabled (ignored otherwise, as runc does).
pub fn check_unsupported(spec: &Spec) -> Result<(), AttrError> {
    let linux = spec.linux().as_ref();
    if linux.and_then(|l| l.intel_rdt().as_ref()).is_some() {
        let reason = if resctrl_mounted() {
            "Intel RDT is not supported by this runtime"
        } else {
            "Intel RDT is not supported on this machine (no resctrl filesystem mounted at /sys/fs/resctrl)"
        };
        return Err(field("linux.intelRdt", reason));
    }
    let selinux = selinux_enabled();
    if selinux
        && linux
            .and_then(|l| l.mount_label().as_ref())
            .is_some_and(|s| !s.is_empty())
    {
        return Err(field(
            "linux.mountLabel",
            "SELinux is enabled on this host but this runtime cannot apply labels",
        ));
    }
    let process = spec.process().as_ref();
    if selinux
        && process
            .and_then(|p| p.selinux_label().as_ref())
            .is_some_and(|s| !s.is_empty())
    {
        return Err(field(
            "process.selinuxLabel",
            "SELinux is enabled on this host but this runtime cannot apply labels",
        ));
    }
    if process
        .and_then(|p| p.apparmor_profile().as_ref())
        .is_some_and(|s| !s.is_empty())
        && apparmor_enabled()
    {
        return Err(field(
            "process.apparmorProfile",
            "AppArmor is enabled on this host but this runtime cannot apply profiles",
        ));
    }
    Ok(())
}

fn resctrl_mounted() -> bool {
    crate::sys::read_proc("/proc/self/mountinfo")
        .is_ok_and(|m| m.lines().any(|l| l.contains(" - resctrl ")))
}

/// As go-selinux's GetEnabled: selinuxfs is mounted (its `enforce` file exists).
fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// As runc's apparmor.IsEnabled.
fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn converts_and_names_fields() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.2.0",
            "process": {"cwd": "/", "user": {"uid": 0, "gid": 0},
                "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0},
                "scheduler": {"policy": "SCHED_BATCH", "nice": 5}},
            "linux": {"personality": {"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}}
        }));
        let a = Attrs::for_init(&s).unwrap();
        assert_eq!(a.personality, Some(PER_LINUX32 | 0x0040000));
        assert_eq!(a.ioprio, Some(3 << 13));
        let sa = a.sched.unwrap();
        assert_eq!((sa.policy, sa.nice), (libc::SCHED_BATCH as u32, 5));
        let bad = spec(serde_json::json!({
            "ociVersion": "1.2.0",
            "process": {"cwd": "/", "user": {"uid": 0, "gid": 0},
                "scheduler": {"policy": "SCHED_FIFO"}}
        }));
        let e = Attrs::for_init(&bad).unwrap_err().to_string();
        assert!(e.starts_with("process.scheduler.priority"), "{e}");
        let bad = spec(serde_json::json!({
            "ociVersion": "1.2.0",
            "linux": {"personality": {"domain": "LINUX", "flags": ["NOPE"]}}
        }));
        let e = Attrs::for_init(&bad).unwrap_err().to_string();
        assert!(e.starts_with("linux.personality.flags"), "{e}");
        assert!(cpu_list("x", "0-1,3").unwrap().is_some());
        assert!(cpu_list("x", "3-1").is_err());
    }
}
