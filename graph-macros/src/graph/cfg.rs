//! `#[cfg(…)]` on a statement inside `graph!`. A macro cannot tell whether a predicate
//! holds, and lowering the statement regardless would put nodes in the graph that the
//! same code run as plain Rust does not have. So `graph!` expands to itself twice, one
//! copy with the statement (its `#[cfg]` removed), one without, each under the `#[cfg]`
//! or its negation: rustc keeps the copy that holds and expands only that one. One
//! statement is settled per expansion, so `k` of them take `k + 1` expansions.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::visit_mut::VisitMut;
use syn::{Attribute, Expr, Stmt};

use super::parse::Input;

/// The two copies of the graph under the first `#[cfg]` found on one of its
/// statements, or `None` when there is none.
pub(crate) fn split(input: &Input) -> Option<TokenStream> {
    let mut find = Settle {
        keep: None,
        found: None,
    };
    let mut probe = input.body.clone();
    find.visit_body(&mut probe);
    let found = find.found?;
    let copy = |keep: bool| {
        let mut body = input.body.clone();
        Settle {
            keep: Some(keep),
            found: None,
        }
        .visit_body(&mut body);
        body.into_token_stream()
    };
    let (with, without) = (copy(true), copy(false));
    let path = input.runtime.macro_path("graph");
    let option = input.runtime.option_tokens();
    let graph = syn::Ident::new("__graph", Span::mixed_site());
    let predicate = match found {
        Found::Predicate(predicate) => predicate,
        // rustc's error on the attribute itself, written on the graph without it.
        Found::Malformed(attr) => {
            return Some(quote! {{
                #attr
                let #graph = #path!(#option #with);
                #graph
            }})
        }
    };
    Some(quote! {{
        #[cfg(#predicate)]
        let #graph = #path!(#option #with);
        #[cfg(not(#predicate))]
        let #graph = #path!(#option #without);
        #graph
    }})
}

/// Finds (`keep: None`) or settles (`Some(true)`: keep the statement, without its
/// `#[cfg]`; `Some(false)`: drop it) the first statement with a `#[cfg]`. Closures and
/// items are rustc's own code, their `#[cfg]`s rustc's to settle.
///
/// A `#[cfg_attr(predicate, attributes…)]` is settled the same way, the statement kept
/// in both copies: with the attributes in its place where the predicate holds (a
/// `#[cfg]` among them is settled by the next expansion), without them where it does
/// not. A malformed one (`#[cfg]`, `#[cfg = "x"]`) is left to rustc.
struct Settle {
    keep: Option<bool>,
    /// What the first statement's attribute settles on.
    found: Option<Found>,
}

enum Found {
    /// A `#[cfg]`'s or `#[cfg_attr]`'s predicate.
    Predicate(TokenStream),
    /// An attribute rustc refuses, as written.
    Malformed(TokenStream),
}

