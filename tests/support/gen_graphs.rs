//! The generator of `tests/differential_generated.rs`: seeded random `graph!`
//! programs, each printed twice from one syntax tree, once inside `graph!` and once as
//! a plain closure calling the same `#[delayed]` functions directly.
//!
//! Shared by `examples/gen_graphs.rs`, which writes the file, and
//! `tests/differential.rs`, which checks that the checked-in file is what this
//! generator writes for the seed recorded in it.
//!
//! Every program is interpreted here, with Rust's overflow rules, on the inputs its
//! test will use: a statement that would overflow (a panic in a debug build) is drawn
//! again. Several `?` may fail on one input: the graph returns the first in program
//! order, as the direct code does.
//! The node count each program must have is computed here too, from the lowering
//! rules of `graph-macros/src/graph/lower.rs`, and so is the path each graph takes
//! (`graph.__runs_as_tree()`): a [`Model`] of the nodes the lowering makes, who reads
//! whose value, gives it by the rule of `graph-macros/src/graph/forest.rs`.
//!
//! Two kinds of batch. The random ones (12 programs to a `graph!`, 6 with `?`) share
//! values and split tuples, so their graphs take the dispatcher. The tree-shaped ones
//! come after them, drawn from a random stream of their own (the random programs of
//! every seed stay what they were before these existed): programs in which every
//! node's value is read at most once, with no `?` and no tuple-splitting `let`, drawn
//! by the same rules with [`Gen::readable`] limiting what an expression may read, plus
//! wide nodes (a call over 8 to 20 node values), binary trees and chains; their graphs
//! run as nested joins. Last come two combs (`acc = add(acc, inc(i))` and the like,
//! unrolled): one whose joins nest exactly as deep as the joins may (24), which runs as
//! joins, and one 40 deep, which takes the dispatcher.

// Each includer uses part of this module.
#![allow(dead_code)]

use std::fmt::Write as _;

/// Where the generated tests go, relative to the repository root.
pub(crate) const OUTPUT: &str = "tests/differential_generated.rs";
/// The seed of the checked-in file.
pub(crate) const DEFAULT_SEED: u64 = 0x7a5c_3ea7_2024_0001;
/// How many programs the checked-in file has.
pub(crate) const DEFAULT_PROGRAMS: usize = 240;

/// The fewest and the most nodes a program has.
const MIN_NODES: usize = 3;
const MAX_NODES: usize = 25;

/// The seed and program count recorded in a generated file's header.
pub(crate) fn recorded(text: &str) -> Option<(u64, usize)> {
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|rest| rest.trim_end_matches(';').trim().replace('_', ""))
    };
    let seed = value("const SEED: u64 =")?;
    let seed = u64::from_str_radix(seed.strip_prefix("0x")?, 16).ok()?;
    let programs = value("const PROGRAMS: usize =")?.parse().ok()?;
    Some((seed, programs))
}

/// The text compared by the up-to-date check: without whitespace and without the
/// trailing commas `rustfmt` adds or removes.
pub(crate) fn normalized(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    for close in [")", "]", "}"] {
        out = out.replace(&format!(",{close}"), close);
    }
    out
}

/// Programs per `graph!`: every `graph!` costs about 0.1 s of a debug build (the
/// dispatcher is compiled for each graph), the programs in it next to nothing, so
/// independent programs share a graph (and its inputs) to keep the build short.
const BATCH: usize = 12;
/// Programs per `graph!` with `?`: an error ends the whole graph, so fewer.
const RESULT_BATCH: usize = 6;

/// Programs per tree-shaped `graph!`: a join costs about 25 ms of a debug build (a
/// node on the dispatcher about 5 ms), so these graphs are small.
const TREE_BATCH: usize = 3;
/// The most nodes a tree-shaped program has: wide nodes and binary trees are large.
const TREE_MAX_NODES: usize = 40;
/// The tree-shaped batches, by what their first two programs start with.
const TREE_BATCHES: [[Feature; 2]; 3] = [
    [Feature::WideArray, Feature::TreeLets],
    [Feature::WideVec, Feature::Chain],
    [Feature::WideLet, Feature::TreeExpr],
];
/// The steps of the comb that must take the dispatcher: its joins nest this deep.
const DEEP_COMB: usize = 40;
/// Mixed into the seed for the tree-shaped batches' own random stream, so that adding
/// them left the other programs of every seed as they were.
const TREE_STREAM: u64 = 0x7472_6565_735f_6f6e;

/// The whole test file for `seed`, before `rustfmt`.
pub(crate) fn generate(seed: u64, programs: usize) -> String {
    let mut rng = Rng(seed);
    let mut body = String::new();
    let (mut made, mut batches) = (0, 0);
    while made < programs {
        let result = rng.percent(30);
        let k = if result { RESULT_BATCH } else { BATCH }.min(programs - made);
        let batch = loop {
            if let Some(b) = Batch::generate(&mut rng, Kind::Random { result }, k) {
                break b;
            }
        };
        batch.write(&mut body, batches, made);
        made += k;
        batches += 1;
    }
    // Tree-shaped batches, then a comb at the joins' nesting limit and one past it.
    let mut rng = Rng(seed ^ TREE_STREAM);
    let kinds = TREE_BATCHES
        .map(Kind::Tree)
        .into_iter()
        .chain([Kind::Comb(MAX_NESTING), Kind::Comb(DEEP_COMB)]);
    for kind in kinds {
        let k = if let Kind::Comb(_) = kind {
            1
        } else {
            TREE_BATCH
        };
        let batch = loop {
            if let Some(b) = Batch::generate(&mut rng, kind, k) {
                break b;
            }
        };
        if let Kind::Comb(n) = kind {
            assert_eq!(batch.tree, n <= MAX_NESTING, "a comb of {n} joins");
        }
        batch.write(&mut body, batches, made);
        made += k;
        batches += 1;
    }
    let mut out = String::new();
    header(&mut out, seed, programs, made - programs);
    out.push_str(&body);
    out.push_str("#[test]\nfn generated_graphs() {\n");
    for n in 0..batches {
        let _ = writeln!(out, "    batch_{n}();");
    }
    out.push_str("}\n");
    out
}

fn header(out: &mut String, seed: u64, programs: usize, tree_programs: usize) {
    let _ = write!(
        out,
        r#"//! Differential tests of `graph!`: {programs} random programs (random DAGs of 3 to 25
//! nodes: task calls, operators, method calls, rebinding, unrolled loops, tuples,
//! shared values, `&T` and slice parameters, `?`) and {tree_programs} tree-shaped ones,
//! each compiled once inside `graph!` and once as the same code calling the same
//! functions directly; both must agree on every input, on the thread pool and on the
//! synchronous scheduler, and each graph must have the number of nodes the lowering
//! rules give. A failure prints the seed, the programs and the inputs.
//!
//! Independent programs share a `graph!` (12 to a graph, 6 with `?`), each one's result
//! an element of the graph's tuple: every `graph!` costs about 0.1 s of a debug build,
//! the nodes in it next to nothing.
//!
//! Each graph also takes the path its read counts give (`graph.__runs_as_tree()`): a
//! graph in which every node's value is read at most once (by one node or by the
//! result), with no `?` and no tuple split, runs as nested joins handing values over
//! by return, unless its joins nest deeper than 24; any other graph runs on the
//! dispatcher. The random programs share values, so their graphs take the dispatcher;
//! the tree-shaped batches (3 programs to a graph, drawn from a random stream of their
//! own) read each value once, with wide nodes (a call over 8 to 20 node values),
//! binary trees, chains and unrolled loops, and take the joins; of two combs
//! (`acc = add(acc, inc(i))` and the like, unrolled), the one whose joins nest 24 deep
//! takes the joins and the one 40 deep the dispatcher. A join costs about 25 ms of a
//! debug build, so the tree-shaped graphs are few and small.
//!
//! GENERATED by `cargo run --example gen_graphs` (the generator is
//! `tests/support/gen_graphs.rs`); do not edit: `tests/differential.rs` checks that
//! this file is what the generator writes for the seed below. Another seed:
//! `cargo run --example gen_graphs -- --seed 12345 [--programs 240]`, then
//! `cargo test --test differential_generated`.

// `graph!` has no `+=` (a node is not mutated): rebinding is written `a = a + b`,
// in the graph and in the direct code alike.
#![allow(clippy::assign_op_pattern)]

use std::fmt::Debug;

use taskweave::prelude::*;

/// The generator's seed.
const SEED: u64 = {seed:#018x};
/// The number of random programs.
const PROGRAMS: usize = {programs};
/// The number of tree-shaped programs, after the random ones.
const TREE_PROGRAMS: usize = {tree_programs};

#[delayed]
fn inc(x: i64) -> i64 {{
    x + 1
}}

#[delayed]
fn add(a: i64, b: i64) -> i64 {{
    a + b
}}

#[delayed]
fn mix(a: i64, b: i64, c: i64) -> i64 {{
    (a - b) * 3 + c
}}

#[delayed]
fn scale(x: &i64, k: i64) -> i64 {{
    x * k
}}

#[delayed]
fn dist(a: &i64, b: &i64) -> i64 {{
    (a - b).abs()
}}

#[delayed]
fn fold(x: i64) -> i64 {{
    x.rem_euclid(1009)
}}

#[delayed]
fn seven() -> i64 {{
    7
}}

#[delayed]
fn pick(c: bool, a: i64, b: i64) -> i64 {{
    if c {{
        a
    }} else {{
        b
    }}
}}

/// Order matters: a permutation of the items changes the sum.
#[delayed]
fn sum_all(xs: &[i64]) -> i64 {{
    xs.iter().zip(1..).map(|(x, w)| x * w).sum()
}}

/// Order matters here too, differently.
#[delayed]
fn sum_vec(xs: Vec<i64>) -> i64 {{
    xs.iter().rev().fold(0, |acc, x| acc * 2 + x)
}}

#[delayed]
fn split(x: i64) -> (i64, i64) {{
    (x.div_euclid(7), x.rem_euclid(7))
}}

#[delayed]
fn spread(x: i64) -> (i64, (i64, i64)) {{
    (x, (x * 2, x - 3))
}}

#[delayed]
fn check(x: i64) -> Result<i64, String> {{
    if x % 11 == 0 {{
        Err(format!("{{x}} is a multiple of 11"))
    }} else {{
        Ok(x / 11 + x % 11)
    }}
}}

/// One graph of programs on one input, for the messages of failed checks.
struct Case<'a> {{
    batch: usize,
    programs: &'a str,
    inputs: &'a dyn Debug,
    source: &'a str,
}}

impl Case<'_> {{
    /// Fails with the seed, the programs, the inputs and the source when `got != want`.
    fn same<T: PartialEq + Debug>(&self, got: T, want: &T, scheduler: &str) {{
        assert!(
            &got == want,
            "seed {{SEED:#x}}, batch {{}} (programs {{}} of {{PROGRAMS}} + {{TREE_PROGRAMS}}), inputs {{:?}}, {{scheduler}}: \
             the graph gave {{got:?}}, the direct calls {{want:?}} (one element per program)\n{{}}",
            self.batch,
            self.programs,
            self.inputs,
            self.source,
        );
    }}
}}

/// Fails with the seed, the programs and the source when the node count is not `want`.
fn nodes(got: usize, want: usize, batch: usize, source: &str) {{
    assert!(
        got == want,
        "seed {{SEED:#x}}, batch {{batch}}: {{got}} nodes, the lowering rules give {{want}}\n{{source}}"
    );
}}

/// Fails with the seed and the source when the graph does not take the path its read
/// counts give: nested joins when it has nodes, no `?`, no tuple split, every node's
/// value read at most once and joins nested at most 24 deep
/// (`graph-macros/src/graph/forest.rs`); the dispatcher otherwise.
fn path(tree: bool, want: bool, batch: usize, source: &str) {{
    let name = |tree: bool| {{
        if tree {{
            "as nested joins"
        }} else {{
            "on the dispatcher"
        }}
    }};
    assert!(
        tree == want,
        "seed {{SEED:#x}}, batch {{batch}}: the graph runs {{}}, its read counts say {{}} \
         (`forest.rs`'s rule and the generator's model of it disagree)\n{{source}}",
        name(tree),
        name(want),
    );
}}

