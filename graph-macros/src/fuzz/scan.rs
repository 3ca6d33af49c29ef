//! Fuzz-style tests of the scope scan ([`crate::scope`]) on source text: whole files of
//! what people write (items, modules, `use` trees, tasks and plain functions, bodies
//! with `graph!` and `delay!`), then broken on the text level (cut, a range deleted or
//! repeated, a snippet inserted: brackets, quotes, comment openers, escapes, raw string
//! hashes, non-ASCII and control characters), lexical oddities (raw strings, nested
//! block comments, byte and character literals, numbers, escapes), nesting far past the
//! lexer's bound and just below it (brackets, blocks, modules, operators, closures,
//! types), and very long lines. For each text the scan runs under `catch_unwind` on the
//! macros' own stack ([`crate::on_own_stack`]): no panic, no overflow (which would abort
//! the run), and each text within [`TIME_LIMIT`]. Where the lexer of
//! [`crate::lexable`] vouches for a text, `proc_macro2`'s own lexer must take it too.
//!
//! `cargo test -p graph-macros fuzz::scan` runs 300 texts. A longer hunt:
//!
//! ```text
//! SCAN_FUZZ_CASES=20000 SCAN_FUZZ_SEED=7 cargo test -p graph-macros fuzz::scan -- --nocapture
//! ```
//!
//! A failure names its seed and case, which `SCAN_FUZZ_SEED=s SCAN_FUZZ_FIRST=case
//! SCAN_FUZZ_CASES=1` runs alone (`SCAN_FUZZ_SHOW=1` prints each text).

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::{env_number, panic_message, Gen, SplitMix64};
use crate::lexable::{lexes_cleanly, MAX_DEPTH};
use crate::scope::scan_text;

/// The most one text may take, in a debug build on a loaded machine: the scan runs once
/// per macro invocation, on files of any size.
const TIME_LIMIT: Duration = Duration::from_secs(10);

/// Snippets inserted into a text to break it.
const SNIPPETS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "r#\"",
    "\"#",
    "r###\"",
    "b'",
    "b\"",
    "br#\"",
    "c\"",
    "/*",
    "*/",
    "/**",
    "//",
    "///",
    "\\",
    "\\u{",
    "\\x",
    "\\u{d800}",
    "\\x80",
    "#",
    "##",
    "#!",
    "#![",
    "'a",
    "'static",
    "'\\''",
    "0b0e5",
    "0x",
    "1e",
    "0o8",
    "1.",
    "..",
    "r#",
    "r#_",
    "é",
    "変",
    "😀",
    "\u{202e}",
    "\u{0}",
    "\r",
    "\r\n",
    "\u{feff}",
    "\u{a0}",
    "\u{ff1b}",
    "mod",
    "use",
    "fn",
    "graph!",
    "delay!(",
    "::",
    "*",
    "super",
    "crate",
    "self",
    "---\n",
    "`",
    "\t",
    "\u{b}",
    "\u{c}",
];

/// What the scan gets to read, one kind of text per case.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A file of items.
    File,
    /// A file, then broken on the text level.
    Broken,
    /// Literals and comments, valid or not.
    Lexical,
    /// Nested past [`MAX_DEPTH`] or just below it.
    Deep,
    /// One very long line.
    Long,
}

/// Builds source files from a grammar of items around [`Gen`]'s statements.
struct Files {
    gen: Gen,
}

impl Files {
    fn rng(&mut self) -> &mut SplitMix64 {
        &mut self.gen.rng
    }

    /// A path in a `use`: relative, `self::`, `super::`, `crate::`, another crate's.
    fn use_path(&mut self) -> String {
        let head = *self.rng().pick(&[
            "",
            "self::",
            "super::",
            "super::super::",
            "crate::",
            "crate::a::",
            "std::",
            "::tw::",
            "taskweave::",
            "a::b::",
        ]);
        let tail = match self.rng().below(8) {
            0 => "*".to_owned(),
            1 => "prelude::*".to_owned(),
            2 => format!("{{{}, {}}}", self.item_name(), self.item_name()),
            3 => format!("{} as {}", self.item_name(), self.item_name()),
            4 => format!("{{self, {}::*}}", self.item_name()),
            _ => self.item_name(),
        };
        format!("{head}{tail}")
    }

