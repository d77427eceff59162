//! Global `--log` / `--log-format` flags.

mod common;

use common::*;
use serde_json::Value;
use std::fs;

/// Runs a `create` that fails (the bundle has no config.json) with the given
/// log flags; returns the failed invocation and the log file's contents.
fn failing_create_with_log(h: &Harness, format: Option<&str>) -> (Output, String) {
    let log = h.work().join("runtime.log");
    let bundle = h.bare_bundle();
    let id = h.new_id();
    let mut args = vec!["--log", path_str(&log)];
    if let Some(format) = format {
        args.extend(["--log-format", format]);
    }
    args.extend(["create", "--bundle", path_str(&bundle), &id]);
    let out = h.rt(&args).expect_fail();
    let contents = fs::read_to_string(&log).unwrap_or_else(|e| panic!("no log file ({e}):\n{out}"));
    (out, contents)
}

#[test]
fn json_log_records_the_error() {
    let h = Harness::new("log_json");
    let (out, log) = failing_create_with_log(&h, Some("json"));
    let entries: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    let error = entries
        .iter()
        .find(|e| e["level"] == "error")
        .unwrap_or_else(|| panic!("no error entry in {log:?}\n{out}"));
    let msg = error["msg"].as_str().expect("msg is a string");
    assert!(msg.contains("config.json"), "{error}");
    // The error is also reported on stderr.
    assert!(out.stderr.contains("config.json"), "{out}");
}

#[test]
fn text_log_records_the_error() {
    let h = Harness::new("log_text");
    let (out, log) = failing_create_with_log(&h, None);
    let line = log
        .lines()
        .find(|l| l.contains("level=error"))
        .unwrap_or_else(|| panic!("no level=error line in {log:?}\n{out}"));
    assert!(line.contains("msg="), "{line}");
    assert!(line.contains("config.json"), "{line}");
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 logs usage errors in its own words"
)]
fn argument_errors_reach_the_json_log_whole() {
    // Shims show only the last error line of --log: a usage error must be there, in one
    // line, with the missing argument named; both flag spellings are accepted.
    let h = Harness::new("log_args");
    for (i, form) in [["--log", "--log-format"], ["--log=", "--log-format="]]
        .iter()
        .enumerate()
    {
        let log = h.work().join(format!("args{i}.log"));
        let log_s = path_str(&log).to_string();
        let args: Vec<String> = if form[0].ends_with('=') {
            vec![format!("--log={log_s}"), "--log-format=json".into()]
        } else {
            vec![
                "--log".into(),
                log_s.clone(),
                "--log-format".into(),
                "json".into(),
            ]
        };
        let mut full: Vec<&str> = args.iter().map(String::as_str).collect();
        full.push("create");
        h.rt(&full).expect_fail();
        let text = fs::read_to_string(&log).unwrap_or_else(|e| panic!("no log file: {e}"));
        let last: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
        assert_eq!(last["level"], "error", "{text}");
        let msg = last["msg"].as_str().expect("msg");
        assert!(
            msg.contains("not provided") && msg.contains("<ID>"),
            "{msg}"
        );
    }
}

#[test]
fn version_in_runcs_shape() {
    // `docker info` takes the commit from line 2 and podman shows the output verbatim;
    // both expect runc's "NAME version X" / "commit: Y" / "spec: Z" lines.
    let h = Harness::new("version");
    let out = h.rt(&["--version"]).expect_ok();
    let lines = out.lines();
    assert!(lines.len() >= 3, "{out}");
    let name = runtime();
    let name = name.file_name().and_then(|n| n.to_str()).unwrap_or("");
    assert!(lines[0].starts_with(&format!("{name} version ")), "{out}");
    assert!(lines[1].starts_with("commit: "), "{out}");
    assert!(lines[2].starts_with("spec: 1."), "{out}");
    assert!(
        lines.iter().any(|l| l.starts_with("libseccomp: 2.")),
        "{out}"
    );
}
