//! Compile-time behaviour: every allowed operation compiles (`tests/ui/pass`), every
//! prohibited one is an error with a reviewed message (`tests/ui/fail/*.stderr`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}
