//! Fuzz-style tests of the three expanders: no input makes a macro panic (rustc would
//! say only "proc macro panicked", naming no token), and every expansion is well-formed
//! tokens whose `compile_error!`s all say something.
//!
//! A small seeded generator ([`SplitMix64`]) builds inputs from a grammar of what people
//! write: `graph!` closures and blocks (with `crate = path;`, `move`, `async`, zero to
//! ten inputs, odd patterns and types, every kind of statement and expression, loops and
//! branches on nodes and on constants, macros, nested graphs, labels, `?`, literals of
//! every kind), `delay!` calls, and `#[delayed(options)]` items (functions of every
//! shape, methods, non-function items). Half of the inputs keep mostly to what a graph
//! allows, so that they reach the expansion's last stage; the scope scan's findings
//! (plain functions, local variables) are drawn at random too. A share of the inputs is
//! then broken on the token level: cut at a random point, a bracket pair dropped or
//! moved, a token deleted, duplicated, swapped or inserted, a tree wrapped in an
//! invisible group; some have names, literals and groups in invisible groups, as a
//! `macro_rules!` macro passes its fragments on. A few are nested hundreds deep, or
//! hundreds of nodes wide or long. For each input the expander runs under
//! `catch_unwind` on the macros' own stack ([`crate::on_own_stack`]), and its output must
//! parse with syn (an expression for `graph!` and `delay!`, items for `#[delayed]`),
//! with one string in each of the macros' `compile_error!`s, not empty and with no run
//! of spaces (a line lost from a message's source).
//!
//! `cargo test -p graph-macros fuzz` runs 3,000 inputs (a few seconds in a debug build).
//! A longer hunt, with overflow checks as in a debug build (the proc macro's profile):
//!
//! ```text
//! CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true MACRO_FUZZ_CASES=300000 MACRO_FUZZ_SEED=7 \
//!     cargo test --release -p graph-macros fuzz::random -- --nocapture
//! ```
//!
//! A failure names its seed and case, which `MACRO_FUZZ_SEED=s MACRO_FUZZ_FIRST=case
//! MACRO_FUZZ_CASES=1` runs alone (`MACRO_FUZZ_SHOW=1` prints each input).
//!
//! What the hunts found has a reproducer at the end of this file, its input written
//! out: a `;` alone among a graph's statements expanded to `let _ = ;` (malformed), and
//! an integer literal whose suffix is no integer type (`0b0e5`) as a bound of an unrolled
//! `for` panicked. Beside them, the literals the macros read as numbers: a `for` bound
//! its type cannot hold, a repeat length with a suffix other than `usize`.
//!
//! The scope scan, which reads source files rather than a macro's input, has a fuzzer of
//! its own in [`scan`].

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

use crate::scope::InScope;

mod scan;

// ---- the generator -----------------------------------------------------------------

/// SplitMix64 (Steele, Lea and Flood): a tiny, good-enough generator whose whole state is
/// one `u64`, so a case is reproduced from its seed alone.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `num` times in `den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next() % den < num
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Names the generated code reads: inputs, `let`s and loop counters draw from these, so
/// that uses meet bindings (nodes, constants, shadowed names) often.
const NAMES: &[&str] = &[
    "x",
    "y",
    "a",
    "b",
    "n",
    "v",
    "s",
    "i",
    "k",
    "x",
    "y",
    "a",
    "b",
    "r#z",
    "café",
    "__const_0",
    "__table",
    "_x",
];

/// Called functions: unknown to the unit tests' scope scan, so tasks; constructors,
/// associated and standard functions; odd paths.
const FUNCTIONS: &[&str] = &[
    "inc",
    "add",
    "load",
    "clean",
    "total",
    "split",
    "parse",
    "pair",
    "check",
    "f",
    "helper",
    "r#inc",
    "drop",
    "delayed(inc)",
    "Some",
    "Ok",
    "Err",
    "Point",
    "Box::new",
    "String::from",
    "i64::from",
    "std::cmp::max",
    "Vec::<i64>::with_capacity",
    "Default::default",
    "std::mem::take",
    "<i64 as From<i32>>::from",
    "<[i64]>::len",
    "Self::make",
    "self::inc",
    "super::inc",
    "crate::inc",
    "::tw::inc",
    "inc::<i64>",
    "m::load::<_, 3>",
    "(inc)",
    "{ inc }",
];

const METHODS: &[&str] = &[
    "clone",
    "len",
    "abs",
    "pow",
    "unwrap",
    "compute",
    "try_compute",
    "push",
    "iter",
    "map",
    "collect::<Vec<_>>",
    "get",
    "to_string",
    "into",
    "as_ref",
    "borrow_mut",
    "sort",
    "insert",
    "extend",
    "sum::<i64>",
    "max",
    "take",
    "call",
    "persist",
    "r#match",
];

const LITERALS: &[&str] = &[
    "0",
    "1",
    "42i64",
    "3u8",
    "1_000",
    "0xff",
    "0b1010",
    "0o17",
    "1e10",
    "2.5",
    "1.0f32",
    "0.",
    "u64::MAX",
    "i128::MIN",
    "f64::NAN",
    "\"s\"",
    "\"{x}\"",
    "\"{}\"",
    "\"{a:?} {0}\"",
    "\"\"",
    "r\"raw\"",
    "r#\"raw \"# quoted\"#",
    "b\"bytes\"",
    "br\"raw bytes\"",
    "b'a'",
    "'c'",
    "'\\n'",
    "'\\u{1F600}'",
    "true",
    "false",
    "c\"cstr\"",
    "18446744073709551615",
    "340282366920938463463374607431768211455",
    "340282366920938463463374607431768211456",
    "99999999999999999999999999999999999999999999",
    "1usize",
    "-1",
    "1i8",
    "0x_ff_u32",
    // Suffixes the lexer takes and only the parser rejects.
    "0b1e5",
    "0o7e2",
    "0b1f32",
    "1i7",
    "0b0_E1",
    "1.5e3_f64",
];

const TYPES: &[&str] = &[
    "i64",
    "u64",
    "f64",
    "bool",
    "&str",
    "&'a str",
    "String",
    "Vec<i64>",
    "Vec<Vec<f64>>",
    "(i64, bool)",
    "()",
    "_",
    "[u8; 4]",
    "&[f64]",
    "Option<Result<i64, String>>",
    "Result<i64, Box<dyn std::error::Error>>",
    "impl Fn(i64) -> i64",
    "Box<dyn Fn(i64) -> i64 + Send>",
    "fn(i64) -> i64",
    "Self",
    "!",
    "*const u8",
    "&mut i64",
    "<T as Trait>::Out",
    "T",
    "std::collections::HashMap<String, i64>",
    "Unit",
    "[i64]",
    "dyn Trait",
    "&'static [&'static str]",
];

/// Builds source text from the grammar. `budget` bounds how much one input holds.
struct Gen {
    rng: SplitMix64,
    budget: usize,
    /// Names bound so far (inputs, `let`s), read by later expressions.
    bound: Vec<String>,
    /// Whether to write mostly what a graph allows (so that more inputs reach the
    /// expansion's last stage), or anything.
    tame: bool,
}

impl Gen {
    fn new(rng: SplitMix64) -> Self {
        Gen {
            rng,
            budget: 60,
            bound: Vec::new(),
            tame: false,
        }
    }

