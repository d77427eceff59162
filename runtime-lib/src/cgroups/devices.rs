//! Device access rules: `linux.resources.devices` plus runc's default allow list, reduced
//! (like the kernel's v1 devices controller and runc's emulator) to a default action and a
//! list of exceptions, then written as v1 `devices.deny`/`devices.allow` lines or compiled
//! to a v2 `BPF_PROG_TYPE_CGROUP_DEVICE` program.

use super::{CgroupError, Result};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const FIELD: &str = "linux.resources.devices";

pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// 'a' (all), 'b' or 'c'.
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// ACC_* bits.
    pub access: u8,
}

impl Rule {
    fn new(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, acc: &str) -> Self {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: parse_access(acc).unwrap_or(ACC_ALL),
        }
    }

    /// The v1 line, `c 1:3 rwm` (`*` for wildcards).
    pub fn v1_line(&self) -> String {
        let n = |v: Option<i64>| v.map_or_else(|| "*".to_string(), |v| v.to_string());
        let mut acc = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                acc.push(c);
            }
        }
        format!("{} {}:{} {}", self.kind, n(self.major), n(self.minor), acc)
    }

    fn is_wildcard(&self) -> bool {
        self.kind == 'a' && self.major.is_none() && self.minor.is_none()
    }
}

fn parse_access(s: &str) -> Option<u8> {
    let mut a = 0;
    for c in s.chars() {
        a |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
    }
    Some(a)
}

/// runc's AllowedDevices (specconv): appended after the user's rules, so they cannot be
/// denied unless linux.devices redefines the path. Path, type, major, minor, access.
type DefaultRule = (
    Option<&'static str>,
    char,
    Option<i64>,
    Option<i64>,
    &'static str,
);
const DEFAULT_ALLOWED: [DefaultRule; 11] = [
    (None, 'c', None, None, "m"),
    (None, 'b', None, None, "m"),
    (Some("/dev/null"), 'c', Some(1), Some(3), "rwm"),
    (Some("/dev/random"), 'c', Some(1), Some(8), "rwm"),
    (Some("/dev/full"), 'c', Some(1), Some(7), "rwm"),
    (Some("/dev/tty"), 'c', Some(5), Some(0), "rwm"),
    (Some("/dev/zero"), 'c', Some(1), Some(5), "rwm"),
    (Some("/dev/urandom"), 'c', Some(1), Some(9), "rwm"),
    // /dev/pts/*, /dev/ptmx, tun/tap
    (None, 'c', Some(136), None, "rwm"),
    (None, 'c', Some(5), Some(2), "rwm"),
    (None, 'c', Some(10), Some(200), "rwm"),
];

/// The spec's device rules followed by runc's defaults (minus those whose path
/// `linux.devices` redefines), in the order they take effect.
pub fn rules(spec: &[LinuxDeviceCgroup], linux_devices: &[LinuxDevice]) -> Result<Vec<Rule>> {
    let mut out = Vec::with_capacity(spec.len() + DEFAULT_ALLOWED.len());
    for (i, d) in spec.iter().enumerate() {
        let access = d.access().as_deref().unwrap_or("");
        if access.is_empty() {
            return Err(CgroupError::Invalid {
                field: format!("{FIELD}[{i}].access"),
                reason: "cannot be empty".into(),
            });
        }
        let Some(acc) = parse_access(access) else {
            return Err(CgroupError::Invalid {
                field: format!("{FIELD}[{i}].access"),
                reason: format!("{access:?} is not a combination of r, w and m"),
            });
        };
        let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => {
                return Err(CgroupError::Invalid {
                    field: format!("{FIELD}[{i}].type"),
                    reason: "\"p\" is not a cgroup device type (a, b or c)".into(),
                })
            }
        };
        out.push(Rule {
            allow: d.allow(),
            kind,
            major: d.major().filter(|m| *m >= 0),
            minor: d.minor().filter(|m| *m >= 0),
            access: acc,
        });
    }
    for (path, kind, major, minor, acc) in DEFAULT_ALLOWED {
        if path.is_some_and(|p| linux_devices.iter().any(|d| d.path() == Path::new(p))) {
            continue;
        }
        out.push(Rule::new(true, kind, major, minor, acc));
    }
    Ok(out)
}

/// The effect of a rule list: a default action and the exceptions to it, computed the way
/// the v1 kernel controller applies writes in order (and runc's emulator mirrors it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub default_allow: bool,
    pub exceptions: Vec<Rule>,
}

