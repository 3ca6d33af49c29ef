//! From the body of a `graph!` to the node graph: every call of a task, operator,
//! method call, field access and index on a node becomes a node; constants stay code.
//! The prohibited operations are found here, where it is known which names are nodes.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{BinOp, Expr, Pat, Stmt, UnOp};

use super::check;
use super::ir::{Graph, MethodCall, Node, Op, Operand, OutPat, PlaceOf, Value, ValueId};
use super::parse::Input;
use crate::ctxt::Ctxt;
use crate::names::{is_associated, is_inert, is_standard, starts_lowercase, tidy};
use crate::scope::InScope;

/// The most iterations one unrolled `for` may have.
const MAX_UNROLL: u128 = 100_000;
/// The most nodes the copies of one unrolled `for` may make. Every node's code holds a
/// closure or two, and an incremental build (a debug one, by default) hashes the type
/// check of the whole function around the graph once per closure in it: its compile
/// time grows with the square of the nodes. Measured in a debug build on 2 cores,
/// `s = add(s, inc(i))` unrolled: 1,000 nodes 16 s, 1,500 about 45 s, 2,000 about 80 s
/// (13 s without incremental compilation, which is linear).
const MAX_UNROLLED_NODES: usize = 1_500;
/// The most `let`s of constant code a graph may have when an unrolled `for` adds to
/// them. Each opens a scope inside the one before, and rustc (LLVM, writing debug
/// info) overflows its stack on the nesting: measured, 1,200 copies of `c = c + i`
/// (two `let`s each) compile in 2 s, 1,500 crash rustc.
const MAX_CONSTANT_LETS: usize = 1_500;

/// Whether a name may be assigned again (`let mut`), as in plain Rust.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mutability {
    Immutable,
    Mutable,
}

impl Mutability {
    fn of(token: &Option<syn::token::Mut>) -> Self {
        match token {
            Some(_) => Mutability::Mutable,
            None => Mutability::Immutable,
        }
    }
}

/// What a name in the graph's body stands for.
#[derive(Clone)]
enum Binding {
    /// A node's result.
    Node(ValueId),
    /// A constant read in place: an input, or a constant `let` under a hidden name.
    Const(TokenStream),
    /// An unrolled loop's counter: a literal.
    Literal(TokenStream),
}

struct Lower<'c> {
    cx: &'c mut Ctxt,
    /// The names bound so far, scope by scope: each with its binding and the name as
    /// written where it was bound.
    scopes: Vec<Vec<(String, Binding, syn::Ident, Mutability)>>,
    /// Names read as bound ones: where bound, where read (see [`Graph::same_names`]).
    same_names: std::cell::RefCell<Vec<(syn::Ident, syn::Ident)>>,
    /// Lowering a second or later copy of an unrolled loop's body, whose names the
    /// first copy has had checked.
    copy_of_loop: std::cell::Cell<bool>,
    /// The copy being lowered of each unrolled loop around, outermost first (`i = 3`;
    /// see [`Node::copy`]).
    copies: Vec<String>,
    graph: Graph,
    slot_names: HashMap<String, usize>,
    /// Every slot's name so far.
    slots_taken: HashSet<String>,
    consts: usize,
    /// The `let`s of constant code so far (see [`MAX_CONSTANT_LETS`]).
    constant_lets: usize,
    /// The hidden names of constants declared `mut`, which constant code may change.
    mutable_consts: HashSet<String>,
    /// The prelude's entries that may change state (they call something), by index.
    prelude_changes: Vec<usize>,
    /// Operands hoisted so far: (node, hidden name, tokens, prelude index, whether it
    /// runs code). Those that only read values, with no state-changing constant code
    /// after them, are put back (see `settle_hoisting`).
    hoisted: Vec<(usize, syn::Ident, TokenStream, usize, bool)>,
    /// Closures given to tasks that read state from outside them: (the closure's
    /// operand, prelude length when its node was made). One that state-changing constant code follows is an
    /// error (see `settle_hoisting`).
    closures: Vec<(TokenStream, usize)>,
    /// The hidden names of constants bound to such closures (`let f = |z| z + v.len();`),
    /// which an operand may name instead of writing the closure.
    closure_consts: HashSet<String>,
    /// Functions declared in the graph's body that cannot be tasks (no attribute but
    /// inert ones): ordinary code, known from the input itself.
    local_fns: HashSet<String>,
    /// The names of the `macro_rules!` the body defines (see [`Lower::item`]).
    macros_defined: HashSet<String>,
    /// Plain functions the file scan is certain of around the graph: for the wording of
    /// an error only, never for what is a node (see [`crate::scope`]).
    scanned_plain: HashSet<String>,
    /// Local variables of the function around the graph, bound before it, that the file
    /// scan is certain of: a call of one (a closure) is plain code (see `call`).
    scanned_locals: HashSet<String>,
    /// The file scan is certain that a bare `drop` is the user's (see
    /// [`is_known_plain`](Self::is_known_plain)).
    user_drop: bool,
    /// Where the expansion finds the runtime, for the checks written into the prelude.
    runtime: crate::names::Runtime,
}