    fn name(&mut self) -> String {
        if !self.bound.is_empty() && self.rng.chance(3, 4) {
            let i = self.rng.below(self.bound.len());
            return self.bound[i].clone();
        }
        (*self.rng.pick(NAMES)).to_owned()
    }

    fn fresh_name(&mut self) -> String {
        let name = (*self.rng.pick(NAMES)).to_owned();
        self.bound.push(name.clone());
        name
    }

    fn ty(&mut self) -> String {
        (*self.rng.pick(TYPES)).to_owned()
    }

    fn literal(&mut self) -> String {
        (*self.rng.pick(LITERALS)).to_owned()
    }

    /// A pattern, binding names from [`NAMES`].
    fn pat(&mut self, depth: usize) -> String {
        let nested = depth > 0;
        let arm = match (self.tame, nested) {
            (true, true) => *self.rng.pick(&[0, 1, 2, 3, 4]),
            (true, false) => *self.rng.pick(&[0, 1, 2, 3]),
            (false, true) => self.rng.below(16),
            (false, false) => self.rng.below(4),
        };
        match arm {
            0 | 1 => self.fresh_name(),
            2 => format!("mut {}", self.fresh_name()),
            3 => "_".to_owned(),
            4 => format!("({}, {})", self.pat(depth - 1), self.pat(depth - 1)),
            5 => format!("({}, ..)", self.pat(depth - 1)),
            6 => format!("[{}, {}]", self.pat(depth - 1), self.pat(depth - 1)),
            7 => format!("Point {{ x: {}, .. }}", self.pat(depth - 1)),
            8 => format!("Some({})", self.pat(depth - 1)),
            9 => format!("ref {}", self.fresh_name()),
            10 => format!("ref mut {}", self.fresh_name()),
            11 => format!("{} @ 1..=3", self.fresh_name()),
            12 => format!("&{}", self.pat(depth - 1)),
            13 => format!("{} | {}", self.literal(), self.literal()),
            14 => "()".to_owned(),
            _ => format!("({},)", self.pat(depth - 1)),
        }
    }

    /// What a `for` iterates over.
    fn iterable(&mut self, depth: usize) -> String {
        match self.rng.below(20) {
            0 => "0..4".to_owned(),
            1 => "0..=3".to_owned(),
            2 => "(0..4).rev()".to_owned(),
            3 => "-2..2".to_owned(),
            4 => "0..0".to_owned(),
            5 => "5..1".to_owned(),
            6 => "0..N".to_owned(),
            7 => format!("0..{}", self.name()),
            8 => "0..100000".to_owned(),
            9 => "0..u64::MAX".to_owned(),
            10 => "0..=340282366920938463463374607431768211455".to_owned(),
            11 => "i128::MIN..=i128::MAX".to_owned(),
            12 => "-170141183460469231731687303715884105728..0".to_owned(),
            13 => "0u8..=255".to_owned(),
            14 => (*self
                .rng
                .pick(&["'a'..'e'", "0b0e5..2", "0..0o3e1", "(0b1f32..3).rev()"]))
            .to_owned(),
            15 => format!("[{}, {}]", self.expr(depth), self.expr(depth)),
            16 => format!("[{}; 3]", self.expr(depth)),
            17 => "0..".to_owned(),
            18 => format!("{}.iter()", self.name()),
            _ => self.expr(depth),
        }
    }

    /// A block: statements, then perhaps a tail expression.
    fn block(&mut self, depth: usize) -> String {
        let mut text = String::from("{ ");
        let scope = self.bound.len();
        for _ in 0..self.rng.below(4) {
            text += &self.stmt(depth);
            text.push(' ');
        }
        if self.rng.chance(3, 4) {
            text += &self.expr(depth);
        }
        text += " }";
        self.bound.truncate(scope);
        text
    }

    fn closure(&mut self, depth: usize) -> String {
        let scope = self.bound.len();
        let mut text = String::new();
        if self.rng.chance(1, 4) {
            text += "move ";
        }
        text.push('|');
        for i in 0..self.rng.below(3) {
            if i > 0 {
                text += ", ";
            }
            text += &self.pat(0);
            if self.rng.chance(1, 2) {
                text += ": ";
                text += &self.ty();
            }
        }
        text += "| ";
        if self.rng.chance(1, 3) {
            text += &format!("-> {} {}", self.ty(), self.block(depth));
        } else {
            text += &self.expr(depth);
        }
        self.bound.truncate(scope);
        text
    }

    fn args(&mut self, depth: usize, max: usize) -> String {
        let mut parts = Vec::new();
        for _ in 0..self.rng.below(max + 1) {
            parts.push(self.expr(depth));
        }
        let mut text = parts.join(", ");
        if !parts.is_empty() && self.rng.chance(1, 8) {
            text.push(',');
        }
        text
    }

    fn macro_call(&mut self, depth: usize) -> String {
        let arm = if self.tame {
            *self.rng.pick(&[0, 1, 16, 21])
        } else {
            self.rng.below(22)
        };
        match arm {
            0 => format!("vec![{}]", self.args(depth, 3)),
            1 => format!("vec![{}; 3]", self.expr(depth)),
            2 => format!("println!(\"{{}}\", {})", self.expr(depth)),
            3 => format!("format!(\"{{{}}}\")", self.name()),
            4 => format!("format!(\"{{0}} {{x:?}}\", {})", self.expr(depth)),
            5 => format!("assert!({})", self.expr(depth)),
            6 => format!("assert_eq!({}, {})", self.expr(depth), self.expr(depth)),
            7 => format!("dbg!({})", self.expr(depth)),
            8 => format!("matches!({}, Some(_))", self.expr(depth)),
            9 => "panic!(\"boom\")".to_owned(),
            10 => "todo!()".to_owned(),
            11 => format!("stringify!({})", self.expr(depth)),
            12 => format!("graph!({})", self.graph_body(depth)),
            13 => format!("delay!({})", self.delay_input(depth)),
            14 => format!("my_macro!{{ {} }}", self.expr(depth)),
            15 => format!("write!(s, \"{{}}\", {})", self.expr(depth)),
            16 => "concat!(\"a\", 1)".to_owned(),
            17 => "env!(\"X\")".to_owned(),
            18 => format!(
                "delayed!({}({}))",
                self.rng.pick(FUNCTIONS),
                self.args(depth, 2)
            ),
            19 => "compile_error!(\"user\")".to_owned(),
            20 => format!("m![{}]", self.args(depth, 2)),
            _ => format!("std::vec![{}]", self.args(depth, 2)),
        }
    }

    /// An operand of an operator: tame, one in parentheses unless it is a single token.
    fn operand(&mut self, depth: usize) -> String {
        let expr = self.expr(depth);
        if self.tame && expr.contains([' ', '.', '(', '[', '{']) {
            format!("({expr})")
        } else {
            expr
        }
    }

