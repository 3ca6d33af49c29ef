//! Constant code inside `graph!` reads the graph's constants (`let`s run before the
//! graph under hidden names, and unrolled loop counters) through their replacements;
//! this puts them in, resolving names as Rust does: a name bound inside the code (a
//! closure's parameter, a `let` in a block, a pattern of `match`, `if let`, `while
//! let` or `for`) is that binding, not the graph's, and a nested item sees none of
//! them. Struct shorthand (`P { x }`) and inline arguments of format strings
//! (`format!("{x}")`) name a constant too, and get it.
//!
//! A macro's arguments that parse as expressions separated by commas are walked as
//! expressions (what a closure among them binds is its own; a format macro's named
//! argument keeps its name). Other macro arguments are tokens: their names are
//! replaced where they are not a path's segment, a field or a macro's name, unless a
//! binding of the code around the macro shadows them (bindings inside such tokens are
//! not seen).
//!
//! A replacement that would be read as one of the code's own bindings (`let v = x;`,
//! then `v` inside `|x| x + v`) is an error, not a silent change of meaning.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Pat, Stmt};

/// What a name of the graph's body stands for in constant code: its replacement, or
/// `None` when it is not one of the graph's constants.
pub(super) type Lookup<'a> = &'a dyn Fn(&syn::Ident) -> Option<TokenStream>;

/// `expr` with the graph's constants replaced (see the module's documentation), and
/// the errors of replacements that the code's own names would capture.
pub(super) fn substitute(expr: &Expr, lookup: Lookup<'_>) -> (TokenStream, Vec<syn::Error>) {
    let mut expr = expr.clone();
    let mut substitute = Substitute {
        lookup,
        // The code's own scope: `let` expressions (`let Some(y) = o` misplaced, which
        // rustc reports) bind there.
        inner: vec![Vec::new()],
        captured: Default::default(),
    };
    substitute.visit_expr_mut(&mut expr);
    (expr.into_token_stream(), substitute.captured.into_inner())
}

struct Substitute<'a> {
    lookup: Lookup<'a>,
    /// The names bound inside the code, scope by scope (innermost last).
    inner: Vec<Vec<String>>,
    /// Replacements that name what the code binds itself (see `replacement`).
    captured: std::cell::RefCell<Vec<syn::Error>>,
}