    fn item_name(&mut self) -> String {
        (*self.rng().pick(&[
            "inc", "load", "plain", "helper", "step", "drop", "a", "b", "util", "m", "r#match",
            "größe", "f", "run", "tasks",
        ]))
        .to_owned()
    }

    /// Attributes before an item: none, inert ones, or ones that may make it a task.
    fn attrs(&mut self) -> String {
        let mut text = String::new();
        for _ in 0..self.rng().below(3) {
            text += *self.rng().pick(&[
                "/// Docs.\n",
                "#[inline]\n",
                "#[must_use]\n",
                "#[allow(dead_code)]\n",
                "#[cfg(test)]\n",
                "#[cfg_attr(all(), delayed)]\n",
                "#[delayed]\n",
                "#[delayed(pure)]\n",
                "#[some::attr]\n",
                "#[path = \"other.rs\"]\n",
                "#[test]\n",
                "/** Block docs. */\n",
            ]);
        }
        text
    }

    /// A function body: statements of [`Gen`], with `graph!` and `delay!` among them.
    fn body(&mut self, depth: usize) -> String {
        let mut text = String::from("{\n");
        for _ in 0..self.rng().below(6) {
            let stmt = match self.rng().below(8) {
                0 => format!("let _ = graph!({});", self.gen.graph_body(2)),
                1 => format!("let _ = delay!({});", self.gen.delay_input(2)),
                2 if depth > 0 => format!("{}\n", self.item(depth - 1)),
                3 => format!(
                    "let {} = |{}: i64| {};",
                    self.gen.fresh_name(),
                    self.gen.fresh_name(),
                    self.gen.expr(1)
                ),
                _ => self.gen.stmt(2),
            };
            text += &stmt;
            text.push('\n');
        }
        text.push('}');
        text
    }

    /// One item.
    fn item(&mut self, depth: usize) -> String {
        let attrs = self.attrs();
        let vis = *self
            .rng()
            .pick(&["", "", "pub ", "pub(crate) ", "pub(super) "]);
        let item = match self.rng().below(16) {
            0..=3 => {
                let name = self.item_name();
                let scope = self.gen.bound.len();
                let params: Vec<String> = (0..self.rng().below(3))
                    .map(|_| format!("{}: {}", self.gen.fresh_name(), self.gen.ty()))
                    .collect();
                let body = self.body(depth);
                self.gen.bound.truncate(scope);
                format!("fn {name}({}) -> i64 {body}", params.join(", "))
            }
            4 => format!("use {};", self.use_path()),
            5 => format!("mod {};", self.item_name()),
            6 if depth > 0 => {
                let items = self.items(depth - 1);
                format!("mod {} {{\n{items}\n}}", self.item_name())
            }
            7 => format!(
                "const {}: i64 = {};",
                self.item_name().to_uppercase(),
                self.gen.literal()
            ),
            8 => format!("static S: &str = {};", self.gen.literal()),
            9 => format!("struct {} {{ x: {} }}", self.item_name(), self.gen.ty()),
            10 => format!("extern crate {} as {};", self.item_name(), self.item_name()),
            11 => format!("extern \"C\" {{ fn {}(x: i32); }}", self.item_name()),
            12 => format!(
                "macro_rules! {} {{ ($($t:tt)*) => {{ $($t)* }}; }}",
                self.item_name()
            ),
            13 => format!("{}! {{ fn {}() {{}} }}", self.item_name(), self.item_name()),
            14 if depth > 0 => {
                let body = self.body(depth - 1);
                format!(
                    "impl S {{\n    fn {}(&self, x: i64) -> i64 {body}\n}}",
                    self.item_name()
                )
            }
            15 if depth > 0 => {
                let body = self.body(depth - 1);
                format!(
                    "trait T {{\n    fn {}(x: i64) -> i64 {body}\n}}",
                    self.item_name()
                )
            }
            _ => self.gen.delayed_item(),
        };
        format!("{attrs}{vis}{item}")
    }