    /// An expression; `depth` bounds its nesting.
    fn expr(&mut self, depth: usize) -> String {
        if depth == 0 || self.budget == 0 {
            return if self.rng.chance(1, 2) {
                self.name()
            } else {
                self.literal()
            };
        }
        self.budget -= 1;
        let d = depth - 1;
        let arm = if self.tame {
            // What a graph may hold: calls, operators, methods, fields, indexing,
            // collections, `?`, unrolled loops, assignments, struct literals, `vec!`.
            *self.rng.pick(&[
                0, 2, 4, 6, 7, 8, 9, 10, 11, 12, 14, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 37,
                38, 42, 43, 44, 46, 53, 56,
            ])
        } else {
            self.rng.below(64)
        };
        match arm {
            0..=3 => self.name(),
            4..=5 => self.literal(),
            6..=13 => format!("{}({})", self.rng.pick(FUNCTIONS), self.args(d, 3)),
            14..=16 => format!(
                "{}.{}({})",
                self.expr(d),
                self.rng.pick(METHODS),
                self.args(d, 1)
            ),
            17..=20 => {
                let op = *self.rng.pick(&[
                    "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", "<=", ">",
                    ">=", "&&", "||",
                ]);
                format!("{} {op} {}", self.operand(d), self.operand(d))
            }
            21 => format!("{}{}", self.rng.pick(&["-", "!", "*"]), self.operand(d)),
            22 => format!("{}?", self.expr(d)),
            23 => format!("({})", self.expr(d)),
            24 => format!("{} as {}", self.expr(d), self.ty()),
            25 => format!("{}[{}]", self.expr(d), self.expr(d)),
            26 => format!(
                "{}.{}",
                self.expr(d),
                self.rng.pick(&["x", "0", "1", "len", "y"])
            ),
            27 => format!(
                "if {} {} else {}",
                self.expr(d),
                self.block(d),
                self.block(d)
            ),
            28 => format!("if {} {}", self.expr(d), self.block(d)),
            29 => format!(
                "if let {} = {} {} else {}",
                self.pat(1),
                self.expr(d),
                self.block(d),
                self.block(d)
            ),
            30 => format!(
                "match {} {{ {} => {}, _ => {} }}",
                self.expr(d),
                self.pat(1),
                self.expr(d),
                self.expr(d)
            ),
            31 => format!(
                "match {} {{ {} if {} => {}, _ => {} }}",
                self.expr(d),
                self.pat(1),
                self.expr(d),
                self.expr(d),
                self.expr(d)
            ),
            32 => {
                let iter = self.iterable(d);
                let scope = self.bound.len();
                let pat = self.pat(1);
                let label = if self.rng.chance(1, 5) {
                    "'outer: "
                } else {
                    ""
                };
                let body = self.block(d);
                self.bound.truncate(scope);
                format!("{label}for {pat} in {iter} {body}")
            }
            33 => format!("while {} {}", self.expr(d), self.block(d)),
            34 => format!(
                "while let {} = {} {}",
                self.pat(1),
                self.expr(d),
                self.block(d)
            ),
            35 => format!("loop {}", self.block(d)),
            36 => format!("'l: loop {{ break 'l {}; }}", self.expr(d)),
            37 => self.closure(d),
            38 => self.block(d),
            39 => format!("unsafe {}", self.block(d)),
            40 => format!("async move {}", self.block(d)),
            41 => format!("{}.await", self.expr(d)),
            42 => format!("[{}]", self.args(d, 3)),
            43 => format!(
                "[{}; {}]",
                self.expr(d),
                self.rng
                    .pick(&["3", "N", "0", "n", "0b11e5", "300", "2usize"])
            ),
            44 => format!("({})", self.args(d, 3)),
            45 => format!("({},)", self.expr(d)),
            46 => format!("&{}", self.expr(d)),
            47 => format!("&mut {}", self.expr(d)),
            48 => format!("{} = {}", self.name(), self.expr(d)),
            49 => {
                let op = *self.rng.pick(&["+=", "-=", "*=", "|=", "<<=", "%="]);
                format!("{} {op} {}", self.name(), self.expr(d))
            }
            50 => format!("{}.x = {}", self.name(), self.expr(d)),
            51 => format!("{}[0] = {}", self.name(), self.expr(d)),
            52 => format!(
                "({}, {}) = ({}, {})",
                self.name(),
                self.name(),
                self.expr(d),
                self.expr(d)
            ),
            53 => self.macro_call(d),
            54 => format!("return {}", self.expr(d)),
            55 => (*self.rng.pick(&[
                "return",
                "break",
                "continue",
                "break 'outer",
                "yield 1",
                "become inc(x)",
                "builtin # offset_of(Point, x)",
                "&raw const x",
                "try { inc(x)? }",
            ]))
            .to_owned(),
            56 => format!("Point {{ x: {}, y: {} }}", self.expr(d), self.expr(d)),
            57 => format!("Point {{ x: {}, ..Default::default() }}", self.expr(d)),
            58 => {
                let (a, b) = (self.expr(d), self.expr(d));
                (*self.rng.pick(&[
                    format!("{a}..{b}"),
                    format!("{a}..={b}"),
                    format!("..{b}"),
                    format!("{a}.."),
                    "..".to_owned(),
                ]))
                .clone()
            }
            59 => format!(
                "{}.{}::<i64>({})",
                self.expr(d),
                self.rng.pick(METHODS),
                self.args(d, 1)
            ),
            60 => format!("'b: {{ {} }}", self.expr(d)),
            61 => format!("const {{ {} }}", self.expr(d)),
            62 => format!("(let {} = {})", self.pat(0), self.expr(d)),
            _ => format!("#[allow(unused)] {}", self.expr(d)),
        }
    }

    /// A statement (with its `;` where it needs one).
    fn stmt(&mut self, depth: usize) -> String {
        let arm = if self.tame {
            *self
                .rng
                .pick(&[0, 1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 17, 19, 21, 24, 25, 26])
        } else {
            self.rng.below(27)
        };
        match arm {
            // Assignments and unrolled loops, as statements.
            24 => format!("{} = {};", self.name(), self.expr(depth)),
            25 => format!(
                "({}, {}) = ({}, {});",
                self.name(),
                self.name(),
                self.expr(depth),
                self.expr(depth)
            ),
            26 => {
                let iter = match self.rng.below(8) {
                    // Literals of every kind as bounds (suffixes included).
                    0 => format!("{}..{}", self.literal(), self.literal()),
                    _ => (*self
                        .rng
                        .pick(&["0..4", "0..=2", "(0..3).rev()", "[a, b]", "0..i"]))
                    .to_owned(),
                };
                let scope = self.bound.len();
                let pat = self.pat(0);
                let body = self.block(depth);
                self.bound.truncate(scope);
                format!("for {pat} in {iter} {body}")
            }
            0..=6 => {
                let value = self.expr(depth);
                let pat = self.pat(1);
                format!("let {pat} = {value};")
            }
            7 => {
                let value = self.expr(depth);
                let ty = self.ty();
                let pat = self.pat(1);
                format!("let {pat}: {ty} = {value};")
            }
            8 => {
                let value = self.expr(depth);
                format!("let mut {} = {value};", self.fresh_name())
            }
            9 => format!("let {};", self.pat(0)),
            10 => {
                let value = self.expr(depth);
                let otherwise = self.block(depth);
                format!(
                    "let Some({}) = {value} else {otherwise};",
                    self.fresh_name()
                )
            }
            11 => {
                let value = self.expr(depth);
                let name = self.fresh_name();
                format!("let ({name}, {}) = split({value});", self.fresh_name())
            }
            12..=15 => format!("{};", self.expr(depth)),
            16 => self.expr(depth),
            17 => "fn helper(x: i64) -> i64 { x }".to_owned(),
            18 => {
                let attr = *self.rng.pick(&[
                    "#[delayed]",
                    "#[inline]",
                    "#[cfg(test)]",
                    "#[doc = \"d\"]",
                    "",
                ]);
                format!("{attr} fn local(v: i64) -> i64 {{ v + 1 }}")
            }
            19 => "const N: usize = 3;".to_owned(),
            20 => (*self.rng.pick(&[
                "struct S;",
                "use std::fmt;",
                "macro_rules! m { () => {} }",
                "impl S { fn f(&self) {} }",
                ";",
                "static X: i64 = 1;",
                "mod inner {}",
            ]))
            .to_owned(),
            21 => {
                let attr = *self.rng.pick(&[
                    "#[cfg(test)]",
                    "#[cfg(feature = \"x\")]",
                    "#[cfg(any())]",
                    "#[cfg]",
                    "#[cfg = \"x\"]",
                    "#[cfg(a, b)]",
                    "#[cfg_attr(test, allow(unused))]",
                    "#[cfg_attr(test, cfg(unix))]",
                    "#[cfg_attr()]",
                    "#[cfg_attr(test)]",
                    "#[allow(unused)]",
                    "#[rustfmt::skip]",
                    "#![allow(unused)]",
                ]);
                format!("{attr} {}", self.stmt(depth))
            }
            22 => format!(
                "{}!{{ {} }}",
                self.rng.pick(&["m", "vec", "println", "my_macro"]),
                self.expr(depth)
            ),
            _ => format!("{};", self.macro_call(depth)),
        }
    }