/// What `attr` (a `cfg` or `cfg_attr`) settles on, and the attributes a `cfg_attr`
/// stands for where its predicate holds.
fn settle_on(attr: &Attribute) -> (Found, Vec<Attribute>) {
    let syn::Meta::List(list) = &attr.meta else {
        return (Found::Malformed(attr.to_token_stream()), Vec::new());
    };
    if is_cfg(attr) {
        return (Found::Predicate(list.tokens.clone()), Vec::new());
    }
    let parser = syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated;
    match syn::parse::Parser::parse2(parser, list.tokens.clone()) {
        Ok(metas) if metas.len() >= 2 => {
            let mut metas = metas.into_iter();
            let predicate = metas.next().expect("two or more").into_token_stream();
            let attrs = metas.map(|meta| syn::parse_quote!(#[#meta])).collect();
            (Found::Predicate(predicate), attrs)
        }
        _ => (Found::Malformed(attr.to_token_stream()), Vec::new()),
    }
}

impl Settle {
    fn visit_body(&mut self, body: &mut Body) {
        match body {
            Body::Closure(c) => self.visit_expr_mut(&mut c.body),
            Body::Stmts(stmts) => self.visit_stmts(stmts),
        }
    }

    fn visit_stmts(&mut self, stmts: &mut Vec<Stmt>) {
        for i in 0..stmts.len() {
            if self.found.is_some() {
                return;
            }
            if let Some(attrs) = stmt_attrs(&mut stmts[i]) {
                if let Some(at) = attrs.iter().position(|a| is_cfg(a) || is_cfg_attr(a)) {
                    let (found, instead) = settle_on(&attrs[at]);
                    let drops_statement = is_cfg(&attrs[at]);
                    let malformed = matches!(found, Found::Malformed(_));
                    self.found = Some(found);
                    match self.keep {
                        None => {}
                        Some(true) if !malformed => {
                            attrs.splice(at..=at, instead);
                        }
                        Some(false) if drops_statement && !malformed => {
                            stmts.remove(i);
                        }
                        Some(_) => {
                            attrs.remove(at);
                        }
                    }
                    return;
                }
            }
            self.visit_stmt_mut(&mut stmts[i]);
        }
    }
}

impl VisitMut for Settle {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        self.visit_stmts(&mut block.stmts);
    }

    fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

fn is_cfg(attr: &Attribute) -> bool {
    attr.path().is_ident("cfg")
}

fn is_cfg_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("cfg_attr")
}

/// The attributes written before a statement (none for an item: rustc's own).
fn stmt_attrs(stmt: &mut Stmt) -> Option<&mut Vec<Attribute>> {
    match stmt {
        Stmt::Local(local) => Some(&mut local.attrs),
        Stmt::Macro(m) => Some(&mut m.attrs),
        Stmt::Item(_) => None,
        Stmt::Expr(expr, _) => expr_attrs(expr),
    }
}

/// The outer attributes of an expression statement (syn keeps them on the expression).
fn expr_attrs(expr: &mut Expr) -> Option<&mut Vec<Attribute>> {
    Some(match expr {
        Expr::Array(e) => &mut e.attrs,
        Expr::Assign(e) => &mut e.attrs,
        Expr::Async(e) => &mut e.attrs,
        Expr::Await(e) => &mut e.attrs,
        Expr::Binary(e) => &mut e.attrs,
        Expr::Block(e) => &mut e.attrs,
        Expr::Break(e) => &mut e.attrs,
        Expr::Call(e) => &mut e.attrs,
        Expr::Cast(e) => &mut e.attrs,
        Expr::Closure(e) => &mut e.attrs,
        Expr::Const(e) => &mut e.attrs,
        Expr::Continue(e) => &mut e.attrs,
        Expr::Field(e) => &mut e.attrs,
        Expr::ForLoop(e) => &mut e.attrs,
        Expr::Group(e) => &mut e.attrs,
        Expr::If(e) => &mut e.attrs,
        Expr::Index(e) => &mut e.attrs,
        Expr::Let(e) => &mut e.attrs,
        Expr::Lit(e) => &mut e.attrs,
        Expr::Loop(e) => &mut e.attrs,
        Expr::Macro(e) => &mut e.attrs,
        Expr::Match(e) => &mut e.attrs,
        Expr::MethodCall(e) => &mut e.attrs,
        Expr::Paren(e) => &mut e.attrs,
        Expr::Path(e) => &mut e.attrs,
        Expr::Range(e) => &mut e.attrs,
        Expr::Reference(e) => &mut e.attrs,
        Expr::Repeat(e) => &mut e.attrs,
        Expr::Return(e) => &mut e.attrs,
        Expr::Struct(e) => &mut e.attrs,
        Expr::Try(e) => &mut e.attrs,
        Expr::TryBlock(e) => &mut e.attrs,
        Expr::Tuple(e) => &mut e.attrs,
        Expr::Unary(e) => &mut e.attrs,
        Expr::Unsafe(e) => &mut e.attrs,
        Expr::While(e) => &mut e.attrs,
        Expr::Yield(e) => &mut e.attrs,
        _ => return None,
    })
}

/// The graph's body as written: the closure form whole, or the block form's
/// statements.
#[derive(Clone)]
pub(crate) enum Body {
    Closure(syn::ExprClosure),
    Stmts(Vec<Stmt>),
}

impl ToTokens for Body {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Body::Closure(c) => c.to_tokens(tokens),
            Body::Stmts(stmts) => stmts.iter().for_each(|s| s.to_tokens(tokens)),
        }
    }
}
