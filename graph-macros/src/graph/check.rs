//! The prohibited operations: what cannot work on a value that does not exist yet,
//! each with the reason and what to write instead. Every message is raised by
//! `lower` on the smallest offending tokens; the literal checks also by `#[delayed]`'s
//! options.

/// `if`, `else if`, `if let`, `match`, `while`, `while let`, `let … else` with a node
/// as the condition or scrutinee. `keyword` is what was written (`else if`), `construct`
/// what to move (`if`), `node` the node or the task call read.
pub(crate) fn branch_on_node(keyword: &str, construct: &str, node: &str) -> String {
    format!(
        "`{keyword}` on `{node}`: its value is not known until the graph runs, so the graph \
         cannot branch on it while it is built (Dask: `TypeError: Truth of Delayed objects \
         is not supported`); move the `{construct}` into a `#[delayed]` function that takes \
         `{node}` and returns the result"
    )
}

/// `if`, `match`, `while`, `loop` on constants, with nodes inside.
pub(crate) fn branch_in_graph(keyword: &str) -> String {
    format!(
        "`{keyword}` around tasks is not allowed inside `graph!`: the graph's shape is fixed \
         at compile time; move the `{keyword}` into a `#[delayed]` function, or build the \
         graph at run time with `Delayed<T>`"
    )
}

/// `let … else` on a constant (no task in it): not supported, though `match` is.
pub(crate) const LET_ELSE_ON_CONSTANTS: &str =
    "`let … else` is not supported inside `graph!`, even on constants: write it as a \
     `match` that binds the value (`let v = match k { Some(v) => v, None => panic!() };`), \
     or run it before the graph";

/// `a[1..3]` of a node `a`: an unsized, borrowed `[T]`, which no node can hold.
pub(crate) fn slice_of_node(node: &str, range: &str) -> String {
    format!(
        "`{node}[{range}]` would be a node holding a borrowed slice of `{node}`, which no node \
         can hold (its size is not known, and it borrows another node's value); slice it inside \
         a `#[delayed]` function that returns an owned value, e.g. \
         `fn part(v: &[T]) -> Vec<T> {{ v[{range}].to_vec() }}`"
    )
}

/// `let r = &a;` of a node `a`.
pub(crate) const LET_BORROW_OF_NODE: &str =
    "a borrow of a node cannot be bound to a name inside `graph!`: the node's value exists \
     only while the graph runs; bind the node itself and lend it where it is read \
     (`sum(&a)`, or `sum(a)` for a `&T` parameter)";

/// `drop(a)` of a node `a`.
pub(crate) const DROP_OF_NODE: &str =
    "`drop` of a node is not needed: a node's value is dropped as soon as the last task \
     that reads it has run; remove the `drop` (a task of yours named `drop` that a glob \
     import brings in is called by its path, `tasks::drop(a)`, or imported by name)";

/// `for` over a node.
pub(crate) fn for_over_node(node: &str) -> String {
    format!(
        "`for` over `{node}`: its length is not known until the graph runs (Dask: \
         `TypeError: Delayed objects of unspecified length are not iterable`); process \
         the collection inside a `#[delayed]` function, or build one task per item at run \
         time with `Delayed<T>`"
    )
}

/// `for` over something other than a literal range or an array written out.
pub(crate) const FOR_NEEDS_LITERAL_RANGE: &str =
    "`for` inside `graph!` is unrolled at compile time, so it needs a literal range such as \
     `0..4` or `1..=8` (or `(0..4).rev()`), or an array written out such as `[a, b, c]`; for \
     a count known only at run time, build the graph with `Delayed<T>` or map over the items \
     inside one `#[delayed]` function";

/// An integer literal a loop is unrolled over (or a node repeated by) whose suffix is no
/// integer type. The lexer takes any identifier after an integer's digits as its suffix
/// (`4i7`; `0b1e5`, `0o7f32`, which rustc also reports as binary and octal floats), and
/// the suffix is checked only when the literal is parsed, after the macro has run: the
/// macro writes the loop's counter as new literals with the suffix, so it says so itself.
pub(crate) fn integer_suffix(literal: &str, suffix: &str) -> String {
    format!(
        "invalid suffix `{suffix}` for the integer literal `{literal}`: write an integer type \
         as its suffix (`i8` to `i128`, `isize`, `u8` to `u128`, `usize`), or none, as in `4` \
         or `4u8`"
    )
}