    fn items(&mut self, depth: usize) -> String {
        let mut text = String::new();
        for _ in 0..1 + self.rng().below(8) {
            text += &self.item(depth);
            text.push('\n');
        }
        text
    }

    /// A file: inner attributes, items.
    fn file(&mut self) -> String {
        let mut text = String::new();
        if self.rng().chance(1, 4) {
            text += "#![allow(unused)]\n//! The crate.\n";
        }
        text += &self.items(3);
        text
    }
}

/// The char boundary at or before `at`.
fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `text` broken in one to three places, on the text level.
fn broken(mut text: String, rng: &mut SplitMix64) -> String {
    for _ in 0..1 + rng.below(3) {
        let at = boundary(&text, rng.below(text.len() + 1));
        let end = boundary(&text, at + rng.below(40));
        match rng.below(5) {
            0 => text.truncate(at),
            1 => text.replace_range(at..end, ""),
            2 => {
                let piece = text[at..end].to_owned();
                text.insert_str(at, &piece);
            }
            _ => text.insert_str(at, rng.pick::<&str>(SNIPPETS)),
        }
    }
    text
}

/// A character or string literal, or a comment, from random parts.
fn lexical(rng: &mut SplitMix64) -> String {
    const PARTS: &[&str] = &[
        "a",
        "é",
        "😀",
        " ",
        "\\n",
        "\\t",
        "\\0",
        "\\\\",
        "\\'",
        "\\\"",
        "\\x41",
        "\\x7f",
        "\\x80",
        "\\xff",
        "\\u{41}",
        "\\u{1F600}",
        "\\u{d800}",
        "\\u{110000}",
        "\\u{}",
        "\\u{_1}",
        "\\u{0000041}",
        "\\q",
        "\\",
        "\\\n    ",
        "\\\n\n",
        "\n",
        "\t",
        "\"",
        "'",
        "#",
        "\"#",
        "/*",
        "*/",
        "\r\n",
        "\u{202e}",
        "\u{0}",
    ];
    let mut inner = String::new();
    for _ in 0..rng.below(6) {
        inner += *rng.pick(PARTS);
    }
    let hashes = "#".repeat(*rng.pick(&[0, 1, 2, 255, 256]));
    let literal = match rng.below(12) {
        0 => format!("'{inner}'"),
        1 => format!("b'{inner}'"),
        2 => format!("\"{inner}\""),
        3 => format!("b\"{inner}\""),
        4 => format!("r{hashes}\"{inner}\"{hashes}"),
        5 => format!("br{hashes}\"{inner}\"{hashes}"),
        6 => format!("c\"{inner}\""),
        7 => format!("/* {inner} /* {inner} */ {inner} */"),
        8 => format!("// {inner}\n"),
        9 => format!("/// {inner}\n"),
        10 => {
            let digits: String = (0..1 + rng.below(6))
                .map(|_| *rng.pick(&["0", "1", "7", "9", "_", "e", "f", ".", "x", "b", "o", "+"]))
                .collect();
            format!(
                "{}{digits}{}",
                rng.pick(&["", "0x", "0b", "0o", "1"]),
                rng.pick(&["", "u8", "i7", "f32", "e5"])
            )
        }
        _ => format!(
            "'{}",
            rng.pick(&["a", "static", "_", "r#a", "1a", "ab'", "a#"])
        ),
    };
    let suffix = if rng.chance(1, 8) { "suffix" } else { "" };
    format!("fn f() {{ let _ = {literal}{suffix}; let _ = graph!(|x: i64| inc(x)); }}")
}

