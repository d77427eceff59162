//! process.terminal: the pty master arrives over --console-socket and the container's
//! stdio is the pty slave.

mod common;

use common::*;
use std::io::Read;
use std::os::unix::net::UnixListener;
use std::time::Duration;

#[test]
fn terminal_master_is_sent_over_console_socket() {
    let h = Harness::new("console");
    let sock = h.work().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let spec = Spec::new()
        .set("/process/terminal", serde_json::json!(true))
        .sh("[ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty; tty; echo done");
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    let ctr = h.create_with(&spec, &["--console-socket", path_str(&sock)]);
    let master = receiver.join().expect("receiver thread");
    h.rt(&["start", &ctr.id]).expect_ok();
    let mut out = String::new();
    let mut f = std::fs::File::from(master);
    let mut buf = [0u8; 1024];
    let got_all = wait_until(Duration::from_secs(10), || {
        // EIO once the slave side is closed by the exiting container.
        match f.read(&mut buf) {
            Ok(0) | Err(_) => true,
            Ok(n) => {
                out.push_str(&String::from_utf8_lossy(&buf[..n]));
                out.contains("done")
            }
        }
    });
    assert!(got_all, "no output on the pty master: {out:?}");
    assert!(
        out.contains("stdio-is-a-tty"),
        "stdio is not the pty: {out:?}"
    );
    assert!(out.contains("/dev/pts/"), "tty name: {out:?}");
    // A pty turns \n into \r\n: the line discipline is live.
    assert!(out.contains("\r\n"), "no onlcr translation: {out:?}");
    h.wait_status(&ctr.id, "stopped");
}

#[test]
fn terminal_without_console_socket_is_an_error() {
    let h = Harness::new("console_missing");
    let bundle = h.bundle(&Spec::new().set("/process/terminal", serde_json::json!(true)));
    let id = h.new_id();
    let out = h
        .rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    assert!(
        out.stderr.contains("console"),
        "error should mention the console socket:\n{out}"
    );
    h.assert_no_trace(&id);
}

#[test]
fn dev_console_is_the_pty() {
    // config-linux.md: /dev/console is set up if terminal is enabled, by bind mounting the
    // pseudoterminal pty to /dev/console.
    let h = Harness::new("dev_console");
    let sock = h.work().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let spec = Spec::new()
        .set("/process/terminal", serde_json::json!(true))
        .sh("stat -c 'console %t:%T' /dev/console; echo done");
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    let ctr = h.create_with(&spec, &["--console-socket", path_str(&sock)]);
    let master = receiver.join().expect("receiver thread");
    h.rt(&["start", &ctr.id]).expect_ok();
    let mut out = String::new();
    let mut f = std::fs::File::from(master);
    let mut buf = [0u8; 1024];
    wait_until(Duration::from_secs(10), || match f.read(&mut buf) {
        Ok(0) | Err(_) => true,
        Ok(n) => {
            out.push_str(&String::from_utf8_lossy(&buf[..n]));
            out.contains("done")
        }
    });
    // %t:%T is the major:minor in hex: 0x88 = 136, the first Unix98 pty major.
    assert!(
        out.contains("console 88:"),
        "/dev/console is not a pty: {out:?}"
    );
    h.wait_status(&ctr.id, "stopped");
}
