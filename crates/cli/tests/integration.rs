//! Integration tests of the binary's flag handling. (Having an integration test here also makes
//! `cargo test --workspace` build `target/<profile>/reelforest`, which the end-to-end tests in
//! the repository's `tests/` crate drive.)

use std::process::Command;

fn reelforest(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reelforest")).args(args).output().expect("run reelforest")
}

#[test]
fn version_and_help() {
    let out = reelforest(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("reelforest "));
    let out = reelforest(&["features", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--split"));
}

#[test]
fn bad_flags_fail_with_usage() {
    let out = reelforest(&["data", "ingest"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--source"), "missing flag is named");
    let out = reelforest(&["data", "ingest", "--source", "/nonexistent/dir", "--format", "parquet"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("parquet"));
}
