//! Compile-time behaviour: every allowed operation compiles (`tests/ui/pass`), every
//! prohibited one is an error with a reviewed message (`tests/ui/fail/*.stderr`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
    // `#[delayed(remote)]` without the `hyperqueue` feature (with it, tests/remote.rs
    // runs such tasks).
    #[cfg(not(feature = "hyperqueue"))]
    cases.compile_fail("ui/fail_without_hyperqueue/*.rs");
}
