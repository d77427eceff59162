//! ongictl's smaller docker behaviours (issue 14's gaps): pull/push progress bars on a
//! terminal and plain lines otherwise, `cp` with tar streams on stdin/stdout, `ps --filter`
//! keys, `push --all-tags`, `import URL`, `commit --pause`, Go's printing of slices and maps
//! in `inspect -f`, `ps`'s COMMAND column, and `attach` input to a container run with -i.

mod common;

use std::process::Command;

use common::clients::{run_tty, Out};
use common::engine::{ongictl, registry_with_busybox, Engine};

/// `ongictl ARGS` for this engine as a Command (for a pty or extra stdio).
fn ctl_cmd(e: &Engine, args: &[&str]) -> Command {
    let mut c = Command::new(ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .args(args);
    c
}

/// `ongictl ARGS` under a fresh pty, as a user at a terminal runs it.
fn at_terminal(e: &Engine, args: &[&str]) -> Out {
    run_tty(&ctl_cmd(e, args), &e.dir)
}

#[test]
fn pull_and_push_draw_bars_on_a_terminal_and_plain_lines_otherwise() {
    let e = Engine::new("gprog");
    let r = registry_with_busybox(&e.dir);
    // At a terminal: each layer's line is redrawn in place (cursor movement), through
    // docker's states, ending in "Pull complete".
    let o = at_terminal(&e, &["pull", &r.image]);
    assert!(o.ok(), "{o}");
    assert!(o.stdout.contains("\x1b["), "no redraw on a terminal: {o}");
    for want in [
        "v1: Pulling from test/busybox",
        ": Pulling fs layer",
        ": Pull complete",
        "Digest: sha256:",
        "Status: Downloaded newer image for",
    ] {
        assert!(o.stdout.contains(want), "want {want:?}: {o}");
    }
    // Not a terminal: plain lines, one per state, no escape sequences, no byte counts.
    let plain = Engine::new("gprog2");
    let o = plain.ctl(&["pull", &r.image]);
    assert!(o.ok(), "{o}");
    assert!(!o.stdout.contains('\x1b'), "escapes in plain output: {o}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "v1: Pulling from test/busybox", "{o}");
    assert!(
        lines[1].ends_with(": Pulling fs layer") && lines[1].len() == 12 + 18,
        "{o}"
    );
    assert!(lines.iter().any(|l| l.ends_with(": Pull complete")), "{o}");
    assert!(!o.stdout.contains("Downloading"), "{o}");
    // Push at a terminal: per-layer lines redrawn, ending pushed (or mounted).
    let other = r.image.replace("test/busybox", "test/copy");
    e.ok(&["tag", &r.image, &other]);
    let o = at_terminal(&e, &["push", &other]);
    assert!(o.ok(), "{o}");
    assert!(o.stdout.contains("\x1b["), "no redraw on a terminal: {o}");
    assert!(
        o.stdout.contains("The push refers to repository")
            && (o.stdout.contains(": Pushed") || o.stdout.contains(": Mounted from test/busybox")),
        "{o}"
    );
    assert!(o.stdout.contains("v1: digest: sha256:"), "{o}");
}
