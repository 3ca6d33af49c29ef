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

// ---- which calls are tasks: shared by `graph!` and `delay!` --------------------------

/// An attribute that makes a function a task: `#[delayed]`, `#[delayed(pure)]`, or a
/// path ending in `delayed` (`#[taskweave::delayed]`).
pub(crate) fn is_delayed(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "delayed")
}

/// A lowercase name: a function or a variable (not a type, a constructor or a constant).
pub(crate) fn starts_lowercase(ident: &syn::Ident) -> bool {
    let name = ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    name.starts_with(|c: char| c.is_lowercase() || c == '_')
}

/// Primitive types, whose associated functions (`f64::from`) are not tasks.
pub(crate) fn is_primitive(ident: &syn::Ident) -> bool {
    matches!(
        ident.to_string().as_str(),
        "bool"
            | "char"
            | "str"
            | "f32"
            | "f64"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
    )
}

/// A path to an associated function (`Point::new`, `f64::from`): not a task.
pub(crate) fn is_associated(path: &syn::Path) -> bool {
    path.segments
        .iter()
        .rev()
        .skip(1)
        .any(|s| !starts_lowercase(&s.ident) || is_primitive(&s.ident))
}

/// A function of the standard library (`std::cmp::max`): not a task.
pub(crate) fn is_standard(path: &syn::Path) -> bool {
    path.segments
        .first()
        .is_some_and(|s| matches!(s.ident.to_string().as_str(), "std" | "core" | "alloc"))
}