/// Lowers a parsed `graph!`. Errors go to `cx`; the graph returned is still complete
/// enough to expand, so that one mistake gives one message. What the file scan found
/// (`scope`) only words errors (see [`crate::scope`]).
pub(crate) fn lower(cx: &mut Ctxt, input: Input, scope: &InScope) -> Graph {
    let mut lower = Lower {
        cx,
        scopes: vec![Vec::new()],
        graph: Graph {
            inputs: input.inputs.clone(),
            ret: input.ret,
            prelude: Vec::new(),
            hoisted: Vec::new(),
            nodes: Vec::new(),
            values: Vec::new(),
            output: Operand::Temp(quote!(())),
            same_names: Vec::new(),
        },
        same_names: Default::default(),
        copy_of_loop: Default::default(),
        copies: Vec::new(),
        slot_names: HashMap::new(),
        slots_taken: HashSet::new(),
        consts: 0,
        constant_lets: 0,
        mutable_consts: HashSet::new(),
        prelude_changes: Vec::new(),
        hoisted: Vec::new(),
        closures: Vec::new(),
        closure_consts: HashSet::new(),
        local_fns: HashSet::new(),
        macros_defined: HashSet::new(),
        scanned_plain: scope.plain.clone(),
        scanned_locals: scope.locals.clone(),
        user_drop: scope.user_drop,
        runtime: input.runtime.clone(),
    };
    for (ident, _) in &input.inputs {
        lower.bind(ident, Binding::Const(ident.to_token_stream()));
    }
    for stmt in &input.stmts {
        if let Stmt::Item(syn::Item::Fn(f)) = stmt {
            // `#[delayed]`, `#[cfg_attr(…, delayed)]` or an attribute macro may make a
            // task: called through its companion like any other.
            if f.attrs.iter().all(is_inert) {
                lower.local_fns.insert(f.sig.ident.to_string());
            }
        }
    }
    let (mut output, before_tail) = lower.body_counting(&input.stmts);
    // One mistake, one message: a last statement that is wrong in itself says so alone.
    if lower.cx.count() == before_tail {
        if let Some((ret, semi)) = value_then_semicolon(&input.stmts, &lower.graph.ret) {
            // The body's `()` as the declared type, which only `()` (perhaps through an
            // alias, which the macro cannot see through) is: else rustc's one error, on
            // the `;`, in place of a mismatch spanning the whole call.
            // The call, not the type, on the `;`: rustc reports an unmet bound of an
            // inferred parameter on the call.
            let span = semi.span;
            let private = lower.runtime.private_at(span);
            let unit = syn::Ident::new("__unit", Span::mixed_site());
            let call = quote_spanned!(span=> #private::ends_in_semicolon());
            output = Operand::Temp(quote!({
                let #unit: #ret = #call;
                #unit
            }));
        }
    }
    if let Some(Operand::Ref(_, span)) = Some(&output).filter(|o| o.reads_nodes()) {
        lower.cx.push(syn::Error::new(
            *span,
            "a graph cannot return a borrow of a node: its result outlives the graph's \
             state; return the value itself",
        ));
    }
    lower.graph.output = output;
    lower.graph.same_names = distinct_reads(lower.same_names.take());
    lower.settle_hoisting();
    lower.graph.move_inputs_read_once();
    lower.graph
}

impl Lower<'_> {
    // ---- scopes -------------------------------------------------------------

    /// Binds a name that cannot be assigned again (an input, a loop counter).
    fn bind(&mut self, ident: &syn::Ident, binding: Binding) {
        self.bind_as(ident, binding, Mutability::Immutable);
    }

    fn bind_as(&mut self, ident: &syn::Ident, binding: Binding, mutability: Mutability) {
        let scope = self.scopes.last_mut().expect("a scope");
        scope.push((
            unraw(&ident.to_string()),
            binding,
            ident.clone(),
            mutability,
        ));
    }

    /// Whether the binding `name` reads was declared `mut`.
    fn is_mutable(&self, name: &str) -> bool {
        let name = unraw(name);
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|(n, ..)| *n == name)
            .is_some_and(|(.., mutability)| *mutability == Mutability::Mutable)
    }

    fn lookup(&self, name: &str) -> Option<&Binding> {
        self.bound(name).map(|(binding, _)| binding)
    }

    fn bound(&self, name: &str) -> Option<(&Binding, &syn::Ident)> {
        let name = unraw(name);
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|(n, ..)| *n == name)
            .map(|(_, binding, bound, _)| (binding, bound))
    }

    /// The binding `ident` reads, as [`lookup`](Self::lookup), for code that reads it
    /// in its place: the expansion checks that `ident` is the very name bound (see
    /// [`Graph::same_names`]), not one of another hygiene spelled alike.
    fn resolve(&self, ident: &syn::Ident) -> Option<&Binding> {
        let (binding, bound) = self.bound(&ident.to_string())?;
        // An uppercase name may be a constant's or a unit struct's around the graph,
        // which a `let` of it would match rather than bind: not checked.
        if !starts_lowercase(bound) {
            return Some(binding);
        }
        // An unrolled loop reads the same tokens once per copy: checked in the first.
        if !self.copy_of_loop.get() {
            let pair = (bound.clone(), ident.clone());
            self.same_names.borrow_mut().push(pair);
        }
        Some(binding)
    }

    /// Rebinds an existing name in the scope that declared it (`y = inc(y)`).
    fn rebind(&mut self, name: &str, binding: Binding) -> bool {
        let name = unraw(name);
        for scope in self.scopes.iter_mut().rev() {
            if let Some(entry) = scope.iter_mut().rev().find(|(n, ..)| *n == name) {
                entry.1 = binding;
                return true;
            }
        }
        false
    }

    fn is_node(&self, ident: &syn::Ident) -> bool {
        matches!(self.lookup(&ident.to_string()), Some(Binding::Node(_)))
    }

    // ---- statements ---------------------------------------------------------

    /// Lowers statements; returns the tail expression's operand (or `()`).
    fn body(&mut self, stmts: &[Stmt]) -> Operand {
        self.body_counting(stmts).0
    }

    /// [`body`](Self::body), and how many errors there were before its last statement.
    fn body_counting(&mut self, stmts: &[Stmt]) -> (Operand, usize) {
        let mut output = Operand::Temp(quote!(()));
        let mut before_last = self.cx.count();
        // A `;` alone is no statement (syn reads it as an empty expression, which as a
        // constant statement would be `let _ = ;`).
        let stmts: Vec<&Stmt> = stmts.iter().filter(|s| !is_empty_statement(s)).collect();
        for (i, &stmt) in stmts.iter().enumerate() {
            let last = i + 1 == stmts.len();
            if last {
                before_last = self.cx.count();
            }
            match stmt {
                Stmt::Local(local) => self.local(local),
                Stmt::Item(item) => self.item(item),
                Stmt::Macro(m) => {
                    let expr = Expr::Macro(syn::ExprMacro {
                        attrs: m.attrs.clone(),
                        mac: m.mac.clone(),
                    });
                    self.statement(&expr);
                }
                Stmt::Expr(expr, None) if last && !is_statement_like(expr) => {
                    output = self.expr(expr);
                }
                Stmt::Expr(expr, _) => self.statement(expr),
            }
        }
        (output, before_last)
    }

    /// An item of the graph's body (a `fn`, a `const`, a `use`, a `macro_rules!`): put
    /// before the graph's code, where all of the body sees it, as all of a block sees
    /// its items. Only at the body's top: one in a nested block of graph code or in an
    /// unrolled loop would be seen by the whole graph (a `const K` in a block shadowing
    /// an outer `K` everywhere), or declared once per iteration; and a `macro_rules!`
    /// named twice would be the second everywhere, where Rust has each use see the one
    /// before it.
    fn item(&mut self, item: &syn::Item) {
        if self.scopes.len() > 1 {
            let what = item_kind(item);
            self.cx.error_at(
                item_name(item),
                format!(
                    "{what} inside a block of graph code or a `for` is not supported: the \
                     graph's items are declared once, for all of it; declare it at the top \
                     of the graph's body, or outside the graph"
                ),
            );
            return;
        }
        if let syn::Item::Macro(m) = item {
            if let Some(name) = m
                .ident
                .as_ref()
                .filter(|_| m.mac.path.is_ident("macro_rules"))
            {
                let name = unraw(&name.to_string());
                if !self.macros_defined.insert(name.clone()) {
                    self.cx.error_at(
                        item_name(item),
                        format!(
                            "`macro_rules! {name}` is defined twice in this graph: its items \
                             are declared before its code, so every use would see the last; \
                             give the second another name"
                        ),
                    );
                    return;
                }
            }
        }
        self.graph.prelude.push(item.to_token_stream());
    }

    /// An expression used as a statement: an assignment, an unrolled `for`, a task run
    /// for its effects, or a constant statement run before the graph.
    fn statement(&mut self, expr: &Expr) {
        if let Some((method, message)) = self.lost_change(expr) {
            self.cx.error_at(method, message);
            return;
        }
        match expr {
            Expr::Assign(assign) => self.assign(assign),
            Expr::ForLoop(for_loop) => self.for_loop(for_loop),
            Expr::MethodCall(m) if self.node_use(&m.receiver).is_some() => {
                let node = self.node_use(&m.receiver).unwrap_or_default();
                self.cx.error_at(
                    &m.method,
                    check::method_for_effect(&m.method.to_string(), &node),
                );
            }
            _ => match self.expr(expr) {
                Operand::Const(tokens) | Operand::Temp(tokens) => {
                    self.prelude_let(quote!(_), tokens);
                }
                operand @ (Operand::Array(..)
                | Operand::Tuple(..)
                | Operand::Vec(..)
                | Operand::Ref(..)) => {
                    self.materialize(operand, expr.span());
                }
                // Only a node's operands are hoisted (`add_node`).
                Operand::Value(..) | Operand::Hoisted(..) => {}
            },
        }
    }

    /// A statement that calls a method named like one of the standard library's that
    /// take `&mut self` (`v.push(1);`) on a node, or on a captured value with nodes as
    /// arguments, and drops its result: the change would be lost (in Dask too, silently),
    /// and a method of the user's so named that takes `&self` would compute nothing.
    /// Where the result is used, the call is lowered like any method and its receiver's
    /// type decides (see [`Op::Method`]'s `place`).
    fn lost_change<'e>(&self, expr: &'e Expr) -> Option<(&'e syn::Ident, String)> {
        let Expr::MethodCall(m) = expr else {
            return None;
        };
        if !is_mutator(&m.method) {
            return None;
        }
        let method = m.method.to_string();
        if let Some(node) = self.node_use(&m.receiver) {
            return Some((&m.method, check::mut_self_method(&method, &node)));
        }
        if m.args.iter().any(|a| self.uses_nodes(a)) {
            let name = tidy(&m.receiver.to_token_stream());
            return Some((
                &m.method,
                check::mut_self_method_on_captured(&method, &name),
            ));
        }
        None
    }

    fn local(&mut self, local: &syn::Local) {
        let Some(init) = &local.init else {
            self.cx.error_at(
                local,
                "`let` without a value is not supported inside `graph!`; bind the value where it is declared",
            );
            return;
        };
        if let Some((else_token, _)) = &init.diverge {
            // One error for the whole `let … else`, not one more for its pattern.
            match self.node_use(&init.expr) {
                Some(node) => self.cx.error_at(
                    &init.expr,
                    check::branch_on_node("let … else", "let … else", &node),
                ),
                None => self.cx.error_at(else_token, check::LET_ELSE_ON_CONSTANTS),
            }
            return;
        }
        let (pat, ty) = match &local.pat {
            Pat::Type(pt) => (&*pt.pat, Some(&*pt.ty)),
            pat => (pat, None),
        };
        let before = self.graph.nodes.len();
        let errors = self.cx.count();
        let operand = self.expr(&init.expr);
        // One mistake, one message: the value's own error (`&mut a`) is the one to fix.
        let operand = match operand {
            Operand::Ref(inner, _) if self.cx.count() > errors && inner.reads_nodes() => {
                Operand::Temp(quote!(()))
            }
            operand => operand,
        };
        // A `let mut`, a type or a tuple pattern takes the value for its own; a plain
        // `let` stands for it (see `binding_for`), and `let _` reads nothing.
        let owned = match pat {
            Pat::Ident(pi) => pi.mutability.is_some() || ty.is_some(),
            Pat::Tuple(_) | Pat::Paren(_) => true,
            _ => false,
        };
        let operand = if owned {
            self.owned_capture(operand, &init.expr)
        } else {
            operand
        };
        match pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                let mutability = Mutability::of(&pi.mutability);
                let span = init.expr.span();
                let binding = match (self.binding_for(operand, span, ty, mutability), ty) {
                    (Binding::Node(v), Some(ty)) => {
                        Binding::Node(self.typed(v, before, ty, init.expr.span()))
                    }
                    (binding, _) => binding,
                };
                self.bind_as(&pi.ident, binding, mutability);
            }
            Pat::Wild(_) => {
                if !operand.reads_nodes() {
                    if let Operand::Const(t) | Operand::Temp(t) = operand {
                        self.prelude_let(quote!(_), t);
                    }
                }
            }
            Pat::Tuple(_) | Pat::Paren(_) => {
                if operand.reads_nodes() {
                    let node = match operand {
                        Operand::Value(v, _) if self.is_fresh(v, before) => {
                            self.graph.values[v].node = usize::MAX;
                            self.graph.nodes.len() - 1
                        }
                        operand => {
                            let span = init.expr.span();
                            let Operand::Value(v, _) =
                                self.add_node("split", span, Op::Pass(operand))
                            else {
                                unreachable!()
                            };
                            self.graph.values[v].node = usize::MAX;
                            self.graph.nodes.len() - 1
                        }
                    };
                    let out = self.out_pattern(pat, node);
                    self.graph.nodes[node].out = out;
                    self.graph.nodes[node].ty = ty.cloned();
                } else if let Operand::Const(t) | Operand::Temp(t) = operand {
                    let renamed = self.const_pattern(pat);
                    self.prelude_let(renamed, t);
                }
            }
            other => {
                self.cx.error_at(other, unsupported_pattern(other));
            }
        }
    }

    /// A captured variable, or a field or index of one (`place`, read as `operand`),
    /// that a name takes for its own (`let mut q = cfg.v;`, a type, a tuple pattern,
    /// `q = cfg.v;`): a clone, as for a task that takes it by value (`own_captured`,
    /// whose message says why if it is not `Clone`), since every run of the graph reads
    /// it again; moved out, it made the graph a closure that runs once (rustc's E0525
    /// on the whole graph). Any other operand is returned as it is.
    fn owned_capture(&self, operand: Operand, place: &Expr) -> Operand {
        match operand {
            Operand::Const(tokens)
                if place_root(place).is_some_and(|root| self.is_captured(root)) =>
            {
                let span = place.span();
                let private = self.runtime.private_at(span);
                Operand::Temp(
                    quote_spanned!(span=> #private::own_captured(&#private::Const(&#tokens))),
                )
            }
            operand => operand,
        }
    }

    /// What a name bound to `operand` stands for; constants get a hidden `let`, a
    /// `let mut` for a name declared `mut` (constant code may change it, as in
    /// `while m < 4 { m += 1; }`).
    fn binding_for(
        &mut self,
        operand: Operand,
        span: Span,
        ty: Option<&syn::Type>,
        mutability: Mutability,
    ) -> Binding {
        match operand {
            Operand::Value(v, _) => Binding::Node(v),
            Operand::Const(tokens) if ty.is_none() && mutability == Mutability::Immutable => {
                Binding::Const(tokens)
            }
            Operand::Const(tokens) | Operand::Temp(tokens) => {
                let hidden = self.hidden_const();
                let ty = ty.map(|t| quote!(: #t));
                let mutable = (mutability == Mutability::Mutable).then(|| quote!(mut));
                if mutable.is_some() {
                    self.mutable_consts.insert(hidden.to_string());
                }
                self.prelude_let(quote!(#mutable #hidden #ty), tokens);
                Binding::Const(hidden.into_token_stream())
            }
            // `let r = &v;` of a constant: a constant borrow, bound as the code wrote it
            // (it was made a node whose value borrowed a temporary).
            Operand::Ref(inner, _) if matches!(*inner, Operand::Const(_) | Operand::Temp(_)) => {
                let (Operand::Const(tokens) | Operand::Temp(tokens)) = *inner else {
                    unreachable!()
                };
                self.binding_for(Operand::Temp(quote!(&#tokens)), span, ty, mutability)
            }
            Operand::Ref(inner, at) if inner.reads_nodes() => {
                // A borrow of a node outlives nothing it could borrow from: the node's
                // value exists only inside the run.
                self.cx.push(syn::Error::new(at, check::LET_BORROW_OF_NODE));
                Binding::Const(quote!(()))
            }
            collection => match self.materialize(collection, span) {
                Operand::Value(v, _) => Binding::Node(v),
                _ => unreachable!(),
            },
        }
    }

    /// A constant `let` run before the graph. Unrolling puts loop counters into the
    /// user's expressions as literals, so `j * 2` can read `0 * 2` and `j - 1` `1 - 1`:
    /// clippy's lints on constant operands would blame code the user wrote correctly.
    fn prelude_let(&mut self, pat: TokenStream, value: TokenStream) {
        // A closure in it counts too: a statement runs its closures' calls
        // (`(0..1).for_each(|_| c.store(50, SeqCst))`), which a task after it reads.
        let (state, _) = self.state_read(&value);
        self.push_prelude_let(pat, value, state);
    }

    /// [`prelude_let`](Self::prelude_let), told whether `value` reads state (which
    /// then counts as a change for the hoisted operands before it).
    fn push_prelude_let(&mut self, pat: TokenStream, value: TokenStream, reads_state: bool) {
        if closure_reads_outside(&value) {
            let names = pat.clone().into_iter().filter_map(|tree| match tree {
                TokenTree::Ident(ident) => Some(ident.to_string()),
                _ => None,
            });
            self.closure_consts.extend(names);
        }
        if reads_state {
            self.prelude_changes.push(self.graph.prelude.len());
        }
        self.constant_lets += 1;
        self.graph.prelude.push(quote! {
            #[allow(unused_mut, unused_parens, clippy::eq_op, clippy::erasing_op, clippy::identity_op, clippy::neg_multiply)]
            let #pat = #value;
        });
    }

    fn hidden_const(&mut self) -> syn::Ident {
        self.consts += 1;
        syn::Ident::new(&format!("__const_{}", self.consts), Span::mixed_site())
    }

    /// The output pattern of a destructuring `let`, binding each name to a new value.
    fn out_pattern(&mut self, pat: &Pat, node: usize) -> OutPat {
        match pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                let v = self.new_value(node, &pi.ident.to_string());
                self.bind_as(&pi.ident, Binding::Node(v), Mutability::of(&pi.mutability));
                OutPat::Value(v)
            }
            Pat::Wild(_) => OutPat::Discard,
            // Inside a tuple (a `let` of `..` alone is not Rust).
            Pat::Rest(_) => OutPat::Rest,
            Pat::Paren(p) => self.out_pattern(&p.pat, node),
            Pat::Tuple(t) => {
                OutPat::Tuple(t.elems.iter().map(|p| self.out_pattern(p, node)).collect())
            }
            other => {
                self.cx.error_at(other, unsupported_pattern(other));
                OutPat::Discard
            }
        }
    }

    /// A destructuring pattern of constants, each name under a hidden one.
    fn const_pattern(&mut self, pat: &Pat) -> TokenStream {
        match pat {
            Pat::Ident(pi) => {
                let hidden = self.hidden_const();
                if pi.mutability.is_some() {
                    self.mutable_consts.insert(hidden.to_string());
                }
                let binding = Binding::Const(hidden.to_token_stream());
                self.bind_as(&pi.ident, binding, Mutability::of(&pi.mutability));
                hidden.into_token_stream()
            }
            Pat::Wild(w) => w.to_token_stream(),
            Pat::Rest(r) => r.to_token_stream(),
            Pat::Paren(p) => self.const_pattern(&p.pat),
            Pat::Tuple(t) => {
                let items: Vec<_> = t.elems.iter().map(|p| self.const_pattern(p)).collect();
                quote!((#(#items,)*))
            }
            other => {
                self.cx.error_at(other, unsupported_pattern(other));
                quote!(_)
            }
        }
    }

    fn assign(&mut self, assign: &syn::ExprAssign) {
        match &*assign.left {
            Expr::Path(p) if p.path.get_ident().is_some() => {
                let ident = p.path.get_ident().expect("an ident");
                if !self.assignable(ident) {
                    return;
                }
                let name = ident.to_string();
                let operand = self.expr(&assign.right);
                // A `mut` name owns what it is given (a hidden `let mut`).
                let operand = self.owned_capture(operand, &assign.right);
                let binding =
                    self.binding_for(operand, assign.right.span(), None, Mutability::Mutable);
                self.rebind(&name, binding);
            }
            Expr::Field(syn::ExprField { base, .. })
            | Expr::Index(syn::ExprIndex { expr: base, .. }) => {
                let target = &*assign.left;
                match self.node_in(base.to_token_stream()) {
                    Some(node) => self
                        .cx
                        .error_at(target, check::assign_into_node(&node.to_string())),
                    None => self.cx.error_at(target, self.assign_into_constant(base)),
                }
            }
            Expr::Tuple(t) if t.elems.iter().all(|e| assigned_name(e).is_some()) => {
                self.assign_tuple(t, &assign.right);
            }
            other => self
                .cx
                .error_at(other, check::unsupported("this assignment")),
        }
    }

    /// The error for an assignment into a field or element of a constant place: of a
    /// captured variable, or of the graph's own constant (`let mut w = …; w.n = 1;`),
    /// named as such.
    fn assign_into_constant(&self, place: &Expr) -> String {
        match place_root(place).filter(|root| !self.is_captured(root)) {
            Some(root) => {
                check::unsupported(&format!("assigning into a field or element of `{root}`"))
            }
            None => check::unsupported("assigning into a captured variable"),
        }
    }

    /// Whether `ident` may be assigned to: a name of the graph's, bound `mut`; an error
    /// on it otherwise.
    fn assignable(&mut self, ident: &syn::Ident) -> bool {
        let name = ident.to_string();
        if self.lookup(&name).is_none() {
            self.cx.error_at(ident, check::assign_to_captured(&name));
            return false;
        }
        if !self.is_mutable(&name) {
            self.cx.error_at(ident, check::assign_to_immutable(&name));
            return false;
        }
        true
    }

    /// `(a, b) = (b, a);` or `(a, b) = pair(x);`: every value on the right is read
    /// before any name is rebound, as Rust evaluates the right side first; a tuple
    /// that is not written out is split into its fields (`.0`, `.1`).
    fn assign_tuple(&mut self, left: &syn::ExprTuple, right: &Expr) {
        let names: Vec<Option<&syn::Ident>> = left.elems.iter().filter_map(assigned_name).collect();
        if !names.iter().flatten().all(|ident| self.assignable(ident)) {
            return;
        }
        let parts: Vec<Operand> = match strip(right) {
            Expr::Tuple(r) if r.elems.len() == names.len() => r
                .elems
                .iter()
                .map(|e| {
                    let operand = self.expr(e);
                    self.owned_capture(operand, e)
                })
                .collect(),
            _ => {
                let whole = match self.expr(right) {
                    value @ Operand::Value(..) => value,
                    other if other.reads_nodes() => self.materialize(other, right.span()),
                    _ => {
                        self.cx.error_at(
                            right,
                            check::unsupported("assigning a tuple of constants to names"),
                        );
                        return;
                    }
                };
                (0..names.len())
                    .map(|i| {
                        let member = syn::Member::Unnamed(syn::Index {
                            index: i as u32,
                            span: right.span(),
                        });
                        let base = whole.clone();
                        self.add_node(
                            &format!("field_{i}"),
                            right.span(),
                            Op::Field { base, member },
                        )
                    })
                    .collect()
            }
        };
        for (ident, operand) in names.into_iter().zip(parts) {
            if let Some(ident) = ident {
                let binding = self.binding_for(operand, right.span(), None, Mutability::Mutable);
                self.rebind(&ident.to_string(), binding);
            }
        }
    }

    fn for_loop(&mut self, for_loop: &syn::ExprForLoop) {
        let Some(items) = self.unrolled_items(&for_loop.expr, &for_loop.pat) else {
            return;
        };
        let var = match &*for_loop.pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => Some(pi.ident.clone()),
            Pat::Wild(_) => None,
            other => {
                self.cx
                    .error_at(other, "an unrolled `for` binds a name or `_`");
                return;
            }
        };
        let Some(count) = items.count().filter(|&count| count <= MAX_UNROLL) else {
            self.cx
                .error_at(&for_loop.expr, check::unroll_over_copies(MAX_UNROLL));
            return;
        };
        let outer_copy = self.copy_of_loop.get();
        let (nodes_before, errors_before) = (self.graph.nodes.len(), self.cx.count());
        for n in 0..count {
            self.copy_of_loop.set(outer_copy || n != 0);
            self.scopes.push(Vec::new());
            if let Some(var) = &var {
                let binding = items.binding(n);
                self.bind(var, binding);
            }
            self.copies.push(items.describe(var.as_ref(), n, count));
            for stmt in &for_loop.body.stmts {
                match stmt {
                    _ if is_empty_statement(stmt) => {}
                    Stmt::Expr(expr, _) => self.statement(expr),
                    other => {
                        self.body(std::slice::from_ref(other));
                    }
                }
            }
            self.scopes.pop();
            self.copies.pop();
            // Counted copy by copy, so that a loop of 100,000 copies stops early.
            let made = self.graph.nodes.len() - nodes_before;
            let message = if made > MAX_UNROLLED_NODES {
                check::unroll_over_nodes(MAX_UNROLLED_NODES, made, n + 1, count)
            } else if self.constant_lets > MAX_CONSTANT_LETS {
                check::unroll_over_lets(MAX_CONSTANT_LETS, self.constant_lets, n + 1, count)
            } else {
                continue;
            };
            // An inner loop over a bound has said so already.
            if self.cx.count() == errors_before {
                self.cx.error_at(&for_loop.expr, message);
            }
            break;
        }
        self.copy_of_loop.set(outer_copy);
    }

    /// What an unrolled `for` iterates: a literal range (`0..4`, `1..=8`), one reversed
    /// (`(0..4).rev()`), or the elements of an array written out (`[5, 7]`, `[a, b]`),
    /// each read once before the loop, as Rust evaluates the array first. Anything else
    /// is an error; `pat` is the loop's pattern, for the message.
    fn unrolled_items(&mut self, expr: &Expr, pat: &Pat) -> Option<Unrolled> {
        match strip(expr) {
            Expr::Array(array) => {
                let items = array
                    .elems
                    .iter()
                    .map(|elem| {
                        let operand = self.expr(elem);
                        let binding =
                            self.binding_for(operand, elem.span(), None, Mutability::Immutable);
                        (binding, tidy(&elem.to_token_stream()))
                    })
                    .collect();
                Some(Unrolled::Items(items))
            }
            Expr::MethodCall(m)
                if m.method == "rev"
                    && m.args.is_empty()
                    && matches!(strip(&m.receiver), Expr::Range(_)) =>
            {
                let (first, count, suffix, span) = self.literal_range(strip(&m.receiver), pat)?;
                Some(Unrolled::Range {
                    first,
                    count,
                    suffix,
                    span,
                    reversed: true,
                })
            }
            _ => {
                let (first, count, suffix, span) = self.literal_range(expr, pat)?;
                Some(Unrolled::Range {
                    first,
                    count,
                    suffix,
                    span,
                    reversed: false,
                })
            }
        }
    }

    /// `a..b` or `a..=b` of integer literals: the start, the number of items (`None`:
    /// more than a `u128` holds), the literals' suffix and the start's span. Anything
    /// else is an error; `pat` is the loop's pattern, for the message.
    fn literal_range(
        &mut self,
        expr: &Expr,
        pat: &Pat,
    ) -> Option<(i128, Option<u128>, String, Span)> {
        // A bound may be an enclosing unrolled loop's counter, a literal in each copy
        // (`for j in 0..i` inside `for i in 0..3`).
        let bound = |this: &Self, e: &Expr| {
            int_literal(e).or_else(|| {
                let Expr::Path(p) = strip(e) else { return None };
                match this.resolve(p.path.get_ident()?)? {
                    Binding::Literal(t) => syn::parse2::<Expr>(t.clone())
                        .ok()
                        .and_then(|lit| int_literal(&lit))
                        .map(|(value, suffix, _)| (value, suffix, e.span())),
                    _ => None,
                }
            })
        };
        if let Expr::Range(range) = strip(expr) {
            if let (Some(start), Some(end)) = (range.start.as_deref(), range.end.as_deref()) {
                if let (Some(start), Some(end)) = (bound(self, start), bound(self, end)) {
                    // The counter is written as new literals with the suffix: one that is
                    // no integer type (`0b1e5`) would not make an integer literal.
                    let bad = [
                        (&start, range.start.as_deref()),
                        (&end, range.end.as_deref()),
                    ]
                    .into_iter()
                    .filter(|((_, suffix, _), _)| !check::is_integer_suffix(suffix))
                    .map(|((_, suffix, span), written)| {
                        let written = written.map(|e| tidy(&e.to_token_stream()));
                        let message = check::integer_suffix(&written.unwrap_or_default(), suffix);
                        syn::Error::new(*span, message)
                    })
                    .collect::<Vec<_>>();
                    if !bad.is_empty() {
                        bad.into_iter().for_each(|error| self.cx.push(error));
                        return None;
                    }
                    let suffix = if start.1.is_empty() { &end.1 } else { &start.1 }.clone();
                    // Nor would a bound its type cannot hold (`0..300u8`): rustc would
                    // reject a copy's counter, on the start (and as the start's value).
                    let bad = [
                        (&start, range.start.as_deref()),
                        (&end, range.end.as_deref()),
                    ]
                    .into_iter()
                    .filter_map(|((value, _, span), written)| {
                        // `-1`, not `- 1` as tokens print it.
                        let written = tidy(&written?.to_token_stream()).replacen("- ", "-", 1);
                        let message = check::integer_out_of_range(&written, *value, &suffix)?;
                        Some(syn::Error::new(*span, message))
                    })
                    .collect::<Vec<_>>();
                    if !bad.is_empty() {
                        bad.into_iter().for_each(|error| self.cx.push(error));
                        return None;
                    }
                    // Counted in `u128`: `i128::MIN..=i128::MAX` has 2^128 items.
                    let span = (end.0 >= start.0).then(|| end.0.abs_diff(start.0));
                    let count = match (span, &range.limits) {
                        (None, _) => Some(0),
                        (Some(span), syn::RangeLimits::HalfOpen(_)) => Some(span),
                        (Some(span), syn::RangeLimits::Closed(_)) => span.checked_add(1),
                    };
                    return Some((start.0, count, suffix, start.2));
                }
            }
        }
        match (self.node_use(expr), const_bound(expr)) {
            (Some(node), _) => self.cx.error_at(expr, check::for_over_node(&node)),
            (None, Some((bound, literal))) => {
                let name = tidy(&bound.to_token_stream());
                let pat = tidy(&pat.to_token_stream());
                let range = tidy(&expr.to_token_stream());
                let message = check::for_over_const_range(&name, &pat, &range, &literal);
                self.cx.error_at(bound, message);
            }
            (None, None) => self.cx.error_at(expr, check::FOR_NEEDS_LITERAL_RANGE),
        }
        None
    }

    // ---- expressions --------------------------------------------------------

    /// Lowers an expression: a node's result, or a constant.
    fn expr(&mut self, expr: &Expr) -> Operand {
        match expr {
            Expr::Lit(_) => Operand::Temp(expr.to_token_stream()),
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Path(p) => self.path(p),
            Expr::Call(call) => self.call(call),
            Expr::MethodCall(m) => self.method_call(expr, m),
            Expr::Binary(b) => self.binary(expr, b),
            Expr::Unary(u) => {
                let operand = self.expr(&u.expr);
                if !operand.reads_nodes() {
                    return self.constant(expr);
                }
                let name = match u.op {
                    UnOp::Neg(_) => "neg",
                    UnOp::Not(_) => "not",
                    _ => "deref",
                };
                self.add_node(name, u.op.span(), Op::Unary { op: u.op, operand })
            }
            Expr::Field(f) => {
                let base = self.expr(&f.base);
                if !base.reads_nodes() {
                    return self.constant_place(expr);
                }
                let name = match &f.member {
                    syn::Member::Named(i) => i.to_string(),
                    syn::Member::Unnamed(i) => format!("field_{}", i.index),
                };
                self.add_node(
                    &name,
                    f.member.span(),
                    Op::Field {
                        base,
                        member: f.member.clone(),
                    },
                )
            }
            Expr::Index(i) => {
                let base = self.expr(&i.expr);
                let index = self.expr(&i.index);
                if !base.reads_nodes() && !index.reads_nodes() {
                    return self.constant_place(expr);
                }
                if let Expr::Range(range) = strip(&i.index) {
                    let node = tidy(&i.expr.to_token_stream());
                    let range = tidy(&range.to_token_stream());
                    self.cx.error_at(expr, check::slice_of_node(&node, &range));
                    return Operand::Temp(quote!(()));
                }
                self.add_node(
                    "index",
                    i.bracket_token.span.join(),
                    Op::Index { base, index },
                )
            }
            Expr::Cast(c) => {
                let operand = self.expr(&c.expr);
                if !operand.reads_nodes() {
                    return self.constant(expr);
                }
                self.add_node(
                    "cast",
                    c.as_token.span,
                    Op::Cast {
                        operand,
                        ty: (*c.ty).clone(),
                    },
                )
            }
            Expr::Try(t) => {
                let before = self.graph.nodes.len();
                let operand = self.expr(&t.expr);
                let span = t.question_token.span;
                match operand {
                    Operand::Value(v, s)
                        if self.is_fresh(v, before)
                            && self
                                .graph
                                .nodes
                                .last()
                                .is_some_and(|n| n.question.is_none()) =>
                    {
                        self.graph.nodes.last_mut().expect("a node").question = Some(span);
                        Operand::Value(v, s)
                    }
                    operand => {
                        let out = self.add_node("try", span, Op::Pass(operand));
                        self.graph.nodes.last_mut().expect("a node").question = Some(span);
                        out
                    }
                }
            }
            Expr::Array(a) => {
                let items: Vec<_> = a.elems.iter().map(|e| self.expr(e)).collect();
                if items.iter().any(Operand::reads_nodes) {
                    Operand::Array(items, expr.span())
                } else {
                    self.constant(expr)
                }
            }
            Expr::Repeat(r) => match self.repeated(&r.expr, &r.len) {
                Some(items) => Operand::Array(items, expr.span()),
                None => self.constant(expr),
            },
            Expr::Tuple(t) => {
                let items: Vec<_> = t.elems.iter().map(|e| self.expr(e)).collect();
                if items.iter().any(Operand::reads_nodes) {
                    Operand::Tuple(items, expr.span())
                } else {
                    self.constant(expr)
                }
            }
            Expr::Reference(r) => {
                let inner = self.expr(&r.expr);
                if !inner.reads_nodes() && r.mutability.is_some() {
                    return self.constant(expr);
                }
                if r.mutability.is_some() {
                    let name = r.expr.to_token_stream().to_string();
                    self.cx.error_at(expr, check::mut_borrow(&name));
                }
                Operand::Ref(Box::new(inner), expr.span())
            }
            Expr::Struct(s) => self.struct_literal(expr, s),
            Expr::Macro(m) => self.macro_call(expr, m),
            Expr::If(i) => {
                // The conditions of the whole `if … else if …` chain, in order.
                let mut conditions = vec![("if", &*i.cond)];
                let mut next = &i.else_branch;
                while let Some((_, branch)) = next {
                    let Expr::If(elif) = &**branch else { break };
                    conditions.push(("else if", &*elif.cond));
                    next = &elif.else_branch;
                }
                self.branch("if", &i.if_token, &conditions, expr)
            }
            Expr::Match(m) => {
                // A guard that reads a node branches on it as much as the scrutinee
                // does (`n if a > 0 =>`): the error is on the guard, after one on the
                // scrutinee itself.
                if self.node_use(&m.expr).is_none() {
                    if let Some((guard, node)) = self.guard_on_node(m) {
                        self.cx
                            .error_at(guard, check::branch_on_node("if", "match", &node));
                        return Operand::Temp(quote!(()));
                    }
                }
                self.branch("match", &m.match_token, &[("match", &*m.expr)], expr)
            }
            Expr::While(w) => self.branch("while", &w.while_token, &[("while", &*w.cond)], expr),
            Expr::Loop(l) => {
                if self.uses_nodes(expr) {
                    self.cx
                        .error_at(l.loop_token, check::branch_in_graph("loop"));
                    return Operand::Temp(quote!(()));
                }
                self.plain_code(expr)
            }
            Expr::Closure(_) => {
                // Its parameters and its own `let`s, arms and loops shadow the graph's.
                if let Some(node) = self.node_read(expr) {
                    self.cx
                        .error_at(&node, check::closure_captures(&node.to_string()));
                    return Operand::Temp(quote!(()));
                }
                self.constant(expr)
            }
            // A block of graph code: its own scope, its tail its value (`let y = {
            // let t = inc(x); add(t, 1) };`). A block of constants stays plain code. A
            // label changes nothing: a `break` to it is an error of its own.
            Expr::Block(b) if b.attrs.is_empty() && self.uses_nodes(expr) => {
                self.scopes.push(Vec::new());
                let output = self.body(&b.block.stmts);
                self.scopes.pop();
                output
            }
            Expr::Unsafe(u) if self.uses_nodes(expr) => {
                self.cx.error_at(u.unsafe_token, check::UNSAFE_AROUND_NODES);
                Operand::Temp(quote!(()))
            }
            Expr::Return(r) => {
                self.cx
                    .error_at(r.return_token, check::early_exit("return"));
                Operand::Temp(quote!(()))
            }
            Expr::Break(b) => {
                self.cx.error_at(b.break_token, check::early_exit("break"));
                Operand::Temp(quote!(()))
            }
            Expr::Continue(c) => {
                self.cx
                    .error_at(c.continue_token, check::early_exit("continue"));
                Operand::Temp(quote!(()))
            }
            Expr::Assign(_) | Expr::ForLoop(_) => {
                self.cx.error_at(
                    expr,
                    check::unsupported("an assignment or `for` inside an expression"),
                );
                Operand::Temp(quote!(()))
            }
            _ => {
                // A node's name, or a call of a task that constant code would run
                // before the graph rather than as a node.
                if let Some(node) = self.node_use(expr) {
                    let what = format!("this expression, which uses `{node}`,");
                    self.cx.error_at(expr, check::unsupported(&what));
                    return Operand::Temp(quote!(()));
                }
                self.plain_code(expr)
            }
        }
    }

    /// A constant expression, with constant names and loop counters substituted.
    fn constant(&mut self, expr: &Expr) -> Operand {
        Operand::Temp(self.substitute(expr))
    }

    /// A constant field or index (`cfg.base`, `cfg.names[0]`): one of a captured
    /// variable is read in place, as the variable is ([`Operand::Const`]: lent, or
    /// cloned when taken by value), since every run of the graph reads it again; moved
    /// out, as a temporary is, it made the graph a closure that runs once (rustc's
    /// E0525 on the whole graph). Any other (of an input, of a constant `let`) is a
    /// temporary, as in sequential code. In parentheses, since a `let` of it stands for
    /// it in constant code: `let f = cfg.f; f(1)` calls `(cfg.f)(1)`, not a method `f`.
    fn constant_place(&mut self, expr: &Expr) -> Operand {
        match place_root(expr) {
            Some(root) if self.is_captured(root) => {
                let mut place = Group::new(Delimiter::Parenthesis, self.substitute(expr));
                place.set_span(expr.span());
                Operand::Const(place.into_token_stream())
            }
            _ => self.constant(expr),
        }
    }

    /// Whether `ident`, read here, is a variable captured from around the graph (see
    /// `path`).
    fn is_captured(&self, ident: &syn::Ident) -> bool {
        self.bound(&ident.to_string()).is_none() && starts_lowercase(ident)
    }

    fn path(&mut self, p: &syn::ExprPath) -> Operand {
        if let (None, Some(ident)) = (&p.qself, p.path.get_ident()) {
            return match self.resolve(ident) {
                Some(Binding::Node(v)) => Operand::Value(*v, ident.span()),
                Some(Binding::Const(tokens)) if self.is_mutable(&ident.to_string()) => {
                    // A node reads its constants when it runs, after all constant code:
                    // a `mut` one, which constant code after this point may change, is
                    // read through a copy taken here, in program order.
                    let tokens = respan_literals(tokens.clone(), ident.span());
                    let copy = self.hidden_const();
                    self.prelude_let(
                        copy.to_token_stream(),
                        quote_spanned!(ident.span()=> ::core::clone::Clone::clone(&#tokens)),
                    );
                    Operand::Const(copy.into_token_stream())
                }
                Some(Binding::Const(tokens)) => {
                    Operand::Const(respan_literals(tokens.clone(), ident.span()))
                }
                Some(Binding::Literal(tokens)) => Operand::Temp(tokens.clone()),
                // A lowercase name is a captured variable: read in place. Anything else
                // (`None`, `MAX`, a unit struct) is a constant expression.
                None if self.is_captured(ident) => Operand::Const(ident.to_token_stream()),
                None => Operand::Temp(ident.to_token_stream()),
            };
        }
        Operand::Temp(p.to_token_stream())
    }

    fn call(&mut self, call: &syn::ExprCall) -> Operand {
        let Expr::Path(func) = strip(&call.func) else {
            let func = self.expr(&call.func);
            let args: Vec<_> = call.args.iter().map(|a| self.expr(a)).collect();
            if func.reads_nodes() || args.iter().any(Operand::reads_nodes) {
                self.cx
                    .error_at(&call.func, check::unsupported("calling this expression"));
                return Operand::Temp(quote!(()));
            }
            return Operand::Temp(self.substitute(&Expr::Call(call.clone())));
        };
        let path = &func.path;
        let last = path.segments.last().expect("a path has a segment");
        let name = last.ident.to_string();
        if let Some(ident) = path.get_ident() {
            match self.lookup(&ident.to_string()).cloned() {
                Some(Binding::Node(_)) => {
                    self.cx.error_at(ident, check::call_node(&name));
                    return Operand::Temp(quote!(()));
                }
                Some(_) => return self.plain_call(call, &name, path),
                // A variable of the function around the graph (a closure, a `fn`
                // pointer), which the file scan is certain of: it shadows any function
                // of its name, as in sequential code, so it is called as it is.
                None if self.scanned_locals.contains(&name) => {
                    return self.plain_call(call, &name, path)
                }
                None => {}
            }
        }
        let is_constructor = !starts_lowercase(&last.ident);
        if func.qself.is_some()
            || (!is_constructor && (is_associated(path) || self.is_known_plain(path)))
        {
            return self.plain_call(call, &path_text(path), path);
        }
        let errors = self.cx.count();
        let args: Vec<_> = call.args.iter().map(|a| self.expr(a)).collect();
        if is_constructor {
            if !args.iter().any(Operand::reads_nodes) {
                return Operand::Temp(self.substitute(&Expr::Call(call.clone())));
            }
            let func = func.to_token_stream();
            return self.add_node(&name, last.ident.span(), Op::Construct { func, args });
        }
        // A call of a free function is a node whatever the file scan says; when the scan
        // is certain the name is a plain function, the companion path below cannot
        // resolve, and this error says what to do instead of rustc's.
        if let Some(ident) = path
            .get_ident()
            .filter(|i| self.scanned_plain.contains(&i.to_string()))
        {
            // An argument's own mistake (`&mut a`) is the one to fix first.
            if self.cx.count() == errors {
                let message = if args.iter().any(Operand::reads_nodes) {
                    check::plain_fn_not_a_task(&name)
                } else {
                    check::plain_fn_on_constants(&name, &tidy(&call.to_token_stream()))
                };
                self.cx.error_at(ident, message);
            }
            return Operand::Temp(quote!(()));
        }
        let mut companion = path.clone();
        for segment in &mut companion.segments {
            segment.arguments = syn::PathArguments::None;
        }
        self.add_node(
            &name,
            last.ident.span(),
            Op::Call {
                func: func.to_token_stream(),
                companion: companion.to_token_stream(),
                args,
                parens: call.paren_token.span.join(),
            },
        )
    }

    /// A call of something that is not a task: fine on constants, an error on nodes.
    fn plain_call(&mut self, call: &syn::ExprCall, name: &str, path: &syn::Path) -> Operand {
        let errors = self.cx.count();
        let args: Vec<_> = call.args.iter().map(|a| self.expr(a)).collect();
        if args.iter().any(Operand::reads_nodes) {
            // An argument's own mistake (`&mut a`) is the one to fix first.
            if self.cx.count() == errors {
                let own = path
                    .get_ident()
                    .is_some_and(|i| self.local_fns.contains(&i.to_string()));
                let message = if own {
                    check::plain_fn_not_a_task(name)
                } else if name == "drop" {
                    check::DROP_OF_NODE.to_owned()
                } else {
                    check::not_a_task(name, call.args.len())
                };
                self.cx.error_at(path, message);
            }
            return Operand::Temp(quote!(()));
        }
        Operand::Temp(self.substitute(&Expr::Call(call.clone())))
    }

    fn method_call(&mut self, expr: &Expr, m: &syn::ExprMethodCall) -> Operand {
        let method = m.method.to_string();
        let before = self.graph.nodes.len();
        let receiver = self.expr(&m.receiver);
        let args: Vec<_> = m.args.iter().map(|a| self.expr(a)).collect();
        if !receiver.reads_nodes() && !args.iter().any(Operand::reads_nodes) {
            if runs_a_graph(&m.method) {
                self.check_not_a_graph(m);
            }
            return self.constant(expr);
        }
        let call = MethodCall {
            method: m.method.clone(),
            turbofish: m.turbofish.to_token_stream(),
            args,
        };
        // `v.iter().sum()`: the receiver is a method call made just now and read by
        // nothing else, so the chain runs in one task (an iterator borrowing `v` could
        // not outlive its task).
        if let Operand::Value(v, _) = receiver {
            if self.is_fresh(v, before) {
                let node = self.graph.nodes.last_mut().expect("a node");
                if let (Op::Method { calls, .. }, None) = (&mut node.op, node.question) {
                    calls.push(call);
                    node.name = method;
                    node.span = m.method.span();
                    return receiver;
                }
            }
        }
        self.add_node(
            &method,
            m.method.span(),
            Op::Method {
                receiver,
                calls: vec![call],
                place: place_root(&m.receiver).and_then(|root| self.place_name(root)),
            },
        )
    }

    /// A constant call of a method named like taskweave's `compute` (`cfg.compute()`,
    /// `inner.compute(x)`): the receiver's type decides, as on a node (see
    /// `Op::Method`). A check that never runs goes into the prelude, in program order
    /// (the receiver may read constants bound just before): on a `Delayed` or a `Graph`
    /// it is `RunGraphInGraph`'s message, on the method's name; on anything else it
    /// compiles to nothing, and the call runs as written. Its branch diverges, so what
    /// the receiver moves is not moved for the code after it.
    fn check_not_a_graph(&mut self, m: &syn::ExprMethodCall) {
        let receiver = self.substitute(&m.receiver);
        let at = m.method.span();
        let private = self.runtime.private_at(at);
        self.graph.prelude.push(quote_spanned! {at=>
            #[allow(unused_imports, unreachable_code, clippy::all)]
            if false {
                use #private::NotAGraph as _;
                #private::GraphCheck(&(#receiver)).check_captured();
                ::core::unreachable!()
            }
        });
    }

    /// The name a method's receiver rooted at `root` is read through (see
    /// [`Op::Method`]'s `place`): the graph's own binding, or a captured variable (read
    /// afresh on every run: a `&mut self` method would change the copy only). Not
    /// `self`, which no `let` can bind.
    fn place_name(&self, root: &syn::Ident) -> Option<(syn::Ident, PlaceOf)> {
        match self.bound(&root.to_string()) {
            Some((Binding::Node(_), bound)) => Some((bound.clone(), PlaceOf::Node)),
            Some((_, bound)) => Some((bound.clone(), PlaceOf::Other)),
            None => (starts_lowercase(root) && root != "self")
                .then(|| (root.clone(), PlaceOf::Captured)),
        }
    }

    fn binary(&mut self, expr: &Expr, b: &syn::ExprBinary) -> Operand {
        if let Some(op) = compound_assign(&b.op) {
            let rhs = tidy(&b.right.to_token_stream());
            let message = match strip(&b.left) {
                Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                    let ident = p.path.get_ident().expect("an ident");
                    let name = ident.to_string();
                    match self.lookup(&name) {
                        Some(Binding::Node(_)) => check::compound_assign(op, &name, &rhs),
                        Some(_) => check::compound_assign_constant(op, &name, &rhs),
                        None => {
                            self.cx.error_at(ident, check::assign_to_captured(&name));
                            return Operand::Temp(quote!(()));
                        }
                    }
                }
                target => match self.node_in(target.to_token_stream()) {
                    Some(node) => check::assign_into_node(&node.to_string()),
                    None => self.assign_into_constant(target),
                },
            };
            self.cx.error_at(b.op, message);
            return Operand::Temp(quote!(()));
        }
        let lhs = self.expr(&b.left);
        let rhs = self.expr(&b.right);
        if !lhs.reads_nodes() && !rhs.reads_nodes() {
            return self.constant(expr);
        }
        if let BinOp::And(_) | BinOp::Or(_) = b.op {
            let node = if lhs.reads_nodes() { &b.left } else { &b.right };
            let op = b.op.to_token_stream().to_string();
            self.cx.error_at(
                b.op,
                check::short_circuit(&op, &tidy(&node.to_token_stream())),
            );
            return Operand::Temp(quote!(false));
        }
        self.add_node(
            binary_name(&b.op),
            b.op.span(),
            Op::Binary { op: b.op, lhs, rhs },
        )
    }

    fn struct_literal(&mut self, expr: &Expr, s: &syn::ExprStruct) -> Operand {
        let fields: Vec<_> = s
            .fields
            .iter()
            .map(|f| (f.member.clone(), self.expr(&f.expr)))
            .collect();
        if !fields.iter().any(|f| f.1.reads_nodes()) {
            return self.constant(expr);
        }
        if let Some(rest) = &s.rest {
            self.cx.error_at(
                rest,
                check::unsupported("`..base` in a struct literal of nodes"),
            );
        }
        let name = s
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        self.add_node(
            &name,
            s.path.span(),
            Op::Struct {
                path: s.path.to_token_stream(),
                fields,
            },
        )
    }

    fn macro_call(&mut self, expr: &Expr, m: &syn::ExprMacro) -> Operand {
        let name = m
            .mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        if name == "vec" {
            let repeat = |input: syn::parse::ParseStream| {
                let item: Expr = input.parse()?;
                input.parse::<syn::Token![;]>()?;
                Ok((item, input.parse::<Expr>()?))
            };
            if let Ok((item, len)) = m.mac.parse_body_with(repeat) {
                return match self.repeated(&item, &len) {
                    Some(items) => Operand::Vec(items, expr.span()),
                    None => self.constant(expr),
                };
            }
            let parser = Punctuated::<Expr, syn::Token![,]>::parse_terminated;
            if let Ok(items) = m.mac.parse_body_with(parser) {
                let items: Vec<_> = items.iter().map(|e| self.expr(e)).collect();
                if items.iter().any(Operand::reads_nodes) {
                    return Operand::Vec(items, expr.span());
                }
                return self.constant(expr);
            }
        }
        if m.mac
            .path
            .segments
            .last()
            .is_some_and(|last| super::substitute::reads_no_names_in(&last.ident))
        {
            return self.constant(expr);
        }
        if let Some(node) = self.node_in(m.mac.tokens.clone()) {
            self.cx
                .error_at(&node, check::macro_on_node(&name, &node.to_string()));
            return Operand::Temp(quote!(()));
        }
        // A call of a task among the arguments (`format!("{}", inc(x))`) would run
        // before the graph, as constant code: an error on the call, as for a node.
        let parser = Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        if let Ok(items) = m.mac.parse_body_with(parser) {
            for item in &items {
                let mut calls = TaskCalls {
                    lower: self,
                    found: None,
                };
                calls.visit_expr(item);
                if let Some(call) = calls.found.map(ToTokens::to_token_stream) {
                    let message = check::macro_on_node(&name, &tidy(&call));
                    self.cx.error_at(call, message);
                    return Operand::Temp(quote!(()));
                }
            }
        }
        self.constant(expr)
    }

    /// `[item; len]` or `vec![item; len]` of a node: `len` copies of it, read as
    /// `[a, a, a]` is; `None` for constants. The length must be an integer literal
    /// (the copies are operands of the graph's shape), of at most [`MAX_REPEAT`].
    fn repeated(&mut self, item: &Expr, len: &Expr) -> Option<Vec<Operand>> {
        if !self.uses_nodes(item) {
            return None;
        }
        let count = match strip(len) {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(n),
                ..
            }) => {
                if !check::is_integer_suffix(n.suffix()) {
                    let message = check::integer_suffix(&n.to_string(), n.suffix());
                    self.cx.error_at(n, message);
                    return Some(Vec::new());
                }
                if !matches!(n.suffix(), "" | "usize") {
                    let message = check::repeat_count_suffix(&n.to_string(), n.suffix());
                    self.cx.error_at(n, message);
                    return Some(Vec::new());
                }
                n.base10_parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_REPEAT).contains(n))
            }
            _ => None,
        };
        let Some(count) = count else {
            self.cx.error_at(len, check::repeat_count(MAX_REPEAT));
            return Some(Vec::new());
        };
        // Computed once and read `count` times, as `[inc(x); 3]` calls `inc` once.
        let one = match self.expr(item) {
            value @ Operand::Value(..) => value,
            other => self.materialize(other, item.span()),
        };
        Some(vec![one; count])
    }

    /// `if`/`match`/`while`: an error on the first condition (or scrutinee) that reads a
    /// node, or on the keyword when tasks are used inside; a constant otherwise.
    fn branch<K: ToTokens>(
        &mut self,
        construct: &str,
        token: &K,
        conditions: &[(&str, &Expr)],
        whole: &Expr,
    ) -> Operand {
        for &(keyword, cond) in conditions {
            let (keyword, scrutinee) = match cond {
                Expr::Let(l) => (format!("{keyword} let"), &*l.expr),
                cond => (keyword.to_owned(), cond),
            };
            if let Some(node) = self.node_use(scrutinee) {
                let construct = match cond {
                    Expr::Let(_) => format!("{construct} let"),
                    _ => construct.to_owned(),
                };
                self.cx.error_at(
                    scrutinee,
                    check::branch_on_node(&keyword, &construct, &node),
                );
                return Operand::Temp(quote!(()));
            }
        }
        if self.uses_nodes(whole) {
            self.cx.error_at(token, check::branch_in_graph(construct));
            return Operand::Temp(quote!(()));
        }
        self.plain_code(whole)
    }

    /// Code without nodes, run as it is; a `return`, `break` or `continue` in it would
    /// leave the graph's own code, so it is an error on its keyword.
    fn plain_code(&mut self, expr: &Expr) -> Operand {
        let mut exits = EarlyExits::default();
        exits.visit_expr(expr);
        if let Some((keyword, span)) = exits.found {
            self.cx
                .push(syn::Error::new(span, check::early_exit(keyword)));
            return Operand::Temp(quote!(()));
        }
        self.constant(expr)
    }

    // ---- nodes and values ---------------------------------------------------

    fn add_node(&mut self, name: &str, span: Span, mut op: Op) -> Operand {
        for operand in op.operands_mut() {
            self.hoist(operand);
        }
        let at = self.graph.prelude.len();
        for operand in op.operands() {
            self.note_closures(operand, at);
        }
        let node = self.graph.nodes.len();
        let v = self.new_value(node, name);
        self.graph.nodes.push(Node {
            name: name.to_owned(),
            span,
            op,
            out: OutPat::Value(v),
            question: None,
            ty: None,
            copy: (!self.copies.is_empty()).then(|| self.copies.join(", ")),
        });
        Operand::Value(v, span)
    }

    /// Evaluates a node's constant operand before the graph, in program order, when it
    /// calls something or constant code after the node could change what it reads:
    /// the node would otherwise read it when it runs, on its own thread, after all
    /// constant code (`add(a, TL.get())`, `total(v.clone())` then `v.push(1)`, or
    /// `inc(c.load(SeqCst))` then `c.store(9, SeqCst)`).
    ///
    /// An operand that only reads values, or calls something after a `?` on a task's
    /// value, with no such code after it, stays in its task (see `settle_hoisting`),
    /// so that a `?` before it that stops the graph keeps it from being evaluated.
    fn hoist(&mut self, operand: &mut Operand) {
        match operand {
            Operand::Temp(tokens) if self.reads_state(tokens) => {
                // After a `?` that may stop the graph, it stays in its task unless code
                // after it forces it out: sequential code would not evaluate it then.
                let after_question = self.graph.has_exit();
                let runs_code = runs_code(tokens) && !after_question;
                let span = tokens
                    .clone()
                    .into_iter()
                    .next()
                    .map_or_else(Span::call_site, |t| t.span());
                let hidden = self.hidden_const();
                let at = self.graph.prelude.len();
                self.push_prelude_let(hidden.to_token_stream(), tokens.clone(), true);
                let node = self.graph.nodes.len();
                self.hoisted
                    .push((node, hidden.clone(), tokens.clone(), at, runs_code));
                *operand = Operand::Hoisted(hidden, span);
            }
            Operand::Array(items, _) | Operand::Tuple(items, _) | Operand::Vec(items, _) => {
                items.iter_mut().for_each(|item| self.hoist(item));
            }
            Operand::Ref(inner, _) => self.hoist(inner),
            _ => {}
        }
    }

    /// Notes the closures among a node's operands that read state from outside them
    /// (`|z| z + v.len()`): such a closure runs when its task calls it, after all
    /// constant code, so constant code after the call that changes what it reads
    /// (`v.push(1)`) would change its result, where sequential code calls it first.
    /// Hoisting cannot help: the closure's body runs in the task whatever happens to
    /// the closure's value.
    fn note_closures(&mut self, operand: &Operand, at: usize) {
        match operand {
            Operand::Const(tokens) | Operand::Temp(tokens)
                if closure_reads_outside(tokens) || self.names_closure_const(tokens) =>
            {
                self.closures.push((tokens.clone(), at));
            }
            Operand::Array(items, _) | Operand::Tuple(items, _) | Operand::Vec(items, _) => {
                items.iter().for_each(|item| self.note_closures(item, at));
            }
            Operand::Ref(inner, _) => self.note_closures(inner, at),
            _ => {}
        }
    }

    /// Whether a constant expression names a constant bound to a closure that reads
    /// state from outside it (see [`note_closures`](Self::note_closures)).
    fn names_closure_const(&self, tokens: &TokenStream) -> bool {
        fn any(names: &HashSet<String>, tokens: TokenStream) -> bool {
            tokens.into_iter().any(|tree| match tree {
                TokenTree::Ident(ident) => names.contains(&ident.to_string()),
                TokenTree::Group(group) => any(names, group.stream()),
                _ => false,
            })
        }
        !self.closure_consts.is_empty() && any(&self.closure_consts, tokens.clone())
    }

    /// Puts back into their tasks the hoisted operands that run no code (or follow a
    /// `?`) and that no state-changing constant code follows, and names the others for the expansion ([`Graph::hoisted`]). One
    /// put back still counts as such code for the ones before it: it runs in its task,
    /// whenever that runs, and may change what they read (two `c.fetch_add(1, SeqCst)`
    /// arguments read in the order their tasks ran, not in program order).
    fn settle_hoisting(&mut self) {
        for (tokens, at) in std::mem::take(&mut self.closures) {
            if self.prelude_changes.iter().any(|&i| i >= at) {
                self.cx.push(syn::Error::new_spanned(
                    tokens,
                    check::CLOSURE_READS_CHANGED_STATE,
                ));
            }
        }
        let mut removed = HashSet::new();
        for (node, hidden, tokens, at, runs_code) in
            std::mem::take(&mut self.hoisted).into_iter().rev()
        {
            // An operand that runs code (`TL.get()`, `G.load(SeqCst)`, `parse(s)`) is
            // read where it is written, on the caller's thread, as sequential code and
            // `delay!` (and Dask) read arguments: in its task it would read a
            // thread-local on another thread, or state another task has changed since.
            let changed_after = self.prelude_changes.iter().any(|&i| i > at);
            if changed_after || runs_code {
                self.graph.hoisted.push(hidden);
                continue;
            }
            removed.insert(at);
            fn put_back(operand: &mut Operand, hidden: &syn::Ident, tokens: &TokenStream) {
                match operand {
                    Operand::Hoisted(name, _) if name == hidden => {
                        *operand = Operand::Temp(tokens.clone());
                    }
                    Operand::Array(items, _)
                    | Operand::Tuple(items, _)
                    | Operand::Vec(items, _) => {
                        items
                            .iter_mut()
                            .for_each(|item| put_back(item, hidden, tokens));
                    }
                    Operand::Ref(inner, _) => put_back(inner, hidden, tokens),
                    _ => {}
                }
            }
            for operand in self.graph.nodes[node].op.operands_mut() {
                put_back(operand, &hidden, &tokens);
            }
        }
        self.graph.hoisted.reverse();
        let mut index = 0;
        self.graph.prelude.retain(|_| {
            index += 1;
            !removed.contains(&(index - 1))
        });
    }

    /// Whether a constant expression (names already substituted) calls something,
    /// reads a field or an element, or reads a `mut` constant: what later constant
    /// code may change. A closure is never hoisted: written in its task, it gets its
    /// parameters' types from the task's (one inside a call that is hoisted gets them
    /// from the call).
    fn reads_state(&self, tokens: &TokenStream) -> bool {
        let (state, closure) = self.state_read(tokens);
        state && (!closure || (runs_code(tokens) && !is_closure(tokens)))
    }

    /// Whether a constant expression calls something, reads a field, an element or a
    /// `mut` constant (see [`reads_state`](Self::reads_state)); and whether it holds a
    /// closure.
    fn state_read(&self, tokens: &TokenStream) -> (bool, bool) {
        struct Reads<'a> {
            mutable: &'a HashSet<String>,
            state: bool,
            closure: bool,
        }
        impl<'ast> Visit<'ast> for Reads<'_> {
            fn visit_expr(&mut self, expr: &'ast Expr) {
                match expr {
                    Expr::Closure(_) | Expr::Async(_) => self.closure = true,
                    Expr::Call(_)
                    | Expr::MethodCall(_)
                    | Expr::Macro(_)
                    | Expr::Field(_)
                    | Expr::Index(_) => self.state = true,
                    Expr::Path(p)
                        if p.path
                            .get_ident()
                            .is_some_and(|i| self.mutable.contains(&i.to_string())) =>
                    {
                        self.state = true;
                    }
                    _ => {}
                }
                syn::visit::visit_expr(self, expr);
            }
        }
        let Ok(expr) = syn::parse2::<Expr>(tokens.clone()) else {
            return (false, false);
        };
        let mut reads = Reads {
            mutable: &self.mutable_consts,
            state: false,
            closure: false,
        };
        reads.visit_expr(&expr);
        (reads.state, reads.closure)
    }

    fn new_value(&mut self, node: usize, name: &str) -> ValueId {
        let base: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // Numbered per name, skipping a number another name's slot has taken: the
        // second `load` and a task `load_1` would both be `__load_1`.
        let count = self.slot_names.entry(base.clone()).or_insert(0);
        let slot = loop {
            let slot = match *count {
                0 => format!("__{base}"),
                n => format!("__{base}_{n}"),
            };
            *count += 1;
            if !is_reserved(&slot) && self.slots_taken.insert(slot.clone()) {
                break format_ident!("{}", slot, span = Span::mixed_site());
            }
        };
        self.graph.values.push(Value { node, slot });
        self.graph.values.len() - 1
    }

    /// A node holding a collection of nodes (`let parts = [a, b];`).
    fn materialize(&mut self, operand: Operand, span: Span) -> Operand {
        let name = match &operand {
            Operand::Array(..) => "array",
            Operand::Tuple(..) => "tuple",
            Operand::Vec(..) => "vec",
            _ => "value",
        };
        self.add_node(name, span, Op::Pass(operand))
    }

    /// `v` with the type written on its `let`: the type of the node just made for it,
    /// or of a new node passing on an existing value (`let b: i64 = a;`), so that the
    /// annotation drives inference and a mismatch is an error, as outside `graph!`.
    fn typed(&mut self, v: ValueId, before: usize, ty: &syn::Type, span: Span) -> ValueId {
        let v = if self.is_fresh(v, before)
            && self.graph.nodes[self.graph.values[v].node].ty.is_none()
        {
            v
        } else {
            match self.add_node("value", span, Op::Pass(Operand::Value(v, span))) {
                Operand::Value(v, _) => v,
                _ => unreachable!(),
            }
        };
        let node = self.graph.values[v].node;
        self.graph.nodes[node].ty = Some(ty.clone());
        v
    }

    /// Whether `v` is the single result of the newest node, made since `before`.
    fn is_fresh(&self, v: ValueId, before: usize) -> bool {
        let node = self.graph.values[v].node;
        node >= before
            && node + 1 == self.graph.nodes.len()
            && matches!(self.graph.nodes[node].out, OutPat::Value(o) if o == v)
    }

    /// What in `expr` is (or makes) a node, as the user wrote it: a node's name, or a
    /// call of a task. `None` for a constant expression.
    fn node_use(&self, expr: &Expr) -> Option<String> {
        if let Some(node) = self.node_read(expr) {
            return Some(node.to_string());
        }
        let mut calls = TaskCalls {
            lower: self,
            found: None,
        };
        calls.visit_expr(expr);
        calls.found.map(|call| tidy(&call.to_token_stream()))
    }

    /// The first node `expr` reads, its names resolved as Rust resolves them (the walk
    /// that puts constants in, which knows scopes): a closure's parameter, a pattern's
    /// binding or a `let` of the code named like a node is not the node (`match 3 { a
    /// => a + 1 }` beside a node `a` is constant code).
    fn node_read(&self, expr: &Expr) -> Option<syn::Ident> {
        let read = std::cell::RefCell::new(None);
        let _ = super::substitute::substitute(expr, &|ident| {
            if self.is_node(ident) {
                read.borrow_mut().get_or_insert_with(|| ident.clone());
            }
            None
        });
        read.into_inner()
    }

    /// The first guard of a `match` that reads a node or calls a task, with that node or
    /// call. Each guard is read with its arm's pattern around it (alone, with a `()`
    /// body), so that a binding of the pattern named like a node is not the node.
    fn guard_on_node<'m>(&self, m: &'m syn::ExprMatch) -> Option<(&'m Expr, String)> {
        m.arms.iter().find_map(|arm| {
            let (_, guard) = arm.guard.as_ref()?;
            let alone = syn::ExprMatch {
                attrs: Vec::new(),
                match_token: m.match_token,
                expr: m.expr.clone(),
                brace_token: m.brace_token,
                arms: vec![syn::Arm {
                    attrs: Vec::new(),
                    pat: arm.pat.clone(),
                    guard: arm.guard.clone(),
                    fat_arrow_token: arm.fat_arrow_token,
                    body: Box::new(syn::parse_quote!(())),
                    comma: None,
                }],
            };
            let node = self.node_use(&Expr::Match(alone))?;
            Some((&**guard, node))
        })
    }

    /// Whether lowering `expr` would read or make nodes.
    fn uses_nodes(&self, expr: &Expr) -> bool {
        self.node_use(expr).is_some()
    }

    /// Whether a call of `path` is a call of a task (else a constructor, an associated
    /// or standard library function, a function declared in the graph, a node).
    fn is_task_path(&self, func: &syn::ExprPath) -> bool {
        let path = &func.path;
        let Some(last) = path.segments.last() else {
            return false;
        };
        if let Some(ident) = path.get_ident() {
            if self.lookup(&ident.to_string()).is_some() {
                return false;
            }
        }
        func.qself.is_none()
            && starts_lowercase(&last.ident)
            && !is_associated(path)
            && !self.is_known_plain(path)
    }

    /// A function known not to be a task: from `std`/`core`/`alloc`, declared in the
    /// graph's body without attributes that could make it one, or a bare `drop` unless
    /// the file scan is certain that the user's is meant (defined or imported by name
    /// around the graph: then it is called like any function of the user's, a task).
    fn is_known_plain(&self, path: &syn::Path) -> bool {
        match path.get_ident() {
            Some(ident) => {
                self.local_fns.contains(&ident.to_string()) || (ident == "drop" && !self.user_drop)
            }
            None => is_standard(path),
        }
    }

    /// The first name of a node in `tokens`, format strings' `{name}` included.
    fn node_in(&self, tokens: TokenStream) -> Option<syn::Ident> {
        let mut previous_dot = false;
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut skip = 0;
        for (i, tree) in trees.iter().enumerate() {
            if skip > 0 || super::substitute::reads_no_names(&trees[i..]) {
                skip = if skip > 0 { skip - 1 } else { 2 };
                continue;
            }
            match tree {
                TokenTree::Ident(ident) if !previous_dot && self.is_node(ident) => {
                    return Some(ident.clone());
                }
                TokenTree::Group(group) => {
                    if let Some(found) = self.node_in(group.stream()) {
                        return Some(found);
                    }
                }
                TokenTree::Literal(literal) => {
                    if let Some(found) = self.node_in_format_string(literal) {
                        return Some(found);
                    }
                }
                _ => {}
            }
            previous_dot = matches!(tree, TokenTree::Punct(p) if p.as_char() == '.');
        }
        None
    }

    fn node_in_format_string(&self, literal: &proc_macro2::Literal) -> Option<syn::Ident> {
        let Ok(syn::Lit::Str(s)) = syn::parse2::<syn::Lit>(literal.to_token_stream()) else {
            return None;
        };
        super::substitute::inline_names(&s.value())
            .into_iter()
            .find(|name| matches!(self.lookup(name), Some(Binding::Node(_))))
            .map(|name| syn::Ident::new(&name, literal.span()))
    }

    /// A constant expression with the graph's constants (hidden `let`s, loop counters)
    /// put in where it reads them (see [`substitute`](super::substitute)).
    fn substitute(&mut self, expr: &Expr) -> TokenStream {
        let (tokens, errors) =
            super::substitute::substitute(expr, &|ident| match self.resolve(ident) {
                Some(Binding::Const(t)) | Some(Binding::Literal(t)) => {
                    Some(respan_literals(t.clone(), ident.span()))
                }
                _ => None,
            });
        errors.into_iter().for_each(|e| self.cx.push(e));
        tokens
    }
}

