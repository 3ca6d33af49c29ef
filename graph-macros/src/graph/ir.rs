//! The graph between parsing and expansion: nodes, the values they produce, and how
//! each node reads its operands. User syntax is kept as tokens, with its spans, so
//! that errors and generated code point at what the user wrote.

use proc_macro2::{Span, TokenStream};

/// Index of a value (a typed result slot).
pub(crate) type ValueId = usize;

/// A lowered `graph!`.
pub(crate) struct Graph {
    /// The closure form's inputs, constants inside the graph.
    pub(crate) inputs: Vec<(syn::Ident, syn::Type)>,
    /// The closure form's declared return type.
    pub(crate) ret: Option<syn::Type>,
    /// Plain code run before the graph: constant `let`s, items.
    pub(crate) prelude: Vec<TokenStream>,
    /// The names of the prelude's [`Operand::Hoisted`] values, each put in a slot of
    /// its own once the prelude has run, for its task to take.
    pub(crate) hoisted: Vec<syn::Ident>,
    /// The nodes, in a topological order (program order).
    pub(crate) nodes: Vec<Node>,
    /// Every value a node produces.
    pub(crate) values: Vec<Value>,
    /// The graph's result.
    pub(crate) output: Operand,
    /// Each name read as one the graph bound (a node, a constant, an input, a loop
    /// counter), as written where it is bound and where it is read: the expansion
    /// has rustc check that the two resolve alike, which names from another macro's
    /// expansion (hygiene) may not, though they are spelled the same.
    pub(crate) same_names: Vec<(syn::Ident, syn::Ident)>,
}

impl Graph {
    /// Whether a node has a `?`: the graph may return early (its dispatcher's form
    /// then drops what the run left unread itself, see `expand`).
    pub(crate) fn has_exit(&self) -> bool {
        self.nodes.iter().any(|n| n.question.is_some())
    }
}

/// A value some node produces.
pub(crate) struct Value {
    /// The node that produces it.
    pub(crate) node: usize,
    /// Its slot's name in the expansion.
    pub(crate) slot: syn::Ident,
}

/// One task, operator, method call… of the graph.
pub(crate) struct Node {
    /// Its name in the node table.
    pub(crate) name: String,
    /// Where it was written.
    pub(crate) span: Span,
    /// What it computes.
    pub(crate) op: Op,
    /// Where the result goes.
    pub(crate) out: OutPat,
    /// `?` applied to the result, with the span of the `?`.
    pub(crate) question: Option<Span>,
    /// The type written on the `let` that binds the result (after any `?`).
    pub(crate) ty: Option<syn::Type>,
    /// Which copy of each unrolled loop around it made it (`i = 3`, `i = 1, j = 2`):
    /// its label's `copy` in the node table, so that its errors name the iteration.
    pub(crate) copy: Option<String>,
}

/// Where a node's result goes: one value, or a tuple split into several.
pub(crate) enum OutPat {
    Value(ValueId),
    Tuple(Vec<OutPat>),
    Discard,
    /// `..` in a tuple: the elements it stands for, dropped with the tuple.
    Rest,
}

/// What a node computes.
pub(crate) enum Op {
    /// A `#[delayed]` function; `func` as written, `companion` without generics.
    Call {
        func: TokenStream,
        companion: TokenStream,
        args: Vec<Operand>,
        /// The span of the call's parentheses, so that the call expression spans the
        /// user's `f(x)` (rustc's suggestions then apply to all of it).
        parens: Span,
    },
    /// A tuple struct or enum variant constructor (`Ok(x)`, `Point(a, b)`).
    Construct {
        func: TokenStream,
        args: Vec<Operand>,
    },
    /// A struct literal.
    Struct {
        path: TokenStream,
        fields: Vec<(syn::Member, Operand)>,
    },
    Binary {
        op: syn::BinOp,
        lhs: Operand,
        rhs: Operand,
    },
    Unary {
        op: syn::UnOp,
        operand: Operand,
    },
    /// A method call on a node, or a chain of them (`v.iter().sum()`), run in one
    /// task: a method's result may borrow its receiver, so a chain is not split.
    Method {
        receiver: Operand,
        calls: Vec<MethodCall>,
        /// The name at the root of a receiver written as a place (`s`, `s.count`,
        /// `s[0]`), a node, an input or a captured variable, and which of them it is:
        /// the task reads it through an immutable binding of that name, so that a
        /// `&mut self` method is rustc's "cannot borrow `s` as mutable", as without
        /// `graph!` (it would change the task's copy only). On a node or a captured
        /// variable, a method of a standard library collection that takes `&mut self`
        /// (`v.pop()`, `m.insert(k, v)`) is refused with a message of its own, decided by
        /// the receiver's type. A temporary receiver (`inc(x).bump()`) may be changed,
        /// as without `graph!`.
        place: Option<(syn::Ident, PlaceOf)>,
    },
    Field {
        base: Operand,
        member: syn::Member,
    },
    Index {
        base: Operand,
        index: Operand,
    },
    Cast {
        operand: Operand,
        ty: syn::Type,
    },
    /// The operand itself (a collection of nodes bound by `let`, a `?` on a value).
    Pass(Operand),
}

