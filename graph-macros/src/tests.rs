//! The macros' expansions, read as text: where they reach the runtime (`crate = path`,
//! the versioned module).
//!
//! These run the expanders on `proc_macro2` tokens, outside any compiler (so the file
//! scan of [`crate::scope`] finds nothing: every call is a task).

use std::collections::HashSet;
use std::path::Path;

use proc_macro2::TokenStream;

use crate::names::{version_module, VERSION};

/// `graph!(src)`, expanded.
fn graph(src: &str) -> TokenStream {
    crate::graph::expand(src.parse().expect("tokens"), &HashSet::new())
}

/// `delay!(src)`, expanded.
fn delay(src: &str) -> TokenStream {
    crate::delay::expand(src.parse().expect("tokens"), &HashSet::new())
}

/// `#[delayed(args)] item`, expanded.
fn delayed(args: &str, item: &str) -> TokenStream {
    crate::delayed::expand(args.parse().expect("tokens"), item.parse().expect("tokens"))
}

/// Tokens as text with no whitespace, for searching.
fn squeezed(tokens: &TokenStream) -> String {
    tokens
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The `compile_error!` messages of an expansion.
fn errors(tokens: &TokenStream) -> Vec<String> {
    let text = tokens.to_string();
    text.match_indices("compile_error !")
        .map(|(at, _)| {
            let rest = &text[at..];
            let start = rest.find('"').expect("a message") + 1;
            let end = start + rest[start..].find("\" }").expect("the end of the message");
            rest[start..end].replace("\\\"", "\"")
        })
        .collect()
}

// ---- crate = path ------------------------------------------------------------------

/// Every path to the runtime in `tokens` goes through `krate` (squeezed), none through
/// `::taskweave`; returns how many there are.
fn runtime_paths_through(tokens: &TokenStream, krate: &str) -> usize {
    let text = squeezed(tokens);
    assert!(
        errors(tokens).is_empty(),
        "no error expected: {:?}",
        errors(tokens)
    );
    assert!(
        !text.contains("::taskweave::"),
        "a path still names ::taskweave: {text}"
    );
    let private = format!("{krate}::__private::{}::", version_module(VERSION));
    let through = text.matches(&private).count();
    assert_eq!(
        through,
        text.matches("__private").count(),
        "every __private is {private}: {text}"
    );
    through
}

#[test]
fn by_default_the_runtime_is_taskweave_at_this_version() {
    let private = format!("::taskweave::__private::{}::", version_module(VERSION));
    let expansions = [
        graph("|x: i64| -> i64 { inc(inc(x)) }"),
        delay("inc(1)"),
        delayed("", "fn inc(x: i64) -> i64 { x + 1 }"),
    ];
    for tokens in &expansions {
        let text = squeezed(tokens);
        assert!(text.contains(&private), "{private} in {text}");
        assert_eq!(
            text.matches(&private).count(),
            text.matches("__private").count()
        );
    }
}

#[test]
fn crate_option_of_each_macro_names_the_path_instead() {
    assert!(runtime_paths_through(&graph("crate = tw; |x: i64| -> i64 { inc(inc(x)) }"), "tw") > 5);
    // The block form, and a path with several segments.
    assert!(runtime_paths_through(&graph("crate = crate::tw; { inc(1) }"), "crate::tw") > 5);
    // `delay!`, nested calls included (each is a node made the same way).
    assert!(runtime_paths_through(&delay("crate = tw; inc(inc(1))"), "tw") > 10);
    assert!(
        runtime_paths_through(
            &delayed("crate = tw", "fn inc(x: i64) -> i64 { x + 1 }"),
            "tw"
        ) > 0
    );
    // With `pure`, in either order, and written as a string as tokio's attributes take it.
    for args in ["pure, crate = ::my::tw", "crate = \"::my::tw\", pure"] {
        let tokens = delayed(args, "fn inc(x: i64) -> i64 { x + 1 }");
        assert!(runtime_paths_through(&tokens, "::my::tw") > 0, "{args}");
        assert!(
            squeezed(&tokens).contains("const__PURE:bool=true"),
            "{args}"
        );
    }
    // `crate::` that starts the body is code, not the option.
    let tokens = graph("{ crate::inc(1) }");
    assert!(errors(&tokens).is_empty(), "{:?}", errors(&tokens));
    assert!(squeezed(&tokens).contains("::taskweave::__private"));
}

#[test]
fn a_malformed_crate_option_is_one_clear_error() {
    let usage = "`crate = path` names the `taskweave` crate as your code sees it";
    let cases: [(&str, TokenStream, &str); 9] = [
        (
            "graph: no `=`",
            graph("crate tw; |x: i64| x"),
            "expected `=` after `crate`: `graph!(crate = path; …)`",
        ),
        (
            "graph: no path",
            graph("crate = ; |x: i64| x"),
            "missing the path after `crate =`",
        ),
        (
            "graph: not a path",
            graph("crate = 3; |x: i64| x"),
            "expected a path after `crate =`",
        ),
        (
            "graph: no `;`",
            graph("crate = tw |x: i64| x"),
            "expected `;` after the `crate = path` option: `graph!(crate = path; …)`",
        ),
        (
            "delay: no `;`",
            delay("crate = tw, inc(1)"),
            "expected `;` after the `crate = path` option: `delay!(crate = path; …)`",
        ),
        (
            "delayed: no path",
            delayed("crate =", "fn f() {}"),
            "missing the path after `crate =`",
        ),
        (
            "delayed: a string that is no path",
            delayed("crate = \"a b\"", "fn f() {}"),
            "`a b` is not a path",
        ),
        (
            "delayed: twice",
            delayed("crate = a, crate = b", "fn f() {}"),
            "`crate` is given twice",
        ),
        (
            "delayed: no `,`",
            delayed("pure crate = a", "fn f() {}"),
            "expected `,` between the options of `#[delayed]`",
        ),
    ];
    for (case, tokens, message) in cases {
        let found = errors(&tokens);
        assert_eq!(found.len(), 1, "{case}: one error, got {found:?}");
        assert!(found[0].starts_with(message), "{case}: {found:?}");
        if message.contains("path after") || message.contains("is not a path") {
            assert!(
                found[0].contains(usage),
                "{case}: says what the option is: {found:?}"
            );
        }
    }
    // `#[delayed]` with a bad option still emits the function (no cascade of "cannot
    // find function" next to the error).
    let tokens = delayed("crate = 3", "fn f() {}");
    assert!(squeezed(&tokens).contains("fnf(){}"));
}

// ---- the versioned module: macros and runtime in lockstep --------------------------

#[test]
fn the_versioned_module_is_named_after_the_version() {
    assert_eq!(version_module("0.1.0"), "v0_1_0");
    assert_eq!(
        version_module("1.20.3-rc.1+build.7"),
        "v1_20_3_rc_1_build_7"
    );
    let module = version_module(VERSION);
    assert!(
        syn::parse_str::<syn::Ident>(&module).is_ok(),
        "{module} is an identifier"
    );
}

/// The module these macros name is the one the runtime of the same build has (named by
/// its `build.rs` after its version).
#[test]
fn macros_and_runtime_name_the_same_module() {
    assert_eq!(
        version_module(VERSION),
        graph_runtime::__private::VERSION_MODULE
    );
}

/// The workspace's Cargo.toml.
fn workspace_manifest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The facade pins this crate and the runtime with `=` to the workspace's version, this
/// crate's, so that a build of taskweave never pairs these macros with another runtime.
#[test]
fn the_facade_pins_macros_and_runtime_to_this_version() {
    let manifest = workspace_manifest();
    let section = |name: &str| {
        let start = manifest
            .find(&format!("\n[{name}]\n"))
            .unwrap_or_else(|| panic!("[{name}] in Cargo.toml"));
        let rest = &manifest[start + name.len() + 4..];
        rest[..rest.find("\n[").unwrap_or(rest.len())].to_owned()
    };
    let workspace = section("workspace.package");
    assert!(
        workspace
            .lines()
            .any(|l| l == format!("version = \"{VERSION}\"")),
        "the workspace's version is graph-macros' {VERSION}: {workspace}"
    );
    assert!(section("package")
        .lines()
        .any(|l| l == "version.workspace = true"));
    let dependencies = section("workspace.dependencies");
    for krate in ["graph-macros", "graph-runtime"] {
        let line = dependencies
            .lines()
            .find(|l| l.starts_with(&format!("{krate} =")))
            .unwrap_or_else(|| panic!("{krate} in [workspace.dependencies]"));
        assert!(
            line.contains(&format!("version = \"={VERSION}\"")),
            "{krate} pinned to ={VERSION}: {line}"
        );
    }
}
