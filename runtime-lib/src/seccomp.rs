//! linux.seccomp: compiling the filter (runtime side) and loading it (init side).
//!
//! The runtime compiles config.json's filter with libseccomp into a classic BPF program
//! *before* init is cloned, so every mistake in the profile fails `create` before any
//! process, cgroup or state directory exists. Init inherits the compiled program as a copy of
//! the runtime's memory and loads it with one seccomp(2) call: no libseccomp code and no
//! allocation run in init, and we control the kernel flags exactly (the same approach as
//! runc's patchbpf, minus its -ENOSYS stub for syscalls unknown to libseccomp).
//!
//! Where init loads it follows runc's standard_init_linux.go: without noNewPrivileges the
//! filter needs CAP_SYS_ADMIN, so it is loaded before capabilities are dropped; with it, as
//! late as possible (after the user switch and PR_SET_NO_NEW_PRIVS, just before telling the
//! runtime it is ready and waiting on the exec fifo). The syscalls init still makes after
//! that (write on the channel, sendmsg/recvmsg to pass a notify fd, openat/write/close on
//! the exec fifo, execve) must be allowed by the profile, as with runc.
//!
//! SCMP_ACT_NOTIFY: the kernel hands init a listener fd (SECCOMP_FILTER_FLAG_NEW_LISTENER);
//! init passes it to the runtime over the channel with SCM_RIGHTS, and the runtime sends it,
//! with the container process state JSON, to the agent at linux.seccomp.listenerPath (as
//! runc does), then tells init to go on.

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use nix::errno::Errno;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use std::io::{IoSlice, Read, Seek};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// linux.seccomp is invalid, or its filter could not be compiled, loaded or handed over.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A value in config.json that we refuse; `field` is its JSON path.
    #[error("{field}: {reason}")]
    Field {
        /// The field's JSON path.
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// libseccomp refused a rule while compiling the profile.
    #[error("{field}: {op}: {source}")]
    Libseccomp {
        /// The rule's JSON path.
        field: String,
        /// The libseccomp operation.
        op: &'static str,
        /// libseccomp's error.
        source: libseccomp::error::SeccompError,
    },
    /// The compiled filter could not be exported as BPF.
    #[error("seccomp: exporting the compiled filter: {0}")]
    Export(String),
    /// The kernel refused the filter.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER, flags {flags:#x}): {errno}{hint}")]
    Load {
        /// The seccomp(2) flags used.
        flags: u32,
        /// The error it returned.
        errno: Errno,
        /// A likely cause, when one is known.
        hint: &'static str,
    },
    /// The notify fd could not be sent to the seccomp agent.
    #[error("linux.seccomp.listenerPath {path}: {reason}")]
    Listener {
        /// The agent's socket.
        path: PathBuf,
        /// Why sending failed.
        reason: String,
    },
}

