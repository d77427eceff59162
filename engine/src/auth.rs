//! `login`/`logout`: credentials in docker's `config.json` (`auths.<registry>.auth` =
//! base64 `user:password`), the file [`crate::registry::auth_for`] reads. Other keys in the
//! file (docker's credHelpers, psFormat, ...) are kept as they are.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde_json::{json, Value};

use crate::reference::Reference;
use crate::registry;

/// Why login or logout failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The config file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config file is not JSON.
    #[error("{path}: not a docker config file: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The registry refused the credentials (docker's wording).
    #[error("Get \"{url}\": unauthorized: {why}")]
    Unauthorized {
        /// The registry's base URL.
        url: String,
        /// What it said.
        why: String,
    },
    /// The registry could not be reached.
    #[error("login to {registry}: {why}")]
    Unreachable {
        /// The registry.
        registry: String,
        /// The cause.
        why: String,
    },
    /// logout of a registry with no stored credentials (docker's wording).
    #[error("Not logged in to {0}")]
    NotLoggedIn(String),
}

/// The key docker uses for a server name (`docker.io` is stored under its v1 URL).
pub fn server_key(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    match s {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".into()
        }
        _ => s.to_string(),
    }
}

fn read_config(path: &Path) -> Result<Value, AuthError> {
    match std::fs::read(path) {
        Ok(raw) if raw.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
        Ok(raw) => serde_json::from_slice(&raw).map_err(|source| AuthError::Parse {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(source) => Err(AuthError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the config file whole, mode 0600, by rename (a reader never sees half a file).
fn write_config(path: &Path, v: &Value) -> Result<(), AuthError> {
    let ioe = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| AuthError::Io { op, path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(ioe("create directory", dir))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(ioe("create", &tmp))?;
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    let r = f
        .write_all(text.as_bytes())
        .and_then(|_| f.set_permissions(std::fs::Permissions::from_mode(0o600)))
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(ioe("write", path))
}

/// Checks `user`/`password` against `server` and stores them. The check asks the registry
/// for a manifest: a refusal for want of credentials fails the login, anything the
/// registry answers after authenticating (including "not found") passes.
pub async fn login(
    server: &str,
    user: &str,
    password: &str,
    insecure: &[String],
) -> Result<(), AuthError> {
    let key = server_key(server);
    let registry_name = if key.starts_with("https://index.docker.io") {
        "docker.io".to_string()
    } else {
        key.clone()
    };
    let r = Reference::parse(&format!("{registry_name}/ongictl-login-check/probe:latest"))
        .map_err(|e| AuthError::Unreachable {
            registry: server.to_string(),
            why: e.to_string(),
        })?;
    let cl = registry::client(&r, insecure);
    let oref =
        oci_client::Reference::with_tag(r.registry.clone(), r.repository.clone(), "latest".into());
    let auth = RegistryAuth::Basic(user.to_string(), password.to_string());
    let scheme = if registry::is_insecure(&r.registry, insecure) {
        "http"
    } else {
        "https"
    };
    match cl
        .pull_manifest_raw(
            &oref,
            &auth,
            &["application/vnd.oci.image.manifest.v1+json"],
        )
        .await
    {
        Ok(_) => {}
        Err(e) => {
            use oci_client::errors::OciDistributionError as E;
            let why = e.to_string();
            let denied = match &e {
                E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => true,
                E::RegistryError { envelope, .. } => {
                    let t = envelope.to_string().to_ascii_uppercase();
                    t.contains("UNAUTHORIZED") || t.contains("DENIED")
                }
                E::RequestError(r) => r.status().is_some_and(|s| s.as_u16() == 401),
                _ => false,
            };
            if denied {
                return Err(AuthError::Unauthorized {
                    url: format!("{scheme}://{}/v2/", r.registry),
                    why,
                });
            }
            if matches!(&e, E::RequestError(r) if r.status().is_none()) {
                return Err(AuthError::Unreachable {
                    registry: server.to_string(),
                    why,
                });
            }
        }
    }
    let path = registry::docker_config_path();
    let mut cfg = read_config(&path)?;
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    if !cfg["auths"].is_object() {
        cfg["auths"] = json!({});
    }
    cfg["auths"][&key] = json!({ "auth": enc });
    write_config(&path, &cfg)
}

/// Removes the stored credentials for `server`.
pub fn logout(server: &str) -> Result<(), AuthError> {
    let key = server_key(server);
    let path = registry::docker_config_path();
    let mut cfg = read_config(&path)?;
    let removed = cfg["auths"]
        .as_object_mut()
        .and_then(|m| {
            m.remove(&key)
                .or_else(|| m.remove(&format!("https://{key}")))
                .or_else(|| m.remove(&format!("http://{key}")))
        })
        .is_some();
    if !removed {
        return Err(AuthError::NotLoggedIn(key));
    }
    write_config(&path, &cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_is_stored_under_its_v1_url() {
        assert_eq!(server_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_key(""), "https://index.docker.io/v1/");
        assert_eq!(server_key("https://reg.lan:5000/"), "reg.lan:5000");
        assert_eq!(server_key("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