/// Text nested about `tokens` tokens deep (as [`MAX_DEPTH`] counts them), in one of
/// several shapes.
fn deep(rng: &mut SplitMix64, tokens: usize) -> String {
    // Each shape's opening and closing, and the tokens one level of it counts.
    let (open, inner, close, per_level) = *rng.pick(&[
        ("(", "x", ")", 1),
        ("[", "x", "]", 1),
        ("{ ", "x", " }", 1),
        ("inc(", "x", ")", 2),
        ("!", "x", "", 1),
        ("-", "x", "", 1),
        ("&", "x", "", 1),
        ("*", "x", "", 1),
        ("|z| ", "x", "", 3),
        ("move || ", "x", "", 3),
        ("return ", "x", "", 1),
        ("x + ", "x", "", 2),
        ("", "x", ".m()", 3),
        ("", "x", "?", 1),
        ("", "x", ".0", 2),
        ("", "x", " as i64", 2),
        ("if c { ", "x", " } else { y }", 3),
        ("loop { ", "x", " }", 2),
        ("{ let a = 1; ", "x", " }", 1),
    ]);
    let depth = tokens / per_level;
    let expr = format!("{}{inner}{}", open.repeat(depth), close.repeat(depth));
    let body = match rng.below(3) {
        0 => format!("let _ = graph!(|x: i64| {{ {expr} }});"),
        1 => format!("let _ = {expr};"),
        _ => expr,
    };
    // Types and patterns, the costliest levels for `syn`.
    let (open, close, per_level) = *rng.pick(&[
        ("<", " as A>::B", 1),
        ("&", "", 1),
        ("(", ",)", 1),
        ("[", "]", 1),
        ("Vec<", ">", 2),
        ("Box<dyn Fn(", ")>", 5),
        ("fn() -> ", "", 4),
    ]);
    let ty = format!(
        "{}i64{}",
        open.repeat(tokens / per_level),
        close.repeat(tokens / per_level)
    );
    match rng.below(10) {
        0 => {
            let depth = tokens / 3;
            format!(
                "{}fn f() {{ }}{}",
                "mod a { ".repeat(depth),
                " }".repeat(depth)
            )
        }
        1 | 2 => format!("type T = {ty};"),
        3 => format!("fn f() {{ let {}x = 1; }}", "&".repeat(tokens)),
        _ => format!("fn f(x: i64, c: bool, y: i64) {{ {body} }}"),
    }
}

/// One very long line.
fn long(rng: &mut SplitMix64) -> String {
    let n = 10_000 + rng.below(200_000);
    match rng.below(6) {
        0 => format!("const S: &str = \"{}\";", "a".repeat(n)),
        1 => format!("// {}\nfn f() {{}}", "é".repeat(n)),
        2 => format!(
            "fn f() {{ {} let _ = graph!(|x: i64| inc(x)); }}",
            "g(x); ".repeat(n / 6)
        ),
        3 => {
            // A long function of `let`s and macros: the scan records each invocation.
            let mut body = String::new();
            for i in 0..n / 40 {
                let _ = write!(body, "let a{i} = {i}; assert!(a{i} >= 0); ");
            }
            format!("fn f() {{ {body} let _ = delay!(inc(1)); }}")
        }
        4 => format!("fn f() -> i64 {{ 1{} }}", " + 1".repeat(n / 4)),
        _ => format!("/* {} */", "/* */ ".repeat(n / 6)),
    }
}