impl Substitute<'_> {
    /// The replacement of `ident`, unless the code binds it itself. A replacement that
    /// names one of the code's own bindings (`let v = x;` read as `v` in `|x| x + v`,
    /// where `v` is written `x`) would read that binding: an error instead.
    fn replacement(&self, ident: &syn::Ident) -> Option<TokenStream> {
        let name = super::lower::unraw(&ident.to_string());
        if self.binds(&name) {
            return None;
        }
        let replacement = (self.lookup)(ident)?;
        let shadowed = replacement.clone().into_iter().find_map(|tree| match tree {
            TokenTree::Ident(i) if self.binds(&super::lower::unraw(&i.to_string())) => Some(i),
            _ => None,
        });
        if let Some(shadowed) = shadowed {
            self.captured.borrow_mut().push(syn::Error::new(
                ident.span(),
                format!(
                    "`{name}` stands for `{shadowed}` here, which this code binds again \
                     (a parameter, a `let` or a pattern named `{shadowed}`), so it would \
                     read that binding: rename the inner `{shadowed}`"
                ),
            ));
        }
        Some(replacement)
    }

    /// Whether the code binds `name` where it is read.
    fn binds(&self, name: &str) -> bool {
        self.inner.iter().flatten().any(|bound| bound == name)
    }

    /// Binds the names of `pat` in the innermost scope.
    fn bind(&mut self, pat: &Pat) {
        self.inner
            .last_mut()
            .expect("a scope is open while a pattern binds")
            .extend(pattern_names(pat));
    }

    fn scoped(&mut self, visit: impl FnOnce(&mut Self)) {
        self.inner.push(Vec::new());
        visit(self);
        self.inner.pop();
    }

    /// A macro's tokens: names replaced where they are read, and inline format
    /// arguments of a format macro given as named ones.
    fn tokens(&self, tokens: TokenStream) -> TokenStream {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut out = TokenStream::new();
        let mut verbatim = 0;
        for (i, tree) in trees.iter().enumerate() {
            if verbatim > 0 || reads_no_names(&trees[i..]) {
                // `stringify!(k)` is "k" whatever `k` is: its `!` and group kept as
                // written.
                verbatim = if verbatim > 0 { verbatim - 1 } else { 2 };
                out.extend([tree.clone()]);
                continue;
            }
            match tree {
                TokenTree::Ident(ident) => {
                    let after_path = i > 0 && is_punct(&trees[i - 1], '.')
                        || i > 1 && is_punct(&trees[i - 1], ':') && is_punct(&trees[i - 2], ':');
                    // `d::x`, a field `d: v`, a macro `d!(..)`; not `d != 14`.
                    let before_path_field_or_bang = trees.get(i + 1).is_some_and(|t| {
                        is_punct(t, ':')
                            || is_punct(t, '!')
                                && matches!(trees.get(i + 2), Some(TokenTree::Group(_)))
                    });
                    let replacement = if after_path || before_path_field_or_bang {
                        None
                    } else {
                        self.replacement(ident)
                    };
                    match replacement {
                        Some(t) => out.extend(t),
                        None => out.extend([tree.clone()]),
                    }
                }
                TokenTree::Group(group) => {
                    let mut inner =
                        proc_macro2::Group::new(group.delimiter(), self.tokens(group.stream()));
                    inner.set_span(group.span());
                    out.extend([TokenTree::Group(inner)]);
                }
                other => out.extend([other.clone()]),
            }
        }
        out
    }

    /// Named arguments for the inline ones (`{x}`) of the format strings among
    /// `tokens` that name a replaced constant: `, x = replacement` each, but for the
    /// names the macro is given already (`given`).
    fn inline_arguments(&self, tokens: &TokenStream, given: &[String]) -> TokenStream {
        let mut named: Vec<String> = given.to_vec();
        let mut out = TokenStream::new();
        for tree in tokens.clone() {
            let TokenTree::Literal(literal) = tree else {
                continue;
            };
            let Ok(syn::Lit::Str(text)) = syn::parse2::<syn::Lit>(literal.to_token_stream()) else {
                continue;
            };
            for name in inline_names(&text.value()) {
                let Ok(mut ident) = syn::parse_str::<syn::Ident>(&name) else {
                    continue;
                };
                ident.set_span(literal.span());
                let Some(replacement) = self.replacement(&ident) else {
                    continue;
                };
                if named.contains(&name) || replacement.to_string() == name {
                    continue;
                }
                out.extend(quote::quote!(, #ident = #replacement));
                named.push(name);
            }
        }
        out
    }
}

impl VisitMut for Substitute<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Path(path) if path.qself.is_none() => {
                if let Some(replacement) = path.path.get_ident().and_then(|i| self.replacement(i)) {
                    *expr = Expr::Verbatim(replacement);
                }
            }
            Expr::Closure(closure) => self.scoped(|this| {
                for input in &closure.inputs {
                    this.bind(input);
                }
                this.visit_expr_mut(&mut closure.body);
            }),
            Expr::Match(m) => {
                self.visit_expr_mut(&mut m.expr);
                for arm in &mut m.arms {
                    self.scoped(|this| {
                        this.bind(&arm.pat);
                        if let Some((_, guard)) = &mut arm.guard {
                            this.visit_expr_mut(guard);
                        }
                        this.visit_expr_mut(&mut arm.body);
                    });
                }
            }
            Expr::ForLoop(for_loop) => {
                self.visit_expr_mut(&mut for_loop.expr);
                self.scoped(|this| {
                    this.bind(&for_loop.pat);
                    this.visit_block_mut(&mut for_loop.body);
                });
            }
            // The bindings of an `if let` or `while let` are its body's.
            Expr::If(i) => {
                self.scoped(|this| {
                    this.visit_expr_mut(&mut i.cond);
                    this.visit_block_mut(&mut i.then_branch);
                });
                if let Some((_, otherwise)) = &mut i.else_branch {
                    self.visit_expr_mut(otherwise);
                }
            }
            Expr::While(w) => self.scoped(|this| {
                this.visit_expr_mut(&mut w.cond);
                this.visit_block_mut(&mut w.body);
            }),
            Expr::Let(l) => {
                self.visit_expr_mut(&mut l.expr);
                self.bind(&l.pat);
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        self.scoped(|this| {
            for stmt in &mut block.stmts {
                match stmt {
                    Stmt::Local(local) => {
                        if let Some(init) = &mut local.init {
                            this.visit_expr_mut(&mut init.expr);
                            if let Some((_, diverge)) = &mut init.diverge {
                                this.visit_expr_mut(diverge);
                            }
                        }
                        this.bind(&local.pat);
                    }
                    // A nested item sees none of the code's names.
                    Stmt::Item(_) => {}
                    Stmt::Macro(m) => this.visit_macro_mut(&mut m.mac),
                    Stmt::Expr(expr, _) => this.visit_expr_mut(expr),
                }
            }
        });
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}

    fn visit_field_value_mut(&mut self, field: &mut syn::FieldValue) {
        // `P { x }` reads the name `x`: written out as `P { x: replacement }`.
        if let (None, syn::Member::Named(name), Expr::Path(_)) =
            (&field.colon_token, &field.member, &field.expr)
        {
            if let Some(replacement) = self.replacement(name) {
                field.colon_token = Some(Default::default());
                field.expr = Expr::Verbatim(replacement);
            }
            return;
        }
        self.visit_expr_mut(&mut field.expr);
    }

    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        if mac
            .path
            .segments
            .last()
            .is_some_and(|last| reads_no_names_in(&last.ident))
        {
            return;
        }
        let format = is_format_macro(&mac.path);
        // Arguments that parse as expressions are walked as expressions, so that what
        // a closure among them binds is its own (`vec![(|k: i64| k * 2)(3)]` with a
        // constant `k`), and a format macro's named argument keeps its name
        // (`format!("{v}", v = 3)`). Others (`vec![x; n]`, a macro's own syntax) are
        // tokens.
        let parser = Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        if let Ok(mut args) = syn::parse::Parser::parse2(parser, mac.tokens.clone()) {
            let mut named = Vec::new();
            for arg in args.iter_mut() {
                match arg {
                    Expr::Assign(assign) if format => match &*assign.left {
                        Expr::Path(p) if p.path.get_ident().is_some() => {
                            named.extend(p.path.get_ident().map(ToString::to_string));
                            self.visit_expr_mut(&mut assign.right);
                        }
                        _ => self.visit_expr_mut(arg),
                    },
                    _ => self.visit_expr_mut(arg),
                }
            }
            let inline = match format {
                true => self.inline_arguments(&mac.tokens, &named),
                false => TokenStream::new(),
            };
            if !inline.is_empty() {
                args.pop_punct();
            }
            let mut tokens = args.into_token_stream();
            tokens.extend(inline);
            mac.tokens = tokens;
            return;
        }
        let inline = match format {
            true => self.inline_arguments(&mac.tokens, &[]),
            false => TokenStream::new(),
        };
        let mut tokens = self.tokens(mac.tokens.clone());
        tokens.extend(inline);
        mac.tokens = tokens;
    }
}