pub fn effective(rules: &[Rule]) -> Effective {
    // Like runc's emulator, start from "deny all": the spec's rules open it up.
    let mut e = Effective {
        default_allow: false,
        exceptions: Vec::new(),
    };
    for r in rules {
        if r.is_wildcard() {
            e.default_allow = r.allow;
            e.exceptions.clear();
            continue;
        }
        // A typed rule with kind 'a' (e.g. `a 1:3`) means both block and char.
        let kinds: &[char] = if r.kind == 'a' {
            &['b', 'c']
        } else {
            &[r.kind]
        };
        for &k in kinds {
            let r = Rule { kind: k, ..*r };
            let same = |x: &Rule| x.kind == r.kind && x.major == r.major && x.minor == r.minor;
            if r.allow == e.default_allow {
                // Same as the default: take these access bits out of a matching exception.
                for x in e.exceptions.iter_mut().filter(|x| same(x)) {
                    x.access &= !r.access;
                }
                e.exceptions.retain(|x| x.access != 0);
            } else if let Some(x) = e.exceptions.iter_mut().find(|x| same(x)) {
                x.access |= r.access;
            } else {
                e.exceptions.push(r);
            }
        }
    }
    e
}

/// Parses v1 `devices.list`: `a *:* rwm` alone means allow-all; anything else is deny-all
/// with the listed exceptions.
pub fn parse_list(text: &str) -> Effective {
    let mut exceptions = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(kind), Some(mm), Some(acc)) = (f.first(), f.get(1), f.get(2)) else {
            continue;
        };
        let Some((ma, mi)) = mm.split_once(':') else {
            continue;
        };
        let kind = kind.chars().next().unwrap_or('a');
        if kind == 'a' {
            return Effective {
                default_allow: true,
                exceptions: Vec::new(),
            };
        }
        exceptions.push(Rule {
            allow: true,
            kind,
            major: ma.parse().ok(),
            minor: mi.parse().ok(),
            access: parse_access(acc).unwrap_or(0),
        });
    }
    Effective {
        default_allow: false,
        exceptions,
    }
}