"#
    );
}

// ---- random numbers ---------------------------------------------------------------

#[path = "random.rs"]
mod random;

use random::Rng;

/// The generator's own draws.
trait Draws {
    fn literal(&mut self) -> i64;
}

impl Draws for Rng {
    /// A literal operand: never 0 or ±1, so that no `identity_op` lint fires.
    fn literal(&mut self) -> i64 {
        match self.below(6) {
            0..=2 => self.between(2, 9),
            3 => -self.between(2, 9),
            4 => [10, 12, 37, 100][self.below(4)],
            _ => self.between(11, 60),
        }
    }
}

// ---- programs -----------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Int,
    Bool,
    /// `(i64, i64)`, from `split`.
    Pair,
    /// `Vec<i64>`.
    List,
    /// `[i64; N]`.
    Arr,
    /// `Result<i64, String>`, from `check`, consumed by `?` right away.
    Res,
}

#[derive(Clone, Debug)]
struct Var {
    name: String,
    ty: Ty,
    /// Whether the name stands for a node (else a constant).
    node: bool,
    /// Whether its type is known without its uses (so that a method can be called on
    /// it): not a bare integer literal.
    typed: bool,
    /// Assigned to after its `let`.
    mutable: bool,
    /// In scope and not shadowed.
    alive: bool,
    /// Its latest value has not been read yet.
    unread: bool,
    /// Declared inside a loop.
    local: bool,
    input: bool,
    captured: bool,
    /// Read at least once.
    used: bool,
    /// For a captured constant: its value.
    constant: i64,
    /// For a node: the model's node that computes its latest value.
    producer: usize,
    /// How many loops it is declared in.
    depth: usize,
}

#[derive(Clone, Debug)]
enum Expr {
    Lit(i64),
    Var(usize),
    Counter(usize),
    Call(&'static str, Vec<Arg>),
    Bin(&'static str, Box<Expr>, Box<Expr>),
    Cmp(&'static str, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Chain(Box<Expr>, Vec<Method>),
    /// `v.len() as i64`
    Len(usize),
    /// `p.0`, `p.1`
    Field(usize, u8),
    Try(Box<Expr>),
}

#[derive(Clone, Debug)]
enum Arg {
    Val(Expr),
    /// `&e`
    Ref(Expr),
    /// `&[a, b]`; `true`: written `[a, b]` inside the graph (it lends the array).
    Array(Vec<Expr>, bool),
    /// `vec![a, b]`
    List(Vec<Expr>),
    /// A `Vec` variable by value: `v` in the graph, `v.clone()` in the direct code.
    Whole(usize),
    /// `&v` of a `Vec` or array variable; `true`: written `v` inside the graph.
    WholeRef(usize, bool),
}

#[derive(Clone, Debug)]
enum Method {
    Abs,
    Max(Expr),
    Min(Expr),
    Pow,
    WrappingMul(i64),
    RemEuclid(i64),
}

#[derive(Clone, Debug)]
enum Rhs {
    Expr(Expr),
    Array(Vec<Expr>),
    List(Vec<Expr>),
}

#[derive(Clone, Debug)]
enum Stmt {
    Let {
        var: usize,
        rhs: Rhs,
    },
    Assign {
        var: usize,
        expr: Expr,
    },
    /// `let (q, r) = split(from);`, either name may be `_`.
    Split {
        q: Option<usize>,
        r: Option<usize>,
        from: Expr,
    },
    /// `let (a, (b, c)) = spread(from);`, `b` may be `_`.
    Spread {
        a: usize,
        b: Option<usize>,
        c: usize,
        from: Expr,
    },
    /// `let (q, r) = pair;`
    Unpack {
        q: usize,
        r: usize,
        pair: usize,
    },
    For {
        counter: usize,
        lo: i64,
        hi: i64,
        inclusive: bool,
        body: Vec<Stmt>,
    },
    /// `inc(a);`: a node nobody reads.
    Effect(Expr),
    /// `let _ = inc(a);`
    Discard(Expr),
}

/// A value in the interpreter; `None` where it is stands for a value never computed
/// (downstream of a failed `?`).
#[derive(Clone, Debug)]
enum V {
    I(i64),
    B(bool),
    P(i64, i64),
    L(Vec<i64>),
    R(Result<i64, String>),
}

/// One input set's interpreter state.
#[derive(Clone, Debug)]
struct Run {
    values: Vec<Option<V>>,
    counters: Vec<i64>,
    /// A `?` failed on this input.
    failed: bool,
}

/// A statement that cannot be used: it overflows, or makes the error ambiguous.
struct Reject;

#[derive(Clone, Debug)]
struct State {
    vars: Vec<Var>,
    counters: Vec<&'static str>,
    /// Counters of the loops being generated, innermost last.
    active: Vec<usize>,
    runs: Vec<Run>,
    nodes: usize,
    /// The nodes as `graph-macros` lowers them, for the path the graph takes.
    model: Model,
}

/// Programs compiled in one `graph!`, on the same inputs.
struct Batch {
    inputs: Vec<String>,
    /// Input values, one row per run.
    rows: Vec<Vec<i64>>,
    result: bool,
    state: State,
    programs: Vec<Part>,
    /// Whether `graph!` runs it as nested joins rather than through the dispatcher.
    tree: bool,
}

/// One program of a batch.
struct Part {
    stmts: Vec<Stmt>,
    tail: Vec<Expr>,
    /// Which tail elements are `bool`s.
    tail_bool: Vec<bool>,
}

/// Shape of an expression once lowered: nodes it adds and whether it reads nodes.
#[derive(Clone, Copy)]
struct Shape {
    nodes: usize,
    reads: bool,
}

const NAMES: [&str; 17] = [
    "a", "b", "c", "d", "e", "f", "h", "m", "n", "p", "q", "r", "s", "t", "u", "v", "w",
];

/// What a batch's programs are drawn for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Any program: values shared, tuples split, `?` when `result`.
    Random { result: bool },
    /// Programs in which every node's value is read at most once, with no `?` and no
    /// tuple split; the first two start with these features.
    Tree([Feature; 2]),
    /// One program: a comb of `n` joins, `acc = add(acc, inc(i))` unrolled `n` times.
    Comb(usize),
}

/// What one of the first programs of a tree-shaped batch starts with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Feature {
    /// `sum_all(&[…])` of 8 to 20 node values.
    WideArray,
    /// `sum_vec(vec![…])` of 8 to 20 node values.
    WideVec,
    /// `let a = […]` or `let v: Vec<i64> = vec![…]` of 8 to 20 node values.
    WideLet,
    /// A binary tree of 8 or 16 leaves, as one expression.
    TreeExpr,
    /// A binary tree of 8 or 16 leaves, one `let` per node.
    TreeLets,
    /// A chain of single-input nodes: `a = f(a)` repeated.
    Chain,
}

impl Batch {
    fn generate(rng: &mut Rng, kind: Kind, programs: usize) -> Option<Batch> {
        let result = kind == Kind::Random { result: true };
        let tree = kind != Kind::Random { result };
        let inputs = rng.weighted(&[2, 5, 4, 2]);
        let rows = match (inputs, result) {
            (0, _) => 1,
            (_, true) => 6,
            _ => 3,
        };
        let names: Vec<String> = ["x", "y", "z"][..inputs]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let row_values: Vec<Vec<i64>> = (0..rows)
            .map(|_| (0..inputs).map(|_| rng.between(-40, 40)).collect())
            .collect();
        let mut state = State {
            vars: Vec::new(),
            counters: Vec::new(),
            active: Vec::new(),
            runs: (0..rows)
                .map(|_| Run {
                    values: Vec::new(),
                    counters: Vec::new(),
                    failed: false,
                })
                .collect(),
            nodes: 0,
            model: Model::default(),
        };
        for (i, name) in names.iter().enumerate() {
            let id = state.declare(name.clone(), Ty::Int, false);
            state.vars[id].input = true;
            state.vars[id].typed = true;
            for (run, row) in state.runs.iter_mut().zip(&row_values) {
                run.set(id, V::I(row[i]));
            }
        }
        if rng.percent(30) {
            let value = rng.between(2, 50);
            let id = state.declare("k1".into(), Ty::Int, false);
            let var = &mut state.vars[id];
            var.captured = true;
            var.typed = true;
            var.constant = value;
            var.unread = false;
            for run in &mut state.runs {
                run.set(id, V::I(value));
            }
        }
        let mut g = Gen {
            rng,
            state,
            result,
            names: 0,
            tree,
            max_nodes: if tree { TREE_MAX_NODES } else { MAX_NODES },
        };
        let mut parts = Vec::new();
        for k in 0..programs {
            let part = (0..20).find_map(|_| {
                let (saved, names) = (g.state.clone(), g.names);
                let part = match kind {
                    Kind::Comb(n) => g.comb(n),
                    Kind::Tree(features) => g.program(features.get(k).copied()),
                    _ => g.program(None),
                };
                if part.is_none() {
                    g.state = saved;
                    g.names = names;
                }
                part
            })?;
            parts.push(part);
        }
        // `Ok((…))` is a node when the tuple reads nodes.
        if result && parts.iter().any(|p| g.state.shape(&p.tail[0]).reads) {
            g.state.nodes += 1;
        }
        let model = &mut g.state.model;
        if result && !model.output.is_empty() {
            let reads = std::mem::take(&mut model.output);
            let ok = model.node(reads, false);
            model.output = ok.reads();
        }
        assert_eq!(
            model.reads.len(),
            g.state.nodes,
            "the model of the lowering and the node count disagree"
        );
        // A tree-shaped batch whose joins would nest too deep is drawn again.
        let runs_as_tree = model.runs_as_tree();
        if matches!(kind, Kind::Tree(_)) && !runs_as_tree {
            return None;
        }
        Some(Batch {
            inputs: names_of(&g.state, inputs),
            rows: row_values,
            result,
            tree: runs_as_tree,
            state: g.state,
            programs: parts,
        })
    }
}

fn names_of(state: &State, inputs: usize) -> Vec<String> {
    state.vars[..inputs]
        .iter()
        .map(|v| v.name.clone())
        .collect()
}

impl Run {
    fn set(&mut self, id: usize, v: V) {
        if self.values.len() <= id {
            self.values.resize(id + 1, None);
        }
        self.values[id] = Some(v);
    }

    fn poison(&mut self, id: usize) {
        if self.values.len() <= id {
            self.values.resize(id + 1, None);
        }
        self.values[id] = None;
    }
}

impl State {
    fn declare(&mut self, name: String, ty: Ty, local: bool) -> usize {
        self.vars.push(Var {
            name,
            ty,
            node: false,
            typed: true,
            mutable: false,
            alive: true,
            unread: true,
            local,
            input: false,
            captured: false,
            used: false,
            constant: 0,
            producer: 0,
            depth: 0,
        });
        self.vars.len() - 1
    }

    fn alive(&self, ty: Ty) -> Vec<usize> {
        (0..self.vars.len())
            .filter(|&i| self.vars[i].alive && self.vars[i].ty == ty)
            .collect()
    }

    // ---- the lowering rules, for the node count -------------------------------------