/// An integer literal whose value its suffix's type cannot hold (`300u8`, `-1u8`), which
/// the macro reads as a number (an option's value, a bound of an unrolled `for`, whose
/// counter it writes as new literals): rustc never sees it as written, so the macro says
/// what rustc's `overflowing_literals` would. `None` when it fits, or when the suffix is
/// none or no integer type ([`integer_suffix`] says that).
pub(crate) fn integer_out_of_range(literal: &str, value: i128, suffix: &str) -> Option<String> {
    // `isize` and `usize` as on a 64-bit target: a macro does not know the target's.
    let (min, max): (i128, i128) = match suffix {
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        "i128" => (i128::MIN, i128::MAX),
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        // A `u128` beyond `i128::MAX` is not read as a number at all.
        "u128" => (0, i128::MAX),
        _ => return None,
    };
    (!(min..=max).contains(&value)).then(|| {
        format!(
            "the integer literal `{literal}` is out of range for `{suffix}` ({min} to {max}): \
             write a value in that range, or a suffix whose type holds it"
        )
    })
}

/// The length of a repeated node (`[a; 3u8]`, `vec![a; 3u8]`) with an integer suffix
/// other than `usize`, which rustc would reject as a length (the macro writes the copies
/// out, so rustc never sees it).
pub(crate) fn repeat_count_suffix(literal: &str, suffix: &str) -> String {
    format!(
        "the length `{literal}` of a repeated node is a `usize`, not `{suffix}`: write it \
         without a suffix, or with `usize`"
    )
}

/// Whether an integer literal's suffix is an integer type, or none (see
/// [`integer_suffix`]: `0b1e5` reaches the macro as `0b1` with the suffix `e5`).
pub(crate) fn is_integer_suffix(suffix: &str) -> bool {
    const INTEGER_TYPES: &[&str] = &[
        "", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
    ];
    INTEGER_TYPES.contains(&suffix)
}

/// An unrolled `for` of more than `max` copies.
pub(crate) fn unroll_over_copies(max: u128) -> String {
    format!(
        "this `for` would unroll into more than {max} copies; build a graph this large at run \
         time with `Delayed<T>` (`(0..n).map(|i| delay!(task(i)))`), or do the loop inside one \
         `#[delayed]` function"
    )
}

/// An unrolled `for` whose first `copies` of `count` copies made `made` nodes, more than
/// `max`.
pub(crate) fn unroll_over_nodes(max: usize, made: usize, copies: u128, count: u128) -> String {
    let copies = match copies == count {
        true => format!("its {count} copies make {made}"),
        false => format!("its first {copies} of {count} copies make {made}"),
    };
    format!(
        "this `for` would unroll into more than {max} nodes ({copies}), and a debug build's \
         compile time grows with the square of a graph's nodes (about a minute for {max}); \
         build a graph this large at run time with `Delayed<T>` \
         (`(0..n).map(|i| delay!(task(i)))`), or do the loop inside one `#[delayed]` function"
    )
}

/// An unrolled `for` whose first `copies` of `count` copies leave the graph with
/// `lets` `let`s of constant code, more than `max`.
pub(crate) fn unroll_over_lets(max: usize, lets: usize, copies: u128, count: u128) -> String {
    let copies = match copies == count {
        true => format!("its {count} copies"),
        false => format!("its first {copies} of {count} copies"),
    };
    format!(
        "this `for` would give the graph more than {max} `let`s of constant code ({lets} after \
         {copies}), and rustc overflows its stack on that many nested `let`s in a debug \
         build; compute the constants with a plain loop before the graph and use the result \
         in it"
    )
}

/// `for` over a range bounded by a constant (`1..N_FILES`): `name` is the constant,
/// `pat` the loop's pattern, `range` the range as written and `literal` the range with
/// the constant written as `4`.
pub(crate) fn for_over_const_range(name: &str, pat: &str, range: &str, literal: &str) -> String {
    let var = if pat == "_" { "i" } else { pat };
    format!(
        "`for` inside `graph!` is unrolled when the macro expands, and a macro sees only the \
         name `{name}`, not its value; write the value itself, e.g. `for {pat} in {literal}` \
         where `{name}` is 4 (`const _: () = assert!({name} == 4);` keeps the two in step), \
         or, for a count that may change, build the nodes at run time with `Delayed<T>`: \
         `({range}).map(|{var}| delay!(task({var})))`"
    )
}

/// `x += …` and the other compound assignments on a node.
pub(crate) fn compound_assign(op: &str, node: &str, rhs: &str) -> String {
    let plain = op.trim_end_matches('=');
    format!(
        "`{op}` would mutate `{node}`, a task's result that other tasks may be reading (and \
         that may be shared across threads); write `{node} = {node} {plain} {rhs}`, which \
         makes a new node"
    )
}