    /// A leading `crate = path;`, mostly well-formed.
    fn crate_option(&mut self, separator: &str) -> String {
        let arm = if self.tame {
            self.rng.below(7)
        } else {
            self.rng.below(12)
        };
        match arm {
            0..=3 => format!("crate = tw{separator} "),
            4 => format!("crate = ::my::tw{separator} "),
            5 => format!("crate = crate::tw{separator} "),
            6 => format!(
                "crate = {}{separator} ",
                self.rng.pick(&[
                    "\"tw\"",
                    "\"::tw\"",
                    "self",
                    "super::tw",
                    "r#tw",
                    "\"tw::<T>\"",
                    "\"  \"",
                    "\"tw;\"",
                    "tw::<T>",
                    "<tw>::x",
                    "::",
                    "tw::",
                    "$crate",
                ])
            ),
            7 => format!("crate = \"a b\"{separator} "),
            8 => format!("crate tw{separator} "),
            9 => format!("crate = {separator} "),
            10 => "crate = tw ".to_owned(),
            _ => format!("crate = 3{separator} "),
        }
    }

    /// What `graph!( … )` holds.
    fn graph_body(&mut self, depth: usize) -> String {
        let scope = self.bound.len();
        let mut text = String::new();
        if self.rng.chance(1, 6) {
            text += &self.crate_option(";");
        }
        match self.rng.below(12) {
            0..=7 => {
                if !self.tame && self.rng.chance(1, 20) {
                    text += "async ";
                }
                if self.rng.chance(1, 6) {
                    text += "move ";
                }
                let inputs = if self.rng.chance(1, 10) {
                    6 + self.rng.below(5)
                } else {
                    self.rng.below(4)
                };
                if inputs == 0 && self.rng.chance(1, 2) {
                    text += "||";
                } else {
                    text.push('|');
                    for i in 0..inputs {
                        if i > 0 {
                            text += ", ";
                        }
                        let arm = if self.tame { 3 } else { self.rng.below(12) };
                        match arm {
                            0 => text += &self.pat(1),
                            1 => text += &format!("{}: {}", self.pat(1), self.ty()),
                            2 => text += &format!("mut {}: {}", self.fresh_name(), self.ty()),
                            _ => text += &format!("{}: {}", self.fresh_name(), self.ty()),
                        }
                    }
                    if inputs > 0 && self.rng.chance(1, 10) {
                        text.push(',');
                    }
                    text += "| ";
                }
                if self.rng.chance(3, 4) {
                    text += &format!("-> {} ", self.ty());
                    text += &self.block(depth);
                } else if self.rng.chance(1, 2) {
                    text += &self.block(depth);
                } else {
                    text += &self.expr(depth);
                }
            }
            8 => text += &self.block(depth),
            9 | 10 => {
                for _ in 0..self.rng.below(5) {
                    text += &self.stmt(depth);
                    text.push(' ');
                }
                if self.rng.chance(2, 3) {
                    text += &self.expr(depth);
                }
            }
            _ => text += &self.expr(depth),
        }
        self.bound.truncate(scope);
        text
    }

    /// What `delay!( … )` holds.
    fn delay_input(&mut self, depth: usize) -> String {
        let mut text = String::new();
        if self.rng.chance(1, 6) {
            let separator = if self.rng.chance(4, 5) { ";" } else { "," };
            text += &self.crate_option(separator);
        }
        match self.rng.below(10) {
            0..=6 => {
                text += &format!("{}({})", self.rng.pick(FUNCTIONS), self.args(depth, 4));
            }
            7 => text += &self.expr(depth),
            8 => {
                text += &format!(
                    "{}({}), {}({})",
                    self.rng.pick(FUNCTIONS),
                    self.args(depth, 1),
                    self.rng.pick(FUNCTIONS),
                    self.args(depth, 1)
                );
            }
            _ => {}
        }
        text
    }

    /// The options of `#[delayed( … )]`.
    fn delayed_args(&mut self) -> String {
        const OPTIONS: &[&str] = &[
            "pure",
            "pure",
            "retries = 3",
            "retries = 0",
            "retries = -1",
            "retries = \"2\"",
            "retries = 99999999999",
            "retries = 1.5",
            "retries = 4294967296",
            "retries = 0x10",
            "retries = 3u8",
            "retries = 3i7",
            "retries = 0b1e5",
            "retries = -0",
            "crate = \"tw\\\"\"",
            "crate = self",
            "crate = tw::<T>",
            "retries",
            "retries =",
            "crate = tw",
            "crate = \"tw\"",
            "crate = \"a b\"",
            "crate = \"\"",
            "crate = ::a::b",
            "crate",
            "crate =",
            "remote",
            "foo",
            "foo = 1",
            "pure = true",
            "= =",
            "(pure)",
            "\"pure\"",
            "1",
            "retries = n",
            "r#pure",
        ];
        let mut parts = Vec::new();
        for _ in 0..self.rng.below(4) {
            parts.push(if self.tame {
                *self.rng.pick(&OPTIONS[..4])
            } else {
                *self.rng.pick(OPTIONS)
            });
        }
        let sep = *self.rng.pick(&[", ", ", ", ", ", " ", "; "]);
        let mut text = parts.join(sep);
        if !parts.is_empty() && self.rng.chance(1, 8) {
            text.push(',');
        }
        text
    }

