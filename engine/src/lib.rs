//! # ongi-engine: the engine behind `ongictl`
//!
//! Docker's concepts on the `ongi` runtime library, daemonless: images pulled from
//! registries into a content-addressed store, containers made from them and supervised by
//! a small per-container monitor process, volumes. Every command is a short-lived process
//! that opens the [`store::Store`] (files plus an SQLite database in WAL mode, so
//! concurrent commands are safe); the only long-lived processes are the monitors.
//!
//! One concern per module: [`reference`] (image names), [`store`] (blobs, layers,
//! database), [`layer`] (unpacking), [`registry`] (pull), [`image`] (image records),
//! [`container`] (container records, status, rootfs), [`runspec`] (the OCI config a
//! container runs with), [`seccomp`] (docker's default profile), [`monitor`] (the
//! supervisor process), [`logs`] (json-file logs), [`push`] (push), [`ingest`] (locally made
//! layers and images), [`archive`] (save/load), [`commit`] (commit/export/import),
//! [`history`], [`download`] (import from a URL), [`prune`] (image prune, layer and blob
//! GC), [`auth`] (login/logout),
//! [`config`] (engine.json), [`volume`] (volumes), [`mountflag`] (`--mount`), [`system`]
//! (check, df, prune, boot), [`manage`] (pause, rename, update, top, stats, prune),
//! [`files`] (cp and diff), [`build`] (`build` from a Dockerfile), [`tty`] (the monitor's pty relay for -t), [`attach`] (the
//! monitor's attach socket), [`health`] (healthchecks: settings, the monitor's probes,
//! State.Health), [`network`] (bridge networks, IPAM, published ports).

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod archive;
pub mod attach;
pub mod auth;
pub mod build;
pub mod commit;
pub mod compose;
pub mod config;
pub mod container;
pub mod download;
pub mod files;
pub mod health;
pub mod history;
pub mod image;
pub mod ingest;
pub mod inspect;
pub mod layer;
pub mod logs;
pub mod manage;
pub mod monitor;
pub mod mountflag;
pub mod network;
pub mod prune;
pub mod push;
pub mod reference;
pub mod registry;
pub mod runspec;
pub mod seccomp;
pub mod store;
pub mod system;
pub mod tty;
pub mod volume;
