//! The engine's settings file: `/etc/ongi/engine.json` (or `$ONGI_CONFIG`), in the spirit
//! of dockerd's daemon.json. Today: `{"insecure-registries": ["host:port", ...], "registry-timeout": SECONDS,
//! "bridge": "none"}`. An `engine.json` in an engine's `--root` is read over it, key by key:
//! ongictl has no daemon, so an engine's root is what a dockerd instance is, and a setting
//! such as `bridge` belongs to it (the tests give every private engine `"bridge": "none"`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default settings file.
pub const DEFAULT_CONFIG: &str = "/etc/ongi/engine.json";

/// Why the settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It exists but cannot be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// It is not valid JSON of the expected shape.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// The settings.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EngineConfig {
    /// Registries reached over plain HTTP (`host[:port]`).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Seconds a registry may take to connect and to answer each read (pull, push).
    #[serde(default)]
    pub registry_timeout: Option<f64>,
    /// dockerd's `bridge`: `"none"` disables the default bridge network, so containers made
    /// without `--network` get `none` (loopback only).
    #[serde(default)]
    pub bridge: Option<String>,
}

impl EngineConfig {
    /// Is the default bridge turned off (`"bridge": "none"`)?
    pub fn bridge_disabled(&self) -> bool {
        self.bridge.as_deref() == Some("none")
    }
}

/// The settings file inside an engine's root.
pub fn root_config_path(root: &Path) -> PathBuf {
    root.join("engine.json")
}

/// The settings for the engine at `root`: [`config_path`]'s, with the keys of
/// `<root>/engine.json` (if it exists) over them.
pub fn load_for(root: &Path) -> Result<EngineConfig, ConfigError> {
    let read = |path: PathBuf| -> Result<serde_json::Value, ConfigError> {
        match std::fs::read(&path) {
            Ok(raw) => {
                serde_json::from_slice(&raw).map_err(|source| ConfigError::Parse { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    };
    let global = config_path();
    let mut v = read(global.clone())?;
    let local_path = root_config_path(root);
    let local = read(local_path.clone())?;
    if let (Some(g), Some(l)) = (v.as_object_mut(), local.as_object()) {
        for (k, x) in l {
            g.insert(k.clone(), x.clone());
        }
    }
    serde_json::from_value(v).map_err(|source| ConfigError::Parse {
        path: if local.as_object().is_some_and(|o| !o.is_empty()) {
            local_path
        } else {
            global
        },
        source,
    })
}

/// Where the settings file is: `$ONGI_CONFIG`, else [`DEFAULT_CONFIG`].
pub fn config_path() -> PathBuf {
    std::env::var_os("ONGI_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

/// Reads the settings from [`config_path`]; a missing file is the defaults.
pub fn load() -> Result<EngineConfig, ConfigError> {
    load_from(config_path())
}

/// Reads the settings from `path`; a missing file is the defaults.
pub fn load_from(path: PathBuf) -> Result<EngineConfig, ConfigError> {
    match std::fs::read(&path) {
        Ok(raw) => {
            serde_json::from_slice(&raw).map_err(|source| ConfigError::Parse { path, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EngineConfig::default()),
        Err(source) => Err(ConfigError::Read { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_defaults_and_bad_json_names_the_file() {
        let d = std::env::temp_dir().join(format!("ongi-config-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        let f = d.join("engine.json");
        assert!(load_from(f.clone()).is_ok_and(|c| c.insecure_registries.is_empty()));
        let _ = std::fs::write(&f, r#"{"insecure-registries": ["reg.lan:5000"]}"#);
        assert!(load_from(f.clone()).is_ok_and(|c| c.insecure_registries == ["reg.lan:5000"]));
        let _ = std::fs::write(&f, "{not json");
        let e = load_from(f.clone())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("engine.json"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_roots_file_overrides_key_by_key() {
        let d = std::env::temp_dir().join(format!("ongi-config-root-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        assert!(load_for(&d).is_ok_and(|c| !c.bridge_disabled()));
        let _ = std::fs::write(d.join("engine.json"), r#"{"bridge": "none"}"#);
        assert!(load_for(&d).is_ok_and(|c| c.bridge_disabled()));
        let _ = std::fs::write(d.join("engine.json"), r#"{"bridge": 3}"#);
        let e = load_for(&d)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains(&d.join("engine.json").display().to_string()),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