/// The names `pat` binds.
pub(super) fn pattern_names(pat: &Pat) -> Vec<String> {
    let mut names = PatNames::default();
    names.visit_pat(pat);
    names.0
}

/// The names a pattern binds.
#[derive(Default)]
struct PatNames(Vec<String>);

impl<'a> Visit<'a> for PatNames {
    fn visit_pat_ident(&mut self, pat: &'a syn::PatIdent) {
        self.0.push(super::lower::unraw(&pat.ident.to_string()));
        syn::visit::visit_pat_ident(self, pat);
    }

    // Struct shorthand in a pattern (`P { x, .. }`) binds `x`: a `PatIdent` as well.
}

/// Whether `name!` is a standard macro that reads no value of the names in its
/// arguments: `stringify!(k)` is "k" and `cfg!(test)` a build setting whatever `k` and
/// `test` stand for in the graph, so a node or constant named so is not read there.
pub(super) fn reads_no_names_in(name: &proc_macro2::Ident) -> bool {
    name == "stringify" || name == "cfg"
}

/// Whether `trees` starts with a call of such a macro: its name, `!` and a group.
pub(super) fn reads_no_names(trees: &[TokenTree]) -> bool {
    matches!(
        trees,
        [TokenTree::Ident(name), bang, TokenTree::Group(_), ..]
            if reads_no_names_in(name) && is_punct(bang, '!')
    )
}

/// The standard macros whose arguments are a format string and its arguments.
fn is_format_macro(path: &syn::Path) -> bool {
    path.segments
        .last()
        .is_some_and(|last| is_format_macro_name(&last.ident.to_string()))
}

/// [`is_format_macro`] by the macro's name.
pub(super) fn is_format_macro_name(name: &str) -> bool {
    matches!(
        name,
        "format"
            | "format_args"
            | "print"
            | "println"
            | "eprint"
            | "eprintln"
            | "write"
            | "writeln"
            | "panic"
            | "unreachable"
            | "todo"
            | "unimplemented"
            | "assert"
            | "assert_eq"
            | "assert_ne"
            | "debug_assert"
            | "debug_assert_eq"
            | "debug_assert_ne"
    )
}

/// The names of a format string's inline arguments, in order: an argument (`{x}`,
/// `{x:?}`) and a width or precision given by name (`{v:w$}`, `{v:.p$}`). What is not
/// an identifier (`{x²}`, an index) is left to `format_args!`'s own errors.
pub(super) fn inline_names(text: &str) -> Vec<String> {
    let is_name = |s: &str| {
        // `format_args!` takes no raw identifiers.
        !s.starts_with(|c: char| c.is_ascii_digit())
            && !s.starts_with("r#")
            && syn::parse_str::<syn::Ident>(s).is_ok()
    };
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            continue;
        }
        // A format spec holds no braces: the argument ends at the next `}`.
        let Some(close) = rest.find('}') else { break };
        let (argument, spec) = rest[..close]
            .split_once(':')
            .unwrap_or((&rest[..close], ""));
        rest = &rest[close + 1..];
        if is_name(argument) {
            names.push(argument.to_owned());
        }
        for (dollar, _) in spec.match_indices('$') {
            let before = &spec[..dollar];
            let start = before
                .char_indices()
                .rev()
                .take_while(|&(_, c)| c.is_alphanumeric() || c == '_')
                .last()
                .map_or(dollar, |(i, _)| i);
            // `{x:0w$}`: the `0` flag, then the name.
            let name = before[start..].trim_start_matches(|c: char| c.is_ascii_digit());
            if is_name(name) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

fn is_punct(tree: &TokenTree, c: char) -> bool {
    matches!(tree, TokenTree::Punct(p) if p.as_char() == c)
}