    /// A parameter of a function.
    fn param(&mut self) -> String {
        let arm = if self.tame { 0 } else { self.rng.below(24) };
        match arm {
            0..=7 => format!("{}: {}", self.fresh_name(), self.ty()),
            8 => "&self".to_owned(),
            9 => "self".to_owned(),
            10 => "&mut self".to_owned(),
            11 => "mut self: Box<Self>".to_owned(),
            12 => "(a, b): (i64, i64)".to_owned(),
            13 => "Point { x, y }: Point".to_owned(),
            14 => "_: i64".to_owned(),
            15 => format!("{}: &mut i64", self.fresh_name()),
            16 => format!("{}: impl Into<i64>", self.fresh_name()),
            17 => format!("{}: &'a str", self.fresh_name()),
            18 => "...".to_owned(),
            19 => "#[cfg(test)] x: i64".to_owned(),
            20 => format!("mut {}: Vec<i64>", self.fresh_name()),
            21 => "&x: &i64".to_owned(),
            22 => "args: ...".to_owned(),
            _ => format!("ref {}: i64", self.fresh_name()),
        }
    }

    /// The item `#[delayed]` is written on.
    fn delayed_item(&mut self) -> String {
        if !self.tame && self.rng.chance(1, 8) {
            return (*self.rng.pick(&[
                "struct S;",
                "struct P { x: i64 }",
                "enum E { A }",
                "impl S { fn f(&self) {} }",
                "trait T { fn f(&self); }",
                "mod m {}",
                "const X: i64 = 1;",
                "static Y: i64 = 1;",
                "use std::fmt;",
                "type A = i64;",
                "extern crate core;",
                "macro_rules! m { () => {} }",
                "extern \"C\" { fn c(); }",
                "union U { a: u8 }",
                "fn f();",
                "",
                "m!();",
                "#[derive(Clone)] struct D;",
            ]))
            .to_owned();
        }
        let mut text = String::new();
        if self.rng.chance(1, 4) {
            text += *self
                .rng
                .pick(&["#[inline] ", "/// docs\n", "#[cfg(test)] ", "#[must_use] "]);
        }
        text += *self
            .rng
            .pick(&["", "", "pub ", "pub(crate) ", "pub(super) "]);
        for qualifier in ["const ", "async ", "unsafe ", "extern \"C\" "] {
            if !self.tame && self.rng.chance(1, 10) {
                text += qualifier;
            }
        }
        text += "fn ";
        const NAMED: &[&str] = &["inc", "load", "f", "r#match", "i64", "str", "Self_"];
        text += *self.rng.pick(if self.tame { &NAMED[..3] } else { NAMED });
        if self.rng.chance(1, 4) {
            text += *self.rng.pick(&[
                "<T>",
                "<T: Clone + Send>",
                "<'a>",
                "<'a, T: 'a>",
                "<const N: usize>",
                "<T = i64>",
                "<>",
            ]);
        }
        text.push('(');
        let scope = self.bound.len();
        let params: Vec<String> = (0..self.rng.below(4)).map(|_| self.param()).collect();
        text += &params.join(", ");
        text.push(')');
        if self.rng.chance(3, 4) {
            const RESULTS: &[&str] = &[
                "i64",
                "Vec<T>",
                "(i64, bool)",
                "Result<i64, String>",
                "()",
                "T",
                "&'a str",
                "&str",
                "impl Iterator<Item = i64>",
                "Self",
                "!",
                "std::rc::Rc<i64>",
                "&'static str",
                "Box<dyn Fn() + 'a>",
            ];
            text += " -> ";
            text += *self
                .rng
                .pick(if self.tame { &RESULTS[..6] } else { RESULTS });
        }
        if self.rng.chance(1, 6) {
            text += " where T: Clone";
        }
        text.push(' ');
        text += &self.block(2);
        self.bound.truncate(scope);
        text
    }
}

// ---- breaking the tokens -----------------------------------------------------------

/// The token trees of `tokens`, those inside groups included.
fn count_trees(tokens: &TokenStream) -> usize {
    tokens
        .clone()
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => 1 + count_trees(&group.stream()),
            _ => 1,
        })
        .sum()
}

/// One way to break a token stream.
#[derive(Clone, Copy)]
enum Break {
    /// Everything from the tree on, at every level, is cut (a truncated input).
    Cut,
    Delete,
    Duplicate,
    /// Swapped with the tree after it.
    Swap,
    /// A random token inserted before it.
    Insert,
    /// A group's brackets dropped: its trees in its place.
    Unwrap,
    /// A group's closing bracket moved one tree later.
    Absorb,
    /// A group's closing bracket moved one tree earlier.
    Release,
    /// Another kind of bracket.
    Redelimit,
    /// Wrapped in an invisible group, as a `macro_rules!` fragment is.
    Invisible,
}

/// A token to insert.
fn random_token(rng: &mut SplitMix64) -> TokenTree {
    match rng.below(6) {
        0 => {
            let word = *rng.pick(&[
                "let", "mut", "if", "match", "for", "in", "fn", "move", "crate", "self", "async",
                "await", "return", "x", "inc", "_", "ref", "where", "loop", "else", "as",
            ]);
            TokenTree::Ident(Ident::new(word, Span::call_site()))
        }
        1 => TokenTree::Literal(match rng.below(4) {
            0 => Literal::i64_unsuffixed(7),
            1 => Literal::string("t"),
            2 => Literal::f64_suffixed(1.5),
            _ => Literal::character('q'),
        }),
        2 => {
            let delimiter = *rng.pick(&[
                Delimiter::Parenthesis,
                Delimiter::Brace,
                Delimiter::Bracket,
                Delimiter::None,
            ]);
            TokenTree::Group(Group::new(delimiter, TokenStream::new()))
        }
        _ => {
            let ch = *rng.pick(&[
                '|', ';', ',', ':', '=', '!', '?', '&', '#', '-', '>', '<', '.', '@', '*', '\'',
                '+',
            ]);
            let spacing = if rng.chance(1, 3) {
                Spacing::Joint
            } else {
                Spacing::Alone
            };
            TokenTree::Punct(Punct::new(ch, spacing))
        }
    }
}

/// `tokens` with the tree numbered `*at` (in preorder) broken by `how`; `cut` is set
/// once a [`Break::Cut`] happened, so enclosing levels stop too.
fn break_at(
    tokens: TokenStream,
    at: &mut usize,
    how: Break,
    rng: &mut SplitMix64,
    cut: &mut bool,
) -> TokenStream {
    let mut out: Vec<TokenTree> = Vec::new();
    let mut trees = tokens.into_iter().peekable();
    while let Some(tree) = trees.next() {
        if *cut {
            break;
        }
        if *at == 0 {
            *at = usize::MAX;
            match (how, tree) {
                (Break::Cut, _) => {
                    *cut = true;
                    break;
                }
                (Break::Delete, _) => {}
                (Break::Duplicate, tree) => {
                    out.push(tree.clone());
                    out.push(tree);
                }
                (Break::Swap, tree) => {
                    if let Some(next) = trees.next() {
                        out.push(next);
                    }
                    out.push(tree);
                }
                (Break::Insert, tree) => {
                    out.push(random_token(rng));
                    out.push(tree);
                }
                (Break::Unwrap, TokenTree::Group(group)) => out.extend(group.stream()),
                (Break::Absorb, TokenTree::Group(group)) => {
                    let mut inner: Vec<TokenTree> = group.stream().into_iter().collect();
                    inner.extend(trees.next());
                    let mut new = Group::new(group.delimiter(), inner.into_iter().collect());
                    new.set_span(group.span());
                    out.push(TokenTree::Group(new));
                }
                (Break::Release, TokenTree::Group(group)) => {
                    let mut inner: Vec<TokenTree> = group.stream().into_iter().collect();
                    let last = inner.pop();
                    let mut new = Group::new(group.delimiter(), inner.into_iter().collect());
                    new.set_span(group.span());
                    out.push(TokenTree::Group(new));
                    out.extend(last);
                }
                (Break::Redelimit, TokenTree::Group(group)) => {
                    let delimiter = match group.delimiter() {
                        Delimiter::Parenthesis => Delimiter::Bracket,
                        Delimiter::Bracket => Delimiter::Brace,
                        Delimiter::Brace => Delimiter::Parenthesis,
                        Delimiter::None => Delimiter::Brace,
                    };
                    let mut new = Group::new(delimiter, group.stream());
                    new.set_span(group.span());
                    out.push(TokenTree::Group(new));
                }
                (Break::Invisible, tree) => {
                    out.push(TokenTree::Group(Group::new(Delimiter::None, tree.into())));
                }
                // A group-only break on a token: delete it instead.
                (_, _) => {}
            }
            continue;
        }
        *at -= 1;
        match tree {
            TokenTree::Group(group) => {
                let inner = break_at(group.stream(), at, how, rng, cut);
                let mut new = Group::new(group.delimiter(), inner);
                new.set_span(group.span());
                out.push(TokenTree::Group(new));
            }
            tree => out.push(tree),
        }
    }
    out.into_iter().collect()
}

