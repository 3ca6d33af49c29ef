//! Paths and names the generated code uses, which calls are tasks, and how tokens are
//! quoted in messages.

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

/// A builtin attribute that cannot make a function a task: doc comments, lint levels,
/// `inline`, `cold`, `must_use`, `track_caller`, `deprecated`, tool attributes. No
/// macro can stand for them (rustc rejects a macro of a builtin's name as ambiguous),
/// so a function carrying only these is what its own tokens say.
pub(crate) fn is_inert(attr: &syn::Attribute) -> bool {
    const INERT: &[&str] = &[
        "doc",
        "allow",
        "warn",
        "deny",
        "forbid",
        "expect",
        "inline",
        "cold",
        "must_use",
        "track_caller",
        "deprecated",
    ];
    let path = attr.path();
    let tool = path.segments.len() > 1
        && path
            .segments
            .first()
            .is_some_and(|s| s.ident == "rustfmt" || s.ident == "clippy");
    tool || INERT.iter().any(|name| path.is_ident(name))
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

/// Tokens as a user would write them, for messages: `inc(x + 1)`, `v.len()`.
pub(crate) fn tidy(tokens: &TokenStream) -> String {
    let text = tokens.to_string();
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = out.chars().last().unwrap_or(' ');
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            let word = |c: char| c.is_alphanumeric() || c == '_' || c == '!' || c == '>';
            let glue_after = matches!(prev, '(' | '[' | '.' | '&' | ':')
                && !(prev == '&' && out.ends_with(" &"));
            let glue_before = matches!(next, ')' | ']' | ',' | '.' | '?' | ';' | ':')
                || (matches!(next, '(' | '[') && word(prev));
            if glue_after || glue_before {
                continue;
            }
        }
        out.push(c);
    }
    out
}
