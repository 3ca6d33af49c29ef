//! The taskweave macros: `#[delayed]` and `graph!`.
//!
//! Entry points only; each macro parses, checks and expands in its own modules.
//! Errors are collected (several mistakes are all reported in one build) and, next to
//! them, a best-effort expansion is still emitted so that one mistake gives one message.

use proc_macro::TokenStream;

mod ctxt;
mod delay;
mod delayed;
mod graph;
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
    delayed::expand(args.into(), item.into()).into()
}

/// Builds a static task graph. See the `taskweave` crate. A leading `crate = path;`
/// names taskweave when it is reached by another path: `graph!(crate = tw; |x: i64| …)`.
#[proc_macro]
pub fn graph(input: TokenStream) -> TokenStream {
    // Only for the wording of an error: which calls are nodes never depends on it.
    let names = scope::names_at("graph", &input);
    graph::expand(input.into(), &names.plain).into()
}

/// Builds one node of a dynamic graph from a call of a `#[delayed]` function:
/// `delay!(load(i))` is a `Delayed<T>`. See the `taskweave` crate. A leading
/// `crate = path;` names taskweave when it is reached by another path:
/// `delay!(crate = tw; load(i))`.
#[proc_macro]
pub fn delay(input: TokenStream) -> TokenStream {
    // Only for the wording of an error: which calls are nodes never depends on it.
    let names = scope::names_at("delay", &input);
    delay::expand(input.into(), &names).into()
}