/// `tokens` broken in one to three places.
fn broken(tokens: TokenStream, rng: &mut SplitMix64) -> TokenStream {
    let mut tokens = tokens;
    for _ in 0..1 + rng.below(3) {
        let n = count_trees(&tokens);
        if n == 0 {
            break;
        }
        let how = *rng.pick(&[
            Break::Cut,
            Break::Cut,
            Break::Delete,
            Break::Duplicate,
            Break::Swap,
            Break::Insert,
            Break::Unwrap,
            Break::Absorb,
            Break::Release,
            Break::Redelimit,
            Break::Invisible,
        ]);
        let mut at = rng.below(n);
        tokens = break_at(tokens, &mut at, how, rng, &mut false);
    }
    tokens
}

/// `tokens` with some of its names, literals and bracketed groups in invisible groups,
/// as a `macro_rules!` macro passes its `$x:expr`, `$n:literal` fragments on.
fn as_fragments(tokens: TokenStream, rng: &mut SplitMix64) -> TokenStream {
    const KEYWORDS: &[&str] = &[
        "let", "mut", "if", "else", "match", "for", "in", "while", "loop", "fn", "move", "crate",
        "return", "break", "continue", "async", "await", "unsafe", "const", "ref", "as", "where",
        "struct", "use", "impl", "pub", "static", "mod", "type", "_",
    ];
    tokens
        .into_iter()
        .map(|tree| {
            let tree = match tree {
                TokenTree::Group(group) => {
                    let mut new = Group::new(group.delimiter(), as_fragments(group.stream(), rng));
                    new.set_span(group.span());
                    TokenTree::Group(new)
                }
                tree => tree,
            };
            let fragment = match &tree {
                TokenTree::Ident(ident) => !KEYWORDS.iter().any(|k| ident == k),
                TokenTree::Literal(_) => true,
                TokenTree::Group(group) => group.delimiter() != Delimiter::Brace,
                TokenTree::Punct(_) => false,
            };
            if fragment && rng.chance(1, 6) {
                TokenTree::Group(Group::new(Delimiter::None, tree.into()))
            } else {
                tree
            }
        })
        .collect()
}

// ---- deep input --------------------------------------------------------------------

/// Input nested `depth` deep, of one of several shapes.
fn deep(rng: &mut SplitMix64, depth: usize) -> String {
    let (open, inner, close) = match rng.below(10) {
        0 => ("inc(", "x", ")"),
        1 => ("(", "x", ")"),
        2 => ("[", "x", "]"),
        3 => ("{ ", "x", " }"),
        4 => ("-", "x", ""),
        5 => ("if c { ", "x", " } else { y }"),
        6 => ("add(x, ", "x", ")"),
        7 => ("|z| ", "x", ""),
        8 => ("&", "x", ""),
        _ => ("Some(", "x?", ")?"),
    };
    let nested = format!("{}{inner}{}", open.repeat(depth), close.repeat(depth));
    match rng.below(3) {
        0 => nested,
        1 => format!("x{}", " + inc(x)".repeat(depth)),
        _ => format!("x{}", ".m()".repeat(depth)),
    }
}

/// A graph of many nodes side by side, or one long chain of `let`s.
fn wide(rng: &mut SplitMix64) -> String {
    let n = 1 + rng.below(300);
    if rng.chance(1, 2) {
        let leaves: Vec<String> = (0..n).map(|i| format!("leaf(x, {i})")).collect();
        format!("|x: u64| -> u64 {{ total(&[{}]) }}", leaves.join(", "))
    } else {
        let mut body = String::from("let a0 = inc(x); ");
        for i in 1..n {
            let op = *rng.pick(&[
                "inc(a{p})",
                "add(a{p}, x)",
                "a{p} + 1",
                "a{p}?",
                "(a{p}, x).0",
            ]);
            let _ = write!(
                body,
                "let a{i} = {}; ",
                op.replace("{p}", &(i - 1).to_string())
            );
        }
        format!("|x: i64| -> i64 {{ {body} a{} }}", n - 1)
    }
}

// ---- running and checking ----------------------------------------------------------

/// Which macro an input is for.
#[derive(Clone, Copy, Debug)]
enum Macro {
    Graph,
    Delay,
    Delayed,
}

/// One generated input.
struct Case {
    what: Macro,
    /// For `#[delayed]`, its options; else empty.
    args: TokenStream,
    tokens: TokenStream,
    scope: InScope,
}

impl Case {
    /// The input as the macro's invocation, for a report.
    fn show(&self) -> String {
        match self.what {
            Macro::Graph => format!("graph!({})", self.tokens),
            Macro::Delay => format!("delay!({})", self.tokens),
            Macro::Delayed => format!("#[delayed({})] {}", self.args, self.tokens),
        }
    }
}

/// Text to tokens; text the generator writes always lexes, a few exotic literals
/// aside (`c"…"` before proc_macro2 knew them): those give an empty input.
fn lex(text: &str) -> TokenStream {
    text.parse().unwrap_or_default()
}

