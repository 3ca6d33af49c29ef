//! Paths and names the generated code uses.

use proc_macro2::{Span, TokenStream};
use quote::quote;

/// The runtime's private module, through the facade crate.
pub(crate) fn private() -> TokenStream {
    quote!(::taskweave::__private)
}

/// A generated identifier, invisible to the user's code (mixed-site hygiene).
pub(crate) fn hidden(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// The per-parameter argument reader a `#[delayed]` fn's companion type provides.
pub(crate) fn arg_reader(index: usize) -> syn::Ident {
    syn::Ident::new(&format!("__arg{index}"), Span::call_site())
}
