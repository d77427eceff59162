//! `--mount type=bind|volume|tmpfs,source=..,target=..[,readonly]`: docker's CSV mount
//! syntax, parsed into what `-v` and `--tmpfs` would have given.

use std::path::{Path, PathBuf};

use crate::container::{ContainerError, FlagError, MountSpec};

/// One `--mount`.
#[derive(Debug, Clone, PartialEq)]
pub enum MountFlag {
    /// `type=bind`: a host path (must exist).
    Bind {
        /// Host path.
        source: String,
        /// Path in the container.
        target: String,
        /// `readonly`.
        read_only: bool,
    },
    /// `type=volume`: a named volume, or an anonymous one without `source`.
    Volume {
        /// The volume's name.
        source: Option<String>,
        /// Path in the container.
        target: String,
        /// `readonly`.
        read_only: bool,
    },
    /// `type=tmpfs`: the `--tmpfs` form `DEST[:opts]`.
    Tmpfs(String),
}

fn err(value: &str, why: impl Into<String>) -> FlagError {
    FlagError {
        flag: "--mount",
        value: value.to_string(),
        why: why.into(),
    }
}

/// Parses one `--mount` value.
pub fn parse(spec: &str) -> Result<MountFlag, FlagError> {
    let mut kind = "volume".to_string();
    let (mut source, mut target) = (None::<String>, None::<String>);
    let mut read_only = false;
    let mut tmpfs_opts = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        match (k.as_str(), v) {
            ("type", Some(v)) => kind = v.to_string(),
            ("source" | "src", Some(v)) => source = Some(v.to_string()),
            ("target" | "destination" | "dst", Some(v)) => target = Some(v.to_string()),
            ("readonly" | "ro", None) => read_only = true,
            ("readonly" | "ro", Some(v)) => {
                read_only = match v.to_ascii_lowercase().as_str() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(err(spec, format!("invalid value for {k}: {v}"))),
                }
            }
            ("tmpfs-size", Some(v)) => tmpfs_opts.push(format!("size={v}")),
            ("tmpfs-mode", Some(v)) => tmpfs_opts.push(format!("mode={v}")),
            // Accepted and meaningless here: the default propagation and copy-up.
            ("bind-propagation", Some("rprivate")) | ("volume-nocopy", _) => {}
            _ => return Err(err(spec, format!("unexpected key '{k}' in '{field}'"))),
        }
    }
    let target = target.ok_or_else(|| err(spec, "target is required"))?;
    if !target.starts_with('/') {
        return Err(err(
            spec,
            format!("invalid mount config: mount path must be absolute: {target:?}"),
        ));
    }
    match kind.as_str() {
        "bind" => {
            let source = source.ok_or_else(|| {
                err(
                    spec,
                    "invalid mount config for type \"bind\": field Source must not be empty",
                )
            })?;
            Ok(MountFlag::Bind {
                source,
                target,
                read_only,
            })
        }
        "volume" => Ok(MountFlag::Volume {
            source: source.filter(|s| !s.is_empty()),
            target,
            read_only,
        }),
        "tmpfs" => {
            if source.is_some() {
                return Err(err(
                    spec,
                    "invalid mount config for type \"tmpfs\": field Source must be empty",
                ));
            }
            if read_only {
                tmpfs_opts.push("ro".into());
            }
            Ok(MountFlag::Tmpfs(if tmpfs_opts.is_empty() {
                target
            } else {
                format!("{target}:{}", tmpfs_opts.join(","))
            }))
        }
        k => Err(err(spec, format!("invalid mount type {k:?}"))),
    }
}

/// Adds the `--mount`s to the container's mounts and tmpfs list, then an anonymous
/// volume for each path of the image's `Volumes` that no mount covers (docker's rule).
pub fn apply(
    flags: &[String],
    img: &crate::image::RunConfig,
    mounts: &mut Vec<MountSpec>,
    tmpfs: &mut Vec<String>,
    volume_dir: &dyn Fn(&str) -> Result<PathBuf, ContainerError>,
) -> Result<(), ContainerError> {
    for spec in flags {
        match parse(spec).map_err(ContainerError::Flag)? {
            MountFlag::Bind {
                source,
                target,
                read_only,
            } => {
                if !Path::new(&source).is_absolute() || !Path::new(&source).exists() {
                    return Err(ContainerError::Flag(err(
                        spec,
                        format!("invalid mount config for type \"bind\": bind source path does not exist: {source}"),
                    )));
                }
                mounts.push(MountSpec {
                    source: PathBuf::from(source),
                    destination: target,
                    read_only,
                    volume: None,
                    anonymous: false,
                });
            }
            MountFlag::Volume {
                source,
                target,
                read_only,
            } => {
                let anonymous = source.is_none();
                let name = source.unwrap_or_else(crate::container::new_id);
                mounts.push(MountSpec {
                    source: volume_dir(&name)?,
                    destination: target,
                    read_only,
                    volume: Some(name),
                    anonymous,
                });
            }
            MountFlag::Tmpfs(t) => tmpfs.push(t),
        }
    }
    let covered = |d: &str, mounts: &[MountSpec], tmpfs: &[String]| {
        let d = d.trim_end_matches('/');
        mounts
            .iter()
            .any(|m| m.destination.trim_end_matches('/') == d)
            || tmpfs
                .iter()
                .any(|t| t.split(':').next().map(|x| x.trim_end_matches('/')) == Some(d))
    };
    for dest in img.volumes.iter().flat_map(|v| v.keys()) {
        if !dest.starts_with('/') || covered(dest, mounts, tmpfs) {
            continue;
        }
        let name = crate::container::new_id();
        mounts.push(MountSpec {
            source: volume_dir(&name)?,
            destination: dest.clone(),
            read_only: false,
            volume: Some(name),
            anonymous: true,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            parse("type=bind,source=/etc,target=/x,readonly").ok(),
            Some(MountFlag::Bind {
                source: "/etc".into(),
                target: "/x".into(),
                read_only: true
            })
        );
        assert_eq!(
            parse("src=data,dst=/d").ok(),
            Some(MountFlag::Volume {
                source: Some("data".into()),
                target: "/d".into(),
                read_only: false
            })
        );
        assert_eq!(
            parse("type=tmpfs,target=/t,tmpfs-size=1m").ok(),
            Some(MountFlag::Tmpfs("/t:size=1m".into()))
        );
        assert!(parse("type=bind,target=/x").is_err());
        assert!(parse("type=volume,target=rel").is_err());
        assert!(parse("type=nfs,target=/x").is_err());
        assert!(parse("type=volume,target=/x,bogus=1").is_err());
    }
}