/// v1: the writes that take the cgroup from its current rules (`devices.list`) to the
/// target, as runc's emulator transition does: when the default action already matches,
/// only the differing exceptions are written (no reset, which the kernel also refuses
/// with EINVAL in a cgroup that has children, e.g. a pod's); otherwise reset with `a` in
/// the default's file, then each exception in the other one.
pub fn apply_v1(dir: &Path, rules: &[Rule]) -> Result<()> {
    let target = effective(rules);
    let current = crate::sys::read_proc(dir.join("devices.list"))
        .map(|t| parse_list(&t))
        .ok();
    let (reset, grant, revoke) = if target.default_allow {
        ("devices.allow", "devices.deny", "devices.allow")
    } else {
        ("devices.deny", "devices.allow", "devices.deny")
    };
    // On an allow-all cgroup the kernel lists only `a *:* rwm` and keeps no exceptions
    // we could diff against, so a deny-list target always starts with a reset.
    let mut files = super::Writer::new(dir, FIELD);
    let current = match current {
        Some(c) if c.default_allow == target.default_allow && !c.default_allow => c,
        _ => {
            files.write(reset, "a")?;
            Effective {
                default_allow: target.default_allow,
                exceptions: Vec::new(),
            }
        }
    };
    let same = |a: &Rule, b: &Rule| a.kind == b.kind && a.major == b.major && a.minor == b.minor;
    for c in &current.exceptions {
        let keep = target
            .exceptions
            .iter()
            .filter(|t| same(t, c))
            .fold(0, |acc, t| acc | t.access);
        let drop = c.access & !keep;
        if drop != 0 {
            let r = Rule { access: drop, ..*c };
            files.write(revoke, &r.v1_line())?;
        }
    }
    for t in &target.exceptions {
        let have = current
            .exceptions
            .iter()
            .filter(|c| same(t, c))
            .fold(0, |acc, c| acc | c.access);
        let add = t.access & !have;
        if add != 0 {
            let r = Rule { access: add, ..*t };
            files.write(grant, &r.v1_line())?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// cgroup v2: eBPF device program
// ---------------------------------------------------------------------------

/// One `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high nibble.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const DEVCG_DEV_BLOCK: i32 = 1;
const DEVCG_DEV_CHAR: i32 = 2;

/// The program runc's devicefilter generates: load `struct bpf_cgroup_dev_ctx`
/// (access_type = access << 16 | type, major, minor) into r2..r5, then one block per
/// exception that returns the opposite of the default on a match, then the default.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let e = effective(rules);
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for x in &e.exceptions {
        let ty = if x.kind == 'b' {
            DEVCG_DEV_BLOCK
        } else {
            DEVCG_DEV_CHAR
        };
        // Conditions, each "jump to the next block if it does not hold"; the offsets are
        // filled in once the block's length is known.
        let mut block: Vec<Insn> = vec![insn(JNE_K, 2, 0, 0, ty)];
        if x.access != ACC_ALL {
            // Matches only if every requested access bit is in the rule.
            block.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            block.push(insn(ALU32_AND_K, 1, 0, 0, x.access as i32));
            block.push(insn(JNE_X, 1, 3, 0, 0));
        }
        if let Some(m) = x.major {
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = x.minor {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(x.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K || ins.code == JNE_X {
                // Relative to the next instruction: skip the rest of this block.
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(e.default_allow)));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// bpf(BPF_PROG_LOAD) of a cgroup device program; with `log`, the verifier's log goes there.
fn prog_load(prog: &[Insn], log: Option<&mut [u8]>) -> std::result::Result<i32, nix::errno::Errno> {
    let license = c"Apache";
    let (log_level, log_size, log_buf) = match log {
        Some(l) => (1, l.len() as u32, l.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        ..Default::default()
    };
    // SAFETY: bpf(2) with a fully initialised attr whose pointers (insns, license, log)
    // outlive the call; the kernel reads `size_of::<ProgLoadAttr>()` bytes.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    if fd < 0 {
        Err(nix::errno::Errno::last())
    } else {
        Ok(fd as i32)
    }
}

/// Loads the program and attaches it to the cgroup directory `dir`. The cgroup keeps the
/// program alive after our fd is closed. Used at create time, on a cgroup with no process
/// yet and no program of ours, so nothing has to be replaced.
pub fn attach_v2(dir: &Path, rules: &[Rule]) -> Result<()> {
    let prog = program(rules);
    // Without a log first: a verbose verifier log can overflow any buffer (ENOSPC). Only
    // a refused program is loaded again, with the log, to say why.
    let fd = match prog_load(&prog, None) {
        Ok(fd) => fd,
        Err(errno) => {
            let mut log = vec![0u8; 64 * 1024];
            let _ = prog_load(&prog, Some(&mut log));
            let msg = String::from_utf8_lossy(&log);
            return Err(CgroupError::Unsupported {
                field: FIELD.into(),
                reason: format!(
                    "loading the cgroup v2 eBPF device program: {errno} {}",
                    msg.trim_end_matches('\0').trim()
                ),
            });
        }
    };
    // SAFETY: bpf(BPF_PROG_LOAD) returned a new fd that nothing else owns.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let cg = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|errno| CgroupError::Sys {
        path: dir.to_path_buf(),
        op: "open",
        errno,
    })?;
    let attach = ProgAttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // SAFETY: bpf(2) with an initialised attr naming two fds we hold open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attach as *const ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    };
    if r < 0 {
        return Err(CgroupError::Sys {
            path: dir.to_path_buf(),
            op: "bpf(BPF_PROG_ATTACH) device program",
            errno: nix::errno::Errno::last(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny_all_then(spec: &[Rule]) -> Vec<Rule> {
        let mut v = vec![Rule::new(false, 'a', None, None, "rwm")];
        v.extend_from_slice(spec);
        v
    }

    #[test]
    fn effective_follows_kernel_semantics() {
        let r = deny_all_then(&[
            Rule::new(true, 'c', Some(1), Some(3), "rwm"),
            Rule::new(true, 'c', Some(1), Some(5), "rw"),
            Rule::new(false, 'c', Some(1), Some(3), "w"),
        ]);
        let e = effective(&r);
        assert!(!e.default_allow);
        assert_eq!(e.exceptions.len(), 2);
        assert_eq!(e.exceptions[0].v1_line(), "c 1:3 rm");
        assert_eq!(e.exceptions[1].v1_line(), "c 1:5 rw");
        // A later wildcard resets everything.
        let e = effective(&[r[1], Rule::new(true, 'a', None, None, "rwm")]);
        assert!(e.default_allow && e.exceptions.is_empty());
    }

    #[test]
    fn runc_defaults_appended_unless_redefined() {
        let spec: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false,"access":"rwm"}]"#).unwrap();
        let all = rules(&spec, &[]).unwrap();
        assert_eq!(all.len(), 1 + DEFAULT_ALLOWED.len());
        assert!(all.iter().any(|r| r.v1_line() == "c 1:3 rwm" && r.allow));
        let null: Vec<LinuxDevice> =
            serde_json::from_str(r#"[{"path":"/dev/null","type":"c","major":1,"minor":3}]"#)
                .unwrap();
        let all = rules(&spec, &null).unwrap();
        assert!(!all.iter().any(|r| r.v1_line() == "c 1:3 rwm"));
        let bad: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":true,"type":"c","access":""}]"#).unwrap();
        assert!(rules(&bad, &[]).is_err());
    }

    #[test]
    fn parses_devices_list() {
        assert!(parse_list("a *:* rwm\n").default_allow);
        let e = parse_list("c 1:3 rwm\nc *:* m\nc 136:* rw\n");
        assert!(!e.default_allow);
        assert_eq!(e.exceptions.len(), 3);
        assert_eq!(e.exceptions[1].major, None);
        assert_eq!(e.exceptions[2].v1_line(), "c 136:* rw");
        assert!(parse_list("").exceptions.is_empty());
    }

    #[test]
    fn program_shape() {
        let r = deny_all_then(&[Rule::new(true, 'c', Some(1), Some(3), "rwm")]);
        let p = program(&r);
        // prologue 6 + block (type, major, minor, mov, exit) 5 + default 2
        assert_eq!(p.len(), 13);
        assert_eq!(p[6], insn(JNE_K, 2, 0, 4, DEVCG_DEV_CHAR));
        assert_eq!(p[7], insn(JNE_K, 4, 0, 3, 1));
        assert_eq!(p[11], insn(ALU32_MOV_K, 0, 0, 0, 0));
    }
}
