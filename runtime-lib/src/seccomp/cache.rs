//! Compiled seccomp programs kept under the runtime root, keyed by the profile.
//!
//! libseccomp needs about 5 ms to compile a Docker-sized profile for three architectures,
//! more than the rest of a container start; every container of an engine uses the same
//! profile. The cache file holds the whole key (the profile's JSON and the libseccomp
//! version), compared byte for byte on a hit, so a hash collision can never load another
//! profile's program. Anything unreadable is a miss; failing to write is not an error.

use super::{Program, SeccompError};
use oci_spec::runtime::LinuxSeccomp;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"ONGISC01";
/// '@' cannot appear in a container id, so this never clashes with a container's state.
const DIR: &str = "@seccomp-cache";
const INSN: usize = std::mem::size_of::<libc::sock_filter>();

/// [`super::compile`], or the program compiled earlier for the same profile.
pub fn compile_cached(s: &LinuxSeccomp, root: &Path) -> Result<Program, SeccompError> {
    let Some(key) = key(s) else {
        return super::compile(s);
    };
    let path = file(root, &key);
    if let Some(p) = read(&path, &key) {
        return Ok(p);
    }
    let p = super::compile(s)?;
    write(&path, &key, &p);
    Ok(p)
}

fn key(s: &LinuxSeccomp) -> Option<Vec<u8>> {
    let mut k = super::libseccomp_version()?.into_bytes();
    k.push(0);
    k.extend(serde_json::to_vec(s).ok()?);
    Some(k)
}

fn file(root: &Path, key: &[u8]) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    root.join(DIR).join(format!("{:016x}", h.finish()))
}

/// Layout: MAGIC, flags u32, notify u8, key length u32, key, then the instructions.
fn read(path: &Path, key: &[u8]) -> Option<Program> {
    let b = std::fs::read(path).ok()?;
    let rest = b.strip_prefix(MAGIC)?;
    let flags = u32::from_ne_bytes(rest.get(0..4)?.try_into().ok()?);
    let notify = *rest.get(4)? != 0;
    let klen = u32::from_ne_bytes(rest.get(5..9)?.try_into().ok()?) as usize;
    if rest.get(9..9 + klen)? != key {
        return None;
    }
    let insns = rest.get(9 + klen..)?;
    if insns.is_empty() || insns.len() % INSN != 0 {
        return None;
    }
    Some(Program {
        filter: super::decode_insns(insns),
        flags,
        notify,
    })
}

fn write(path: &Path, key: &[u8], p: &Program) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut b = Vec::with_capacity(MAGIC.len() + 9 + key.len() + p.filter.len() * INSN);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&p.flags.to_ne_bytes());
    b.push(u8::from(p.notify));
    b.extend_from_slice(&(key.len() as u32).to_ne_bytes());
    b.extend_from_slice(key);
    for i in &p.filter {
        b.extend_from_slice(&i.code.to_ne_bytes());
        b.push(i.jt);
        b.push(i.jf);
        b.extend_from_slice(&i.k.to_ne_bytes());
    }
    // Unique temporary name, then rename: concurrent creates never see half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let ok = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(&b));
    if ok.is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_returns_the_same_program_and_other_profiles_miss() {
        let root = std::env::temp_dir().join(format!("ongi-sc-cache-{}", std::process::id()));
        let s: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [ { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" } ]
        }))
        .expect("profile");
        let fresh = compile_cached(&s, &root).expect("compile");
        let key = key(&s).expect("key");
        let cached = read(&file(&root, &key), &key).expect("cache file written");
        assert_eq!(cached.flags, fresh.flags);
        assert_eq!(cached.filter.len(), fresh.filter.len());
        assert!(cached
            .filter
            .iter()
            .zip(&fresh.filter)
            .all(|(a, b)| (a.code, a.jt, a.jf, a.k) == (b.code, b.jt, b.jf, b.k)));
        // A file whose stored key differs (a collision, or a libseccomp upgrade) is a miss.
        let mut other = key.clone();
        other.push(b'x');
        assert!(read(&file(&root, &key), &other).is_none());
        let _ = std::fs::remove_dir_all(&root);
    }
}
