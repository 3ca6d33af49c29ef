//! The input of `graph!`: a closure with typed inputs and a return type, or a block.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Pat, ReturnType, Stmt};

use super::cfg::Body;
use crate::names::{parse_crate_option, Runtime};

/// The most inputs a graph's `compute` takes (the runtime's `Graph` arities).
pub(super) const MAX_INPUTS: usize = 8;

/// The parts of a `graph!` invocation.
pub(crate) struct Input {
    /// `name: Type` for each input of the closure form.
    pub(crate) inputs: Vec<(syn::Ident, syn::Type)>,
    /// The closure form's return type.
    pub(crate) ret: Option<syn::Type>,
    /// The body.
    pub(crate) stmts: Vec<Stmt>,
    /// Mistakes in the inputs, reported with whatever else lowering finds.
    pub(crate) errors: Vec<syn::Error>,
    /// Where the expansion finds the runtime (`crate = path;` before the closure).
    pub(crate) runtime: Runtime,
    /// The body as written, for `graph!` to expand to itself (see [`super::cfg`]).
    pub(crate) body: Body,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let runtime = parse_crate_option(input, "graph")?.unwrap_or_default();
        let mut parsed = Self::parse_body(input)?;
        parsed.runtime = runtime;
        Ok(parsed)
    }
}

impl Input {
    /// The closure or the block, after the options.
    fn parse_body(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(syn::Token![|])
            || input.peek(syn::Token![move])
            || input.peek(syn::Token![||])
        {
            let closure: syn::ExprClosure = input.parse()?;
            return from_closure(closure);
        }
        let stmts = syn::Block::parse_within(input)?;
        Ok(Input {
            inputs: Vec::new(),
            ret: None,
            body: Body::Stmts(stmts.clone()),
            stmts,
            errors: Vec::new(),
            runtime: Runtime::default(),
        })
    }
}

fn from_closure(closure: syn::ExprClosure) -> syn::Result<Input> {
    let mut errors = Vec::new();
    let mut push = |e: syn::Error| errors.push(e);
    if let Some(token) = &closure.asyncness {
        push(syn::Error::new_spanned(
            token,
            "a graph is not `async`; remove `async`",
        ));
    }
    let mut inputs = Vec::new();
    // `|mut v: T|` is `|v: T| { let mut v = v; … }`, as in a closure.
    let mut rebound: Vec<Stmt> = Vec::new();
    for input in &closure.inputs {
        match input {
            Pat::Type(pt) => match &*pt.pat {
                Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    inputs.push((pi.ident.clone(), (*pt.ty).clone()));
                    if let Some(token) = &pi.mutability {
                        let name = &pi.ident;
                        rebound.push(
                            syn::parse_quote_spanned!(token.span=> let #token #name = #name;),
                        );
                    }
                }
                other => {
                    push(syn::Error::new_spanned(
                        other,
                        "a graph input is a plain name with a type, `name: Type`",
                    ));
                    // Keep the input's place, so the stand-in has the right arity.
                    let ident = syn::Ident::new(
                        &format!("__input{}", inputs.len()),
                        proc_macro2::Span::mixed_site(),
                    );
                    inputs.push((ident, (*pt.ty).clone()));
                }
            },
            other => {
                push(syn::Error::new_spanned(
                    other,
                    "a graph input needs its type: `|x: i64| -> T { … }`",
                ));
                let ident = syn::Ident::new(
                    &format!("__input{}", inputs.len()),
                    proc_macro2::Span::mixed_site(),
                );
                inputs.push((ident, syn::parse_quote!(_)));
            }
        }
    }
    if closure.inputs.len() > MAX_INPUTS {
        push(syn::Error::new_spanned(
            &closure.inputs,
            format!("a graph takes at most {MAX_INPUTS} inputs; pass a tuple or a struct instead"),
        ));
    }
    let ret = match &closure.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => None,
    };
    let mut stmts = rebound;
    match &*closure.body {
        syn::Expr::Block(block) => stmts.extend(block.block.stmts.iter().cloned()),
        body => stmts.push(Stmt::Expr((*body).clone(), None)),
    }
    Ok(Input {
        inputs,
        ret,
        stmts,
        errors,
        runtime: Runtime::default(),
        body: Body::Closure(closure),
    })
}

/// Parses the macro input.
pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Input> {
    syn::parse2(tokens)
}
