//! The container's own session keyring (runc's default; `--no-new-keyring` skips it), so
//! the container cannot reach keys of the runtime's session (e.g. the caller's login keys).

use nix::errno::Errno;
use std::ffi::CString;

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
const KEYCTL_DESCRIBE: libc::c_long = 6;

/// KEY_USR_SEARCH: the container's user may search its keyring (runc sets the same bit).
const USR_SEARCH: u32 = 0x0008_0000;

#[derive(Debug, thiserror::Error)]
#[error("session keyring {name}: {op}: {errno}")]
pub struct KeyringError {
    name: String,
    op: &'static str,
    errno: Errno,
}

/// Joins a new session keyring `name` and makes it searchable by its owner.
/// ENOSYS (keyctl blocked, e.g. by a seccomp profile of an outer container) is not an
/// error, as in runc.
pub fn join_new_session(name: &str) -> Result<(), KeyringError> {
    let err = |op| {
        let name = name.to_string();
        move |errno| KeyringError { name, op, errno }
    };
    let cname = CString::new(name).map_err(|_| err("name")(Errno::EINVAL))?;
    // SAFETY: keyctl with a valid NUL-terminated name; no memory is written.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            cname.as_ptr(),
        )
    };
    if id < 0 {
        return match Errno::last() {
            Errno::ENOSYS => Ok(()),
            e => Err(err("KEYCTL_JOIN_SESSION_KEYRING")(e)),
        };
    }
    let perm = describe_perm(id).map_err(err("KEYCTL_DESCRIBE"))?;
    // SAFETY: keyctl with integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, id, perm | USR_SEARCH) };
    if r < 0 {
        return Err(err("KEYCTL_SETPERM")(Errno::last()));
    }
    Ok(())
}

/// The permission mask from KEYCTL_DESCRIBE ("type;uid;gid;perm;description", perm in hex).
fn describe_perm(id: libc::c_long) -> Result<u32, Errno> {
    let mut buf = [0u8; 256];
    // SAFETY: the kernel writes at most buf.len() bytes into our buffer.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            id,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(Errno::last());
    }
    let text =
        std::str::from_utf8(&buf[..(n as usize).min(buf.len())]).map_err(|_| Errno::EINVAL)?;
    text.split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p, 16).ok())
        .ok_or(Errno::EINVAL)
}