    fn shape(&self, e: &Expr) -> Shape {
        let op = |parts: &[Shape]| {
            let reads = parts.iter().any(|s| s.reads);
            Shape {
                nodes: parts.iter().map(|s| s.nodes).sum::<usize>() + usize::from(reads),
                reads,
            }
        };
        match e {
            Expr::Lit(_) | Expr::Counter(_) => Shape {
                nodes: 0,
                reads: false,
            },
            Expr::Var(v) => Shape {
                nodes: 0,
                reads: self.vars[*v].node,
            },
            Expr::Call(_, args) => Shape {
                nodes: 1 + args.iter().map(|a| self.arg_shape(a).nodes).sum::<usize>(),
                reads: true,
            },
            Expr::Bin(_, l, r) | Expr::Cmp(_, l, r) => op(&[self.shape(l), self.shape(r)]),
            Expr::Not(x) | Expr::Neg(x) => op(&[self.shape(x)]),
            Expr::Chain(recv, methods) => {
                // Methods chained on a node are one node, until an argument makes a
                // node of its own: the method after it starts a new node. A chain
                // on a chain goes on with its last node.
                let chained = matches!(**recv, Expr::Chain(..));
                let recv = self.shape(recv);
                let (mut nodes, mut reads) = (recv.nodes, recv.reads);
                let mut open = chained && reads;
                for m in methods {
                    let arg = match m {
                        Method::Max(x) | Method::Min(x) => self.shape(x),
                        _ => Shape {
                            nodes: 0,
                            reads: false,
                        },
                    };
                    nodes += arg.nodes;
                    reads |= arg.reads;
                    if reads && !(open && arg.nodes == 0) {
                        nodes += 1;
                        open = true;
                    }
                }
                Shape { nodes, reads }
            }
            Expr::Len(v) => {
                let node = self.vars[*v].node;
                Shape {
                    nodes: if node { 2 } else { 0 },
                    reads: node,
                }
            }
            Expr::Field(v, _) => {
                let node = self.vars[*v].node;
                Shape {
                    nodes: usize::from(node),
                    reads: node,
                }
            }
            Expr::Try(inner) => match &**inner {
                // `check(a)?`: the `?` is part of the call's node.
                Expr::Call(..) => self.shape(inner),
                // `r?`: a node of its own.
                other => {
                    let s = self.shape(other);
                    Shape {
                        nodes: s.nodes + 1,
                        reads: true,
                    }
                }
            },
        }
    }

    fn arg_shape(&self, a: &Arg) -> Shape {
        match a {
            Arg::Val(e) | Arg::Ref(e) => self.shape(e),
            Arg::Array(items, _) | Arg::List(items) => self.items_shape(items),
            Arg::Whole(v) | Arg::WholeRef(v, _) => Shape {
                nodes: 0,
                reads: self.vars[*v].node,
            },
        }
    }

    fn items_shape(&self, items: &[Expr]) -> Shape {
        let shapes: Vec<Shape> = items.iter().map(|e| self.shape(e)).collect();
        Shape {
            nodes: shapes.iter().map(|s| s.nodes).sum(),
            reads: shapes.iter().any(|s| s.reads),
        }
    }

    // ---- the interpreter ----------------------------------------------------------

    fn eval(&self, e: &Expr, run: &mut Run) -> Result<Option<V>, Reject> {
        let int = |v: Option<V>| match v {
            Some(V::I(i)) => Some(i),
            None => None,
            Some(other) => panic!("not an integer: {other:?}"),
        };
        Ok(match e {
            Expr::Lit(v) => Some(V::I(*v)),
            Expr::Var(v) => run.values[*v].clone(),
            Expr::Counter(c) => Some(V::I(run.counters[*c])),
            Expr::Call(name, args) => {
                let mut values = Vec::new();
                for a in args {
                    values.push(self.eval_arg(a, run)?);
                }
                if values.iter().any(Option::is_none) {
                    return Ok(None);
                }
                let values: Vec<V> = values.into_iter().map(Option::unwrap).collect();
                Some(call(name, &values)?)
            }
            Expr::Bin(op, l, r) => {
                let (l, r) = (int(self.eval(l, run)?), int(self.eval(r, run)?));
                let (Some(l), Some(r)) = (l, r) else {
                    return Ok(None);
                };
                let v = match *op {
                    "+" => l.checked_add(r),
                    "-" => l.checked_sub(r),
                    "*" => l.checked_mul(r),
                    "/" => l.checked_div(r),
                    "%" => l.checked_rem(r),
                    "^" => Some(l ^ r),
                    _ => unreachable!(),
                };
                Some(V::I(v.ok_or(Reject)?))
            }
            Expr::Cmp(op, l, r) => {
                let (l, r) = (int(self.eval(l, run)?), int(self.eval(r, run)?));
                let (Some(l), Some(r)) = (l, r) else {
                    return Ok(None);
                };
                Some(V::B(match *op {
                    "<" => l < r,
                    "<=" => l <= r,
                    ">" => l > r,
                    ">=" => l >= r,
                    "==" => l == r,
                    "!=" => l != r,
                    _ => unreachable!(),
                }))
            }
            Expr::Not(x) => match self.eval(x, run)? {
                Some(V::B(b)) => Some(V::B(!b)),
                None => None,
                other => panic!("not a bool: {other:?}"),
            },
            Expr::Neg(x) => match int(self.eval(x, run)?) {
                Some(i) => Some(V::I(i.checked_neg().ok_or(Reject)?)),
                None => None,
            },
            Expr::Chain(recv, methods) => {
                let mut value = int(self.eval(recv, run)?);
                for m in methods {
                    let arg = match m {
                        Method::Max(x) | Method::Min(x) => int(self.eval(x, run)?),
                        _ => Some(0),
                    };
                    value = match (value, arg) {
                        (Some(v), Some(a)) => Some(match m {
                            Method::Abs => v.checked_abs().ok_or(Reject)?,
                            Method::Max(_) => v.max(a),
                            Method::Min(_) => v.min(a),
                            Method::Pow => v.checked_pow(2).ok_or(Reject)?,
                            Method::WrappingMul(k) => v.wrapping_mul(*k),
                            Method::RemEuclid(k) => v.checked_rem_euclid(*k).ok_or(Reject)?,
                        }),
                        _ => None,
                    };
                }
                value.map(V::I)
            }
            Expr::Len(v) => match &run.values[*v] {
                Some(V::L(items)) => Some(V::I(items.len() as i64)),
                None => None,
                other => panic!("not a list: {other:?}"),
            },
            Expr::Field(v, k) => match &run.values[*v] {
                Some(V::P(a, b)) => Some(V::I(if *k == 0 { *a } else { *b })),
                None => None,
                other => panic!("not a pair: {other:?}"),
            },
            Expr::Try(inner) => match self.eval(inner, run)? {
                Some(V::R(Ok(v))) => Some(V::I(v)),
                Some(V::R(Err(_))) => {
                    run.failed = true;
                    None
                }
                None => None,
                other => panic!("not a result: {other:?}"),
            },
        })
    }

    fn eval_arg(&self, a: &Arg, run: &mut Run) -> Result<Option<V>, Reject> {
        Ok(match a {
            Arg::Val(e) | Arg::Ref(e) => self.eval(e, run)?,
            Arg::Array(items, _) | Arg::List(items) => self.eval_items(items, run)?.map(V::L),
            Arg::Whole(v) | Arg::WholeRef(v, _) => run.values[*v].clone(),
        })
    }

    fn eval_items(&self, items: &[Expr], run: &mut Run) -> Result<Option<Vec<i64>>, Reject> {
        let mut out = Vec::new();
        let mut poisoned = false;
        for item in items {
            match self.eval(item, run)? {
                Some(V::I(i)) => out.push(i),
                None => poisoned = true,
                other => panic!("not an integer: {other:?}"),
            }
        }
        Ok((!poisoned).then_some(out))
    }

    /// Runs a statement on every input, and counts its nodes.
    fn exec(&mut self, stmt: &Stmt) -> Result<(), Reject> {
        match stmt {
            Stmt::Let { var, rhs } => {
                let (shape, values) = match rhs {
                    Rhs::Expr(e) => (self.shape(e), self.eval_all(e)?),
                    Rhs::Array(items) | Rhs::List(items) => {
                        let s = self.items_shape(items);
                        let mut values = Vec::new();
                        for i in 0..self.runs.len() {
                            let mut run = self.runs[i].clone();
                            values.push(self.eval_items(items, &mut run)?.map(V::L));
                            self.runs[i] = run;
                        }
                        let shape = Shape {
                            nodes: s.nodes + usize::from(s.reads),
                            reads: s.reads,
                        };
                        (shape, values)
                    }
                };
                // A collection of nodes bound by `let` is a node of its own.
                let lowered = match rhs {
                    Rhs::Expr(e) => self.lower(e),
                    Rhs::Array(items) | Rhs::List(items) => {
                        let items = self.lower_items(items);
                        self.model.node_if_reads(&[items])
                    }
                };
                self.nodes += shape.nodes;
                self.bind(*var, &lowered);
                self.store(*var, values);
            }
            Stmt::Assign { var, expr } => {
                let shape = self.shape(expr);
                let values = self.eval_all(expr)?;
                let lowered = self.lower(expr);
                self.nodes += shape.nodes;
                self.bind(*var, &lowered);
                self.store(*var, values);
            }
            Stmt::Split { q, r, from } => {
                let call = Expr::Call("split", vec![Arg::Val(from.clone())]);
                self.nodes += self.shape(&call).nodes;
                let values = self.eval_all(&call)?;
                // `let (q, r) = …`: a tuple split.
                let lowered = self.lower(&call);
                self.model.breaks = true;
                for (slot, k) in [(q, 0), (r, 1)] {
                    if let Some(v) = slot {
                        self.bind(*v, &lowered);
                        let parts = values.iter().map(|p| p.as_ref().map(|p| half(p, k)));
                        self.store(*v, parts.collect());
                    }
                }
            }
            Stmt::Spread { a, b, c, from } => {
                let call = Expr::Call("spread", vec![Arg::Val(from.clone())]);
                self.nodes += self.shape(&call).nodes;
                let values = self.eval_all(&call)?;
                let lowered = self.lower(&call);
                self.model.breaks = true;
                let xs: Vec<Option<i64>> = values
                    .iter()
                    .map(|v| v.as_ref().map(|v| half(v, 0)).and_then(as_int))
                    .collect();
                for (slot, k) in [(Some(*a), 0), (*b, 1), (Some(*c), 2)] {
                    if let Some(v) = slot {
                        self.bind(v, &lowered);
                        let parts = xs.iter().map(|x| {
                            x.map(|x| {
                                V::I(match k {
                                    0 => x,
                                    1 => x * 2,
                                    _ => x - 3,
                                })
                            })
                        });
                        self.store(v, parts.collect());
                    }
                }
            }
            Stmt::Unpack { q, r, pair } => {
                let node = self.vars[*pair].node;
                self.nodes += usize::from(node);
                let pair_value = self.value_of(*pair);
                let lowered = self.model.node_if_reads(&[pair_value]);
                self.model.breaks |= node;
                for (v, k) in [(*q, 0), (*r, 1)] {
                    self.bind(v, &lowered);
                    let parts: Vec<Option<V>> = self
                        .runs
                        .iter()
                        .map(|run| run.values[*pair].as_ref().map(|p| half(p, k)))
                        .collect();
                    self.store(v, parts);
                }
            }
            Stmt::For {
                counter,
                lo,
                hi,
                inclusive,
                body,
            } => {
                let end = if *inclusive { *hi + 1 } else { *hi };
                for k in *lo..end {
                    for run in &mut self.runs {
                        if run.counters.len() <= *counter {
                            run.counters.resize(*counter + 1, 0);
                        }
                        run.counters[*counter] = k;
                    }
                    for s in body {
                        self.exec(s)?;
                    }
                }
            }
            Stmt::Effect(e) | Stmt::Discard(e) => {
                self.nodes += self.shape(e).nodes;
                self.eval_all(e)?;
                self.lower(e);
            }
        }
        Ok(())
    }

    fn eval_all(&mut self, e: &Expr) -> Result<Vec<Option<V>>, Reject> {
        let mut out = Vec::new();
        for i in 0..self.runs.len() {
            let mut run = self.runs[i].clone();
            out.push(self.eval(e, &mut run)?);
            self.runs[i] = run;
        }
        Ok(out)
    }