/// Puts literals (loop counters) on the user's span; names are located there too but
/// keep their resolution, so hidden mixed-site constants still resolve (and errors
/// about an input's value land where it is read, not where it is declared).
fn respan_literals(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            match &t {
                TokenTree::Literal(_) => t.set_span(span),
                TokenTree::Ident(_) => t.set_span(span.resolved_at(t.span())),
                _ => {}
            }
            t
        })
        .collect()
}

/// An integer literal, possibly negated: its value, suffix and span.
fn int_literal(expr: &Expr) -> Option<(i128, String, Span)> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => Some((i.base10_parse().ok()?, i.suffix().to_owned(), i.span())),
        Expr::Unary(syn::ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => int_literal(expr).map(|(v, suffix, span)| (-v, suffix, span)),
        Expr::Paren(p) => int_literal(&p.expr),
        // A `macro_rules!` fragment (`$n:literal`, `$n:expr`) comes in an invisible group.
        Expr::Group(g) => int_literal(&g.expr),
        _ => None,
    }
}

/// The first bound of a range that names a constant (`N_FILES`, `config::N`,
/// `usize::MAX`), and the range written with that bound as the literal `4`, for the
/// message (a macro cannot read the constant's value).
fn const_bound(expr: &Expr) -> Option<(&syn::ExprPath, String)> {
    let Expr::Range(range) = strip(expr) else {
        return None;
    };
    let is_const = |e: &Expr| match strip(e) {
        Expr::Path(p) => p.path.segments.last().is_some_and(|s| {
            let name = s.ident.to_string();
            name.chars().any(|c| c.is_ascii_uppercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        }),
        _ => false,
    };
    let bounds = [range.start.as_deref(), range.end.as_deref()];
    let found = bounds.into_iter().flatten().find(|e| is_const(e))?;
    let Expr::Path(path) = strip(found) else {
        return None;
    };
    let text = |bound: Option<&Expr>| match bound {
        Some(b) if std::ptr::eq(b, found) => "4".to_owned(),
        Some(b) => tidy(&b.to_token_stream()),
        None => String::new(),
    };
    let limits = match range.limits {
        syn::RangeLimits::HalfOpen(_) => "..",
        syn::RangeLimits::Closed(_) => "..=",
    };
    let literal = format!("{}{limits}{}", text(bounds[0]), text(bounds[1]));
    Some((path, literal))
}

fn strip(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => strip(&p.expr),
        Expr::Group(g) => strip(&g.expr),
        other => other,
    }
}

