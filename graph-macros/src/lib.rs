//! The taskweave macros: `#[delayed]` and `graph!`.
//!
//! Entry points only; each macro parses, checks and expands in its own modules.
//! Errors are collected (several mistakes are all reported in one build) and, next to
//! them, a best-effort expansion is still emitted so that one mistake gives one message.

use proc_macro::TokenStream;

mod ctxt;
mod delay;
mod delayed;
#[cfg(test)]
mod fuzz;
mod graph;
mod lexable;
mod names;
mod scope;
#[cfg(test)]
mod tests;

/// Marks a function as a task. See the `taskweave` crate. Options, in any order:
/// `pure` (equal arguments, one node), `retries = n` (a panicking call, in `graph!` or
/// `delay!`, runs again up to `n` more times; by-value arguments must then be `Clone`)
/// and `crate = path` (taskweave reached by another path: a renamed dependency, a
/// re-export).
#[proc_macro_attribute]
pub fn delayed(args: TokenStream, item: TokenStream) -> TokenStream {
    on_own_stack(|| delayed::expand(args.into(), item.into()).into())
}

/// Builds a static task graph. See the `taskweave` crate. A leading `crate = path;`
/// names taskweave when it is reached by another path: `graph!(crate = tw; |x: i64| …)`.
#[proc_macro]
pub fn graph(input: TokenStream) -> TokenStream {
    // Only for the wording of an error: which calls are nodes never depends on it.
    on_own_stack(|| {
        let names = scope::names_at("graph", &input);
        graph::expand(input.into(), &names).into()
    })
}

/// Builds one node of a dynamic graph from a call of a `#[delayed]` function:
/// `delay!(load(i))` is a `Delayed<T>`. See the `taskweave` crate. A leading
/// `crate = path;` names taskweave when it is reached by another path:
/// `delay!(crate = tw; load(i))`.
#[proc_macro]
pub fn delay(input: TokenStream) -> TokenStream {
    // Only for the wording of an error: which calls are nodes never depends on it.
    on_own_stack(|| {
        let names = scope::names_at("delay", &input);
        delay::expand(input.into(), &names).into()
    })
}

/// The stack each macro runs on: syn's parser, the lowering and the syntax trees'
/// clones and drops recurse with the input's nesting (`f(f(f(…)))`, `a + b + c + …`),
/// and rustc's own stack ended at about a thousand levels (a crash of rustc, not an
/// error). Reserved, not committed: only the pages a macro touches are used.
pub(crate) const STACK: usize = 256 << 20;

/// Runs `f` on a stack of [`STACK`] bytes, on this thread (the compiler's bridge to
/// the macro is the thread's).
pub(crate) fn on_own_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::grow(STACK, f)
}