/// `k += …` on a constant bound inside the graph.
pub(crate) fn compound_assign_constant(op: &str, name: &str, rhs: &str) -> String {
    let plain = op.trim_end_matches('=');
    format!(
        "`{op}` on `{name}`: names inside `graph!` are rebound, never mutated in place; \
         write `{name} = {name} {plain} {rhs}`"
    )
}

/// `x = …` on a name bound without `mut`, which plain Rust refuses too.
pub(crate) fn assign_to_immutable(name: &str) -> String {
    format!(
        "cannot assign twice to `{name}`, bound without `mut`: declare it `let mut {name} = …` \
         to rebind it, as in plain Rust, or bind a new name with `let`"
    )
}

/// `x = …` or `x += …` on a variable captured from outside the graph.
pub(crate) fn assign_to_captured(name: &str) -> String {
    format!(
        "`{name}` is not a variable of this graph: a graph cannot assign to captured \
         variables (every run would share them, across threads); bind a new name with `let`"
    )
}

/// `node.field = v`, `node[i] = v`.
pub(crate) fn assign_into_node(node: &str) -> String {
    format!(
        "assigning into `{node}` would mutate a task's result that other tasks may be \
         reading; compute the changed value in a `#[delayed]` function that takes `{node}` \
         and returns the new value"
    )
}

/// `&mut node`.
pub(crate) fn mut_borrow(node: &str) -> String {
    format!(
        "`&mut {node}`: a task's result is shared between threads and never mutated; pass \
         `&{node}` or `{node}` and return the new value from the task"
    )
}

/// A method named like one of the standard library's that take `&mut self` (`push`,
/// `insert`, `sort` …) called on a node as a statement, its result dropped.
pub(crate) fn mut_self_method(method: &str, node: &str) -> String {
    format!(
        "`.{method}()` takes `&mut self` in the standard library, but `{node}` is a task's \
         result that other tasks may be reading, shared between threads and never mutated \
         (in Dask the change would be silently lost); call `.{method}()` inside a \
         `#[delayed]` function that takes `{node}` by value and returns it, and rebind \
         `{node}` to that function's result{}",
        unused_result(method)
    )
}

/// The same called on a captured variable, with nodes as arguments.
pub(crate) fn mut_self_method_on_captured(method: &str, name: &str) -> String {
    format!(
        "`.{method}()` takes `&mut self` in the standard library, but `{name}` is captured \
         by the graph, which reads it afresh (cloned) on every run, so the change would be \
         lost; return the values from the graph (`(a, b)` as its last expression) and \
         `.{method}()` them into `{name}` after `compute`{}",
        unused_result(method)
    )
}

/// What the two messages above add for a method of the user's so named.
fn unused_result(method: &str) -> String {
    format!(" (if your `.{method}()` takes `&self`, its result is unused here: bind it with `let`)")
}

/// A method called on a node as a statement, its result dropped.
pub(crate) fn method_for_effect(method: &str, node: &str) -> String {
    format!(
        "`.{method}()` on `{node}` is called for its effect and its result is dropped: if it \
         takes `&mut self`, the change is lost, since `{node}` is a task's result that is \
         never mutated (other tasks may be reading it); call it inside a `#[delayed]` \
         function that takes `{node}` and returns the changed value, and rebind `{node}` to \
         that function's result"
    )
}

/// A node given to a macro (`println!`, `format!`, `assert!` …).
pub(crate) fn macro_on_node(mac: &str, node: &str) -> String {
    if !is_std_macro(mac) {
        // A macro of the user's may well write graph code, but `graph!` sees only its
        // tokens: it is expanded after the graph is built.
        return format!(
            "`{mac}!` cannot use `{node}` inside `graph!`: the macro is expanded after the \
             graph is built, so the tasks and nodes in it cannot become nodes; write its \
             code out in the graph, or have the macro write the whole `graph!`"
        );
    }
    format!(
        "`{mac}!` cannot use `{node}`: its value is not computed until the graph runs (Dask \
         would print `Delayed('…')`); compute the graph and use its result, or do this \
         inside a `#[delayed]` function"
    )
}

/// The standard library's macros that read values (printing, formatting, asserting).
fn is_std_macro(mac: &str) -> bool {
    super::substitute::is_format_macro_name(mac)
        || matches!(
            mac,
            "dbg" | "matches" | "vec" | "concat" | "env" | "include_str"
        )
}

