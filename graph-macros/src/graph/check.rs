//! The prohibited operations: what cannot work on a value that does not exist yet,
//! each with the reason and what to write instead. Every message is raised by
//! `lower` on the smallest offending tokens.

/// `if`, `match`, `while` with a node as the condition or scrutinee.
pub(crate) fn branch_on_node(keyword: &str, node: &str) -> String {
    format!(
        "`{keyword}` on `{node}`: its value is not known until the graph runs, so the graph \
         cannot branch on it while it is built (Dask: `TypeError: Truth of Delayed objects \
         is not supported`); move the `{keyword}` into a `#[delayed]` function that takes \
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

/// `for` over a node.
pub(crate) fn for_over_node(node: &str) -> String {
    format!(
        "`for` over `{node}`: its length is not known until the graph runs (Dask: \
         `TypeError: Delayed objects of unspecified length are not iterable`); process \
         the collection inside a `#[delayed]` function, or build one task per item at run \
         time with `Delayed<T>`"
    )
}

/// `for` over something other than a literal range.
pub(crate) const FOR_NEEDS_LITERAL_RANGE: &str =
    "`for` inside `graph!` is unrolled at compile time, so it needs a literal range such as \
     `0..4` or `1..=8`; for a count known only at run time, build the graph with `Delayed<T>` \
     or map over the items inside one `#[delayed]` function";

/// `x += …` and the other compound assignments on a node.
pub(crate) fn compound_assign(op: &str, node: &str) -> String {
    let plain = op.trim_end_matches('=');
    format!(
        "`{op}` would mutate `{node}`, a task's result that other tasks may be reading; \
         write `{node} = {node} {plain} …`, which makes a new node"
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

/// A node given to a macro (`println!`, `format!`, `assert!` …).
pub(crate) fn macro_on_node(mac: &str, node: &str) -> String {
    format!(
        "`{mac}!` cannot use `{node}`: its value is not computed until the graph runs (Dask \
         would print `Delayed('…')`); compute the graph and use its result, or do this \
         inside a `#[delayed]` function"
    )
}

/// A node given to a function that `graph!` knows is not a task.
pub(crate) fn not_a_task(func: &str) -> String {
    format!(
        "`{func}` is not a task: `graph!` passes node values only to `#[delayed]` functions; \
         call it inside a `#[delayed]` function, or wrap it: \
         `#[delayed] fn my_step(x: T) -> U {{ {func}(x) }}`"
    )
}

/// `.compute()` and friends inside a graph.
pub(crate) fn compute_in_graph(method: &str) -> String {
    format!(
        "`.{method}()` inside `graph!` would run a graph while this one is being built; \
         call the tasks directly in this graph (they become its nodes), or compute the other \
         graph first and pass its result in as an input"
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

/// `return`, `break`, `continue`.
pub(crate) fn early_exit(keyword: &str) -> String {
    format!(
        "`{keyword}` is not allowed inside `graph!`: the graph's result is its last \
         expression; to stop early, use `?` on a node of `Result` or `Option`"
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

/// Anything else `graph!` cannot turn into nodes.
pub(crate) fn unsupported(what: &str) -> String {
    format!(
        "{what} is not supported inside `graph!`; move it into a `#[delayed]` function, or \
         compute it before the graph and pass it in"
    )
}
