//! The integration tests are the package `taskweave-tests` (`tests/Cargo.toml`), which
//! lists each file as a target: a test file it did not list would never run. This
//! checks that every `tests/*.rs` is listed, and nothing else.

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn every_test_file_is_a_target_of_the_package() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("the tests folder")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.ends_with(".rs").then_some(name)
        })
        .collect();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("tests/Cargo.toml");
    let listed: BTreeSet<String> = manifest
        .lines()
        .filter_map(|line| line.trim().strip_prefix("path = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        on_disk, listed,
        "tests/Cargo.toml must have a [[test]] for every tests/*.rs (and only those)"
    );
}