/// What an unrolled `for` binds its name to, copy by copy (see
/// `Lower::unrolled_items`).
enum Unrolled {
    /// A literal range: its start, its number of items (`None`: more than a `u128`
    /// holds), the literals' suffix and the start's span; in reverse for `.rev()`.
    Range {
        first: i128,
        count: Option<u128>,
        suffix: String,
        span: Span,
        reversed: bool,
    },
    /// The elements of an array written out, read before the loop, each with its text.
    Items(Vec<(Binding, String)>),
}

impl Unrolled {
    /// How many copies of the body.
    fn count(&self) -> Option<u128> {
        match self {
            Unrolled::Range { count, .. } => *count,
            Unrolled::Items(items) => Some(items.len() as u128),
        }
    }

    /// Copy `n` of `count`, as its nodes' errors name it: the loop's name and its value
    /// (`i = 3`, `v = a`), or for `_` the iteration (`iteration 4 of 8`).
    fn describe(&self, var: Option<&syn::Ident>, n: u128, count: u128) -> String {
        let Some(var) = var else {
            return format!("iteration {} of {count}", n + 1);
        };
        let var = unraw(&var.to_string());
        match self {
            Unrolled::Items(items) => format!("{var} = {}", items[n as usize].1),
            Unrolled::Range { .. } => format!("{var} = {}", self.range_item(n)),
        }
    }