fn field(field: impl Into<String>, reason: impl Into<String>) -> SeccompError {
    SeccompError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Every action name runtime-spec defines, all supported.
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// Every comparison operator runtime-spec defines.
pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// The filter flags we know; whether the kernel has them is [`supported_flags`].
pub const KNOWN_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

// Kernel values (linux/seccomp.h); libc lacks some of them.
const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
const FLAG_SPEC_ALLOW: u32 = 4;
const FLAG_NEW_LISTENER: u32 = 8;
const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

fn flag_bits(name: &str) -> Option<u32> {
    Some(match name {
        "SECCOMP_FILTER_FLAG_TSYNC" => FLAG_TSYNC,
        "SECCOMP_FILTER_FLAG_LOG" => FLAG_LOG,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => FLAG_SPEC_ALLOW,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => FLAG_WAIT_KILLABLE_RECV,
        _ => return None,
    })
}

/// The syscalls init itself makes to hand a notify fd to the runtime and report ready:
/// notifying on them would deadlock init (nobody listens yet). runc refuses `write` too.
const HANDSHAKE_SYSCALLS: &[&str] = &["sendmsg", "recvmsg", "write"];

/// A compiled filter, ready for init to load.
#[derive(Debug, Clone)]
pub struct Program {
    filter: Vec<libc::sock_filter>,
    flags: u32,
    /// Some rule uses SCMP_ACT_NOTIFY: loading yields a listener fd for the agent.
    pub notify: bool,
}

fn action(
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    at: &dyn Fn() -> String,
) -> Result<ScmpAction, SeccompError> {
    use LinuxSeccompAction::*;
    // runc's defaults: ERRNO and TRACE without errnoRet return EPERM.
    let ret = |r: Option<u32>| -> Result<u16, SeccompError> {
        let r = r.unwrap_or(libc::EPERM as u32);
        u16::try_from(r).map_err(|_| field(at(), format!("errnoRet {r} is out of range")))
    };
    // runtime-spec: "When the action doesn't support an errno, the runtime MUST print and
    // error and fail" (for errnoRet and defaultErrnoRet alike).
    if let (Some(r), false) = (errno_ret, matches!(a, ScmpActErrno | ScmpActTrace)) {
        return Err(field(
            at(),
            format!("errnoRet {r} is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {a}"),
        ));
    }
    Ok(match a {
        ScmpActKill | ScmpActKillThread => ScmpAction::KillThread,
        ScmpActKillProcess => ScmpAction::KillProcess,
        ScmpActTrap => ScmpAction::Trap,
        ScmpActErrno => ScmpAction::Errno(i32::from(ret(errno_ret)?)),
        ScmpActTrace => ScmpAction::Trace(ret(errno_ret)?),
        ScmpActLog => ScmpAction::Log,
        ScmpActNotify => ScmpAction::Notify,
        ScmpActAllow => ScmpAction::Allow,
    })
}

fn operator(op: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    use LinuxSeccompOperator::*;
    match op {
        ScmpCmpNe => ScmpCompareOp::NotEqual,
        ScmpCmpLt => ScmpCompareOp::Less,
        ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        ScmpCmpEq => ScmpCompareOp::Equal,
        ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        ScmpCmpGt => ScmpCompareOp::Greater,
        // runtime-spec (like libseccomp): `value` is the mask, `valueTwo` the datum.
        ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

fn arch(a: Arch, at: &dyn Fn() -> String) -> Result<ScmpArch, SeccompError> {
    // oci-spec's names are libseccomp's SCMP_ARCH_* names.
    let name = a.to_string();
    name.parse::<ScmpArch>().map_err(|_| {
        field(
            at(),
            format!("architecture {name} is not supported by libseccomp"),
        )
    })
}

fn lib_err(
    at: impl Into<String>,
    op: &'static str,
) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let at = at.into();
    move |source| SeccompError::Libseccomp {
        field: at,
        op,
        source,
    }
}

/// Compiles linux.seccomp. Runs in the runtime before init exists.
pub fn compile(s: &LinuxSeccomp) -> Result<Program, SeccompError> {
    const F: &str = "linux.seccomp";
    let default = action(s.default_action(), s.default_errno_ret(), &|| {
        format!("{F}.defaultErrnoRet")
    })?;
    if default == ScmpAction::Notify {
        return Err(field(
            format!("{F}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    let mut ctx = ScmpFilterContext::new(default).map_err(lib_err(F, "seccomp_init"))?;
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        let at = || format!("{F}.architectures[{i}]");
        let a = arch(*a, &at)?;
        ctx.add_arch(a).map_err(lib_err(at(), "seccomp_arch_add"))?;
    }
    let mut flags = 0u32;
    for (i, f) in s.flags().iter().flatten().enumerate() {
        let name = f.to_string();
        // TSYNC only matters for multi-threaded callers; init is single-threaded, and
        // TSYNC with NEW_LISTENER would need TSYNC_ESRCH. runc ignores it too.
        if *f == LinuxSeccompFilterFlag::SeccompFilterFlagTsync {
            continue;
        }
        flags |= flag_bits(&name)
            .ok_or_else(|| field(format!("{F}.flags[{i}]"), format!("unknown flag {name}")))?;
    }
    // More than a few dozen rules: a binary tree beats libseccomp's linear list.
    let n_syscalls = s.syscalls().as_ref().map_or(0, |v| v.len());
    if n_syscalls > 32 {
        let _ = ctx.set_ctl_optimize(2);
    }
    let mut notify = false;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let at = format!("{F}.syscalls[{i}]");
        let act = action(sc.action(), sc.errno_ret(), &|| format!("{at}.errnoRet"))?;
        if sc.names().is_empty() {
            return Err(field(format!("{at}.names"), "must not be empty"));
        }
        // libseccomp refuses rules whose action is the default one; they are no-ops anyway.
        if act == default {
            continue;
        }
        let mut conds = Vec::new();
        let mut per_index = [0u32; 6];
        for (j, a) in sc.args().iter().flatten().enumerate() {
            let idx = a.index();
            let Some(count) = per_index.get_mut(idx) else {
                return Err(field(
                    format!("{at}.args[{j}].index"),
                    format!("{idx} is out of range (syscalls have 6 arguments, 0-5)"),
                ));
            };
            *count += 1;
            let datum = match a.op() {
                LinuxSeccompOperator::ScmpCmpMaskedEq => a.value_two().unwrap_or(0),
                _ => a.value(),
            };
            conds.push(ScmpArgCompare::new(
                idx as u32,
                operator(a.op(), a.value()),
                datum,
            ));
        }
        // libseccomp ANDs conditions on different arguments but cannot AND two on the same
        // one; like runc, such conditions become separate rules (an OR).
        let split = per_index.iter().any(|&c| c > 1);
        for (k, name) in sc.names().iter().enumerate() {
            let Ok(nr) = libseccomp::ScmpSyscall::from_name(name) else {
                // Unknown to libseccomp (or this architecture): skipped, as runc does, so one
                // profile serves several kernels and architectures.
                continue;
            };
            if act == ScmpAction::Notify {
                if HANDSHAKE_SYSCALLS.contains(&name.as_str()) {
                    return Err(field(
                        format!("{at}.names[{k}]"),
                        format!("SCMP_ACT_NOTIFY cannot be used for {name}: init itself needs it after loading the filter"),
                    ));
                }
                notify = true;
            }
            let rule_at = || format!("{at}.names[{k}] ({name})");
            if conds.is_empty() {
                ctx.add_rule(act, nr)
                    .map_err(lib_err(rule_at(), "seccomp_rule_add"))?;
            } else if split {
                for c in &conds {
                    ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                        .map_err(lib_err(rule_at(), "seccomp_rule_add"))?;
                }
            } else {
                ctx.add_rule_conditional(act, nr, &conds)
                    .map_err(lib_err(rule_at(), "seccomp_rule_add"))?;
            }
        }
    }
    if notify {
        if s.listener_path()
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty())
        {
            return Err(field(
                format!("{F}.listenerPath"),
                "required when a rule uses SCMP_ACT_NOTIFY",
            ));
        }
        flags |= FLAG_NEW_LISTENER;
    } else {
        // The kernel rejects WAIT_KILLABLE_RECV without a listener; it is meaningless then.
        flags &= !FLAG_WAIT_KILLABLE_RECV;
    }
    Ok(Program {
        filter: export(&ctx)?,
        flags,
        notify,
    })
}

/// libseccomp 2.5 can only export BPF to an fd: a memfd, read back into memory.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let e = |s: String| SeccompError::Export(s);
    let fd = memfd_create("ongi-seccomp", MFdFlags::MFD_CLOEXEC)
        .map_err(|errno| e(format!("memfd_create: {errno}")))?;
    let mut f = std::fs::File::from(fd);
    ctx.export_bpf(&f)
        .map_err(|source| e(format!("seccomp_export_bpf: {source}")))?;
    f.rewind().map_err(|err| e(format!("rewind: {err}")))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)
        .map_err(|err| e(format!("read: {err}")))?;
    const INSN: usize = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || bytes.len() % INSN != 0 {
        return Err(e(format!("{} bytes is not a BPF program", bytes.len())));
    }
    Ok(decode_insns(&bytes))
}

/// struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } in native byte order, as
/// seccomp_export_bpf writes it (and the program cache stores it).
fn decode_insns(bytes: &[u8]) -> Vec<libc::sock_filter> {
    bytes
        .chunks_exact(std::mem::size_of::<libc::sock_filter>())
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

impl Program {
    /// Installs the filter on the calling thread (init). Returns the notify listener fd when
    /// the profile uses SCMP_ACT_NOTIFY. Needs no_new_privs or CAP_SYS_ADMIN.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let len = u16::try_from(self.filter.len()).map_err(|_| SeccompError::Load {
            flags: self.flags,
            errno: Errno::E2BIG,
            hint: " (filter longer than 65535 instructions)",
        })?;
        let prog = libc::sock_fprog {
            len,
            filter: self.filter.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points into `self.filter`, which outlives the call; the kernel only
        // reads (and copies) the program.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            let errno = Errno::last();
            return Err(SeccompError::Load {
                flags: self.flags,
                errno,
                hint: match errno {
                    Errno::EACCES => " (needs noNewPrivileges or CAP_SYS_ADMIN)",
                    Errno::EINVAL => " (a flag or action this kernel does not support?)",
                    _ => "",
                },
            });
        }
        if self.flags & FLAG_NEW_LISTENER == 0 {
            return Ok(None);
        }
        // SAFETY: with NEW_LISTENER the return value is a fresh fd that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }))
    }
}