/// The text numbered `index` of the run seeded `seed`, and its kind.
fn text(seed: u64, index: u64) -> (Kind, String) {
    let mut rng = SplitMix64(seed ^ index.wrapping_mul(0x9E6C_63D0_676A_9A99));
    rng.next();
    let kind = match rng.below(20) {
        0..=7 => Kind::File,
        8..=13 => Kind::Broken,
        14..=16 => Kind::Lexical,
        17 | 18 => Kind::Deep,
        _ => Kind::Long,
    };
    let mut files = Files {
        gen: Gen::new(SplitMix64(rng.next())),
    };
    files.gen.tame = rng.chance(1, 2);
    let text = match kind {
        Kind::File => files.file(),
        Kind::Broken => broken(files.file(), &mut rng),
        Kind::Lexical => lexical(&mut rng),
        Kind::Deep => {
            // Most just below the bound, where the scan still parses, some past it.
            let depth = match rng.below(4) {
                // Up to 6 times the bound: past what the macro's stack holds.
                0 => MAX_DEPTH + rng.below(MAX_DEPTH * 5),
                _ => MAX_DEPTH - MAX_DEPTH / 50 - rng.below(MAX_DEPTH / 10),
            };
            deep(&mut rng, depth)
        }
        Kind::Long => long(&mut rng),
    };
    (kind, text)
}

/// Scans `text`: `Err` says what went wrong.
fn run(text: &str) -> Result<Duration, String> {
    let began = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        crate::on_own_stack(|| {
            (
                scan_text(text).map(|found| found.len()),
                lexes_cleanly(text),
            )
        })
    }));
    let took = began.elapsed();
    let (_, clean) =
        outcome.map_err(|payload| format!("panicked: {}", panic_message(&*payload)))?;
    if took > TIME_LIMIT {
        return Err(format!("took {took:.1?}"));
    }
    // Vouched for: `proc_macro2`'s lexer (rustc's, in a macro, is checked after it) must
    // take it too.
    if clean && text.parse::<proc_macro2::TokenStream>().is_err() {
        return Err("vouched for, but proc_macro2 does not lex it".to_owned());
    }
    Ok(took)
}

/// Runs the random texts: `SCAN_FUZZ_CASES` of them (default 300), from case
/// `SCAN_FUZZ_FIRST` (default 0) of the run seeded `SCAN_FUZZ_SEED` (default fixed),
/// and fails listing the shortest texts that broke the scan. `SCAN_FUZZ_SHOW=1` prints
/// each text (with `--nocapture`).
#[test]
fn random_texts_never_break_the_scan() {
    let seed = env_number("SCAN_FUZZ_SEED", 0x5CA7_7E57);
    let cases = env_number("SCAN_FUZZ_CASES", 300);
    let first = env_number("SCAN_FUZZ_FIRST", 0);
    let show = std::env::var_os("SCAN_FUZZ_SHOW").is_some();
    let started = Instant::now();
    let mut failures: Vec<(usize, String)> = Vec::new();
    let mut slowest = (Duration::ZERO, 0, 0);
    let (mut scanned, mut bytes) = (0usize, 0usize);
    for index in first..first + cases {
        let (kind, text) = text(seed, index);
        if show {
            eprintln!("case {index} ({kind:?}): {text}");
        }
        bytes += text.len();
        scanned += usize::from(lexes_cleanly(&text));
        match run(&text) {
            Ok(took) => slowest = slowest.max((took, index, text.len())),
            Err(error) => {
                let mut report = String::new();
                let _ = write!(
                    report,
                    "seed {seed:#x} case {index} ({kind:?}): {error}\n  text: {}",
                    text.chars().take(2_000).collect::<String>()
                );
                failures.push((text.len(), report));
            }
        }
        if cases >= 1_000 && (index - first + 1).is_multiple_of(1_000) {
            eprintln!(
                "{} texts, {} failures, {:.1?}",
                index - first + 1,
                failures.len(),
                started.elapsed()
            );
        }
    }
    eprintln!(
        "{cases} texts ({bytes} bytes; {scanned} lexed cleanly) from seed {seed:#x} in {:.1?}; \
         the slowest, case {} ({} bytes), {:.1?}",
        started.elapsed(),
        slowest.1,
        slowest.2,
        slowest.0
    );
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} texts broke the scan; the shortest:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .map(|(_, report)| report.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