/// The case numbered `index` of the run seeded `seed`.
fn case(seed: u64, index: u64) -> Case {
    let mut rng = SplitMix64(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    rng.next();
    let what = match rng.below(10) {
        0..=5 => Macro::Graph,
        6 | 7 => Macro::Delay,
        _ => Macro::Delayed,
    };
    let mut scope = InScope::default();
    if rng.chance(1, 5) {
        for name in ["helper", "f", "inc", "drop", "load"] {
            if rng.chance(1, 3) {
                scope.plain.insert(name.to_owned());
            }
            if rng.chance(1, 6) {
                scope.locals.insert(name.to_owned());
            }
        }
        scope.user_drop = rng.chance(1, 2);
    }
    let deep_one = rng.chance(1, 200);
    let mut gen = Gen::new(SplitMix64(rng.next()));
    gen.tame = rng.chance(1, 2);
    let depth = 1 + gen.rng.below(4);
    let (args, text) = match what {
        Macro::Graph if deep_one => {
            let depth = 100 + rng.below(500);
            let body = deep(&mut rng, depth);
            (
                String::new(),
                format!("|x: i64, c: bool, y: i64| -> i64 {{ {body} }}"),
            )
        }
        Macro::Delay if deep_one => {
            let depth = 100 + rng.below(500);
            (String::new(), format!("inc({})", deep(&mut rng, depth)))
        }
        Macro::Graph if rng.chance(1, 100) => (String::new(), wide(&mut rng)),
        Macro::Graph => (String::new(), gen.graph_body(depth)),
        Macro::Delay => (String::new(), gen.delay_input(depth)),
        Macro::Delayed => (gen.delayed_args(), gen.delayed_item()),
    };
    let mut tokens = lex(&text);
    let mut args = lex(&args);
    if rng.chance(1, 10) {
        tokens = as_fragments(tokens, &mut rng);
    }
    if rng.chance(1, 40) {
        // The whole input one fragment: `graph!($body)` in a `macro_rules!` macro.
        tokens = TokenTree::Group(Group::new(Delimiter::None, tokens)).into();
    }
    if rng.chance(1, 4) {
        if matches!(what, Macro::Delayed) && rng.chance(1, 2) {
            args = broken(args, &mut rng);
        } else {
            tokens = broken(tokens, &mut rng);
        }
    }
    Case {
        what,
        args,
        tokens,
        scope,
    }
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// The messages of the macros' `compile_error!`s in `tokens` (syn's, written
/// `::core::compile_error! { "…" }`; one the input wrote passes through as it is);
/// `Err` names one that is not a single string literal.
fn compile_errors(tokens: &TokenStream, out: &mut Vec<String>) -> Result<(), String> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    for (i, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Group(group) => compile_errors(&group.stream(), out)?,
            TokenTree::Ident(ident)
                if ident == "compile_error"
                    && matches!(i.checked_sub(3).map(|at| &trees[at]),
                                Some(TokenTree::Ident(core)) if core == "core") =>
            {
                let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(args))) =
                    (trees.get(i + 1), trees.get(i + 2))
                else {
                    continue;
                };
                if bang.as_char() != '!' {
                    continue;
                }
                let message: syn::LitStr = syn::parse2(args.stream()).map_err(|_| {
                    format!(
                        "a `compile_error!` that is not one string: {}",
                        args.stream()
                    )
                })?;
                out.push(message.value());
            }
            _ => {}
        }
    }
    Ok(())
}

/// Expands `case` and checks its output: `Err` says what went wrong, `Ok(true)` that
/// the expansion has no error.
fn run(case: &Case) -> Result<bool, String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        crate::on_own_stack(|| {
            let output = match case.what {
                Macro::Graph => crate::graph::expand(case.tokens.clone(), &case.scope),
                Macro::Delay => crate::delay::expand(case.tokens.clone(), &case.scope),
                Macro::Delayed => crate::delayed::expand(case.args.clone(), case.tokens.clone()),
            };
            check_output(case, &output)
        })
    }));
    match outcome {
        Ok(checked) => checked,
        Err(payload) => Err(format!("panicked: {}", panic_message(&*payload))),
    }
}

/// Checks an expansion; `Ok(true)` when it has no error.
fn check_output(case: &Case, output: &TokenStream) -> Result<bool, String> {
    let parsed = match case.what {
        Macro::Graph | Macro::Delay => syn::parse2::<syn::Expr>(output.clone()).map(drop),
        // rustc hands an attribute macro only an item it has parsed; around anything
        // else, the item is passed on as it is (not items), and only the messages count.
        Macro::Delayed if syn::parse2::<syn::Item>(case.tokens.clone()).is_err() => Ok(()),
        Macro::Delayed => syn::parse2::<syn::File>(output.clone()).map(drop),
    };
    if let Err(error) = parsed {
        return Err(format!("malformed output ({error}): {output}"));
    }
    let mut messages = Vec::new();
    compile_errors(output, &mut messages)?;
    if messages.iter().any(|m| m.trim().is_empty()) {
        return Err(format!("an empty `compile_error!` message: {output}"));
    }
    // A run of spaces is a line break lost from a message's source (a string continued
    // on the next line without its `\`).
    if let Some(message) = messages.iter().find(|m| m.contains("   ")) {
        return Err(format!(
            "a `compile_error!` message with a run of spaces: {message:?}"
        ));
    }
    Ok(messages.is_empty())
}

/// A number from the environment, or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