pub mod cache;

/// Like [`from_spec`], reusing a program compiled earlier under `root` for the same profile.
pub fn from_spec_cached(
    spec: &oci_spec::runtime::Spec,
    root: &std::path::Path,
) -> Result<Option<Program>, SeccompError> {
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => cache::compile_cached(s, root).map(Some),
        None => Ok(None),
    }
}

/// Compiles linux.seccomp when present; `None` (and no work at all) otherwise.
pub fn from_spec(spec: &oci_spec::runtime::Spec) -> Result<Option<Program>, SeccompError> {
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => compile(s).map(Some),
        None => Ok(None),
    }
}

/// When config.json did not deserialize, finds a bad name in linux.seccomp and says which
/// field holds it (serde only gives a line and column). Only runs on that error path.
pub fn explain_parse_error(config: &[u8]) -> Option<SeccompError> {
    let v: serde_json::Value = serde_json::from_slice(config).ok()?;
    let s = v.pointer("/linux/seccomp")?;
    let check =
        |at: String, val: &serde_json::Value, what: &str, valid: &dyn Fn(&str) -> bool| match val
            .as_str()
        {
            Some(x) if valid(x) => None,
            Some(x) => Some(field(at, format!("unknown {what} {x:?}"))),
            None => Some(field(at, format!("{what} must be a string"))),
        };
    let is_action = |x: &str| ACTIONS.contains(&x);
    let is_op = |x: &str| OPERATORS.contains(&x);
    let is_flag = |x: &str| KNOWN_FLAGS.contains(&x);
    let is_arch = |x: &str| serde_json::from_value::<Arch>(serde_json::json!(x)).is_ok();
    let arr = |p: &str| s.get(p).and_then(|a| a.as_array()).into_iter().flatten();
    let mut errs = Vec::new();
    if let Some(d) = s.get("defaultAction") {
        errs.push(check(
            "linux.seccomp.defaultAction".into(),
            d,
            "action",
            &is_action,
        ));
    }
    for (i, a) in arr("architectures").enumerate() {
        errs.push(check(
            format!("linux.seccomp.architectures[{i}]"),
            a,
            "architecture",
            &is_arch,
        ));
    }
    for (i, f) in arr("flags").enumerate() {
        errs.push(check(
            format!("linux.seccomp.flags[{i}]"),
            f,
            "flag",
            &is_flag,
        ));
    }
    for (i, sc) in arr("syscalls").enumerate() {
        if let Some(a) = sc.get("action") {
            errs.push(check(
                format!("linux.seccomp.syscalls[{i}].action"),
                a,
                "action",
                &is_action,
            ));
        }
        let args = sc
            .get("args")
            .and_then(|a| a.as_array())
            .into_iter()
            .flatten();
        for (j, arg) in args.enumerate() {
            if let Some(op) = arg.get("op") {
                errs.push(check(
                    format!("linux.seccomp.syscalls[{i}].args[{j}].op"),
                    op,
                    "operator",
                    &is_op,
                ));
            }
        }
    }
    errs.into_iter().flatten().next()
}