    fn store(&mut self, var: usize, values: Vec<Option<V>>) {
        for (run, v) in self.runs.iter_mut().zip(values) {
            match v {
                Some(v) => run.set(var, v),
                None => run.poison(var),
            }
        }
    }
}

fn as_int(v: V) -> Option<i64> {
    match v {
        V::I(i) => Some(i),
        _ => None,
    }
}

/// One half of a pair (`split`'s result, or `spread`'s first element as `I`).
fn half(v: &V, k: usize) -> V {
    match v {
        V::P(a, b) => V::I(if k == 0 { *a } else { *b }),
        V::I(i) => V::I(*i),
        other => panic!("not a pair: {other:?}"),
    }
}

/// The tasks, as the generated file defines them, with overflow as a rejection.
fn call(name: &str, args: &[V]) -> Result<V, Reject> {
    let i = |k: usize| match &args[k] {
        V::I(v) => *v,
        other => panic!("{name}: argument {k} is {other:?}"),
    };
    let list = |k: usize| match &args[k] {
        V::L(v) => v.clone(),
        other => panic!("{name}: argument {k} is {other:?}"),
    };
    let r = |v: Option<i64>| v.map(V::I).ok_or(Reject);
    match name {
        "inc" => r(i(0).checked_add(1)),
        "add" => r(i(0).checked_add(i(1))),
        "mix" => r(i(0)
            .checked_sub(i(1))
            .and_then(|d| d.checked_mul(3))
            .and_then(|d| d.checked_add(i(2)))),
        "scale" => r(i(0).checked_mul(i(1))),
        "dist" => r(i(0).checked_sub(i(1)).and_then(i64::checked_abs)),
        "fold" => Ok(V::I(i(0).rem_euclid(1009))),
        "seven" => Ok(V::I(7)),
        "pick" => match &args[0] {
            V::B(c) => Ok(V::I(if *c { i(1) } else { i(2) })),
            other => panic!("pick: condition is {other:?}"),
        },
        "sum_all" => {
            let mut sum = 0i64;
            for (x, w) in list(0).iter().zip(1..) {
                sum = x
                    .checked_mul(w)
                    .and_then(|p| sum.checked_add(p))
                    .ok_or(Reject)?;
            }
            Ok(V::I(sum))
        }
        "sum_vec" => {
            let mut acc = 0i64;
            for x in list(0).iter().rev() {
                acc = acc
                    .checked_mul(2)
                    .and_then(|a| a.checked_add(*x))
                    .ok_or(Reject)?;
            }
            Ok(V::I(acc))
        }
        "split" => Ok(V::P(i(0).div_euclid(7), i(0).rem_euclid(7))),
        // The first element; the others are computed where they are bound.
        "spread" => {
            let x = i(0);
            x.checked_mul(2).ok_or(Reject)?;
            x.checked_sub(3).ok_or(Reject)?;
            Ok(V::I(x))
        }
        "check" => {
            let x = i(0);
            Ok(V::R(if x % 11 == 0 {
                Err(format!("{x} is a multiple of 11"))
            } else {
                Ok(x / 11 + x % 11)
            }))
        }
        other => panic!("no task {other}"),
    }
}

// ---- the path a graph takes -----------------------------------------------------------

/// Joins nested deeper than this leave a graph to the dispatcher
/// (`MAX_NESTING` of `graph-macros/src/graph/forest.rs`).
const MAX_NESTING: usize = 24;
/// More joins than this leave a graph to the dispatcher (`MAX_JOINS` of `forest.rs`).
const MAX_JOINS: usize = 128;

/// The nodes of a batch's graph as `graph-macros/src/graph/lower.rs` makes them, as far
/// as the path the graph takes depends on them: who reads whose value, and whether a
/// `?` or a tuple split rules out the nested joins.
#[derive(Clone, Debug, Default)]
struct Model {
    /// Each node's reads of other nodes' values, in order, one entry per read.
    reads: Vec<Vec<usize>>,
    /// Whether each node is a method call (a method called on it in the same
    /// expression, with no node made in between, joins it).
    method: Vec<bool>,
    /// Whether each node has a `?`.
    question: Vec<bool>,
    /// Some node has a `?` or splits a tuple.
    breaks: bool,
    /// The nodes the graph's result reads.
    output: Vec<usize>,
}

/// A lowered operand: a constant, one node's value, or a collection (or `&`) reading
/// these nodes.
enum Lowered {
    Const,
    Value(usize),
    Reads(Vec<usize>),
}

impl Lowered {
    fn reads(&self) -> Vec<usize> {
        match self {
            Lowered::Const => Vec::new(),
            Lowered::Value(n) => vec![*n],
            Lowered::Reads(reads) => reads.clone(),
        }
    }

    /// A collection of `parts`: a constant unless it reads a node.
    fn collection(parts: &[Lowered]) -> Lowered {
        let reads: Vec<usize> = parts.iter().flat_map(Lowered::reads).collect();
        if reads.is_empty() {
            Lowered::Const
        } else {
            Lowered::Reads(reads)
        }
    }
}

impl Model {
    fn node(&mut self, reads: Vec<usize>, method: bool) -> Lowered {
        self.reads.push(reads);
        self.method.push(method);
        self.question.push(false);
        Lowered::Value(self.reads.len() - 1)
    }

    /// A node for `parts` when one of them reads a node, else a constant.
    fn node_if_reads(&mut self, parts: &[Lowered]) -> Lowered {
        match Lowered::collection(parts) {
            Lowered::Const => Lowered::Const,
            reads => self.node(reads.reads(), false),
        }
    }

    /// No `?`, no tuple split, and no node's value read twice (by nodes and the
    /// result together).
    fn reads_once(&self) -> bool {
        let mut uses = vec![0u32; self.reads.len()];
        for &v in self.reads.iter().flatten().chain(&self.output) {
            uses[v] += 1;
        }
        !self.breaks && uses.iter().all(|&u| u <= 1)
    }

    /// How deep each node's joins nest, as `forest.rs` computes it.
    fn nesting(&self) -> Vec<usize> {
        let mut nesting = vec![0usize; self.reads.len()];
        // A node's inputs come before it.
        for (i, reads) in self.reads.iter().enumerate() {
            let deepest = reads.iter().map(|&c| nesting[c]).max().unwrap_or(0);
            nesting[i] = deepest + join_levels(reads.len());
        }
        nesting
    }

    /// Whether `graph!` runs the graph as nested joins (`forest.rs`): it has nodes,
    /// none has a `?` or splits a tuple, every node's value is read at most once (by a
    /// node or by the result), and the joins nest at most [`MAX_NESTING`] deep and
    /// number at most [`MAX_JOINS`].
    fn runs_as_tree(&self) -> bool {
        let n = self.reads.len();
        if n == 0 || !self.reads_once() {
            return false;
        }
        let nesting = self.nesting();
        let mut read = vec![false; n];
        for &v in self.reads.iter().flatten() {
            read[v] = true;
        }
        let roots: Vec<usize> = (0..n).filter(|&i| !read[i]).collect();
        let deepest = roots.iter().map(|&r| nesting[r]).max().unwrap_or(0);
        let joins: usize = self
            .reads
            .iter()
            .map(|r| r.len().saturating_sub(1))
            .sum::<usize>()
            + roots.len().saturating_sub(1);
        nesting.iter().all(|&d| d <= MAX_NESTING)
            && join_levels(roots.len()) + deepest <= MAX_NESTING
            && joins <= MAX_JOINS
    }
}

/// How deep a balanced join of `branches` nests: none for one branch.
fn join_levels(branches: usize) -> usize {
    let mut levels = 0;
    while (1usize << levels) < branches {
        levels += 1;
    }
    levels
}

impl State {
    /// Lowers `e` into the model, as `graph!` does.
    fn lower(&mut self, e: &Expr) -> Lowered {
        match e {
            Expr::Lit(_) | Expr::Counter(_) => Lowered::Const,
            Expr::Var(v) => self.value_of(*v),
            // Every call of a task is a node, whatever its arguments.
            Expr::Call(_, args) => {
                let args: Vec<Lowered> = args.iter().map(|a| self.lower_arg(a)).collect();
                let reads = Lowered::collection(&args).reads();
                self.model.node(reads, false)
            }
            Expr::Bin(_, l, r) | Expr::Cmp(_, l, r) => {
                let parts = [self.lower(l), self.lower(r)];
                self.model.node_if_reads(&parts)
            }
            Expr::Not(x) | Expr::Neg(x) => {
                let part = self.lower(x);
                self.model.node_if_reads(&[part])
            }
            Expr::Chain(recv, methods) => {
                let before = self.model.reads.len();
                let mut current = self.lower(recv);
                for m in methods {
                    let arg = match m {
                        Method::Max(x) | Method::Min(x) => self.lower(x),
                        _ => Lowered::Const,
                    };
                    let last = self.model.reads.len().wrapping_sub(1);
                    current = match current {
                        Lowered::Const if matches!(arg, Lowered::Const) => Lowered::Const,
                        // A method called on a method call made just now: one node.
                        Lowered::Value(n)
                            if n >= before
                                && n == last
                                && self.model.method[n]
                                && !self.model.question[n] =>
                        {
                            self.model.reads[n].extend(arg.reads());
                            Lowered::Value(n)
                        }
                        recv => {
                            let reads = Lowered::collection(&[recv, arg]).reads();
                            self.model.node(reads, true)
                        }
                    };
                }
                current
            }
            // `v.len() as i64`: the method, then the cast.
            Expr::Len(v) => match self.value_of(*v) {
                Lowered::Const => Lowered::Const,
                value => {
                    let len = self.model.node(value.reads(), true);
                    self.model.node(len.reads(), false)
                }
            },
            Expr::Field(v, _) => {
                let base = self.value_of(*v);
                self.model.node_if_reads(&[base])
            }
            Expr::Try(inner) => {
                let before = self.model.reads.len();
                let operand = self.lower(inner);
                self.model.breaks = true;
                let last = self.model.reads.len().wrapping_sub(1);
                match operand {
                    Lowered::Value(n) if n >= before && n == last && !self.model.question[n] => {
                        self.model.question[n] = true;
                        Lowered::Value(n)
                    }
                    operand => {
                        let out = self.model.node(operand.reads(), false);
                        *self.model.question.last_mut().expect("a node") = true;
                        out
                    }
                }
            }
        }
    }

    fn lower_arg(&mut self, a: &Arg) -> Lowered {
        match a {
            Arg::Val(e) => self.lower(e),
            Arg::Ref(e) => Lowered::collection(&[self.lower(e)]),
            Arg::Array(items, _) | Arg::List(items) => self.lower_items(items),
            Arg::Whole(v) | Arg::WholeRef(v, _) => self.value_of(*v),
        }
    }

    fn lower_items(&mut self, items: &[Expr]) -> Lowered {
        let parts: Vec<Lowered> = items.iter().map(|e| self.lower(e)).collect();
        Lowered::collection(&parts)
    }

    fn value_of(&self, v: usize) -> Lowered {
        let var = &self.vars[v];
        if var.node {
            Lowered::Value(var.producer)
        } else {
            Lowered::Const
        }
    }

    /// Binds `var` to what `value` lowered to.
    fn bind(&mut self, var: usize, value: &Lowered) {
        match value {
            Lowered::Value(n) => {
                self.vars[var].node = true;
                self.vars[var].producer = *n;
            }
            Lowered::Const => self.vars[var].node = false,
            Lowered::Reads(_) => unreachable!("a collection is bound as a node of its own"),
        }
    }
}

// ---- drawing programs ---------------------------------------------------------------

struct Gen<'r> {
    rng: &'r mut Rng,
    state: State,
    result: bool,
    names: usize,
    /// Every node's value is read at most once, and no tuple is split.
    tree: bool,
    /// The most nodes a program has.
    max_nodes: usize,
}

