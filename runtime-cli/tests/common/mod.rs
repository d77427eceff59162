//! The test support of every suite in runtime-cli/tests (each helper exists once, here):
//!
//! - [`harness`]: the CLI tests' `Harness` (private `--root` and work dir per test, teardown
//!   of everything the test made) and the `Spec` config.json builder, based on
//!   `ongi::spec::default_spec`;
//! - [`clients`]: the client tests (docker, podman, containerd/ctr, CRI): commands with time
//!   limits, PASS/FAIL checks, images, private daemons and their teardown, and the check
//!   sequences docker and podman share;
//! - [`rootfs`] (busybox root filesystems), [`runtime_bin`] (which binary is under test),
//!   [`wait`] (bounded polling), [`mountinfo`], [`files`], [`netns`] (the network tests'
//!   private namespace), [`build`] (build contexts).
//!
//! The CLI tests `use common::*`; the client tests `use common::clients::...`.
//! benches/benches/clients.rs includes everything but `harness` with `#[path]`.

#![allow(dead_code)]

pub mod build;
pub mod clients;
pub mod engine;
pub mod files;
pub mod harness;
pub mod mountinfo;
pub mod netns;
pub mod rootfs;
pub mod runtime_bin;
pub mod wait;

// Not every suite uses every part.
#[allow(unused_imports)]
pub use files::*;
#[allow(unused_imports)]
pub use harness::*;
#[allow(unused_imports)]
pub use mountinfo::*;
#[allow(unused_imports)]
pub use rootfs::*;
#[allow(unused_imports)]
pub use runtime_bin::*;
#[allow(unused_imports)]
pub use wait::*;
