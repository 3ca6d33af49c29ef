//! `graph!`: parse the closure or block, lower it to nodes (finding the prohibited
//! operations on the way), expand it to a node table and a dispatch function.

mod cfg;
// Its literal checks serve `#[delayed(retries = n)]` too.
pub(crate) mod check;
mod expand;
mod forest;
mod ir;
mod lower;
mod parse;
mod substitute;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ctxt::Ctxt;
use crate::scope::InScope;

/// Expands `graph!`; `scope` is what the file scan is certain of around it (see
/// [`crate::scope`]).
pub(crate) fn expand(tokens: TokenStream, scope: &InScope) -> TokenStream {
    let input = match parse::parse(tokens) {
        Ok(input) => input,
        Err(error) => {
            // Nothing to expand: the error, and a value that type-checks anywhere.
            let error = error.to_compile_error();
            return quote!({ #error; ::core::unreachable!() });
        }
    };
    // A `#[cfg]` on a statement: settled by rustc, one copy of the graph per outcome.
    if let Some(copies) = cfg::split(&input) {
        return copies;
    }
    let mut cx = Ctxt::default();
    for error in &input.errors {
        cx.push(error.clone());
    }
    let runtime = input.runtime.clone();
    let graph = lower::lower(&mut cx, input, scope);
    if cx.is_ok() {
        expand::expand(&graph, &runtime)
    } else {
        // The errors, next to a stand-in of the right shape: no cascade of type errors
        // from a half-built graph.
        let errors = cx.into_compile_errors();
        match expand::stand_in(&graph, &runtime) {
            Some(stand_in) => quote!({ #errors #stand_in }),
            // The last `compile_error!` is the block's value: an expression the
            // compiler has already reported, so `.compute(…)` on it says nothing more.
            None => quote!({ #errors }),
        }
    }
}
