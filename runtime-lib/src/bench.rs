//! Handles on the internals every `create` pays for before it clones, for the criterion
//! benches in `benches/` (feature `bench`). Not part of the library's API: an embedder
//! uses the lifecycle methods of [`crate::Container`], which run these.

use crate::state::{Persisted, StateDir};
use crate::Error;
use std::path::{Path, PathBuf};

/// A container state directory with a typical state, to time saving and loading it.
pub struct StateFixture {
    dir: StateDir,
    state: Persisted,
}

impl StateFixture {
    /// Makes the state directory `<root>/@new-…` for `id` (never published under the id)
    /// and a state with nine cgroup directories, as on a cgroup v1 host.
    pub fn new(root: &Path, id: &str) -> Result<Self, Error> {
        let dir = StateDir::create(root, id)?;
        let state = Persisted {
            id: id.into(),
            pid: 4242,
            pid_start: 123456,
            bundle: "/run/bundle".into(),
            rootfs: "/run/bundle/rootfs".into(),
            created: crate::state::rfc3339_now(),
            annotations: Default::default(),
            cgroup_dirs: vec![PathBuf::from(format!("/sys/fs/cgroup/pids/ongi/{id}")); 9],
            hooks: None,
            cgroup_shared: false,
            seccomp: None,
            personality: None,
        };
        Ok(StateFixture { dir, state })
    }

    /// Writes state.json as every command that changes the state does.
    pub fn save(&self) -> Result<(), Error> {
        Ok(self.dir.save(&self.state)?)
    }

    /// Reads state.json back as every command does.
    pub fn load(&self) -> Result<(), Error> {
        self.dir.load()?;
        Ok(())
    }
}

/// Parses mount options as init does for each mount.
pub fn parse_mount_options(opts: &[&str]) {
    std::hint::black_box(crate::rootfs::options::MountOptions::parse(opts));
}

/// Compiles a seccomp profile to BPF, uncached.
pub fn compile_seccomp(profile: &oci_spec::runtime::LinuxSeccomp) -> Result<(), Error> {
    std::hint::black_box(crate::seccomp::compile(profile)?);
    Ok(())
}

/// The default cgroup directories of container `id` and how init enters them.
pub fn cgroup_placement(id: &str) {
    let dirs = crate::cgroups::dirs_for(None, id);
    std::hint::black_box(crate::cgroups::placement(&dirs, true));
}