impl Gen<'_> {
    /// One program: statements until it has about its target number of nodes, then
    /// a tail that reads every value not read yet. It sees the inputs and the captured
    /// constant, not the names of the programs before it.
    fn program(&mut self, feature: Option<Feature>) -> Option<Part> {
        for var in &mut self.state.vars {
            if !var.input && !var.captured {
                var.alive = false;
            }
        }
        let start = self.state.nodes;
        // Every size from 3 to 25, small ones more often (the smaller of two draws):
        // each node costs about 2 ms of the test's debug build.
        let (lo, hi) = (MIN_NODES as i64, self.max_nodes as i64 - 2);
        let target = start + self.rng.between(lo, hi).min(self.rng.between(lo, hi)) as usize;
        let mut stmts = Vec::new();
        if let Some(feature) = feature {
            let group = (0..20).find_map(|_| {
                let (saved, names) = (self.state.clone(), self.names);
                let group = self.feature(feature);
                if group.iter().all(|s| self.state.exec(s).is_ok()) {
                    return Some(group);
                }
                self.state = saved;
                self.names = names;
                None
            })?;
            stmts.extend(group);
        }
        let mut failures = 0;
        while self.state.nodes < target && failures < 40 {
            let (saved, names) = (self.state.clone(), self.names);
            let group = self.group(0);
            let ok = group.iter().all(|s| self.state.exec(s).is_ok());
            if ok && self.state.nodes - start <= self.max_nodes {
                stmts.extend(group);
            } else {
                self.state = saved;
                self.names = names;
                failures += 1;
            }
        }
        for _ in 0..40 {
            let (saved, names) = (self.state.clone(), self.names);
            if let Some((tail, tail_bool)) = self.tail(&stmts) {
                let nodes = self.state.nodes - start;
                // The rules of a tree batch's drawing keep every value read once.
                if self.tree && !self.state.model.reads_once() {
                    let p = Printer {
                        state: &self.state,
                        direct: false,
                    };
                    let mut text = String::new();
                    for s in &stmts {
                        p.stmt(s, 4, &mut text);
                    }
                    let tail: Vec<String> = tail.iter().map(|e| p.expr(e)).collect();
                    panic!(
                        "a tree-shaped program reads a node's value twice, or has a `?` or a \
                         tuple split: the rules of `Gen::readable` let it through\n{text}    {}",
                        tuple(&tail)
                    );
                }
                if (MIN_NODES..=self.max_nodes).contains(&nodes) {
                    return Some(Part {
                        stmts,
                        tail,
                        tail_bool,
                    });
                }
            }
            self.state = saved;
            self.names = names;
        }
        None
    }

    fn fresh_name(&mut self) -> String {
        let k = self.names;
        self.names += 1;
        let base = NAMES[k % NAMES.len()];
        match k / NAMES.len() {
            0 => base.to_owned(),
            n => format!("{base}{n}"),
        }
    }

    fn declare(&mut self, ty: Ty) -> usize {
        let name = self.fresh_name();
        let local = !self.state.active.is_empty();
        let var = self.state.declare(name, ty, local);
        self.state.vars[var].depth = self.state.active.len();
        var
    }

    /// The variables of `ty` an expression may read: every living one, or in a tree
    /// batch the inputs, the captured constant, and those whose value nothing read yet
    /// declared in the innermost loop being drawn (a value from outside a loop would be
    /// read once per unrolled copy).
    fn readable(&self, ty: Ty) -> Vec<usize> {
        let mut vars = self.state.alive(ty);
        if self.tree {
            vars.retain(|&v| {
                let var = &self.state.vars[v];
                var.input || var.captured || self.unread_here(v)
            });
        }
        vars
    }

    /// Whether nothing read `v`'s value yet and it is declared in the innermost loop
    /// being drawn (or outside loops, when none is).
    fn unread_here(&self, v: usize) -> bool {
        let var = &self.state.vars[v];
        var.unread && var.depth == self.state.active.len()
    }

    fn read(&mut self, v: usize) -> Expr {
        self.state.vars[v].unread = false;
        self.state.vars[v].used = true;
        Expr::Var(v)
    }

    /// A variable of `ty`, recent ones more often.
    fn choose(&mut self, ty: Ty) -> Option<usize> {
        let vars = self.readable(ty);
        if vars.is_empty() {
            return None;
        }
        let k = if self.rng.percent(65) {
            vars.len() - 1 - self.rng.below(vars.len().min(4))
        } else {
            self.rng.below(vars.len())
        };
        Some(vars[k])
    }

    /// Statements drawn together: one, or a few that only make sense together.
    fn group(&mut self, depth: usize) -> Vec<Stmt> {
        let has_int_target = !self.targets().is_empty();
        // A tree batch splits no tuple; it draws wide nodes, binary trees and chains.
        let unpack = self.has(Ty::Pair) && !self.tree;
        let tree = u32::from(self.tree);
        let weights = [
            30,                                     // let of an integer
            if has_int_target { 12 } else { 0 },    // rebinding `a = f(a)`
            8,                                      // shadowing `let a = f(a)`
            5,                                      // let of a bool
            8,                                      // tuples
            6,                                      // array or vec
            3,                                      // constant let
            if depth < 2 { 10 } else { 0 },         // unrolled loop
            3,                                      // effects only
            if self.result { 12 } else { 0 },       // `?`
            if unpack { 4 } else { 0 },             // unpack a pair
            if self.has(Ty::Bool) { 3 } else { 0 }, // `!c`
            tree,                                   // a wide node
            2 * tree,                               // a binary tree
            3 * tree,                               // a chain
        ];
        match self.rng.weighted(&weights) {
            0 => {
                let e = self.int_expr(2);
                vec![self.let_int(e)]
            }
            1 => {
                let targets = self.targets();
                let var = targets[self.rng.below(targets.len())];
                vec![self.rebind(var)]
            }
            2 => self.shadow(),
            3 => {
                let e = self.bool_expr();
                let var = self.declare(Ty::Bool);
                vec![Stmt::Let {
                    var,
                    rhs: Rhs::Expr(e),
                }]
            }
            4 => self.tuple(),
            5 => {
                let n = 2 + self.rng.below(3);
                let items: Vec<Expr> = (0..n).map(|_| self.int_expr(1)).collect();
                if self.rng.percent(50) {
                    let var = self.declare(Ty::Arr);
                    vec![Stmt::Let {
                        var,
                        rhs: Rhs::Array(items),
                    }]
                } else {
                    let var = self.declare(Ty::List);
                    vec![Stmt::Let {
                        var,
                        rhs: Rhs::List(items),
                    }]
                }
            }
            6 => {
                // A constant: from the inputs, or a literal.
                let inputs: Vec<usize> = self
                    .state
                    .alive(Ty::Int)
                    .into_iter()
                    .filter(|&v| !self.state.vars[v].node)
                    .collect();
                let (e, typed) = if !inputs.is_empty() && self.rng.percent(70) {
                    let v = inputs[self.rng.below(inputs.len())];
                    let lhs = self.read(v);
                    let typed = self.state.vars[v].typed;
                    let op = ["+", "*", "-"][self.rng.below(3)];
                    (
                        Expr::Bin(op, Box::new(lhs), Box::new(Expr::Lit(self.rng.literal()))),
                        typed,
                    )
                } else {
                    (Expr::Lit(self.rng.literal()), false)
                };
                let var = self.declare(Ty::Int);
                self.state.vars[var].typed = typed;
                vec![Stmt::Let {
                    var,
                    rhs: Rhs::Expr(e),
                }]
            }
            7 => self.for_loop(depth, None),
            8 => {
                let e = self.call_expr(1);
                if self.rng.percent(50) {
                    vec![Stmt::Effect(e)]
                } else {
                    vec![Stmt::Discard(e)]
                }
            }
            9 => {
                let arg = self.int_expr(1);
                let check = Expr::Call("check", vec![Arg::Val(arg)]);
                if self.rng.percent(70) {
                    let var = self.declare(Ty::Int);
                    vec![Stmt::Let {
                        var,
                        rhs: Rhs::Expr(Expr::Try(Box::new(check))),
                    }]
                } else {
                    let r = self.declare(Ty::Res);
                    let first = Stmt::Let {
                        var: r,
                        rhs: Rhs::Expr(check),
                    };
                    let taken = self.read(r);
                    self.state.vars[r].alive = false;
                    let var = self.declare(Ty::Int);
                    vec![
                        first,
                        Stmt::Let {
                            var,
                            rhs: Rhs::Expr(Expr::Try(Box::new(taken))),
                        },
                    ]
                }
            }
            10 => {
                let pair = self.choose(Ty::Pair).expect("a pair");
                self.read(pair);
                let q = self.declare(Ty::Int);
                let r = self.declare(Ty::Int);
                vec![Stmt::Unpack { q, r, pair }]
            }
            12 => {
                let form = self.rng.below(3);
                self.wide(form)
            }
            13 => {
                let lets = self.rng.percent(50);
                self.binary_tree(lets)
            }
            14 => self.chain_group(),
            _ => {
                let c = self.choose(Ty::Bool).expect("a bool");
                let c = self.read(c);
                let var = self.declare(Ty::Bool);
                vec![Stmt::Let {
                    var,
                    rhs: Rhs::Expr(Expr::Not(Box::new(c))),
                }]
            }
        }
    }

    /// The group a tree batch's first program starts with.
    fn feature(&mut self, feature: Feature) -> Vec<Stmt> {
        match feature {
            Feature::WideArray => self.wide(0),
            Feature::WideVec => self.wide(1),
            Feature::WideLet => self.wide(2),
            Feature::TreeExpr => self.binary_tree(false),
            Feature::TreeLets => self.binary_tree(true),
            Feature::Chain => self.chain_group(),
        }
    }

    /// A task call on leaves: one node, reading the nodes its leaves read.
    fn small_node(&mut self) -> Expr {
        match self.rng.below(6) {
            0 => Expr::Call("inc", vec![Arg::Val(self.leaf())]),
            1 => Expr::Call("fold", vec![Arg::Val(self.leaf())]),
            2 => {
                let x = self.leaf();
                let k = Expr::Lit(self.rng.literal());
                Expr::Call("scale", vec![Arg::Ref(x), Arg::Val(k)])
            }
            3 => Expr::Call("seven", Vec::new()),
            4 => {
                let (a, b) = (self.leaf(), self.leaf());
                Expr::Call("add", vec![Arg::Val(a), Arg::Val(b)])
            }
            _ => {
                let (a, b) = (self.leaf(), self.leaf());
                Expr::Call("dist", vec![Arg::Ref(a), Arg::Ref(b)])
            }
        }
    }

    /// A node reading 8 to 20 nodes: `sum_all(&[…])` (`form` 0), `sum_vec(vec![…])`
    /// (1), or a `let` of an array or a `Vec` of them (2).
    fn wide(&mut self, form: usize) -> Vec<Stmt> {
        let n = self.rng.between(8, 20);
        let items: Vec<Expr> = (0..n).map(|_| self.small_node()).collect();
        match form {
            0 => {
                let bare = self.bare();
                let e = Expr::Call("sum_all", vec![Arg::Array(items, bare)]);
                vec![self.let_int(e)]
            }
            1 => {
                let e = Expr::Call("sum_vec", vec![Arg::List(items)]);
                vec![self.let_int(e)]
            }
            _ => {
                let (ty, rhs) = if self.rng.percent(50) {
                    (Ty::Arr, Rhs::Array(items))
                } else {
                    (Ty::List, Rhs::List(items))
                };
                let var = self.declare(ty);
                vec![Stmt::Let { var, rhs }]
            }
        }
    }

    /// A balanced binary tree of 8 or 16 small nodes, each inner node combining two
    /// subtrees: one expression, or (`lets`) one `let` per node.
    fn binary_tree(&mut self, lets: bool) -> Vec<Stmt> {
        let depth = 3 + self.rng.below(2);
        let mut out = Vec::new();
        if lets {
            self.tree_lets(depth, &mut out);
        } else {
            let e = self.tree_expr(depth);
            out.push(self.let_int(e));
        }
        out
    }

    fn tree_expr(&mut self, depth: usize) -> Expr {
        if depth == 0 {
            return self.small_node();
        }
        let l = self.tree_expr(depth - 1);
        let r = self.tree_expr(depth - 1);
        self.combine(vec![l, r])
    }

    /// The `let`s of a subtree, its root's last; the root's variable.
    fn tree_lets(&mut self, depth: usize, out: &mut Vec<Stmt>) -> usize {
        let e = if depth == 0 {
            self.small_node()
        } else {
            // Each subtree's root is read as soon as it is drawn: nothing else may.
            let l = self.tree_lets(depth - 1, out);
            let l = self.read(l);
            let r = self.tree_lets(depth - 1, out);
            let r = self.read(r);
            self.combine(vec![l, r])
        };
        let stmt = self.let_int(e);
        let Stmt::Let { var, .. } = stmt else {
            unreachable!()
        };
        out.push(stmt);
        var
    }

    /// `let mut a = …;` and 3 to 8 of `a = f(a);`.
    fn chain_group(&mut self) -> Vec<Stmt> {
        let first = self.small_node();
        let stmt = self.let_int(first);
        let Stmt::Let { var, .. } = stmt else {
            unreachable!()
        };
        let mut out = vec![stmt];
        for _ in 0..self.rng.between(3, 8) {
            let own = self.read(var);
            let expr = self.combine(vec![own]);
            self.state.vars[var].mutable = true;
            self.state.vars[var].unread = true;
            out.push(Stmt::Assign { var, expr });
        }
        out
    }

    /// A comb: `let mut acc = inc(x); for i in 0..n { acc = add(acc, inc(i)); } acc`,
    /// each step a node reading the accumulator and one new node, so that the joins
    /// nest `n` deep (the first node reads no node).
    fn comb(&mut self, n: usize) -> Option<Part> {
        let start = self.state.nodes;
        // The first node reads every input (a graph's input nobody reads is a warning).
        let inputs: Vec<usize> = (0..self.state.vars.len())
            .filter(|&v| self.state.vars[v].input)
            .collect();
        let first = match inputs[..] {
            [] => Expr::Call("inc", vec![Arg::Val(Expr::Lit(self.rng.literal()))]),
            [x] => Expr::Call("inc", vec![Arg::Val(self.read(x))]),
            _ => {
                let items = inputs.iter().map(|&x| self.read(x)).collect();
                Expr::Call("sum_all", vec![Arg::Array(items, false)])
            }
        };
        let init = self.let_int(first);
        let Stmt::Let { var: acc, .. } = init else {
            unreachable!()
        };
        let counter = self.state.counters.len();
        self.state.counters.push("i");
        let own = self.read(acc);
        let name = ["inc", "fold"][self.rng.below(2)];
        let step = Expr::Call(name, vec![Arg::Val(Expr::Counter(counter))]);
        let expr = match self.rng.below(4) {
            0 => Expr::Call("add", vec![Arg::Val(own), Arg::Val(step)]),
            1 => binary("+", own, step),
            2 => Expr::Call("dist", vec![Arg::Ref(own), Arg::Ref(step)]),
            _ => Expr::Call("sum_vec", vec![Arg::List(vec![own, step])]),
        };
        self.state.vars[acc].mutable = true;
        let stmts = vec![
            init,
            Stmt::For {
                counter,
                lo: 0,
                hi: n as i64,
                inclusive: false,
                body: vec![Stmt::Assign { var: acc, expr }],
            },
        ];
        for s in &stmts {
            self.state.exec(s).ok()?;
        }
        let tail = vec![self.read(acc)];
        let value = self.state.lower(&tail[0]);
        self.state.model.output.extend(value.reads());
        debug_assert_eq!(self.state.nodes - start, 2 * n + 1);
        Some(Part {
            stmts,
            tail,
            tail_bool: vec![false],
        })
    }

    fn has(&self, ty: Ty) -> bool {
        !self.readable(ty).is_empty()
    }

    /// Integer variables that may be assigned to: declared by `let` in this scope.
    fn targets(&self) -> Vec<usize> {
        let in_loop = !self.state.active.is_empty();
        self.state
            .alive(Ty::Int)
            .into_iter()
            .filter(|&v| {
                let var = &self.state.vars[v];
                !var.input
                    && !var.captured
                    && (in_loop || !var.local)
                    && (!self.tree || self.unread_here(v))
            })
            .collect()
    }

    /// `a = f(a, …);`
    fn rebind(&mut self, var: usize) -> Stmt {
        let own = self.read(var);
        let mut items = vec![own];
        if self.rng.percent(60) {
            items.push(self.int_expr(1));
        }
        let expr = self.combine(items);
        self.state.vars[var].mutable = true;
        self.state.vars[var].unread = true;
        Stmt::Assign { var, expr }
    }

    /// `let a = f(a, …);` of an integer not declared in a loop.
    fn shadow(&mut self) -> Vec<Stmt> {
        let candidates: Vec<usize> = self
            .state
            .alive(Ty::Int)
            .into_iter()
            .filter(|&v| {
                let var = &self.state.vars[v];
                // Inputs stay for the programs after this one.
                !var.local && !var.captured && !var.input && (!self.tree || self.unread_here(v))
            })
            .collect();
        if candidates.is_empty() || !self.state.active.is_empty() {
            let e = self.int_expr(2);
            return vec![self.let_int(e)];
        }
        let old = candidates[self.rng.below(candidates.len())];
        let own = self.read(old);
        let mut items = vec![own];
        if self.rng.percent(50) {
            items.push(self.int_expr(1));
        }
        let e = self.combine(items);
        let typed = self.typed(&e);
        self.state.vars[old].alive = false;
        let name = self.state.vars[old].name.clone();
        let var = self.state.declare(name, Ty::Int, false);
        self.state.vars[var].typed = typed;
        vec![Stmt::Let {
            var,
            rhs: Rhs::Expr(e),
        }]
    }

    /// `let a = e;` of an integer.
    fn let_int(&mut self, e: Expr) -> Stmt {
        let typed = self.typed(&e);
        let var = self.declare(Ty::Int);
        self.state.vars[var].typed = typed;
        Stmt::Let {
            var,
            rhs: Rhs::Expr(e),
        }
    }

    fn tuple(&mut self) -> Vec<Stmt> {
        let from = self.int_expr(1);
        // A tree batch splits no tuple: a pair is read by one `p.0` or `p.1`.
        let form = if self.tree { 0 } else { self.rng.below(4) };
        match form {
            0 => {
                let var = self.declare(Ty::Pair);
                vec![Stmt::Let {
                    var,
                    rhs: Rhs::Expr(Expr::Call("split", vec![Arg::Val(from)])),
                }]
            }
            1 => {
                let a = self.declare(Ty::Int);
                let b = self.rng.percent(50).then(|| self.declare(Ty::Int));
                let c = self.declare(Ty::Int);
                vec![Stmt::Spread { a, b, c, from }]
            }
            _ => {
                let (q, r) = match self.rng.below(4) {
                    0 => (Some(self.declare(Ty::Int)), None),
                    1 => (None, Some(self.declare(Ty::Int))),
                    _ => (Some(self.declare(Ty::Int)), Some(self.declare(Ty::Int))),
                };
                vec![Stmt::Split { q, r, from }]
            }
        }
    }

    /// An unrolled loop on an accumulator: `outer`'s in a nested loop, else one
    /// declared before or a new one.
    fn for_loop(&mut self, depth: usize, outer: Option<usize>) -> Vec<Stmt> {
        let mut out = Vec::new();
        let targets = self.targets();
        let acc = if let Some(acc) = outer {
            acc
        } else if targets.is_empty() || self.rng.percent(30) {
            let e = self.int_expr(1);
            let stmt = self.let_int(e);
            let Stmt::Let { var, .. } = stmt else {
                unreachable!()
            };
            out.push(stmt);
            var
        } else {
            targets[self.rng.below(targets.len())]
        };
        let counter = self.state.counters.len();
        self.state.counters.push(if depth == 0 { "i" } else { "j" });
        self.state.active.push(counter);
        let (lo, iterations) = match self.rng.below(5) {
            0 => (1, 2 + self.rng.below(2) as i64),
            1 => (-2, 2 + self.rng.below(3) as i64),
            _ => (0, 2 + self.rng.below(3) as i64),
        };
        let inclusive = self.rng.percent(30);
        let hi = if inclusive {
            lo + iterations - 1
        } else {
            lo + iterations
        };
        let before = self.state.vars.len();
        let mut body = Vec::new();
        match self
            .rng
            .weighted(&[5, 4, if depth == 0 { 2 } else { 0 }, 2])
        {
            0 => body.push(self.loop_assign(acc, None)),
            1 => {
                let step_items = vec![self.counter_or_leaf(), self.leaf()];
                let step = self.combine(step_items);
                let stmt = self.let_int(step);
                let Stmt::Let { var, .. } = stmt else {
                    unreachable!()
                };
                body.push(stmt);
                body.push(self.loop_assign(acc, Some(var)));
            }
            2 => {
                body.extend(self.for_loop(depth + 1, Some(acc)));
                if self.rng.percent(50) {
                    body.push(self.loop_assign(acc, None));
                }
            }
            _ => {
                // Two statements on the accumulator.
                body.push(self.loop_assign(acc, None));
                body.push(self.loop_assign(acc, None));
            }
        }
        self.state.active.pop();
        for v in before..self.state.vars.len() {
            self.state.vars[v].alive = false;
        }
        out.push(Stmt::For {
            counter,
            lo,
            hi,
            inclusive,
            body,
        });
        out
    }

    /// `acc = f(acc, counter or step, …);`
    fn loop_assign(&mut self, acc: usize, step: Option<usize>) -> Stmt {
        let own = self.read(acc);
        let mut items = vec![own];
        match step {
            Some(s) => items.push(self.read(s)),
            None => items.push(self.counter_or_leaf()),
        }
        if self.rng.percent(30) {
            items.push(self.leaf());
        }
        let expr = self.combine(items);
        self.state.vars[acc].mutable = true;
        self.state.vars[acc].unread = true;
        Stmt::Assign { var: acc, expr }
    }

    fn counter_or_leaf(&mut self) -> Expr {
        if !self.state.active.is_empty() && self.rng.percent(75) {
            let k = self.rng.below(self.state.active.len());
            Expr::Counter(self.state.active[k])
        } else {
            self.leaf()
        }
    }

    /// A leaf integer: a variable, an input, a literal, a loop counter, a captured
    /// constant, `v.len() as i64`, `p.0`, `seven()`, `check(a)?`.
    fn leaf(&mut self) -> Expr {
        let lists: Vec<usize> = self
            .readable(Ty::List)
            .into_iter()
            .chain(self.readable(Ty::Arr))
            .collect();
        let weights = [
            12,
            3,
            if self.state.active.is_empty() { 0 } else { 3 },
            if lists.is_empty() { 0 } else { 1 },
            if self.has(Ty::Pair) { 2 } else { 0 },
            1,
            if self.result { 2 } else { 0 },
        ];
        match self.rng.weighted(&weights) {
            0 => match self.choose(Ty::Int) {
                Some(v) => self.read(v),
                None => Expr::Lit(self.rng.literal()),
            },
            1 => Expr::Lit(self.rng.literal()),
            2 => {
                let k = self.rng.below(self.state.active.len());
                Expr::Counter(self.state.active[k])
            }
            3 => {
                let v = lists[self.rng.below(lists.len())];
                self.read(v);
                if self.state.vars[v].ty == Ty::List {
                    Expr::Len(v)
                } else {
                    // An array's length is a constant: sum it instead.
                    let bare = self.bare();
                    Expr::Call("sum_all", vec![Arg::WholeRef(v, bare)])
                }
            }
            4 => {
                let p = self.choose(Ty::Pair).expect("a pair");
                self.read(p);
                Expr::Field(p, self.rng.below(2) as u8)
            }
            5 => Expr::Call("seven", Vec::new()),
            _ => {
                let arg = self.leaf_without_try();
                Expr::Try(Box::new(Expr::Call("check", vec![Arg::Val(arg)])))
            }
        }
    }

    fn leaf_without_try(&mut self) -> Expr {
        let result = self.result;
        self.result = false;
        let e = self.leaf();
        self.result = result;
        e
    }

    fn int_expr(&mut self, depth: usize) -> Expr {
        if depth == 0 || self.rng.percent(20) {
            let leaf = self.leaf();
            // A bare leaf only where it is not a plain variable (`let b = a;`).
            return match leaf {
                Expr::Var(_) | Expr::Lit(_) | Expr::Counter(_) if depth > 0 => {
                    self.combine(vec![leaf])
                }
                leaf => leaf,
            };
        }
        let n = 1 + self.rng.weighted(&[4, 5, 2]);
        let items = (0..n)
            .map(|_| {
                if self.rng.percent(30) {
                    self.int_expr(depth - 1)
                } else {
                    self.leaf()
                }
            })
            .collect();
        self.combine(items)
    }

    /// A task call (for a statement run for its effect).
    fn call_expr(&mut self, depth: usize) -> Expr {
        match self.int_expr(depth + 1) {
            e @ Expr::Call(..) => e,
            e => Expr::Call("inc", vec![Arg::Val(e)]),
        }
    }

    fn bool_expr(&mut self) -> Expr {
        if self.has(Ty::Bool) && self.rng.percent(25) {
            let c = self.choose(Ty::Bool).expect("a bool");
            let c = self.read(c);
            return if self.rng.percent(50) {
                Expr::Not(Box::new(c))
            } else {
                c
            };
        }
        let l = self.int_expr(1);
        let r = self.leaf();
        self.compare(l, r)
    }

    fn compare(&mut self, l: Expr, r: Expr) -> Expr {
        let op = ["<", "<=", ">", ">=", "==", "!="][self.rng.below(6)];
        let r = if self.same_text(&l, &r) {
            Expr::Call("inc", vec![Arg::Val(r)])
        } else {
            r
        };
        // Never two constants, never a literal on the left.
        let (l, r) = match (&l, &r) {
            (Expr::Lit(_), _) => (r, l),
            _ => (l, r),
        };
        Expr::Cmp(op, Box::new(l), Box::new(r))
    }

    /// Whether a borrowed array is written without its `&` in the graph (a node, or a
    /// collection `graph!` makes a node, is lent to a `&[T]` parameter either way).
    fn bare(&mut self) -> bool {
        self.rng.percent(40)
    }

    /// Whether `e` reads a node however the loops it is in unroll: a task call, or a
    /// name that is a node now (a name never goes from node back to constant).
    fn surely_node(&self, e: &Expr) -> bool {
        match e {
            Expr::Lit(_) | Expr::Counter(_) => false,
            Expr::Var(v) | Expr::Len(v) | Expr::Field(v, _) => self.state.vars[*v].node,
            Expr::Call(..) | Expr::Try(_) => true,
            Expr::Bin(_, l, r) | Expr::Cmp(_, l, r) => self.surely_node(l) || self.surely_node(r),
            Expr::Not(x) | Expr::Neg(x) => self.surely_node(x),
            Expr::Chain(recv, methods) => {
                self.surely_node(recv)
                    || methods.iter().any(|m| match m {
                        Method::Max(x) | Method::Min(x) => self.surely_node(x),
                        _ => false,
                    })
            }
        }
    }

    fn same_text(&self, a: &Expr, b: &Expr) -> bool {
        let p = Printer {
            state: &self.state,
            direct: false,
        };
        p.expr(a) == p.expr(b)
    }

    /// An integer expression that reads every item once.
    fn combine(&mut self, mut items: Vec<Expr>) -> Expr {
        match items.len() {
            0 => self.leaf(),
            1 => {
                let x = items.pop().expect("one item");
                match self.rng.below(11) {
                    0 => Expr::Call("inc", vec![Arg::Val(x)]),
                    1 => Expr::Call("fold", vec![Arg::Val(x)]),
                    // Not on a literal: `9 ^ 9` is clippy's `eq_op`.
                    2 | 3 if !matches!(x, Expr::Lit(_)) => {
                        let op = ["+", "-", "*", "^", "/", "%"][self.rng.below(6)];
                        let lit = match op {
                            "/" | "%" => self.rng.between(2, 9),
                            _ => self.rng.literal(),
                        };
                        binary(op, x, Expr::Lit(lit))
                    }
                    4 if !matches!(x, Expr::Neg(_) | Expr::Lit(_)) => Expr::Neg(Box::new(x)),
                    5 if self.typed(&x) => self.chain(x),
                    6 => {
                        let k = Expr::Lit(self.rng.literal());
                        Expr::Call("scale", vec![Arg::Ref(x), Arg::Val(k)])
                    }
                    7 => {
                        let other = self.leaf();
                        self.combine(vec![x, other])
                    }
                    8 if matches!(x, Expr::Var(_)) && !self.tree => {
                        // The same variable three times in one call.
                        let other = self.leaf();
                        let c = self.compare(x.clone(), other.clone());
                        Expr::Call("pick", vec![Arg::Val(c), Arg::Val(x), Arg::Val(other)])
                    }
                    _ => Expr::Call("inc", vec![Arg::Val(x)]),
                }
            }
            2 => {
                let b = items.pop().expect("two items");
                let a = items.pop().expect("two items");
                let same = self.same_text(&a, &b);
                match self.rng.below(11) {
                    0 | 1 => Expr::Call("add", vec![Arg::Val(a), Arg::Val(b)]),
                    2 | 3 if !same => {
                        let op = ["+", "-", "*", "^"][self.rng.below(4)];
                        binary(op, a, b)
                    }
                    4 => {
                        let c = self.leaf();
                        Expr::Call("mix", vec![Arg::Val(a), Arg::Val(b), Arg::Val(c)])
                    }
                    5 => Expr::Call("scale", vec![Arg::Ref(a), Arg::Val(b)]),
                    6 => Expr::Call("dist", vec![Arg::Ref(a), Arg::Ref(b)]),
                    7 => {
                        let c = if self.has(Ty::Bool) && self.rng.percent(30) {
                            let c = self.choose(Ty::Bool).expect("a bool");
                            self.read(c)
                        } else if !self.tree
                            && matches!(a, Expr::Var(_))
                            && matches!(b, Expr::Var(_))
                        {
                            self.compare(a.clone(), b.clone())
                        } else {
                            let (l, r) = (self.int_expr(1), self.leaf());
                            self.compare(l, r)
                        };
                        Expr::Call("pick", vec![Arg::Val(c), Arg::Val(a), Arg::Val(b)])
                    }
                    8 => {
                        let items = vec![a, b];
                        let bare = self.bare();
                        Expr::Call("sum_all", vec![Arg::Array(items, bare)])
                    }
                    9 => Expr::Call("sum_vec", vec![Arg::List(vec![a, b])]),
                    _ if self.typed(&a) && !same => {
                        let m = if self.rng.percent(50) {
                            Method::Max(b)
                        } else {
                            Method::Min(b)
                        };
                        let mut methods = vec![m];
                        if self.rng.percent(25) {
                            methods.push(Method::Abs);
                        }
                        Expr::Chain(Box::new(a), methods)
                    }
                    _ => Expr::Call("add", vec![Arg::Val(a), Arg::Val(b)]),
                }
            }
            3 if self.rng.percent(40) => {
                let c = items.pop().expect("three items");
                let b = items.pop().expect("three items");
                let a = items.pop().expect("three items");
                Expr::Call("mix", vec![Arg::Val(a), Arg::Val(b), Arg::Val(c)])
            }
            n => match self.rng.below(3) {
                0 => {
                    let bare = self.bare();
                    Expr::Call("sum_all", vec![Arg::Array(items, bare)])
                }
                1 => Expr::Call("sum_vec", vec![Arg::List(items)]),
                _ => {
                    let rest = items.split_off(n / 2);
                    let a = self.combine(items);
                    let b = self.combine(rest);
                    self.combine(vec![a, b])
                }
            },
        }
    }

    fn chain(&mut self, x: Expr) -> Expr {
        let methods = match self.rng.below(6) {
            0 => vec![Method::Abs],
            1 => vec![Method::Pow],
            2 => vec![
                Method::WrappingMul(self.rng.between(1_000_003, 9_000_000_000)),
                Method::RemEuclid(self.rng.between(100, 10_000)),
            ],
            3 => vec![Method::RemEuclid(self.rng.between(3, 97))],
            4 => {
                let other = self.leaf();
                vec![Method::Abs, Method::Max(other)]
            }
            _ => {
                let other = self.leaf();
                vec![Method::Min(other), Method::Abs]
            }
        };
        Expr::Chain(Box::new(x), methods)
    }

    /// Whether a method can be called on `e` (its type is known without its uses).
    fn typed(&self, e: &Expr) -> bool {
        match e {
            Expr::Lit(_) | Expr::Counter(_) => false,
            Expr::Var(v) => self.state.vars[*v].typed,
            Expr::Bin(_, l, r) => self.typed(l) || self.typed(r),
            Expr::Neg(x) => self.typed(x),
            Expr::Cmp(..) | Expr::Not(_) => false,
            _ => true,
        }
    }

    /// The last expression: reads every value not read yet.
    fn tail(&mut self, stmts: &[Stmt]) -> Option<(Vec<Expr>, Vec<bool>)> {
        let mut ints = Vec::new();
        let mut bools = Vec::new();
        for v in 0..self.state.vars.len() {
            let (alive, unread, ty) = {
                let var = &self.state.vars[v];
                (var.alive, var.unread, var.ty)
            };
            if !alive || !unread {
                continue;
            }
            match ty {
                Ty::Int => ints.push(self.read(v)),
                Ty::Bool => bools.push(self.read(v)),
                Ty::Pair => {
                    self.read(v);
                    let k = self.rng.below(2) as u8;
                    ints.push(Expr::Field(v, k));
                }
                Ty::List => {
                    self.read(v);
                    ints.push(Expr::Call("sum_vec", vec![Arg::Whole(v)]));
                }
                Ty::Arr => {
                    self.read(v);
                    let bare = self.bare();
                    ints.push(Expr::Call("sum_all", vec![Arg::WholeRef(v, bare)]));
                }
                Ty::Res => unreachable!("a result is consumed by the next statement"),
            }
        }
        if ints.is_empty() {
            ints.push(self.int_expr(2));
        }
        let mut first = self.combine(ints);
        // `let a = …; a` is clippy's `let_and_return`; `Ok(x?)` its `needless_question_mark`.
        let bare_last = match (&first, stmts.last()) {
            (Expr::Var(v), Some(Stmt::Let { var, .. })) => v == var,
            _ => false,
        };
        if bare_last || matches!(first, Expr::Try(_)) {
            first = Expr::Call("inc", vec![Arg::Val(first)]);
        }
        for c in bools {
            let other = self.leaf();
            first = Expr::Call("pick", vec![Arg::Val(c), Arg::Val(first), Arg::Val(other)]);
        }
        let mut tail = vec![first];
        let mut is_bool = vec![false];
        if !self.result {
            match self.rng.weighted(&[6, 3, 2]) {
                0 => {}
                1 => {
                    tail.push(self.int_expr(1));
                    is_bool.push(false);
                }
                _ => {
                    let b = self.bool_expr();
                    tail.push(b);
                    is_bool.push(true);
                }
            }
        }
        // Interpret it: no overflow, at most one error per input.
        let mut nodes = 0;
        for e in &tail {
            nodes += self.state.shape(e).nodes;
            self.state.eval_all(e).ok()?;
        }
        for e in &tail {
            let value = self.state.lower(e);
            self.state.model.output.extend(value.reads());
        }
        self.state.nodes += nodes;
        Some((tail, is_bool))
    }
}