/// The runtime's half of SCMP_ACT_NOTIFY: connects to the agent at `listener` and sends it
/// `state` (runtime-spec's container process state JSON) with `fd` as SCM_RIGHTS.
pub fn send_to_listener(
    listener: &Path,
    state: &[u8],
    fd: BorrowedFd<'_>,
) -> Result<(), SeccompError> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let err = |reason: String| SeccompError::Listener {
        path: listener.to_path_buf(),
        reason,
    };
    let sock = std::os::unix::net::UnixStream::connect(listener)
        .map_err(|e| err(format!("connect to the seccomp agent: {e}")))?;
    let raw = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let iov = [IoSlice::new(state)];
    sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(|errno| err(format!("send the notify fd: {errno}")))?;
    Ok(())
}

/// runtime-spec's container process state for the seccomp agent.
pub fn process_state(pid: i32, metadata: Option<&str>, state: &crate::state::OciState) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        v["metadata"] = serde_json::json!(m);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Which of [`KNOWN_FLAGS`] this kernel accepts. Probes seccomp(2) with a NULL program: a
/// known flag fails with EFAULT (bad pointer), an unknown one with EINVAL; nothing is loaded.
pub fn supported_flags() -> Vec<&'static str> {
    KNOWN_FLAGS
        .iter()
        .copied()
        .filter(|name| {
            let Some(bits) = flag_bits(name) else {
                return false;
            };
            // WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER.
            let bits = if bits == FLAG_WAIT_KILLABLE_RECV {
                bits | FLAG_NEW_LISTENER
            } else {
                bits
            };
            // SAFETY: a NULL program pointer is never dereferenced successfully: the kernel
            // checks flags first, then fails copying the program with EFAULT.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    SECCOMP_SET_MODE_FILTER,
                    bits as libc::c_ulong,
                    std::ptr::null::<libc::sock_fprog>(),
                )
            };
            r < 0 && Errno::last() == Errno::EFAULT
        })
        .collect()
}