/// What a method's receiver written as a place is rooted at (see `Op::Method`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlaceOf {
    /// A node: a task's result, which other tasks may be reading.
    Node,
    /// A variable captured from around the graph, which every run reads afresh.
    Captured,
    /// An input or a constant `let`.
    Other,
}

/// One call of a method chain.
pub(crate) struct MethodCall {
    pub(crate) method: syn::Ident,
    pub(crate) turbofish: TokenStream,
    pub(crate) args: Vec<Operand>,
}

/// How a node reads one input.
#[derive(Clone)]
pub(crate) enum Operand {
    /// Another node's result.
    Value(ValueId, Span),
    /// A place read where it is (an input, a captured variable): cloned when given.
    Const(TokenStream),
    /// A temporary built in the consuming task (a literal, a constant expression of
    /// literals and names no later code can change).
    Temp(TokenStream),
    /// A constant expression that calls or reads something later constant code may
    /// change (`v.len()`, `c.load(SeqCst)`, a `mut` name): evaluated before the graph
    /// runs, in program order, into this hidden name, and moved into its task (see
    /// [`Graph::hoisted`]).
    Hoisted(syn::Ident, Span),
    /// `[a, b]` built in the consuming task.
    Array(Vec<Operand>, Span),
    /// `(a, b)` built in the consuming task.
    Tuple(Vec<Operand>, Span),
    /// `vec![a, b]` built in the consuming task.
    Vec(Vec<Operand>, Span),
    /// `&a`.
    Ref(Box<Operand>, Span),
}

impl Operand {
    /// Whether a node's result is read (else the operand is a constant).
    pub(crate) fn reads_nodes(&self) -> bool {
        match self {
            Operand::Value(..) => true,
            Operand::Const(_) | Operand::Temp(_) | Operand::Hoisted(..) => false,
            Operand::Array(items, _) | Operand::Tuple(items, _) | Operand::Vec(items, _) => {
                items.iter().any(Operand::reads_nodes)
            }
            Operand::Ref(inner, _) => inner.reads_nodes(),
        }
    }

    /// Every value read, once per read.
    pub(crate) fn for_each_value(&self, f: &mut impl FnMut(ValueId)) {
        match self {
            Operand::Value(v, _) => f(*v),
            Operand::Const(_) | Operand::Temp(_) | Operand::Hoisted(..) => {}
            Operand::Array(items, _) | Operand::Tuple(items, _) | Operand::Vec(items, _) => {
                items.iter().for_each(|i| i.for_each_value(f))
            }
            Operand::Ref(inner, _) => inner.for_each_value(f),
        }
    }
}

impl Op {
    /// Every operand, in order, to change.
    pub(crate) fn operands_mut(&mut self) -> Vec<&mut Operand> {
        match self {
            Op::Call { args, .. } | Op::Construct { args, .. } => args.iter_mut().collect(),
            Op::Struct { fields, .. } => fields.iter_mut().map(|f| &mut f.1).collect(),
            Op::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            Op::Unary { operand, .. } | Op::Cast { operand, .. } | Op::Pass(operand) => {
                vec![operand]
            }
            Op::Method {
                receiver, calls, ..
            } => std::iter::once(receiver)
                .chain(calls.iter_mut().flat_map(|c| c.args.iter_mut()))
                .collect(),
            Op::Field { base, .. } => vec![base],
            Op::Index { base, index } => vec![base, index],
        }
    }

    /// Every operand, in order.
    pub(crate) fn operands(&self) -> Vec<&Operand> {
        match self {
            Op::Call { args, .. } | Op::Construct { args, .. } => args.iter().collect(),
            Op::Struct { fields, .. } => fields.iter().map(|f| &f.1).collect(),
            Op::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            Op::Unary { operand, .. } | Op::Cast { operand, .. } | Op::Pass(operand) => {
                vec![operand]
            }
            Op::Method {
                receiver, calls, ..
            } => std::iter::once(receiver)
                .chain(calls.iter().flat_map(|c| c.args.iter()))
                .collect(),
            Op::Field { base, .. } => vec![base],
            Op::Index { base, index } => vec![base, index],
        }
    }
}