fn binary(op: &'static str, a: Expr, b: Expr) -> Expr {
    Expr::Bin(op, Box::new(a), Box::new(b))
}

// ---- printing ---------------------------------------------------------------------

/// Prints a program's code, as the graph's body or as the direct code.
struct Printer<'s> {
    state: &'s State,
    /// The direct code: `&[…]` always, `.clone()` on a `Vec` used by value.
    direct: bool,
}

impl Printer<'_> {
    fn name(&self, v: usize) -> &str {
        &self.state.vars[v].name
    }

    fn expr(&self, e: &Expr) -> String {
        match e {
            Expr::Lit(v) => v.to_string(),
            Expr::Var(v) => self.name(*v).to_owned(),
            Expr::Counter(c) => self.state.counters[*c].to_owned(),
            Expr::Call(name, args) => {
                let args: Vec<String> = args.iter().map(|a| self.arg(a)).collect();
                format!("{name}({})", args.join(", "))
            }
            Expr::Bin(op, l, r) | Expr::Cmp(op, l, r) => {
                format!("{} {op} {}", self.operand(l), self.operand(r))
            }
            Expr::Not(x) => format!("!{}", self.operand(x)),
            Expr::Neg(x) => format!("-{}", self.operand(x)),
            Expr::Chain(recv, methods) => {
                let mut out = self.operand(recv);
                for m in methods {
                    match m {
                        Method::Abs => out.push_str(".abs()"),
                        Method::Max(x) => {
                            let _ = write!(out, ".max({})", self.expr(x));
                        }
                        Method::Min(x) => {
                            let _ = write!(out, ".min({})", self.expr(x));
                        }
                        Method::Pow => out.push_str(".pow(2)"),
                        Method::WrappingMul(k) => {
                            let _ = write!(out, ".wrapping_mul({})", underscored(*k));
                        }
                        Method::RemEuclid(k) => {
                            let _ = write!(out, ".rem_euclid({})", underscored(*k));
                        }
                    }
                }
                out
            }
            Expr::Len(v) => format!("{}.len() as i64", self.name(*v)),
            Expr::Field(v, k) => format!("{}.{k}", self.name(*v)),
            Expr::Try(x) => format!("{}?", self.expr(x)),
        }
    }

    /// An operand of an operator or a method's receiver: parenthesized unless simple.
    fn operand(&self, e: &Expr) -> String {
        match e {
            Expr::Bin(..) | Expr::Cmp(..) | Expr::Neg(_) | Expr::Len(_) | Expr::Not(_) => {
                format!("({})", self.expr(e))
            }
            Expr::Lit(v) if *v < 0 => format!("({v})"),
            _ => self.expr(e),
        }
    }

    fn arg(&self, a: &Arg) -> String {
        match a {
            Arg::Val(e) => self.expr(e),
            Arg::Ref(e) => format!("&{}", self.operand(e)),
            Arg::Array(items, bare) => {
                let items: Vec<String> = items.iter().map(|e| self.expr(e)).collect();
                let amp = if *bare && !self.direct { "" } else { "&" };
                format!("{amp}[{}]", items.join(", "))
            }
            Arg::List(items) => {
                let items: Vec<String> = items.iter().map(|e| self.expr(e)).collect();
                format!("vec![{}]", items.join(", "))
            }
            Arg::Whole(v) if self.direct => format!("{}.clone()", self.name(*v)),
            Arg::Whole(v) => self.name(*v).to_owned(),
            Arg::WholeRef(v, true) if !self.direct => self.name(*v).to_owned(),
            Arg::WholeRef(v, _) => format!("&{}", self.name(*v)),
        }
    }

    fn binding(&self, v: usize) -> String {
        let var = &self.state.vars[v];
        if var.mutable {
            format!("mut {}", var.name)
        } else {
            var.name.clone()
        }
    }

    fn slot(&self, v: Option<usize>) -> String {
        v.map_or_else(|| "_".to_owned(), |v| self.binding(v))
    }

    fn stmt(&self, s: &Stmt, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match s {
            Stmt::Let { var, rhs } => {
                let is_list = matches!(rhs, Rhs::List(_));
                let rhs = match rhs {
                    Rhs::Expr(e) => self.expr(e),
                    Rhs::Array(items) => {
                        let items: Vec<String> = items.iter().map(|e| self.expr(e)).collect();
                        format!("[{}]", items.join(", "))
                    }
                    Rhs::List(items) => {
                        let items: Vec<String> = items.iter().map(|e| self.expr(e)).collect();
                        format!("vec![{}]", items.join(", "))
                    }
                };
                // The type keeps clippy's `useless_vec` quiet where the direct code
                // only clones and borrows the `Vec`.
                let ty = if is_list { ": Vec<i64>" } else { "" };
                let _ = writeln!(out, "{pad}let {}{ty} = {rhs};", self.binding(*var));
            }
            Stmt::Assign { var, expr } => {
                let _ = writeln!(out, "{pad}{} = {};", self.name(*var), self.expr(expr));
            }
            Stmt::Split { q, r, from } => {
                let _ = writeln!(
                    out,
                    "{pad}let ({}, {}) = split({});",
                    self.slot(*q),
                    self.slot(*r),
                    self.expr(from)
                );
            }
            Stmt::Spread { a, b, c, from } => {
                let _ = writeln!(
                    out,
                    "{pad}let ({}, ({}, {})) = spread({});",
                    self.binding(*a),
                    self.slot(*b),
                    self.binding(*c),
                    self.expr(from)
                );
            }
            Stmt::Unpack { q, r, pair } => {
                let _ = writeln!(
                    out,
                    "{pad}let ({}, {}) = {};",
                    self.binding(*q),
                    self.binding(*r),
                    self.name(*pair)
                );
            }
            Stmt::For {
                counter,
                lo,
                hi,
                inclusive,
                body,
            } => {
                let name = if body.iter().any(|s| stmt_uses_counter(s, *counter)) {
                    self.state.counters[*counter]
                } else {
                    "_"
                };
                let dots = if *inclusive { "..=" } else { ".." };
                let _ = writeln!(out, "{pad}for {name} in {lo}{dots}{hi} {{");
                for s in body {
                    self.stmt(s, indent + 4, out);
                }
                let _ = writeln!(out, "{pad}}}");
            }
            Stmt::Effect(e) => {
                let _ = writeln!(out, "{pad}{};", self.expr(e));
            }
            Stmt::Discard(e) => {
                let _ = writeln!(out, "{pad}let _ = {};", self.expr(e));
            }
        }
    }
}