/// Runs the random inputs: `MACRO_FUZZ_CASES` of them (default 3,000), from case
/// `MACRO_FUZZ_FIRST` (default 0) of the run seeded `MACRO_FUZZ_SEED` (default fixed, so
/// that the suite is deterministic), and fails listing the shortest inputs that broke a
/// macro. `MACRO_FUZZ_SHOW=1` prints each input (with `--nocapture`).
#[test]
fn random_inputs_never_panic_and_expand_to_well_formed_tokens() {
    let seed = env_number("MACRO_FUZZ_SEED", 0x7A5C_3EA7);
    let cases = env_number("MACRO_FUZZ_CASES", 3_000);
    let first = env_number("MACRO_FUZZ_FIRST", 0);
    let show = std::env::var_os("MACRO_FUZZ_SHOW").is_some();
    let started = Instant::now();
    let mut failures: Vec<(usize, String)> = Vec::new();
    let mut slowest = (Duration::ZERO, 0);
    let mut counts = [0usize; 3];
    // How many expanded with no error (so reached the expansion's last stage).
    let mut clean = [0usize; 3];
    for index in first..first + cases {
        // Made, shown and dropped on the macros' stack too: deep input recurses there.
        crate::on_own_stack(|| {
            let case = case(seed, index);
            if show {
                eprintln!("case {index}: {}", case.show());
            }
            counts[case.what as usize] += 1;
            let began = Instant::now();
            let result = run(&case);
            slowest = slowest.max((began.elapsed(), index));
            if let Ok(true) = result {
                clean[case.what as usize] += 1;
            }
            if let Err(error) = result {
                let shown = case.show();
                let mut report = String::new();
                let _ = write!(
                    report,
                    "seed {seed:#x} case {index}: {}\n  input: {shown}",
                    error.chars().take(2_000).collect::<String>()
                );
                failures.push((shown.len(), report));
            }
            if cases >= 10_000 && (index - first + 1).is_multiple_of(10_000) {
                eprintln!(
                    "{} cases, {} failures, {:.1?}",
                    index - first + 1,
                    failures.len(),
                    started.elapsed()
                );
            }
        });
    }
    eprintln!(
        "{cases} cases (graph! {}, delay! {}, #[delayed] {}; without errors {}, {}, {}) from \
         seed {seed:#x} in {:.1?}; the slowest, case {}, {:.1?}",
        counts[0],
        counts[1],
        counts[2],
        clean[0],
        clean[1],
        clean[2],
        started.elapsed(),
        slowest.1,
        slowest.0
    );
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} inputs broke a macro; the shortest:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .map(|(_, report)| report.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// The generator is deterministic and its cases vary: a report's seed and case number
/// reproduce the input.
#[test]
fn a_case_is_reproduced_from_its_seed_and_number() {
    let shown = |index| case(1, index).show();
    assert_eq!(shown(5), shown(5));
    let distinct: std::collections::HashSet<String> = (0..50).map(shown).collect();
    assert!(distinct.len() > 40, "{} distinct of 50", distinct.len());
}

// ---- reproducers of what the hunt found --------------------------------------------

/// `graph!(src)`, expanded on the macros' stack without a panic; its `compile_error!`
/// messages, after checking the expansion is an expression.
fn graph_errors(src: &str) -> Vec<String> {
    expanded_errors(Macro::Graph, "", src)
}

/// `delay!(src)`, likewise.
fn delay_errors(src: &str) -> Vec<String> {
    expanded_errors(Macro::Delay, "", src)
}

/// `#[delayed(args)] item`, likewise.
fn delayed_errors(args: &str, item: &str) -> Vec<String> {
    expanded_errors(Macro::Delayed, args, item)
}

fn expanded_errors(what: Macro, args: &str, src: &str) -> Vec<String> {
    let case = Case {
        what,
        args: args.parse().expect("tokens"),
        tokens: src.parse().expect("tokens"),
        scope: InScope::default(),
    };
    if let Err(error) = run(&case) {
        panic!("{}: {error}", case.show());
    }
    let output = crate::on_own_stack(|| match what {
        Macro::Graph => crate::graph::expand(case.tokens.clone(), &case.scope),
        Macro::Delay => crate::delay::expand(case.tokens.clone(), &case.scope),
        Macro::Delayed => crate::delayed::expand(case.args.clone(), case.tokens.clone()),
    });
    let mut messages = Vec::new();
    compile_errors(&output, &mut messages).expect("string messages");
    messages
}

/// The harness itself: valid input expands with no error, broken input to errors that
/// it reads.
#[test]
fn the_checks_tell_valid_input_from_broken_input() {
    let none = Vec::<String>::new();
    assert_eq!(graph_errors("|x: i64| -> i64 { inc(inc(x)) }"), none);
    assert_eq!(delay_errors("inc(inc(1))"), none);
    assert_eq!(
        delayed_errors("pure", "fn inc(x: i64) -> i64 { x + 1 }"),
        none
    );
    assert_eq!(
        graph_errors("|x: i64| -> i64 { if inc(x) > 0 { 1 } else { 2 } }").len(),
        1
    );
    assert_eq!(delay_errors("inc(1), inc(2)").len(), 1);
    assert_eq!(
        delayed_errors("bogus", "fn inc(x: i64) -> i64 { x + 1 }").len(),
        1
    );
    // A `compile_error!` of the input's own passes through unread.
    assert_eq!(graph_errors("{ compile_error!(\"\") }"), none);
}

/// `;` alone among a graph's statements (valid Rust: an empty statement) was lowered as
/// a constant statement with no expression, `let _ = ;`: a malformed expansion, and so
/// rustc's "expected expression" on the whole invocation for a valid program.
#[test]
fn an_empty_statement_expands_to_well_formed_tokens() {
    for src in [
        "|x: i64| -> i64 { ; inc(x) }",
        "|x: i64| -> i64 { let a = inc(x);; a }",
        "|x: i64| -> i64 { let mut s = inc(x); for i in 0..2 { ; s = add(s, i); } s }",
        "{ ; }",
        "|| -> Vec<i64> { ; (!b) }",
    ] {
        assert_eq!(graph_errors(src), Vec::<String>::new(), "{src}");
    }
    // `value;` then `;`: the body still ends in `value;`, checked against the result.
    let tokens = crate::graph::expand(
        "|x: i64| -> i64 { inc(x);; }".parse().expect("tokens"),
        &Default::default(),
    );
    assert!(tokens.to_string().contains("ends_in_semicolon"));
}

/// An integer literal with a suffix that is no integer type, which reaches the macro
/// (`0b0e5` is the binary `0b0` with the suffix `e5`; rustc rejects it only when it
/// parses the literal), as a bound of an unrolled `for`: the macro panicked writing the
/// counter as `0e5`, not an integer literal ("not an integer literal: `0e5`"). Now one
/// error on the literal (`for_over_range_with_invalid_integer_suffix` in tests/ui).
#[test]
fn an_invalid_integer_suffix_in_an_unrolled_range_is_one_error() {
    for (src, literal) in [
        (
            "|x: i64| -> i64 { let mut s = inc(x); for i in 0b0e5..2 { s = add(s, i); } s }",
            "`0b0e5`",
        ),
        (
            "|x: i64| -> i64 { let mut s = inc(x); for i in 0..0b10e5 { s = add(s, i); } s }",
            "`0b10e5`",
        ),
        (
            "|x: i64| -> i64 { let mut s = inc(x); for i in (0o1f32..3).rev() { s = add(s, i); } s }",
            "`0o1f32`",
        ),
        // The length of a repeated node, read as a count the same way.
        ("|x: i64| -> i64 { total([inc(x); 0b11e5]) }", "`0b11e5`"),
    ] {
        let errors = graph_errors(src);
        assert_eq!(errors.len(), 1, "{src}: {errors:?}");
        assert!(
            errors[0].starts_with("invalid suffix `")
                && errors[0].contains(literal)
                && errors[0].contains("write an integer type as its suffix"),
            "{src}: {errors:?}"
        );
    }
}

/// A bound of an unrolled `for` that its type cannot hold (`0..=256u8`): the macro
/// wrote the counter as new literals (`256u8` among them), and rustc's
/// `overflowing_literals` was on the start, naming its text (for `254u8..=256u8`: "the
/// literal `254u8` does not fit into the type `u8`"), a value that fits. And the length
/// of a repeated node with a suffix other than `usize` (`[a; 3u8]`, which rustc rejects
/// as a length) was read as 3. Each is now one error on the literal.
#[test]
fn a_bound_or_length_its_type_cannot_hold_is_one_error() {
    for (src, message) in [
        (
            "|x: i64| -> i64 { let mut s = inc(x); for i in 0..=256u8 { s = add(s, i); } s }",
            "the integer literal `256u8` is out of range for `u8` (0 to 255)",
        ),
        (
            "|x: i64| -> i64 { let mut s = inc(x); for i in (-1..2u8).rev() { s = add(s, i); } s }",
            "the integer literal `-1` is out of range for `u8` (0 to 255)",
        ),
        (
            "|x: i64| -> i64 { let mut s = inc(x); for i in 120i8..130 { s = add(s, i); } s }",
            "the integer literal `130` is out of range for `i8` (-128 to 127)",
        ),
        (
            "|x: i64| -> i64 { total([inc(x); 3u8]) }",
            "the length `3u8` of a repeated node is a `usize`, not `u8`",
        ),
        (
            "|x: i64| -> i64 { total(vec![inc(x); 2i32]) }",
            "the length `2i32` of a repeated node is a `usize`, not `i32`",
        ),
    ] {
        let errors = graph_errors(src);
        assert_eq!(errors.len(), 1, "{src}: {errors:?}");
        assert!(errors[0].starts_with(message), "{src}: {errors:?}");
    }
    // What fits, as before.
    for src in [
        "|x: i64| -> i64 { let mut s = inc(x); for i in 0..=255u8 { s = add(s, i); } s }",
        "|x: i64| -> i64 { let mut s = inc(x); for i in -128..=127i8 { s = add(s, i); } s }",
        "|x: i64| -> i64 { total([inc(x); 3usize]) }",
        "|x: i64| -> i64 { total(vec![inc(x); 3]) }",
    ] {
        assert_eq!(graph_errors(src), Vec::<String>::new(), "{src}");
    }
}