/// SCMP_ARCH_* names usable in linux.seccomp.architectures here, sorted. Each is tried on a
/// scratch filter: the Rust binding knows names only newer C libraries have (loongarch64,
/// m68k, sh), and libseccomp keeps a filter to the native byte order, so big-endian
/// architectures fail on a little-endian host (runc lists them but fails the same way).
pub fn archs() -> Vec<String> {
    use Arch::*;
    let supported = |a: ScmpArch| {
        ScmpFilterContext::new(ScmpAction::Allow)
            .is_ok_and(|mut ctx| ctx.is_arch_present(a).unwrap_or(false) || ctx.add_arch(a).is_ok())
    };
    let mut names = [
        ScmpArchX86,
        ScmpArchX86_64,
        ScmpArchX32,
        ScmpArchArm,
        ScmpArchAarch64,
        ScmpArchMips,
        ScmpArchMips64,
        ScmpArchMips64n32,
        ScmpArchMipsel,
        ScmpArchMipsel64,
        ScmpArchMipsel64n32,
        ScmpArchPpc,
        ScmpArchPpc64,
        ScmpArchPpc64le,
        ScmpArchS390,
        ScmpArchS390x,
        ScmpArchParisc,
        ScmpArchParisc64,
        ScmpArchRiscv64,
        ScmpArchLoongarch64,
        ScmpArchM68k,
        ScmpArchSh,
        ScmpArchSheb,
    ]
    .into_iter()
    .map(|a| a.to_string())
    .filter(|n| match n.parse::<ScmpArch>() {
        Ok(a) => supported(a),
        Err(_) => false,
    })
    .collect::<Vec<_>>();
    names.sort();
    names
}