fn underscored(k: i64) -> String {
    let digits = k.unsigned_abs().to_string();
    if digits.len() <= 4 {
        return k.to_string();
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    if k < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn stmt_uses_counter(s: &Stmt, c: usize) -> bool {
    match s {
        Stmt::Let { rhs, .. } => match rhs {
            Rhs::Expr(e) => expr_uses_counter(e, c),
            Rhs::Array(items) | Rhs::List(items) => items.iter().any(|e| expr_uses_counter(e, c)),
        },
        Stmt::Assign { expr, .. } => expr_uses_counter(expr, c),
        Stmt::Split { from, .. } | Stmt::Spread { from, .. } => expr_uses_counter(from, c),
        Stmt::Unpack { .. } => false,
        Stmt::For { body, .. } => body.iter().any(|s| stmt_uses_counter(s, c)),
        Stmt::Effect(e) | Stmt::Discard(e) => expr_uses_counter(e, c),
    }
}

fn expr_uses_counter(e: &Expr, c: usize) -> bool {
    let arg_uses = |a: &Arg| match a {
        Arg::Val(e) | Arg::Ref(e) => expr_uses_counter(e, c),
        Arg::Array(items, _) | Arg::List(items) => items.iter().any(|e| expr_uses_counter(e, c)),
        Arg::Whole(_) | Arg::WholeRef(..) => false,
    };
    match e {
        Expr::Counter(k) => *k == c,
        Expr::Lit(_) | Expr::Var(_) | Expr::Len(_) | Expr::Field(..) => false,
        Expr::Call(_, args) => args.iter().any(arg_uses),
        Expr::Bin(_, l, r) | Expr::Cmp(_, l, r) => {
            expr_uses_counter(l, c) || expr_uses_counter(r, c)
        }
        Expr::Not(x) | Expr::Neg(x) | Expr::Try(x) => expr_uses_counter(x, c),
        Expr::Chain(recv, methods) => {
            expr_uses_counter(recv, c)
                || methods.iter().any(|m| match m {
                    Method::Max(x) | Method::Min(x) => expr_uses_counter(x, c),
                    _ => false,
                })
        }
    }
}

/// `a` alone, or `(a, b, …)`.
fn tuple(items: &[String]) -> String {
    match items {
        [one] => one.clone(),
        items => format!("({})", items.join(", ")),
    }
}

impl Batch {
    /// The type of each program's result.
    fn types(&self) -> Vec<String> {
        self.programs
            .iter()
            .map(|p| {
                let types: Vec<String> = p
                    .tail_bool
                    .iter()
                    .map(|b| if *b { "bool" } else { "i64" }.to_owned())
                    .collect();
                tuple(&types)
            })
            .collect()
    }

    fn ret(&self) -> String {
        let types = tuple(&self.types());
        if self.result {
            format!("Result<{types}, String>")
        } else {
            types
        }
    }

    /// The body (statements and tail), indented by `indent`.
    fn body(&self, direct: bool, indent: usize, first: usize) -> String {
        let p = Printer {
            state: &self.state,
            direct,
        };
        let pad = " ".repeat(indent);
        let mut out = String::new();
        let mut results = Vec::new();
        for (k, part) in self.programs.iter().enumerate() {
            let _ = writeln!(out, "{pad}// program {}", first + k);
            for s in &part.stmts {
                p.stmt(s, indent, &mut out);
            }
            let elems: Vec<String> = part.tail.iter().map(|e| p.expr(e)).collect();
            results.push(tuple(&elems));
        }
        let tail = tuple(&results);
        let tail = match (self.result, self.inputs.is_empty()) {
            (false, _) => tail,
            (true, false) => format!("Ok({tail})"),
            (true, true) => format!("Ok::<{}, String>({tail})", tuple(&self.types())),
        };
        let _ = writeln!(out, "{pad}// the results");
        let _ = writeln!(out, "{pad}{tail}");
        out
    }

    fn params(&self) -> String {
        let params: Vec<String> = self.inputs.iter().map(|x| format!("{x}: i64")).collect();
        params.join(", ")
    }

    /// `graph!(…)` as written in the test, indented by `indent`.
    fn graph(&self, indent: usize, first: usize) -> String {
        let pad = " ".repeat(indent);
        let body = self.body(false, indent + 4, first);
        if self.inputs.is_empty() {
            format!("graph! {{\n{body}{pad}}}")
        } else {
            format!("graph!(|{}| -> Results {{\n{body}{pad}}})", self.params())
        }
    }

    fn write(&self, out: &mut String, n: usize, first: usize) {
        let last = first + self.programs.len() - 1;
        let _ = writeln!(out, "/// Programs {first} to {last}.");
        let _ = writeln!(out, "fn batch_{n}() {{");
        let _ = writeln!(
            out,
            "    const SOURCE: &str = r#\"\ntype Results = {};\n{}\"#;",
            self.ret(),
            self.graph(0, first)
        );
        if let Some(k) = self
            .state
            .vars
            .iter()
            .find(|v| v.captured && v.used)
            .map(|v| v.constant)
        {
            let _ = writeln!(out, "    let k1: i64 = {k};");
        }
        // One element per program; a name keeps clippy's `type_complexity` quiet.
        let _ = writeln!(out, "    type Results = {};", self.ret());
        let _ = writeln!(out, "    let g = {};", self.graph(4, first));
        let _ = writeln!(
            out,
            "    let direct = |{}| -> Results {{\n{}    }};",
            self.params(),
            self.body(true, 8, first)
        );
        let _ = writeln!(
            out,
            "    nodes(g.len(), {}, {n}, SOURCE);",
            self.state.nodes
        );
        let _ = writeln!(
            out,
            "    path(g.__runs_as_tree(), {}, {n}, SOURCE);",
            self.tree
        );
        let args = self.inputs.join(", ");
        let (pad, inputs) = match self.inputs.len() {
            0 => ("    ", "&()".to_owned()),
            1 => ("        ", format!("&{args}")),
            _ => ("        ", format!("&({args})")),
        };
        match self.inputs.len() {
            0 => {}
            1 => {
                let rows: Vec<String> = self.rows.iter().map(|r| r[0].to_string()).collect();
                let _ = writeln!(out, "    for {args} in [{}] {{", rows.join(", "));
            }
            _ => {
                let rows: Vec<String> = self
                    .rows
                    .iter()
                    .map(|r| {
                        let r: Vec<String> = r.iter().map(i64::to_string).collect();
                        format!("({})", r.join(", "))
                    })
                    .collect();
                let _ = writeln!(out, "    for ({args}) in [{}] {{", rows.join(", "));
            }
        }
        let sep = if args.is_empty() { "" } else { ", " };
        let _ = writeln!(out, "{pad}let want = direct({args});");
        let _ = writeln!(
            out,
            "{pad}let at = Case {{ batch: {n}, programs: \"{first} to {last}\", inputs: {inputs}, source: SOURCE }};"
        );
        let _ = writeln!(
            out,
            "{pad}at.same(g.compute({args}), &want, \"thread pool\");"
        );
        let _ = writeln!(
            out,
            "{pad}at.same(g.compute_with(Scheduler::Sync{sep}{args}), &want, \"synchronous\");"
        );
        if !self.inputs.is_empty() {
            out.push_str("    }\n");
        }
        out.push_str("}\n\n");
    }
}
