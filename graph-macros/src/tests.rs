//! The macros' expansions, read as text: where they reach the runtime (`crate = path`,
//! the versioned module), and docs/expansion.md, which must show the real expansion.
//!
//! These run the expanders on `proc_macro2` tokens, outside any compiler (so the file
//! scan of [`crate::scope`] finds nothing: every call is a task).

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;

use crate::names::{version_module, VERSION};

/// `graph!(src)`, expanded.
fn graph(src: &str) -> TokenStream {
    crate::graph::expand(src.parse().expect("tokens"), &Default::default())
}

/// `delay!(src)`, expanded.
fn delay(src: &str) -> TokenStream {
    crate::delay::expand(src.parse().expect("tokens"), &Default::default())
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

/// The count `#[delayed(retries = …)]` expanded to, from its `__RETRIES` constant.
fn retries_of(args: &str) -> String {
    let text = squeezed(&delayed(args, "fn inc(x: i64) -> i64 { x + 1 }"));
    let at = text.find("__RETRIES:u32=").expect("a count") + "__RETRIES:u32=".len();
    text[at..].split(';').next().expect("the count").to_owned()
}

/// A `retries` literal is read by the macro and never reaches rustc, which would reject
/// a suffix that is no integer type and a value its suffix's type cannot hold: before,
/// `3i7` and `0b1e5` (the binary `0b1` with the suffix `e5`) were read as 3 and 1.
#[test]
fn a_retries_literal_with_a_bad_suffix_or_value_is_one_error_on_it() {
    for (args, message) in [
        (
            "retries = 3i7",
            "invalid suffix `i7` for the integer literal `3i7`",
        ),
        (
            "retries = 0b1e5",
            "invalid suffix `e5` for the integer literal `0b1e5`",
        ),
        (
            "retries = 2f32",
            "invalid suffix `f32` for the integer literal `2f32`",
        ),
        (
            "pure, retries = 0o7x",
            "invalid suffix `x` for the integer literal `0o7x`",
        ),
        (
            "retries = 300u8",
            "the integer literal `300u8` is out of range for `u8` (0 to 255): write a value in \
             that range, or a suffix whose type holds it",
        ),
        (
            "retries = 128i8",
            "the integer literal `128i8` is out of range for `i8` (-128 to 127)",
        ),
        (
            "retries = 4294967296u64",
            "`retries` takes a whole number from 0 to 4294967295",
        ),
    ] {
        let found = errors(&delayed(args, "fn inc(x: i64) -> i64 { x + 1 }"));
        assert_eq!(found.len(), 1, "{args}: one error, got {found:?}");
        assert!(found[0].starts_with(message), "{args}: {found:?}");
        if message.starts_with("invalid suffix") {
            assert!(
                found[0].contains("write an integer type as its suffix"),
                "{args}: says what to write: {found:?}"
            );
        }
    }
    // Integer suffixes whose type holds the count are read as before.
    for (args, count) in [
        ("retries = 3", "3u32"),
        ("retries = 3u8", "3u32"),
        ("retries = 127i8", "127u32"),
        ("retries = 0x10", "16u32"),
        ("retries = 4294967295usize", "4294967295u32"),
    ] {
        assert_eq!(retries_of(args), count, "{args}");
    }
}

/// The string form of `crate = "path"` is read by the macro too: a suffix on it, which
/// rustc rejects on a string, was dropped silently.
#[test]
fn a_crate_path_string_with_a_suffix_is_one_error_on_it() {
    for tokens in [
        delayed("crate = \"tw\"x", "fn f() {}"),
        graph("crate = \"tw\"x; |x: i64| x"),
        delay("crate = \"tw\"x; inc(1)"),
    ] {
        let found = errors(&tokens);
        assert_eq!(found.len(), 1, "one error, got {found:?}");
        assert!(
            found[0].starts_with(
                "invalid suffix `x` for the string literal `\"tw\"x`: a string takes no suffix; \
                 write `crate = \"tw\"` or `crate = tw`"
            ),
            "{found:?}"
        );
    }
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

// ---- docs/expansion.md is the real expansion ----------------------------------------

/// The fenced ```` ```rust ```` blocks of a Markdown text: each one's byte range
/// (its lines, without the fences) and text.
fn rust_blocks(doc: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut blocks = Vec::new();
    let mut at = 0;
    while let Some(open) = doc[at..].find("```rust\n") {
        let start = at + open + "```rust\n".len();
        let end = start + doc[start..].find("```\n").expect("a closing fence");
        blocks.push((start..end, &doc[start..end]));
        at = end + 4;
    }
    blocks
}

/// The expansion docs/expansion.md shows for its example (its first block): the
/// `let job = graph!(…);` statement expanded and printed by prettyplease, the
/// `::taskweave::__private::vX_Y_Z::` prefixes trimmed (a hidden glob `use` brings those
/// names in), between the example's hidden lines, so that it runs as a doc test.
fn rendered_expansion(example: &str) -> String {
    let is_hidden = |line: &&str| line.starts_with("# ") || *line == "#";
    let lines: Vec<&str> = example.lines().collect();
    let first_shown = lines.iter().position(|l| !is_hidden(l)).expect("code");
    let last_shown = lines.iter().rposition(|l| !is_hidden(l)).expect("code");
    let shown = lines[first_shown..=last_shown].join("\n");
    let statement: syn::Stmt = syn::parse_str(&shown).expect("one `let` statement");
    let syn::Stmt::Local(local) = statement else {
        panic!("the example is `let job = graph!(…);`")
    };
    let init = local.init.expect("`= graph!(…)`");
    let syn::Expr::Macro(call) = &*init.expr else {
        panic!("the example is `let job = graph!(…);`")
    };
    let expansion = graph(&call.mac.tokens.to_string());
    assert!(errors(&expansion).is_empty(), "{:?}", errors(&expansion));
    let pat = &local.pat;
    let file: syn::File = syn::parse_quote!(fn example() { let #pat = #expansion; });
    let printed = formatted_with_hyperqueue(&prettyplease::unparse(&file), &expansion);
    // The function's body, dedented.
    let body: Vec<&str> = printed.lines().collect();
    let body = &body[1..body.len() - 1];
    let module = version_module(VERSION);
    let prefix = format!("::taskweave::__private::{module}::");
    let mut out = String::new();
    for line in &lines[..first_shown] {
        out += line;
        out += "\n";
    }
    out += &format!("# use taskweave::__private::{module}::*;\n");
    for line in body {
        out += &line
            .strip_prefix("    ")
            .unwrap_or(line)
            .replace(&prefix, "");
        out += "\n";
    }
    for line in &lines[last_shown + 1..] {
        out += line;
        out += "\n";
    }
    out
}

/// `printed` with the body of its `with_hyperqueue! { … }` (the description of the
/// nodes for a cluster, which prettyplease leaves as raw tokens) formatted as the code
/// it is, indented inside the macro's braces.
fn formatted_with_hyperqueue(printed: &str, expansion: &proc_macro2::TokenStream) -> String {
    let Some(tokens) = macro_body(expansion.clone(), "with_hyperqueue") else {
        return printed.to_owned();
    };
    let body: syn::File = syn::parse_quote!(fn body() { #tokens });
    let body = prettyplease::unparse(&body);
    let body: Vec<&str> = body.lines().collect();
    let body = &body[1..body.len() - 1];
    let lines: Vec<&str> = printed.lines().collect();
    let Some(open) = lines
        .iter()
        .position(|l| l.trim_end().ends_with("with_hyperqueue! {"))
    else {
        return printed.to_owned();
    };
    let indent = &lines[open][..lines[open].len() - lines[open].trim_start().len()];
    let close = open
        + lines[open..]
            .iter()
            .position(|l| *l == format!("{indent}}}"))
            .expect("the macro's closing brace");
    let mut out: Vec<String> = lines[..=open].iter().map(|l| l.to_string()).collect();
    out.extend(body.iter().map(|l| format!("{indent}{l}")));
    out.extend(lines[close..].iter().map(|l| l.to_string()));
    out.join("\n") + "\n"
}

/// The tokens inside the first invocation of the macro `name` in `tokens`.
fn macro_body(tokens: proc_macro2::TokenStream, name: &str) -> Option<proc_macro2::TokenStream> {
    let tokens: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            proc_macro2::TokenTree::Ident(ident) if ident == name => {
                if let Some(proc_macro2::TokenTree::Group(group)) = tokens.get(i + 2) {
                    return Some(group.stream());
                }
            }
            proc_macro2::TokenTree::Group(group) => {
                if let Some(found) = macro_body(group.stream(), name) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

/// docs/expansion.md shows what `graph!` really expands to: its blocks come in pairs,
/// an example then its expansion as [`rendered_expansion`] prints it (a tree-shaped
/// graph, then one that takes the dispatcher). `TASKWEAVE_BLESS=1` rewrites the
/// expansions (then read the prose around them: it explains the code).
#[test]
fn docs_expansion_md_shows_the_real_expansion() {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/expansion.md");
    let mut doc =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pairs = rust_blocks(&doc).len() / 2;
    assert!(
        pairs >= 2,
        "docs/expansion.md: two examples, each followed by its expansion"
    );
    let bless = std::env::var_os("TASKWEAVE_BLESS").is_some_and(|v| v == "1");
    for pair in 0..pairs {
        // Blessing an expansion moves the blocks after it: read them again.
        let blocks = rust_blocks(&doc);
        let fresh = rendered_expansion(blocks[2 * pair].1);
        let (range, shown) = blocks[2 * pair + 1].clone();
        if shown == fresh {
            continue;
        }
        if bless {
            doc.replace_range(range, &fresh);
            std::fs::write(&path, &doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        let line = shown
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(shown.lines().count().min(fresh.lines().count()));
        panic!(
            "docs/expansion.md no longer shows graph!'s expansion of example {} (first \
             difference on line {} of its expansion):\n  shown: {:?}\n  real:  {:?}\nrun \
             `TASKWEAVE_BLESS=1 cargo test -p graph-macros docs_expansion_md` to rewrite it, \
             and check its prose.\n\nThe real expansion:\n{fresh}",
            pair + 1,
            line + 1,
            shown.lines().nth(line),
            fresh.lines().nth(line),
        );
    }
}

/// Which path `graph!` writes: `Graph::__new_tree` (nested joins) or `Graph::__new`.
fn runs_as_tree(expansion: &TokenStream) -> bool {
    let text = squeezed(expansion);
    assert!(
        text.contains("__new_tree(") != text.contains("__new("),
        "one of the two constructors: {text}"
    );
    text.contains("__new_tree(")
}

/// A node over `leaves` node values joins `leaves - 1` times: up to 128 joins a graph
/// is a tree, past that the dispatcher runs it (each join is code in the user's crate).
#[test]
fn a_tree_has_at_most_128_joins() {
    let wide = |leaves: usize| {
        let items: Vec<String> = (0..leaves).map(|i| format!("leaf(x, {i})")).collect();
        graph(&format!(
            "|x: u64| -> u64 {{ total(&[{}]) }}",
            items.join(", ")
        ))
    };
    assert!(runs_as_tree(&wide(2)));
    assert!(runs_as_tree(&wide(129)));
    assert!(!runs_as_tree(&wide(130)));
}

// ---- long graphs: what rustc's type checking does per node ------------------------

/// `graph!` of a chain of `n` lets, `let a1 = inc(x); let a2 = inc(a1); … a{n}`: a
/// tree whose one branch holds every node, in one stack room.
fn chain(n: usize) -> TokenStream {
    let mut src = String::from("|x: i64| -> i64 { let a1 = inc(x); ");
    for i in 2..=n {
        src += &format!("let a{i} = inc(a{}); ", i - 1);
    }
    src += &format!("a{n} }}");
    graph(&src)
}

/// The tokens of `tokens`, those inside groups too, and how many are the identifier
/// `ident`.
fn tokens_and(tokens: &TokenStream, ident: &str) -> (usize, usize) {
    let (mut all, mut named) = (0, 0);
    for tree in tokens.clone() {
        all += 1;
        match tree {
            proc_macro2::TokenTree::Group(group) => {
                let (a, n) = tokens_and(&group.stream(), ident);
                all += a;
                named += n;
            }
            proc_macro2::TokenTree::Ident(i) if i == ident => named += 1,
            _ => {}
        }
    }
    (all, named)
}

/// A chain's code grows in proportion to its length, and what made rustc's type
/// checking of it grow with the square of its length has no copy per node: a
/// `return None` per node (each an `Option` of a new inference variable, coerced to
/// the branch closure's return type, which is known only at the closure's end, every
/// coercion left pending and examined again at each later step: 8.5 s to check 500
/// nodes, 31 s for 1,000) and an untyped `None` per local of the room (inference
/// variables made before any node's code, their bounds pending until it).
#[test]
fn a_longer_chain_leaves_rustc_no_more_pending_inference() {
    let (short, long) = (chain(100), chain(200));
    assert!(runs_as_tree(&short) && runs_as_tree(&long));
    assert!(errors(&short).is_empty() && errors(&long).is_empty());
    for ident in ["return", "None"] {
        let (_, in_short) = tokens_and(&short, ident);
        let (_, in_long) = tokens_and(&long, ident);
        assert_eq!(
            in_short, in_long,
            "`{ident}` in a chain of 100 nodes and in one of 200: one per node is a \
             pending inference for rustc at every later node"
        );
    }
    let (in_short, _) = tokens_and(&short, "");
    let (in_long, _) = tokens_and(&long, "");
    assert!(
        in_long <= 2 * in_short + 100,
        "tokens per node grow with the chain: {in_short} for 100 nodes, {in_long} for 200"
    );
}

// ---- deep input ------------------------------------------------------------------

/// A call nested 3,000 deep and a sum of 3,000 terms expand on the macros' own stack
/// ([`crate::on_own_stack`]), here from a thread of 1 MiB: syn's parser, the lowering
/// and the syntax trees' clones recurse with the nesting, and on rustc's stack such
/// input crashed the compiler at about a thousand levels.
#[test]
fn deeply_nested_input_expands_on_the_macros_own_stack() {
    const DEPTH: usize = 3_000;
    let nested = format!(
        "|x: i64| -> i64 {{ {}x{} }}",
        "inc(".repeat(DEPTH),
        ")".repeat(DEPTH)
    );
    let sum = format!("|x: i64| -> i64 {{ x{} }}", " + inc(x)".repeat(DEPTH));
    let expanded = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            [nested, sum].map(|src| {
                crate::on_own_stack(|| {
                    let tokens = graph(&src);
                    (errors(&tokens), squeezed(&tokens).matches("inc").count())
                })
            })
        })
        .expect("a thread")
        .join()
        .expect("expanded without overflowing the stack");
    for (errors, calls) in expanded {
        assert!(errors.is_empty(), "{errors:?}");
        assert!(calls >= DEPTH, "{calls} calls of `inc` in the expansion");
    }
}

/// A `let` expression where Rust does not allow one (`(let Some(y) = o)`) is left to
/// rustc, which says so: the macro panicked on it ("a scope is open while a pattern
/// binds").
#[test]
fn a_misplaced_let_expression_expands_without_a_panic() {
    for src in [
        "|x: i64| -> i64 { let o = Some(1); let k = (let Some(y) = o); inc(x) }",
        "|x: i64| -> i64 { let o = Some(1); let b = true && let Some(y) = o; inc(x) }",
    ] {
        let tokens = graph(src);
        assert!(errors(&tokens).is_empty(), "{src}: {:?}", errors(&tokens));
    }
}

/// `let b = &mut a;` on a node is one mistake, one message: the `&mut`'s (a second one
/// said a borrow of a node cannot be bound to a name).
#[test]
fn a_mut_borrow_of_a_node_bound_to_a_name_is_one_error() {
    let tokens = graph("|x: i64| -> i64 { let a = inc(x); let b = &mut a; inc(x) }");
    let errors = errors(&tokens);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("`&mut a`"), "{errors:?}");
}

// ---- the bound on unrolled loops ---------------------------------------------------

/// `graph!` over `body` (a closure's), with `add` and `inc` called as tasks: its one
/// error, which must contain `part`.
fn unroll_error(body: &str, part: &str) -> String {
    let errors = errors(&graph(&format!("|| -> u64 {{ let mut s = 0; {body} s }}")));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains(part), "{}", errors[0]);
    errors.into_iter().next().expect("one error")
}

#[test]
fn a_loop_over_the_node_bound_is_one_error_found_early() {
    // 100,000 copies of two nodes: the error comes after the copy that crosses 1,500
    // nodes, not after 200,000 nodes.
    let error = unroll_error(
        "for i in 0..100000 { s = add(s, inc(i)); }",
        "this `for` would unroll into more than 1500 nodes (its first 751 of 100000 copies \
         make 1502)",
    );
    assert!(error.contains("`Delayed<T>`") && error.contains("`#[delayed]` function"));
    // Exactly at the bound, no error.
    let at_bound = graph("|| -> u64 { let mut s = 0; for i in 0..750 { s = add(s, inc(i)); } s }");
    assert_eq!(errors(&at_bound), Vec::<String>::new());
}

#[test]
fn nested_loops_count_every_copy_and_say_it_once() {
    // Each inner loop makes 60 nodes, under the bound; the outer loop's copies make more.
    unroll_error(
        "for i in 0..30 { for j in 0..60 { s = add(s, j); } }",
        "(its first 26 of 30 copies make 1560)",
    );
    // An inner loop over the bound: its error only, once.
    unroll_error(
        "for i in 0..3 { for j in 0..2000 { s = add(s, j); } }",
        "(its first 1501 of 2000 copies make 1501)",
    );
}

#[test]
fn constant_code_unrolled_into_too_many_lets_is_one_error() {
    // Two `let`s a copy, and two before the loop: rustc crashed on 3,000.
    let error = unroll_error(
        "let mut c = 0u64; for i in 0..100000 { c = c + i; } s = inc(c);",
        "this `for` would give the graph more than 1500 `let`s of constant code (1502 after \
         its first 750 of 100000 copies)",
    );
    assert!(error.contains("a plain loop before the graph"), "{error}");
}

// ---- the copies of an unrolled loop --------------------------------------------------

#[test]
fn each_copy_of_an_unrolled_loop_is_labelled_with_its_iteration() {
    let text = squeezed(&graph(
        "|x: u64| -> u64 { let mut s = inc(x); \
         for i in (0..4).rev() { s = add(s, i); } \
         for v in [s, 7] { s = add(s, v); } \
         for _ in 0..2 { for r#j in -1..=0 { s = add(s, j); } } s }",
    ));
    for copy in [
        "i=3",
        "i=0",
        "v=s",
        "v=7",
        "iteration1of2,j=-1",
        "iteration2of2,j=0",
    ] {
        assert!(
            text.contains(&format!(".in_copy(\"{copy}\")")),
            "{copy}: {text}"
        );
    }
    // A node outside the loops has no copy.
    assert_eq!(text.matches(".in_copy(").count(), 4 + 2 + 4);
}

// ---- a body ending in `;` ----------------------------------------------------------

/// A graph that declares a result and ends in `value;` returns the body's `()` through
/// a check of the declared type (rustc's one error, on the `;`, unless that type is
/// `()`, perhaps through an alias the macro cannot see through); one that declares
/// none, or `()`, returns `()` as a block does.
#[test]
fn a_body_ending_in_a_semicolon_is_checked_against_the_declared_result() {
    let checked = |src: &str| {
        let tokens = graph(src);
        assert_eq!(errors(&tokens), Vec::<String>::new(), "{src}");
        tokens.to_string().contains("ends_in_semicolon")
    };
    assert!(checked("|x: i64| -> i64 { inc(x); }"));
    assert!(checked("|x: i64| -> Unit { let y = inc(x); inc(y); }"));
    for unit in [
        "|x: i64| -> () { inc(x); }",
        "|x: i64| { inc(x); }",
        "|x: i64| -> _ { inc(x); }",
        "{ inc(1); }",
        "|x: i64| -> i64 { inc(x) }",
        "|x: i64| -> i64 { let y = inc(x); loop {} }",
    ] {
        assert!(!checked(unit), "{unit}");
    }
    // A last statement that is a mistake of its own says so alone.
    let own = errors(&graph("|x: i64| -> i64 { let y = inc(x); return y; }"));
    assert_eq!(own.len(), 1, "{own:?}");
    assert!(own[0].contains("`return`"), "{own:?}");
    assert!(!graph("|x: i64| -> i64 { let y = inc(x); return y; }")
        .to_string()
        .contains("ends_in_semicolon"));
}