    /// Item `n` of a range (below [`count`](Self::count)).
    fn range_item(&self, n: u128) -> i128 {
        match self {
            Unrolled::Range {
                first,
                count,
                reversed,
                ..
            } => {
                let count = count.expect("a counted range");
                // No item is past the range's last, an `i128`.
                match reversed {
                    true => first + (count - 1 - n) as i128,
                    false => first + n as i128,
                }
            }
            Unrolled::Items(_) => unreachable!("a range's item"),
        }
    }

    /// What the loop's name stands for in copy `n` (below [`count`](Self::count)).
    fn binding(&self, n: u128) -> Binding {
        match self {
            Unrolled::Items(items) => items[n as usize].0.clone(),
            Unrolled::Range { suffix, span, .. } => {
                let k = self.range_item(n);
                let literal = if k < 0 {
                    let positive =
                        syn::LitInt::new(&format!("{}{suffix}", k.unsigned_abs()), *span);
                    quote!((-#positive))
                } else {
                    syn::LitInt::new(&format!("{k}{suffix}"), *span).into_token_stream()
                };
                Binding::Literal(literal)
            }
        }
    }
}

/// An element of a tuple assignment's left side: `Some(name)`, or `None` for `_`;
/// anything else is not assigned to here.
fn assigned_name(expr: &Expr) -> Option<Option<&syn::Ident>> {
    match strip(expr) {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(Some),
        Expr::Infer(_) => Some(None),
        _ => None,
    }
}

/// The name at the root of a place expression (`s`, `s.count`, `s[0]`, `(s)`); none
/// for a temporary (a call, an operator, a literal).
fn place_root(expr: &Expr) -> Option<&syn::Ident> {
    match strip(expr) {
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
        Expr::Field(f) => place_root(&f.base),
        Expr::Index(i) => place_root(&i.expr),
        _ => None,
    }
}

fn path_text(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// Methods of taskweave's that run a graph (of a `Delayed`, a `Graph`). Called on a
/// value that may be the user's (`model.compute(2)`, `cfg.compute()`), the value's type
/// decides whether it is one (see `Op::Method` and `Lower::check_not_a_graph`).
pub(crate) fn runs_a_graph(method: &syn::Ident) -> bool {
    matches!(
        method.to_string().as_str(),
        "compute"
            | "try_compute"
            | "persist"
            | "compute_on"
            | "try_compute_on"
            | "compute_with"
            | "try_compute_with"
    )
}

/// Methods of the standard library's collections and strings that take `&mut self`
/// and have no by-value namesake there (so not `take`, `replace`, `rotate_left`,
/// `reverse`…). A method that is not listed and is called on a node for its effect is
/// caught by `statement`. The runtime's `NotAStdMutation` has a method of each name
/// (the check of `Op::Method` calls it; a test of this crate compares the two lists).
pub(crate) const MUTATORS: &[&str] = &[
    "push",
    "push_str",
    "push_back",
    "push_front",
    "pop",
    "pop_back",
    "pop_front",
    "insert",
    "remove",
    "swap_remove",
    "clear",
    "truncate",
    "retain",
    "retain_mut",
    "sort",
    "sort_by",
    "sort_by_key",
    "sort_unstable",
    "sort_unstable_by",
    "sort_unstable_by_key",
    "dedup",
    "dedup_by",
    "dedup_by_key",
    "extend",
    "extend_from_slice",
    "append",
    "drain",
    "resize",
    "fill",
    "get_mut",
    "iter_mut",
    "as_mut",
    "as_mut_slice",
    "entry",
    "make_ascii_uppercase",
    "make_ascii_lowercase",
];

/// Whether a constant expression holds a closure that reads state from outside itself:
/// it calls a method of, dereferences, indexes or reads a field of something that names
/// what it does not bind (a captured variable, a `static`), or passes such a name to a
/// function or a macro (`|z| z + v.len()`, `|z| z + C.load(SeqCst)`). A closure that
/// only copies outside names (`move |z| z * k`, `|z| z.abs() + n`) reads nothing
/// constant code could change in place: a rebinding of `k` makes a new name.
/// Whether a constant expression calls a function, a method or a macro: code that may
/// read state other than the values it names (a thread-local, a `static`, what a shared
/// reference points to).
fn runs_code(tokens: &TokenStream) -> bool {
    struct Runs(bool);
    impl<'ast> Visit<'ast> for Runs {
        fn visit_expr(&mut self, expr: &'ast Expr) {
            match expr {
                Expr::Call(_) | Expr::MethodCall(_) | Expr::Macro(_) => self.0 = true,
                _ => syn::visit::visit_expr(self, expr),
            }
        }
    }
    let Ok(expr) = syn::parse2::<Expr>(tokens.clone()) else {
        return false;
    };
    let mut runs = Runs(false);
    runs.visit_expr(&expr);
    runs.0
}

/// Whether a constant expression is a closure (or a reference to one, in parentheses or
/// not): it gets its parameters' types from its task's, so it is written in the task.
fn is_closure(tokens: &TokenStream) -> bool {
    let Ok(mut expr) = syn::parse2::<Expr>(tokens.clone()) else {
        return false;
    };
    loop {
        match expr {
            Expr::Closure(_) | Expr::Async(_) => return true,
            Expr::Paren(e) => expr = *e.expr,
            Expr::Group(e) => expr = *e.expr,
            Expr::Reference(e) => expr = *e.expr,
            _ => return false,
        }
    }
}

fn closure_reads_outside(tokens: &TokenStream) -> bool {
    /// The names a closure binds: its parameters and its own `let`s.
    #[derive(Default)]
    struct Bound(HashSet<String>);
    impl<'ast> Visit<'ast> for Bound {
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.0.insert(pat.ident.to_string());
            syn::visit::visit_pat_ident(self, pat);
        }
    }
    /// Whether an expression names something the closure does not bind: a variable or
    /// a `static` (a path of one name); a macro's tokens, which are not parsed, by
    /// any identifier.
    fn names_outside(bound: &HashSet<String>, expr: &Expr) -> bool {
        struct Outside<'b>(&'b HashSet<String>, bool);
        impl<'ast> Visit<'ast> for Outside<'_> {
            fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
                if let Some(ident) = path.path.get_ident().filter(|_| path.qself.is_none()) {
                    self.1 |= !self.0.contains(&ident.to_string());
                }
            }
            fn visit_macro(&mut self, mac: &'ast syn::Macro) {
                self.1 |= idents_outside(self.0, mac.tokens.clone());
            }
        }
        let mut outside = Outside(bound, false);
        outside.visit_expr(expr);
        outside.1
    }
    fn idents_outside(bound: &HashSet<String>, tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => !bound.contains(&ident.to_string()),
            TokenTree::Group(group) => idents_outside(bound, group.stream()),
            _ => false,
        })
    }
    struct Reads<'b> {
        bound: &'b HashSet<String>,
        found: bool,
    }
    impl<'ast> Visit<'ast> for Reads<'_> {
        fn visit_expr(&mut self, expr: &'ast Expr) {
            self.found |= match expr {
                Expr::MethodCall(m) => names_outside(self.bound, &m.receiver),
                Expr::Field(f) => names_outside(self.bound, &f.base),
                Expr::Index(i) => names_outside(self.bound, &i.expr),
                Expr::Unary(u) if matches!(u.op, UnOp::Deref(_)) => {
                    names_outside(self.bound, &u.expr)
                }
                Expr::Call(c) => c.args.iter().any(|arg| names_outside(self.bound, arg)),
                Expr::Macro(m) => idents_outside(self.bound, m.mac.tokens.clone()),
                _ => false,
            };
            syn::visit::visit_expr(self, expr);
        }
    }
    struct Closures(bool);
    impl<'ast> Visit<'ast> for Closures {
        fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
            let mut bound = Bound::default();
            bound.visit_expr_closure(closure);
            let mut reads = Reads {
                bound: &bound.0,
                found: false,
            };
            reads.visit_expr(&closure.body);
            self.0 |= reads.found;
        }
    }
    let Ok(expr) = syn::parse2::<Expr>(tokens.clone()) else {
        return false;
    };
    let mut found = Closures(false);
    found.visit_expr(&expr);
    found.0
}