/// libseccomp's version, e.g. "2.5.4".
pub fn libseccomp_version() -> Option<String> {
    libseccomp::ScmpVersion::current()
        .ok()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("valid seccomp json")
    }

    #[test]
    fn compiles_errno_rule() {
        let p = compile(&spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["mkdir", "mkdirat", "no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        })))
        .expect("compiles");
        assert!(!p.filter.is_empty());
        assert!(!p.notify);
        assert_eq!(p.flags, 0);
    }

    #[test]
    fn same_index_args_and_masked_eq() {
        compile(&spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                         {"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"},
                         {"index": 1, "value": 255, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]}]
        })))
        .expect("compiles");
    }

    #[test]
    fn errors_name_the_field() {
        let e = compile(&spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]
        })))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.seccomp.syscalls[1].args[0].index: 7 is out of range (syscalls have 6 arguments, 0-5)"
        );
        let e = compile(&spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .unwrap_err();
        assert!(
            e.to_string().starts_with("linux.seccomp.listenerPath"),
            "{e}"
        );
        let e = compile(&spec(
            serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
        ))
        .unwrap_err();
        assert!(
            e.to_string().starts_with("linux.seccomp.defaultAction"),
            "{e}"
        );
    }

    #[test]
    fn refuses_notify_on_inits_syscalls_and_big_errno() {
        let e = compile(&spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for write"
            ),
            "{e}"
        );
        let e = compile(&spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000
        })))
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.seccomp.defaultErrnoRet: errnoRet 70000"),
            "{e}"
        );
    }

    #[test]
    fn errno_ret_needs_an_errno_action() {
        let e = compile(&spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 18}]
        })))
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.seccomp.syscalls[0].errnoRet: errnoRet 18"),
            "{e}"
        );
        let e = compile(&spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1
        })))
        .unwrap_err();
        assert!(
            e.to_string().starts_with("linux.seccomp.defaultErrnoRet"),
            "{e}"
        );
    }

    #[test]
    fn notify_sets_new_listener() {
        let p = compile(&spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .expect("compiles");
        assert!(p.notify);
        assert_eq!(p.flags, FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV);
    }

    #[test]
    fn explains_bad_names() {
        let cfg = |s: serde_json::Value| {
            serde_json::to_vec(&serde_json::json!({"linux": {"seccomp": s}})).unwrap()
        };
        let e = explain_parse_error(&cfg(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW"}, {"names": ["b"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["c"], "action": "SCMP_ACT_ALLOW"}, {"names": ["d"], "action": "X"}]
        })))
        .expect("explained");
        assert_eq!(
            e.to_string(),
            "linux.seccomp.syscalls[3].action: unknown action \"X\""
        );
        let e = explain_parse_error(&cfg(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]
        })))
        .expect("explained");
        assert_eq!(
            e.to_string(),
            "linux.seccomp.architectures[0]: unknown architecture \"SCMP_ARCH_VAX\""
        );
        assert!(explain_parse_error(b"{}").is_none());
    }

    #[test]
    fn features_lists() {
        assert!(archs().contains(&"SCMP_ARCH_X86_64".to_string()));
        assert!(libseccomp_version().is_some());
        assert!(supported_flags().contains(&"SECCOMP_FILTER_FLAG_LOG"));
    }
}
