//! The engine's settings file: `/etc/ongi/engine.json` (or `$ONGI_CONFIG`), in the spirit
//! of dockerd's daemon.json. Today: `{"insecure-registries": ["host:port", ...], "registry-timeout": SECONDS}`.

use std::path::PathBuf;

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
}