/// Whether `method` is one of [`MUTATORS`].
pub(crate) fn is_mutator(method: &syn::Ident) -> bool {
    MUTATORS.iter().any(|m| method == m)
}

/// Finds the first `return`, or `break`/`continue` outside of a loop of its own, in
/// plain code (closures and nested items are code of their own).
#[derive(Default)]
struct EarlyExits {
    /// The loops around the current point, with their labels.
    loops: Vec<Option<String>>,
    found: Option<(&'static str, Span)>,
}

impl EarlyExits {
    /// Records `keyword` unless it targets a loop inside the code.
    fn exit(&mut self, keyword: &'static str, span: Span, label: Option<&syn::Lifetime>) {
        let inside = match label {
            None => !self.loops.is_empty(),
            Some(label) => {
                let label = label.ident.to_string();
                self.loops
                    .iter()
                    .any(|l| l.as_deref() == Some(label.as_str()))
            }
        };
        if !inside && self.found.is_none() {
            self.found = Some((keyword, span));
        }
    }

    fn in_loop(&mut self, label: Option<&syn::Label>, visit: impl FnOnce(&mut Self)) {
        self.loops.push(label.map(|l| l.name.ident.to_string()));
        visit(self);
        self.loops.pop();
    }
}

impl<'a> Visit<'a> for EarlyExits {
    fn visit_expr_return(&mut self, r: &'a syn::ExprReturn) {
        if self.found.is_none() {
            self.found = Some(("return", r.return_token.span));
        }
    }

