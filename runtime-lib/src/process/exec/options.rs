//! runc's `exec` flag merge: the process to run, built from the container's configured
//! process and the options, and validated as runc's validateProcessSpec does.

use super::{ExecError, ExecOptions};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process};

/// Parses a capability name as config.json does (`CAP_X` or `X`, any case).
fn parse_cap(name: &str) -> Result<Capability, ExecError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| ExecError::UnknownCap(name.to_string()))
}

/// Later `KEY=` entries replace earlier ones, keeping the first one's position (what a
/// process sees from runc, which sets them one by one).
fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(base.len() + extra.len());
    for e in base.iter().chain(extra) {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        match out
            .iter_mut()
            .find(|o| o.split_once('=').map_or(o.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out
}

impl ExecOptions {
    /// The process to run: `process` as given, or `base` (the container's configured
    /// process) with these options applied, as runc's `exec` builds it.
    pub(crate) fn build_process(&self, base: Option<&Process>) -> Result<Process, ExecError> {
        if let Some(p) = &self.process {
            return validate(p.clone());
        }
        if self.args.is_empty() {
            return Err(ExecError::NoArgs);
        }
        let mut p = base.cloned().unwrap_or_default();
        p.set_args(Some(self.args.clone()));
        if let Some(cwd) = &self.cwd {
            p.set_cwd(cwd.clone());
        }
        if !self.caps.is_empty() {
            let mut c: LinuxCapabilities = p.capabilities().clone().unwrap_or_default();
            let add = |set: &Option<Capabilities>, caps: &[Capability]| {
                let mut s = set.clone().unwrap_or_default();
                s.extend(caps.iter().copied());
                Some(s)
            };
            let caps: Vec<Capability> = self
                .caps
                .iter()
                .map(|n| parse_cap(n))
                .collect::<Result<_, _>>()?;
            let bounding = add(c.bounding(), &caps);
            let effective = add(c.effective(), &caps);
            let permitted = add(c.permitted(), &caps);
            c.set_bounding(bounding)
                .set_effective(effective)
                .set_permitted(permitted);
            if c.inheritable().is_some() {
                let ambient = add(c.ambient(), &caps);
                c.set_ambient(ambient);
            }
            p.set_capabilities(Some(c));
        }
        let env = merge_env(p.env().as_deref().unwrap_or_default(), &self.env);
        p.set_env(Some(env));
        p.set_terminal(Some(self.tty));
        if self.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        if let Some((uid, gid)) = self.user {
            p.user_mut().set_uid(uid);
            if let Some(g) = gid {
                p.user_mut().set_gid(g);
            }
        }
        if !self.additional_gids.is_empty() {
            let mut g = p.user().additional_gids().clone().unwrap_or_default();
            g.extend_from_slice(&self.additional_gids);
            p.user_mut().set_additional_gids(Some(g));
        }
        validate(p)
    }
}

/// What runc's validateProcessSpec checks before anything is started.
fn validate(p: Process) -> Result<Process, ExecError> {
    if p.args().as_deref().unwrap_or_default().is_empty() {
        return Err(ExecError::NoArgs);
    }
    if !p.cwd().is_absolute() {
        return Err(ExecError::RelativeCwd(p.cwd().clone()));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn env_later_entries_win() {
        let base = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let extra = vec!["A=2".to_string(), "B=3".to_string()];
        assert_eq!(merge_env(&base, &extra), vec!["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn process_from_config_with_flags() {
        let opts = ExecOptions {
            args: vec!["id".into()],
            env: vec!["X=1".into()],
            cwd: Some("/tmp".into()),
            user: Some((1000, Some(1000))),
            additional_gids: vec![5],
            caps: vec!["CAP_SYS_ADMIN".into(), "net_raw".into()],
            no_new_privs: true,
            ..Default::default()
        };
        let p = opts.build_process(Some(&Process::default())).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["id".to_string()][..]));
        assert!(p.env().as_ref().unwrap().contains(&"X=1".to_string()));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[5u32][..]));
        let c = p.capabilities().as_ref().unwrap();
        for set in [c.bounding(), c.effective(), c.permitted()] {
            let set = set.as_ref().unwrap();
            assert!(set.contains(&Capability::SysAdmin) && set.contains(&Capability::NetRaw));
        }
        assert_eq!(p.terminal(), Some(false));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert!(matches!(
            ExecOptions::default().build_process(None),
            Err(ExecError::NoArgs)
        ));
        let rel = ExecOptions {
            args: vec!["x".into()],
            cwd: Some("tmp".into()),
            ..Default::default()
        };
        assert!(matches!(
            rel.build_process(None),
            Err(ExecError::RelativeCwd(_))
        ));
        let bad = ExecOptions {
            args: vec!["x".into()],
            caps: vec!["CAP_NOPE".into()],
            ..Default::default()
        };
        assert!(matches!(
            bad.build_process(None),
            Err(ExecError::UnknownCap(_))
        ));
    }
}
