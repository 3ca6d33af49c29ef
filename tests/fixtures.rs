//! Packages under `tests/fixtures/`, built and run as a user's would be: layouts a
//! single test crate cannot have.
//!
//! `bin_layout` is issue 15's reproduction: a library whose `crate::util::step` is a
//! plain function beside a multi-file binary (`src/bin/tool/`) whose `crate::util::step`
//! is a task, and a library task marked `#[cfg_attr(all(), delayed)]`. When a file scan
//! decided which calls were nodes, `graph!` of either task compiled to an empty node
//! table, the calls made inline, and `delay!` rejected both as "not a task"; each graph
//! must list its two nodes.
//!
//! The fixture builds with the `cargo` running this test, offline, from a copy of the
//! repository's Cargo.lock (the versions this build already fetched), in `fixtures/`
//! under the workspace's target directory: a folder of its own, as trybuild's
//! `tests/trybuild/`, so that nothing of the workspace's build is overwritten or waited
//! for. A clean one compiles taskweave's dependencies once more (about 25 s of CPU);
//! later runs rebuild only what changed.

#[path = "support/watchdog.rs"]
mod watchdog;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The workspace's target directory, wherever `CARGO_TARGET_DIR` or a config put it.
fn target_dir(root: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--offline",
            "--no-deps",
            "--format-version",
            "1",
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    PathBuf::from(
        metadata["target_directory"]
            .as_str()
            .expect("cargo metadata names the target directory"),
    )
}

/// Builds and runs `bin` of the fixture package `name`; returns its exit status, stdout
/// and stderr (cargo's and the binary's). A build or run still going after `limit`
/// is killed and fails the test.
fn cargo_run(name: &str, bin: &str, limit: Duration) -> (std::process::ExitStatus, String, String) {
    // This package is the repository's `tests/` folder.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository");
    let fixture = root.join("tests/fixtures").join(name);
    // The lock cargo would otherwise resolve anew; cargo trims it to the fixture's needs.
    std::fs::copy(root.join("Cargo.lock"), fixture.join("Cargo.lock"))
        .expect("the repository's Cargo.lock is copied to the fixture");
    let mut child = Command::new(env!("CARGO"))
        .args(["run", "--offline", "--bin", bin, "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir(root).join("fixtures"))
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo starts");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let what = format!("cargo run --bin {bin} of tests/fixtures/{name}");
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        watchdog::within(limit, &what, move || {
            let err = std::thread::spawn(move || {
                let mut text = String::new();
                stderr.read_to_string(&mut text).map(|_| text)
            });
            let mut out = String::new();
            stdout
                .read_to_string(&mut out)
                .expect("cargo's stdout is read");
            (out, err.join().unwrap().expect("cargo's stderr is read"))
        })
    }));
    match read {
        Ok((out, err)) => (child.wait().expect("cargo is waited for"), out, err),
        Err(hang) => {
            let _ = child.kill();
            let _ = child.wait();
            std::panic::resume_unwind(hang)
        }
    }
}

#[test]
fn a_multi_file_binary_and_a_cfg_attr_task_get_their_nodes() {
    let (status, out, err) = cargo_run("bin_layout", "tool", Duration::from_secs(600));
    assert!(
        status.success(),
        "the fixture failed ({status}).\nstdout:\n{out}\nstderr:\n{err}"
    );
    // The binary asserts these too; the lines say what it saw when it did not.
    let expected = [
        r#"tool graph! step(step(5)): nodes ["step", "step"], edges [(0, 1)], result 49"#,
        r#"tool delay! step(step(5)): nodes ["step", "step"], edges [(0, 1)], result 49"#,
        r#"lib graph! double(double(5)): nodes ["double", "double"], edges [(0, 1)], result 20"#,
        r#"lib delay! double(double(5)): nodes ["double", "double"], edges [(0, 1)], result 20"#,
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "stderr:\n{err}");
}