    fn visit_expr_break(&mut self, b: &'a syn::ExprBreak) {
        self.exit("break", b.break_token.span, b.label.as_ref());
        syn::visit::visit_expr_break(self, b);
    }

    fn visit_expr_continue(&mut self, c: &'a syn::ExprContinue) {
        self.exit("continue", c.continue_token.span, c.label.as_ref());
    }

    fn visit_expr_loop(&mut self, l: &'a syn::ExprLoop) {
        self.in_loop(l.label.as_ref(), |v| syn::visit::visit_expr_loop(v, l));
    }

    fn visit_expr_while(&mut self, w: &'a syn::ExprWhile) {
        self.in_loop(w.label.as_ref(), |v| syn::visit::visit_expr_while(v, w));
    }

    fn visit_expr_for_loop(&mut self, f: &'a syn::ExprForLoop) {
        self.in_loop(f.label.as_ref(), |v| syn::visit::visit_expr_for_loop(v, f));
    }

    /// A labeled block is a target of `break 'label` as a loop is.
    fn visit_expr_block(&mut self, b: &'a syn::ExprBlock) {
        match &b.label {
            Some(label) => self.in_loop(Some(label), |v| syn::visit::visit_expr_block(v, b)),
            None => syn::visit::visit_expr_block(self, b),
        }
    }

