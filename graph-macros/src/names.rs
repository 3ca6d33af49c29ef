//! Paths and names the generated code uses.

use proc_macro2::{Span, TokenStream};
use quote::quote;

/// The runtime's private module, through the facade crate.
pub(crate) fn private() -> TokenStream {
    quote!(::taskweave::__private)
}

/// The runtime's private module, spanned at the user's tokens (so that an error in
/// an expression built with it is reported on those tokens).
pub(crate) fn private_at(span: Span) -> TokenStream {
    quote::quote_spanned!(span=> ::taskweave::__private)
}

/// A generated identifier, invisible to the user's code (mixed-site hygiene).
pub(crate) fn hidden(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// The per-parameter argument reader a `#[delayed]` fn's companion type provides,
/// spanned where the argument is written (so a type error lands there).
pub(crate) fn arg_reader(index: usize, span: Span) -> syn::Ident {
    syn::Ident::new(&format!("__arg{index}"), span)
}
