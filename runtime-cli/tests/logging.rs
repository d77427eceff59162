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