    fn visit_expr_closure(&mut self, _: &'a syn::ExprClosure) {}

    fn visit_expr_async(&mut self, _: &'a syn::ExprAsync) {}

    fn visit_item(&mut self, _: &'a syn::Item) {}
}

/// Finds the first call of a task in an expression (closures and nested items are
/// code of their own, not graph nodes).
struct TaskCalls<'a, 'c> {
    lower: &'a Lower<'c>,
    found: Option<&'a syn::ExprCall>,
}

impl<'a> Visit<'a> for TaskCalls<'a, '_> {
    fn visit_expr_call(&mut self, call: &'a syn::ExprCall) {
        if self.found.is_some() {
            return;
        }
        if let Expr::Path(func) = strip(&call.func) {
            if self.lower.is_task_path(func) {
                self.found = Some(call);
                return;
            }
        }
        syn::visit::visit_expr_call(self, call);
    }

    fn visit_expr_closure(&mut self, _: &'a syn::ExprClosure) {}

    fn visit_item(&mut self, _: &'a syn::Item) {}
}

/// Whether a slot named `slot` would be one of the expansion's own names (its table,
/// pending counters, run closure, hidden constants …), which a task named `table`,
/// `pending` or `const_1` would otherwise shadow or be shadowed by.
fn is_reserved(slot: &str) -> bool {
    const OWN: &[&str] = &[
        "__cursor",
        "__early",
        "__env",
        "__exit",
        "__handles",
        "__key",
        "__last",
        "__new",
        "__node",
        "__nodes",
        "__options",
        "__out",
        "__parents",
        "__pending",
        "__private",
        "__remote",
        "__request",
        "__residual",
        "__result",
        "__run",
        "__table",
        "__tree",
        "__value",
    ];
    let numbered = |prefix: &str| {
        slot.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    OWN.contains(&slot)
        || numbered("__c")
        || numbered("__dropped")
        || numbered("__const_")
        || slot.starts_with("__out_")
}

/// The graph's declared result and the `;` of its last statement, `value;`, where the
/// graph declares a result other than `()` or `_`: its body then has no tail, and
/// returns `()`. `value` is an expression that has one (not an assignment, a loop, a
/// `return`), so that its `;` is likely the slip.
fn value_then_semicolon<'s>(
    stmts: &'s [Stmt],
    ret: &'s Option<syn::Type>,
) -> Option<(&'s syn::Type, &'s syn::Token![;])> {
    let declared = ret.as_ref()?;
    let mut ty = declared;
    loop {
        match ty {
            syn::Type::Paren(p) => ty = &p.elem,
            syn::Type::Group(g) => ty = &g.elem,
            // `-> ()`: a body ending in `;` returns what the graph declares. `-> _`:
            // perhaps `()` too.
            syn::Type::Tuple(t) if t.elems.is_empty() => return None,
            syn::Type::Infer(_) => return None,
            _ => break,
        }
    }
    let Some(Stmt::Expr(expr, Some(semi))) = stmts.iter().rfind(|s| !is_empty_statement(s)) else {
        return None;
    };
    let has_value = !is_statement_like(expr)
        && !matches!(
            expr,
            Expr::Return(_)
                | Expr::Break(_)
                | Expr::Continue(_)
                | Expr::Loop(_)
                | Expr::Let(_)
                | Expr::Macro(_)
                | Expr::Verbatim(_)
        )
        && !matches!(expr, Expr::If(i) if i.else_branch.is_none())
        && !matches!(expr, Expr::Tuple(t) if t.elems.is_empty());
    has_value.then_some((declared, semi))
}

/// A `;` alone, which syn reads as an empty expression statement.
fn is_empty_statement(stmt: &Stmt) -> bool {
    matches!(stmt, Stmt::Expr(Expr::Verbatim(tokens), Some(_)) if tokens.is_empty())
}

/// Statements at the end of a body that are not its value.
fn is_statement_like(expr: &Expr) -> bool {
    matches!(expr, Expr::ForLoop(_) | Expr::Assign(_) | Expr::While(_))
        || matches!(expr, Expr::Binary(b) if compound_assign(&b.op).is_some())
}

fn compound_assign(op: &BinOp) -> Option<&'static str> {
    Some(match op {
        BinOp::AddAssign(_) => "+=",
        BinOp::SubAssign(_) => "-=",
        BinOp::MulAssign(_) => "*=",
        BinOp::DivAssign(_) => "/=",
        BinOp::RemAssign(_) => "%=",
        BinOp::BitXorAssign(_) => "^=",
        BinOp::BitAndAssign(_) => "&=",
        BinOp::BitOrAssign(_) => "|=",
        BinOp::ShlAssign(_) => "<<=",
        BinOp::ShrAssign(_) => ">>=",
        _ => return None,
    })
}

fn binary_name(op: &BinOp) -> &'static str {
    match op {
        BinOp::Add(_) => "add",
        BinOp::Sub(_) => "sub",
        BinOp::Mul(_) => "mul",
        BinOp::Div(_) => "div",
        BinOp::Rem(_) => "rem",
        BinOp::BitXor(_) => "bitxor",
        BinOp::BitAnd(_) => "bitand",
        BinOp::BitOr(_) => "bitor",
        BinOp::Shl(_) => "shl",
        BinOp::Shr(_) => "shr",
        BinOp::Eq(_) => "eq",
        BinOp::Ne(_) => "ne",
        BinOp::Lt(_) => "lt",
        BinOp::Le(_) => "le",
        BinOp::Gt(_) => "gt",
        BinOp::Ge(_) => "ge",
        _ => "op",
    }
}

/// Whether a binary operator compares (reads its operands by reference).
pub(crate) fn is_comparison(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq(_) | BinOp::Ne(_) | BinOp::Lt(_) | BinOp::Le(_) | BinOp::Gt(_) | BinOp::Ge(_)
    )
}

/// The most copies `[a; n]` of a node makes (each is an operand of its task).
const MAX_REPEAT: usize = 256;

/// The pairs of [`Graph::same_names`] once per read: a constant expression nested `n`
/// deep is resolved again at each level (its operands, then the whole), and `n²/2`
/// checks took rustc a minute at `n` = 500. A read is told by its name and its span's
/// place in the source, as `Debug` prints it in a compiler (`#0 bytes(10..11)`);
/// outside one (the crate's unit tests) spans have no place and nothing is merged.
fn distinct_reads(pairs: Vec<(syn::Ident, syn::Ident)>) -> Vec<(syn::Ident, syn::Ident)> {
    let mut seen = HashSet::new();
    pairs
        .into_iter()
        .filter(|(bound, read)| {
            let place = format!("{:?}", read.span());
            !place.contains("bytes(") || seen.insert((bound.to_string(), read.to_string(), place))
        })
        .collect()
}

/// How many times `name` is written in `tokens`, as an identifier, nested groups
/// included (a work list: groups nest as deep as the user wrote them).
fn mentions(tokens: &TokenStream, name: &str) -> usize {
    let mut count = 0;
    let mut todo = vec![tokens.clone()];
    while let Some(tokens) = todo.pop() {
        for tree in tokens {
            match tree {
                TokenTree::Ident(ident) if unraw(&ident.to_string()) == name => count += 1,
                TokenTree::Group(group) => todo.push(group.stream()),
                _ => {}
            }
        }
    }
    count
}

impl Graph {
    /// Hands each input that the graph reads exactly once, as a whole operand, to its
    /// reader through a slot of its own ([`Operand::Hoisted`]), rather than reading it
    /// in place ([`Operand::Const`], cloned when taken by value): as in sequential
    /// code, an input given to one task is moved into it, and may be of a type that is
    /// not `Clone`. An input written anywhere else too (another operand, constant
    /// code, a closure, an unrolled loop's copies) stays in place. Counting every
    /// identifier spelled like it only keeps more inputs in place, never moves one
    /// read twice.
    fn move_inputs_read_once(&mut self) {
        for (input, _) in &self.inputs {
            let name = unraw(&input.to_string());
            let mut count = self
                .prelude
                .iter()
                .map(|t| mentions(t, &name))
                .sum::<usize>();
            let mut operands: Vec<&mut Operand> = self
                .nodes
                .iter_mut()
                .flat_map(|node| node.op.operands_mut())
                .chain(std::iter::once(&mut self.output))
                .collect();
            let mut reads = Vec::new();
            while let Some(operand) = operands.pop() {
                match operand {
                    Operand::Const(tokens) => {
                        let n = mentions(tokens, &name);
                        count += n;
                        if let [TokenTree::Ident(ident)] =
                            &tokens.clone().into_iter().collect::<Vec<_>>()[..]
                        {
                            if unraw(&ident.to_string()) == name {
                                // Located where it is read (see `respan_literals`).
                                let at = ident.span();
                                reads.push((operand, at));
                            }
                        }
                    }
                    Operand::Temp(tokens) => count += mentions(tokens, &name),
                    Operand::Array(items, _)
                    | Operand::Tuple(items, _)
                    | Operand::Vec(items, _) => {
                        operands.extend(items.iter_mut());
                    }
                    Operand::Ref(inner, _) => operands.push(inner),
                    Operand::Value(..) | Operand::Hoisted(..) => {}
                }
            }
            if let ([(read, at)], 1) = (&mut reads[..], count) {
                **read = Operand::Hoisted(input.clone(), *at);
                self.hoisted.push(input.clone());
            }
        }
    }
}

/// A name as Rust resolves it: `r#a` is `a` (and `r#type` is `type`, a name no other
/// spelling reaches).
pub(super) fn unraw(name: &str) -> String {
    name.strip_prefix("r#").unwrap_or(name).to_owned()
}

/// What an item is, for a message: "a `fn`", "a `const`", …
fn item_kind(item: &syn::Item) -> &'static str {
    match item {
        syn::Item::Fn(_) => "a `fn`",
        syn::Item::Const(_) => "a `const`",
        syn::Item::Static(_) => "a `static`",
        syn::Item::Use(_) => "a `use`",
        syn::Item::Struct(_) => "a `struct`",
        syn::Item::Enum(_) => "an `enum`",
        syn::Item::Macro(_) => "a `macro_rules!`",
        _ => "an item",
    }
}

/// What to point at for an item: its name where it has one.
fn item_name(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Fn(f) => f.sig.ident.to_token_stream(),
        syn::Item::Const(c) => c.ident.to_token_stream(),
        syn::Item::Static(s) => s.ident.to_token_stream(),
        syn::Item::Struct(s) => s.ident.to_token_stream(),
        syn::Item::Enum(e) => e.ident.to_token_stream(),
        syn::Item::Macro(m) if m.ident.is_some() => m.ident.to_token_stream(),
        syn::Item::Use(u) => u.tree.to_token_stream(),
        other => other.to_token_stream(),
    }
}

/// The error of a pattern that cannot bind a node or a constant inside `graph!`, with
/// what to write instead where there is a spelling for it.
fn unsupported_pattern(pat: &Pat) -> String {
    let instead = match pat {
        Pat::Struct(_) | Pat::TupleStruct(_) => {
            ": bind the value to a name and read its fields (`let p = f(x); let a = p.x;`), \
             or destructure it in a task"
        }
        Pat::Slice(_) => ": bind the value to a name and index it (`v[0]`)",
        _ => "",
    };
    format!("only names, `_` and tuples of them can be bound inside `graph!`{instead}")
}

#[cfg(test)]
mod tests {
    /// The runtime's `NotAStdMutation` has one method per name of [`super::MUTATORS`],
    /// and no other: `graph!` calls the one named like the method it checks.
    #[test]
    fn the_runtimes_fallback_names_every_mutator() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../graph-runtime/src/prohibited.rs");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let start = text
            .find("std_mutations!(@fallback")
            .expect("the fallback's list");
        let list = &text[start + "std_mutations!(@fallback".len()..];
        let list = &list[..list.find(')').expect("the list's end")];
        let fallback: Vec<&str> = list.split_whitespace().collect();
        assert_eq!(fallback, super::MUTATORS);
    }
}