/// A node given to a function that `graph!` knows is not a task, with `arity` arguments.
pub(crate) fn not_a_task(func: &str, arity: usize) -> String {
    let names: Vec<String> = (0..arity)
        .map(|i| match i {
            0..=2 => ["x", "y", "z"][i].to_owned(),
            _ => format!("x{i}"),
        })
        .collect();
    let params: Vec<String> = names
        .iter()
        .map(|n| format!("{n}: {}", n.to_uppercase()))
        .collect();
    format!(
        "`{func}` is not a task: `graph!` passes node values only to `#[delayed]` functions; \
         call it inside a `#[delayed]` function, or wrap it: \
         `#[delayed] fn my_step({}) -> T {{ {func}({}) }}`",
        params.join(", "),
        names.join(", ")
    )
}

/// A node passed to a function of the user's own that is not `#[delayed]`.
pub(crate) fn plain_fn_not_a_task(func: &str) -> String {
    format!(
        "`{func}` is not a task: `graph!` passes node values only to `#[delayed]` functions, \
         which run when the graph does; mark `fn {func}` with `#[delayed]` (it can still be \
         called directly), or call it inside a `#[delayed]` function"
    )
}

/// A plain function of the user's own called on constants only: still a node inside
/// `graph!` (every call of a free function is), so it must be a task or be computed
/// before. `call` is the call as written.
pub(crate) fn plain_fn_on_constants(func: &str, call: &str) -> String {
    format!(
        "`{func}` is not a task: inside `graph!` every call of a free function is a node, \
         which needs `#[delayed]`; compute `{call}` before the graph and capture the value \
         (`let v = {call};` above it, `v` inside), or mark `fn {func}` with `#[delayed]`"
    )
}

/// A closure capturing a node.
pub(crate) fn closure_captures(node: &str) -> String {
    format!(
        "a closure inside `graph!` cannot capture `{node}`: the closure would run before \
         `{node}` exists; move the closure's work into a `#[delayed]` function that takes \
         `{node}`"
    )
}

/// A closure given to a task that reads state from outside it, with constant code
/// after the call that may change that state.
pub(crate) const CLOSURE_READS_CHANGED_STATE: &str =
    "this closure runs when its task runs, after all of the graph's constant code, and \
     constant code after this call may change what it reads (sequential code would call \
     it first); read it into a `let` before the call and capture that \
     (`let n = v.len();` then `|z| z + n`), or pass it to the task as an argument";

/// `return`, `break`, `continue`.
pub(crate) fn early_exit(keyword: &str) -> String {
    let unrolled = if keyword == "return" {
        ""
    } else {
        " and a `for` in a graph is unrolled at compile time, so it runs every iteration \
         (give it the range you need)"
    };
    format!(
        "`{keyword}` is not allowed inside `graph!`: the graph's result is its last \
         expression{unrolled}; to stop early on a value known only when the graph runs, use \
         `?` on a node of `Result` or `Option`"
    )
}

/// `&&` and `||` on nodes.
pub(crate) fn short_circuit(op: &str, node: &str) -> String {
    let eager = if op == "&&" { "&" } else { "|" };
    format!(
        "`{op}` on `{node}` would branch on a value not known until the graph runs; use \
         `{eager}`, which evaluates both sides, or move the logic into a `#[delayed]` function"
    )
}

/// A node called as if it were a function.
pub(crate) fn call_node(node: &str) -> String {
    format!("`{node}` is a value the graph computes, not a function: only `#[delayed]` functions can be called on nodes")
}

/// `[a; n]` or `vec![a; n]` of a node with a count that is not a literal from 1 to
/// `max`.
pub(crate) fn repeat_count(max: usize) -> String {
    format!(
        "the number of copies of a node must be an integer literal from 1 to {max}: the \
         copies are fixed when the graph is built; build a longer or computed-length \
         collection inside a `#[delayed]` function"
    )
}

/// An `unsafe` block around tasks or nodes.
pub(crate) const UNSAFE_AROUND_NODES: &str =
    "an `unsafe` block cannot hold graph code: its tasks run as nodes when the graph runs, \
     outside the block; call them outside the block, and put the unsafe code inside a \
     `#[delayed]` function";

/// Anything else `graph!` cannot turn into nodes.
pub(crate) fn unsupported(what: &str) -> String {
    format!(
        "{what} is not supported inside `graph!`; move it into a `#[delayed]` function, or \
         compute it before the graph and pass it in"
    )
}
