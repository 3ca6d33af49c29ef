//! From the node graph to code: a `static` node table, one typed slot per value, one
//! `match` arm per node, and a call of the runtime's dispatcher.
//!
//! ```text
//! {
//!     let __table = { static __TABLE: Table = Table::new(&[NodeInfo::new(&const { Label::task("load", "src/main.rs:9:13") }, 0, 0, 1), …], &[1, …], &[0, 2], 2); &__TABLE };
//!     Graph::<_, (u32,)>::__new(__table, move |__options: RunOptions, n: u32| {
//!         let __load = Slot::new();
//!         …
//!         let __run = |__node: u32| match __node {
//!             0u32 => { let __out = load::__call((Const(&n),), |…, __companion| load(__companion.__arg0(…))); __load.put(__out); Flow::Continue }
//!             …
//!         };
//!         dispatch(__table, &__pending, &__run, &__options)?;
//!         Ok(give(&mut __mul.owned()))
//!     })
//! }
//! ```

use std::cell::Cell;
use std::collections::BTreeSet;

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};

use super::forest::{forest, Forest};
use super::ir::{Graph, Node, Op, Operand, OutPat, PlaceOf};
use super::lower::{is_comparison, is_mutator, runs_a_graph};
use crate::names::{attempt_reads, hidden, AttemptReads, Runtime};

struct Expander<'g> {
    graph: &'g Graph,
    uses: Vec<u32>,
    runtime: &'g Runtime,
    private: TokenStream,
    /// Values are the tree code's locals (see [`Expander::tree_value`]) rather than
    /// slots.
    local: Cell<bool>,
    /// A tree node's code declares its local (`let mut v = None;`); not when the
    /// frame's locals are made in a room (see [`Expander::subtree`]).
    declare: Cell<bool>,
    /// A tree node whose input did not run ends its branch by leaving the room's
    /// labelled block (`break '__branch;`) rather than by returning from the closure
    /// around it (see [`Expander::subtree`]).
    in_room: Cell<bool>,
    /// In a node's code, that node: each value read by reference (another node's, a
    /// temporary, a value made before the run) is read through a handle that names
    /// the node that made it (`MadeBy`), so that a panic of the value's `Drop` in its
    /// last reader fails the run after the reader's value is stored, and in a graph
    /// with `?`, as sequential code's would.
    in_node: Cell<Option<u32>>,
}

pub(crate) fn expand(graph: &Graph, runtime: &Runtime) -> TokenStream {
    let mut uses = vec![0u32; graph.values.len()];
    for node in &graph.nodes {
        for operand in node.op.operands() {
            operand.for_each_value(&mut |v| uses[v] += 1);
        }
    }
    graph.output.for_each_value(&mut |v| uses[v] += 1);
    let ex = Expander {
        graph,
        uses,
        runtime,
        private: runtime.private(),
        local: Cell::new(false),
        declare: Cell::new(true),
        in_room: Cell::new(false),
        in_node: Cell::new(None),
    };
    match forest(graph, &ex.uses) {
        Some(forest) => ex.tree_value(&forest),
        None => ex.graph_value(),
    }
}

/// What a failed `graph!` expands to next to its errors: a graph of the declared
/// shape that is never run, so the user's code around it still type-checks. None
/// where no graph has that shape (more inputs than a `compute` takes): the errors
/// alone are then the value, of a type the compiler reports nothing more about.
pub(crate) fn stand_in(graph: &Graph, runtime: &Runtime) -> Option<TokenStream> {
    if graph.inputs.len() > super::parse::MAX_INPUTS {
        return None;
    }
    let private = runtime.private();
    let (inputs, types) = inputs(graph);
    let ret = ret_type(graph);
    Some(quote! {
        {
            static __TABLE: #private::Table<'static> = #private::Table::new(&[], &[], &[], 0);
            #private::Graph::<_, (#(#types,)*)>::__new(
                &__TABLE,
                move |_: #private::RunOptions, #(#inputs: #types),*| -> ::core::result::Result<#ret, #private::TaskError> {
                    ::core::unreachable!()
                },
            )
        }
    })
}

fn inputs(graph: &Graph) -> (Vec<&syn::Ident>, Vec<&syn::Type>) {
    graph.inputs.iter().map(|(i, t)| (i, t)).unzip()
}

fn ret_type(graph: &Graph) -> TokenStream {
    match &graph.ret {
        Some(ty) => ty.to_token_stream(),
        None => quote!(_),
    }
}

/// More nodes' locals than this in one frame of a tree are made in a stack room (see
/// [`Expander::subtree`]).
const FRAME_LOCALS: usize = 16;

/// Up to this many values, each slot has a `let` of its own (as `cargo expand` reads
/// best); more share one (see [`Expander::slots`]).
const SLOT_LETS: usize = 64;

impl Expander<'_> {
    fn graph_value(&self) -> TokenStream {
        let private = &self.private;
        // The node table, a `&'static` reference (see `table`).
        let table_ref = hidden("__table");
        let graph = self.graph;
        let has_exit = graph.has_exit();
        // The slots are made inside a stack room for all of them (`in_room_of`) and
        // handed to the rest of the body: each is a local of the body's frame, and a
        // debug build keeps each in a place of its own, so a graph of many large values
        // (an unrolled loop over a 64 KiB array) overflowed the caller's stack. With
        // early exits they are dropped by `&mut` (`early_exit`).
        let (names, news): (Vec<_>, Vec<_>) = self.slot_parts().into_iter().unzip();
        let mutable = has_exit.then(|| quote!(mut));
        let early = hidden("__early");
        let early_slot = has_exit.then(|| quote!(let mut #early = #private::EarlyExit::new();));
        // With early exits, a panic stops only the nodes after it, so that a `?` before
        // it decides as in sequential code.
        let dispatch = match has_exit {
            true => quote!(dispatch_exits),
            false => quote!(dispatch),
        };
        // An early exit drops the values left unread before it returns, each named
        // after its node (`early_exit`): dropped with the closure's locals, a panic of
        // one's `Drop` unwound out of `try_compute` naming no task. The values made
        // before the run (inputs given to one task, hoisted operands) are named after
        // the task they were given to. The run's observers are told its end (`__end`)
        // after the drops, with the outcome the caller gets.
        let end = hidden("__end");
        let early_return = has_exit.then(|| {
            let unread = |(node, slot): (u32, &syn::Ident)| {
                quote!((#node, &mut #slot as &mut dyn #private::Unread))
            };
            let made = self.node_slots().map(unread);
            let given = self.hoisted_slots().map(unread);
            quote! {
                if let ::core::option::Option::Some(__exit) = #early.take_at() {
                    return #private::early_exit(
                        #table_ref,
                        __exit,
                        &mut [#(#made,)*],
                        &mut [#(#given,)*],
                        #end,
                    );
                }
            }
        });
        let ran = match has_exit {
            true => quote!(let #end = ),
            false => quote!(),
        };
        let arms = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| self.arm(i as u32, node));
        let count = graph.nodes.len();
        let output = self.given(&graph.output);
        let (node, run, pending, scheduler) = (
            hidden("__node"),
            hidden("__run"),
            hidden("__pending"),
            hidden("__options"),
        );
        let result = hidden("__result");
        let ret = ret_type(graph);
        let description = self.description(&scheduler, None);
        self.graph_of(
            quote!(__new),
            &scheduler,
            quote! {
                #private::in_room_of(
                    || (#(#news,)*),
                    |(#(#mutable #names,)*)| -> ::core::result::Result<#ret, #private::TaskError> {
                #early_slot
                let #pending = #private::pending::<#count>();
                #[allow(unreachable_code, unused_variables, clippy::all)]
                let #run = |#node: u32| -> #private::Flow {
                    match #node {
                        #(#arms)*
                        _ => ::core::unreachable!(),
                    }
                };
                #description
                #ran #private::#dispatch(#table_ref, &#pending, &#run, &#scheduler)?;
                #early_return
                // Typed as declared, so that a tail of another type is an error on the
                // tail and the declared type, not on the whole macro call's `Ok`.
                let #result: #ret = #output;
                ::core::result::Result::Ok(#result)
                    },
                )
            },
        )
    }

    /// The graph's value: its table, and `Graph::#constructor` of the closure that
    /// `compute` calls with the run's options and the inputs, running `body`.
    fn graph_of(
        &self,
        constructor: TokenStream,
        options: &syn::Ident,
        body: TokenStream,
    ) -> TokenStream {
        let private = &self.private;
        // The node table, a `&'static` reference (see `table`).
        let table_ref = hidden("__table");
        let (inputs, types) = inputs(self.graph);
        let ret = ret_type(self.graph);
        let table = self.table();
        let prelude = &self.graph.prelude;
        // Each hoisted value, evaluated in the prelude in program order, in a slot for
        // its task to take (see `Operand::Hoisted`).
        let slot = hidden("__slot");
        let in_slots = self.graph.hoisted.iter().map(|name| {
            quote!({
                let #slot = #private::Slot::new();
                #slot.put(#name);
                #slot
            })
        });
        let hoisted = &self.graph.hoisted;
        // With early exits they are dropped by `&mut` (`early_exit`), as node values.
        let mutable = self.graph.has_exit().then(|| quote!(mut));
        // One `let` for many (see `slots`).
        let hoisted = if hoisted.len() <= SLOT_LETS {
            quote!(#(let #mutable #hoisted = #in_slots;)*)
        } else {
            quote!(let (#(#mutable #hoisted,)*) = (#(#in_slots,)*);)
        };
        let same_names = self.same_names();
        quote! {
            {
                #table
                #private::Graph::<_, (#(#types,)*)>::#constructor(
                    #table_ref,
                    move |#options: #private::RunOptions, #(#inputs: #types),*| -> ::core::result::Result<#ret, #private::TaskError> {
                        #same_names
                        #(#prelude)*
                        #hoisted
                        #body
                    },
                )
            }
        }
    }

    /// Code that never runs, for rustc to check that each name the graph reads as one
    /// it bound is that name (see `Graph::same_names` and `__private::same_names`).
    fn same_names(&self) -> TokenStream {
        if self.graph.same_names.is_empty() {
            return TokenStream::new();
        }
        let private = &self.private;
        let pairs = self.graph.same_names.iter().map(|(bound, read)| {
            let read = quote_spanned!(read.span()=> &#read);
            quote!((#bound, #read))
        });
        quote!(#private::same_names! { #(#pairs)* })
    }

    /// Each hoisted value's slot (see `Operand::Hoisted`) with the node it is given
    /// to; the graph's last node, as a failure outside any task names, for one the
    /// graph's result reads.
    fn hoisted_slots(&self) -> impl Iterator<Item = (u32, &syn::Ident)> {
        fn note<'a>(operand: &'a Operand, node: u32, readers: &mut Vec<(&'a syn::Ident, u32)>) {
            match operand {
                Operand::Hoisted(name, _) => readers.push((name, node)),
                Operand::Array(items, _) | Operand::Tuple(items, _) | Operand::Vec(items, _) => {
                    items.iter().for_each(|item| note(item, node, readers));
                }
                Operand::Ref(inner, _) => note(inner, node, readers),
                Operand::Value(..) | Operand::Const(_) | Operand::Temp(_) => {}
            }
        }
        let mut readers = Vec::new();
        for (i, node) in self.graph.nodes.iter().enumerate() {
            for operand in node.op.operands() {
                note(operand, i as u32, &mut readers);
            }
        }
        let readers: std::collections::HashMap<_, _> = readers.into_iter().collect();
        let last = self.graph.nodes.len().saturating_sub(1) as u32;
        self.graph
            .hoisted
            .iter()
            .map(move |name| (readers.get(name).copied().unwrap_or(last), name))
    }

    /// Each node value's slot with the node that makes it.
    fn node_slots(&self) -> impl Iterator<Item = (u32, &syn::Ident)> {
        self.graph
            .values
            .iter()
            .filter(|v| v.node != usize::MAX)
            .map(|v| (v.node as u32, &v.slot))
    }

    /// One slot per value: `Slot` for one reader, `SharedSlot` for several; a `let`
    /// each, or, past [`SLOT_LETS`] values, one `let` of a tuple (a tree's slots, for a
    /// cluster's description; the dispatcher's form makes them in its room, see
    /// `graph_value`).
    fn slots(&self) -> TokenStream {
        let slots = self.slot_parts();
        if self.graph.values.len() <= SLOT_LETS {
            let slots = slots.iter().map(|(slot, new)| quote!(let #slot = #new;));
            return quote!(#(#slots)*);
        }
        // One `let` for all: each `let` opens a scope inside the one before, and with
        // debug info rustc (LLVM) overflowed its stack on about 3,000 nested scopes.
        let (names, news): (Vec<_>, Vec<_>) = slots.into_iter().unzip();
        quote!(let (#(#names,)*) = (#(#news,)*);)
    }

    /// Each node value's slot: its name and the code that makes it.
    fn slot_parts(&self) -> Vec<(&syn::Ident, TokenStream)> {
        let private = &self.private;
        self.graph
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.node != usize::MAX)
            .map(|(i, v)| {
                let slot = &v.slot;
                // A shared value must be `Sync` (`ReadAtOnce`): its error lands on the
                // node that makes it.
                let at = self
                    .graph
                    .nodes
                    .get(v.node)
                    .map_or_else(Span::call_site, |n| n.span);
                let new = match (self.uses[i], self.slot_type(i)) {
                    (1, None) => quote!(#private::Slot::new()),
                    (1, Some(of)) => quote!(#private::Slot::of(#of)),
                    (n, None) => {
                        let private = self.runtime.private_at(at);
                        quote_spanned!(at=> #private::SharedSlot::new(#n))
                    }
                    (n, Some(of)) => {
                        let private = self.runtime.private_at(at);
                        let of = respanned(of, at);
                        quote_spanned!(at=> #private::SharedSlot::of(#n, #of))
                    }
                };
                (slot, new)
            })
            .collect()
    }

    /// A `PhantomData` of value `value`'s type, where the graph names it: the type of
    /// its `let` (`let x: T = …`), or the result of the task whose whole result it is
    /// (its companion's `__output`). Declared typed, a slot is no inference variable
    /// waiting for its node's code: with thousands of those, rustc's type checking
    /// grows with the square of the graph's size.
    fn slot_type(&self, value: usize) -> Option<TokenStream> {
        let node = self.graph.nodes.get(self.graph.values[value].node)?;
        if !matches!(node.out, OutPat::Value(v) if v == value) || node.question.is_some() {
            return None;
        }
        if let Some(ty) = &node.ty {
            return Some(quote!(::core::marker::PhantomData::<#ty>));
        }
        match &node.op {
            Op::Call { companion, .. } => Some(quote!(#companion::__output())),
            _ => None,
        }
    }

    // ---- an in-forest as nested joins ---------------------------------------------

    /// A graph whose nodes form trees (see `forest`), written as ordinary code: each
    /// node's inputs computed by the branches of `Tree::join` and handed over by
    /// return, each node run through `Tree::node`; no slots, no dispatcher. The node
    /// table is the same as the dispatcher's (observers and inspection read it).
    fn tree_value(&self, forest: &Forest) -> TokenStream {
        let private = &self.private;
        // The node table, a `&'static` reference (see `table`).
        let table_ref = hidden("__table");
        let graph = self.graph;
        let (scheduler, tree, result) = (hidden("__options"), hidden("__tree"), hidden("__result"));
        let ret = ret_type(graph);
        // A cluster's description reads slots: declared and typed in it.
        let description = self.description(&scheduler, Some(self.typing()));
        self.local.set(true);
        let code = self.branches(&forest.roots, forest, &tree);
        let roots: Vec<_> = forest.roots.iter().map(|&r| self.local_of(r)).collect();
        let outputs: Vec<_> = forest
            .roots
            .iter()
            .filter(|&&r| self.read_by_output(r))
            .map(|&r| self.local_of(r))
            .collect();
        let kept = forest.roots.iter().map(|&r| {
            if self.read_by_output(r) {
                let local = self.local_of(r);
                quote!(::core::option::Option::Some(#local))
            } else {
                quote!(::core::option::Option::Some(_))
            }
        });
        let output = self.given(&graph.output);
        self.local.set(false);
        self.graph_of(
            quote!(__new_tree),
            &scheduler,
            quote! {
                #description
                #[allow(unreachable_code, unused_variables, unused_mut, clippy::all)]
                let (#(#outputs,)*) = #private::run_tree(#table_ref, &#scheduler, |#tree: &#private::Tree<'_, '_>| {
                    #code
                    match (#(#roots,)*) {
                        (#(#kept,)*) => ::core::option::Option::Some((#(#outputs,)*)),
                        _ => ::core::option::Option::None,
                    }
                })?;
                // Typed as declared, so that a tail of another type is an error on the
                // tail and the declared type, not on the whole macro call's `Ok`.
                let #result: #ret = #output;
                ::core::result::Result::Ok(#result)
            },
        )
    }

    /// Statements that bind each node of `nodes` to its local (an `Option` of its value's
    /// `Value` handle):
    /// one node's subtree in line, several as a balanced join of their subtrees.
    fn branches(&self, nodes: &[usize], forest: &Forest, tree: &syn::Ident) -> TokenStream {
        if let [node] = nodes {
            return self.subtree(*node, forest, tree);
        }
        let pattern = self.join_pattern(nodes);
        let join = self.join_expr(nodes, forest, tree);
        quote!(let #pattern = #join;)
    }

    fn join_pattern(&self, nodes: &[usize]) -> TokenStream {
        if let [node] = nodes {
            let local = self.local_of(*node);
            return quote!(mut #local);
        }
        let (left, right) = nodes.split_at(nodes.len() / 2);
        let (left, right) = (self.join_pattern(left), self.join_pattern(right));
        quote!((#left, #right))
    }

    fn join_expr(&self, nodes: &[usize], forest: &Forest, tree: &syn::Ident) -> TokenStream {
        if let [node] = nodes {
            // A branch's closure: a node there ends it by `return` (few nodes), or its
            // room's `break`.
            let room = self.in_room.replace(false);
            let code = self.subtree(*node, forest, tree);
            self.in_room.set(room);
            let local = self.local_of(*node);
            return quote!({ #code #local });
        }
        let (left, right) = nodes.split_at(nodes.len() / 2);
        let left = self.join_expr(left, forest, tree);
        let right = self.join_expr(right, forest, tree);
        quote!(#tree.join(|| #left, || #right))
    }

    /// The statements of `root`'s subtree, inputs first. A chain of single-input nodes
    /// is a run of statements (a work list, not recursion: chains can be long); only
    /// a node with several inputs joins, one level deeper.
    fn subtree(&self, root: usize, forest: &Forest, tree: &syn::Ident) -> TokenStream {
        enum Work {
            Visit(usize),
            Emit(usize),
        }
        let mut order = Vec::new();
        let mut work = vec![Work::Visit(root)];
        while let Some(step) = work.pop() {
            match step {
                Work::Visit(node) => {
                    work.push(Work::Emit(node));
                    if let [only] = forest.children[node][..] {
                        work.push(Work::Visit(only));
                    }
                }
                Work::Emit(node) => order.push(node),
            }
        }
        // Many nodes' locals in one frame (a long chain, an unrolled loop) are made in
        // a stack room for all of them (`in_room_of`): a debug build keeps each in a
        // place of its own, and 60 values of 64 KiB overflowed a pool thread. The code
        // is then a labelled block, which a node whose input did not run leaves
        // (`break`), and the closure ends with the root's local, `None` then. Not a
        // `return None` per node: each was an `Option` of a new inference variable,
        // coerced to the closure's return type, which is known only at its end, and
        // rustc examined every such pending coercion again at each later step, so that
        // checking a chain of thousands of nodes took time growing with its square.
        let in_room = order.len() > FRAME_LOCALS;
        let declare = self.declare.replace(!in_room);
        let room = match in_room {
            true => self.in_room.replace(true),
            false => self.in_room.get(),
        };
        let mut code = TokenStream::new();
        for &node in &order {
            let children = &forest.children[node];
            if children.len() > 1 {
                // A join's branches declare their own locals.
                self.declare.set(true);
                code.extend(self.branches(children, forest, tree));
                self.declare.set(!in_room);
            }
            code.extend(self.tree_node(node, children, tree));
        }
        self.declare.set(declare);
        self.in_room.set(room);
        if !in_room {
            return code;
        }
        let private = &self.private;
        let locals: Vec<_> = order.iter().map(|&node| self.local_of(node)).collect();
        // Typed where the graph names the type (see `slot_type`): made before any
        // node's code, an untyped local is an inference variable until its node's
        // code, and rustc examines every such variable's pending bounds again at each
        // step, a time growing with the square of the chain's length.
        let nones = order.iter().map(|&node| match self.local_type(node) {
            Some(of) => quote!(#private::Value::none_of(#of)),
            None => quote!(::core::option::Option::None),
        });
        let root = self.local_of(root);
        let label = branch_label();
        quote! {
            let mut #root = #private::in_room_of(
                || (#(#nones,)*),
                |(#(mut #locals,)*)| {
                    #label: {
                        #code
                    }
                    #root
                },
            );
        }
    }

    /// `let mut v = None; tree.node(&mut v, i, size, || value);`, run only when every
    /// input ran; else the branch ends there (`return None`, or `break` out of its
    /// room's block, see [`Expander::subtree`]): every later statement of it is
    /// downstream of that input, which did not run. An `if` per node without the
    /// return left a chain of conditions on each other's locals in one function, over
    /// which an optimised build's jump threading took superlinear time (a 400-node
    /// chain of `[u64; 3]` values: 208 s of CPU to compile, 26 s with the return).
    fn tree_node(&self, index: usize, children: &[usize], tree: &syn::Ident) -> TokenStream {
        let node = &self.graph.nodes[index];
        let local = self.local_of(index);
        let out = hidden("__out");
        self.in_node.set(Some(index as u32));
        let value = self.node_expr(node);
        self.in_node.set(None);
        let bind = bind(node, &out, value);
        // Returned where the node is written: a value that borrows a temporary of the
        // node's code (`n.trim()` on a node) is rustc's error there, not on the macro.
        let returned = syn::Ident::new("__out", Span::mixed_site().located_at(node.span));
        // A value nothing reads is dropped in its node's code, as the dispatcher's slot
        // of no use drops it when it is put: its `Drop` runs in the node (a panic there
        // is the node's, named), not with the tree's locals after the run (where it
        // unwound out of `try_compute` naming no task), nor does it live until then.
        let unread = match node.out {
            OutPat::Discard => true,
            OutPat::Value(v) => self.uses[v] == 0,
            _ => false,
        };
        let result = match unread {
            true => quote!(::core::mem::drop(#out)),
            false => quote!(#returned),
        };
        let id = index as u32;
        if children.is_empty() {
            let declare = self
                .declare
                .get()
                .then(|| quote!(let mut #local = ::core::option::Option::None;));
            return quote! {
                #declare
                #tree.node(&mut #local, #id, 0usize, || { #bind #result });
            };
        }
        let private = &self.private;
        let inputs: Vec<_> = children.iter().map(|&c| self.local_of(c)).collect();
        let some = inputs
            .iter()
            .map(|_| quote!(::core::option::Option::Some(_)));
        let sizes = sum(inputs.iter().map(|i| quote!(#private::Value::size_in(&#i))));
        // The inputs stay in the branch's locals until the node runs, and are taken
        // first thing in its code: the closure holds references only, so that the
        // values are not copied into it (and its copies) in the branch's frame, which
        // a debug build makes as large as every copy there (see `Tree::node`'s room).
        let declare = self
            .declare
            .get()
            .then(|| quote!(let mut #local = ::core::option::Option::None;));
        let end = match self.in_room.get() {
            true => {
                let label = branch_label();
                quote!(break #label;)
            }
            false => quote!(return ::core::option::Option::None;),
        };
        quote! {
            #declare
            if let (#(#some,)*) = (#(&#inputs,)*) {
                #tree.node(&mut #local, #id, #sizes, || {
                    #(let #inputs = #private::Value::taken(&mut #inputs);)*
                    #bind
                    #result
                });
            } else {
                #end
            }
        }
    }

    /// A `PhantomData` of the type of the value in `node`'s local, where the graph
    /// names it (see `slot_type`).
    fn local_type(&self, node: usize) -> Option<TokenStream> {
        match self.graph.nodes[node].out {
            OutPat::Value(v) => self.slot_type(v),
            _ => None,
        }
    }

    /// The local a tree's node binds: its value's name.
    fn local_of(&self, node: usize) -> syn::Ident {
        match self.graph.nodes[node].out {
            OutPat::Value(v) => self.graph.values[v].slot.clone(),
            _ => hidden(&format!("__dropped{node}")),
        }
    }

    /// Whether the graph's result reads `root`'s value (a root no node reads).
    fn read_by_output(&self, root: usize) -> bool {
        matches!(self.graph.nodes[root].out, OutPat::Value(v) if self.uses[v] == 1)
    }

    /// A tree's slots for a cluster's description, typed by the nodes' code in a block
    /// that never runs (the tree's own values are locals the description cannot see).
    fn typing(&self) -> TokenStream {
        let slots = self.slots();
        let out = hidden("__out");
        let nodes = self.graph.nodes.iter().map(|node| {
            let bind = bind(node, &out, self.node_expr(node));
            let store = self.store(&node.out, &out, node.span);
            quote!({ #bind #store })
        });
        // The result's slot has the graph's declared type, as the tree's result does (a
        // generic task's result may be typed by nothing else: `-> i64 { conv(9) }`).
        let private = &self.private;
        let output = match (&self.graph.output, &self.graph.ret) {
            (Operand::Value(v, _), Some(ret)) => {
                let slot = &self.graph.values[*v].slot;
                quote!(#slot.put(#private::remote::value_of::<#ret>());)
            }
            _ => TokenStream::new(),
        };
        quote! {
            #slots
            if false {
                #(#nodes)*
                #output
            }
        }
    }

    /// The `static` node table: names, call sites, in-degrees, successors, roots, width.
    fn table(&self) -> TokenStream {
        let private = &self.private;
        let graph = self.graph;
        let n = graph.nodes.len();
        let mut successors: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        let mut in_degree = vec![0u32; n];
        for (i, node) in graph.nodes.iter().enumerate() {
            let mut preds = BTreeSet::new();
            for operand in node.op.operands() {
                operand.for_each_value(&mut |v| {
                    preds.insert(graph.values[v].node);
                });
            }
            in_degree[i] = preds.len() as u32;
            for p in preds {
                successors[p].insert(i);
            }
        }
        // Longest-path levels; the widest level bounds how many nodes can run at once.
        let mut level = vec![0usize; n];
        for (i, succ) in successors.iter().enumerate() {
            for &s in succ {
                level[s] = level[s].max(level[i] + 1);
            }
        }
        let mut per_level = vec![0u32; n + 1];
        for &l in &level {
            per_level[l] += 1;
        }
        let width = per_level.iter().copied().max().unwrap_or(0);
        let mut first = 0u32;
        let entries = graph.nodes.iter().enumerate().map(|(i, node)| {
            let name = &node.name;
            let count = successors[i].len() as u32;
            let degree = in_degree[i];
            let call_site = quote_spanned! {node.span=>
                ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!())
            };
            let kind = node_kind(node);
            // A `const` block, so the label is a `static` the entry points to.
            let label = if kind == "task" {
                quote!(#private::Label::task(#name, #call_site))
            } else {
                quote!(#private::Label::new(#name, #kind, #call_site))
            };
            // A copy of an unrolled loop's body says which: its errors name the
            // iteration (`check (i = 3)`).
            let label = match &node.copy {
                Some(copy) => quote!(&const { #label.in_copy(#copy) }),
                None => quote!(&const { #label }),
            };
            let entry = quote!(#private::NodeInfo::new(#label, #degree, #first, #count));
            first += count;
            entry
        });
        let entries: Vec<_> = entries.collect();
        let flat = successors.iter().flatten().map(|&s| s as u32);
        let roots = (0..n as u32).filter(|&i| in_degree[i as usize] == 0);
        // The static is named inside a block of its own: an item is seen by the whole
        // block that declares it, and the graph's code (the user's) is outside this one.
        let table = hidden("__table");
        quote! {
            let #table: &'static #private::Table<'static> = {
                static __TABLE: #private::Table<'static> = #private::Table::new(
                    &[#(#entries),*],
                    &[#(#flat),*],
                    &[#(#roots),*],
                    #width,
                );
                &__TABLE
            };
        }
    }

    // ---- the description for a cluster (feature `hyperqueue`) --------------------

    /// The code that, asked through the run's options, describes the graph's nodes for a
    /// cluster instead of running them (see the runtime's `remote::static_graph`): one
    /// statement per node, in the table's order. Kept by the runtime's
    /// `with_hyperqueue!` only with that feature. Written after the nodes' code, so that
    /// its calls (which only type the values) see the types the nodes' code inferred.
    ///
    /// `typing` declares and types the slots the description reads, for a graph that
    /// has none of its own (a tree).
    fn description(&self, options: &syn::Ident, typing: Option<TokenStream>) -> TokenStream {
        let private = &self.private;
        // The node table, a `&'static` reference (see `table`).
        let table_ref = hidden("__table");
        let graph = self.graph;
        let (request, nodes) = (hidden("__request"), hidden("__nodes"));
        let leads = self.leads_to_output();
        let steps = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| self.describe_node(i as u32, node, leads[i], &nodes));
        let output = match &graph.output {
            Operand::Value(v, _) => {
                let node = graph.values[*v].node as u32;
                quote!(#nodes.output(#node);)
            }
            other => {
                let span = operand_span(other, Span::call_site());
                let call_site = quote_spanned! {span=>
                    ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!())
                };
                quote!(#nodes.refuse_output(#call_site);)
            }
        };
        // In a closure of its own: a debug build gives the values of the calls that
        // only type them (never run) room in the frame of the function they are
        // written in, whether or not it describes (2 MiB values made every run of a
        // graph of them with the feature overflow a `main`'s stack that its run
        // without the feature fits in). Only a description puts that frame on the stack.
        quote! {
            #private::with_hyperqueue! {
                // The user's tokens again (values, calls that type them): linted once,
                // where the nodes run.
                #[allow(unused_variables, clippy::all)]
                if let ::core::option::Option::Some(#request) = #private::remote::describe_request(&#options) {
                    #[allow(unused_imports)]
                    use #private::remote::{EncodeOther as _, EncodeSerialize as _};
                    return (|| {
                        #typing
                        let mut #nodes = #private::remote::StaticNodes::new(#table_ref);
                        #(#steps)*
                        #output
                        #nodes.finish(#request)
                    })();
                }
            }
        }
    }

    /// Which nodes the graph's result needs (on a cluster only those run).
    fn leads_to_output(&self) -> Vec<bool> {
        let graph = self.graph;
        let mut leads = vec![false; graph.nodes.len()];
        let mark = |leads: &mut Vec<bool>, v: usize| {
            if let Some(node) = graph.values.get(v).map(|v| v.node) {
                if node < leads.len() {
                    leads[node] = true;
                }
            }
        };
        graph.output.for_each_value(&mut |v| mark(&mut leads, v));
        // Nodes are in a topological order: a node's readers come after it.
        for (i, node) in graph.nodes.iter().enumerate().rev() {
            if leads[i] {
                for operand in node.op.operands() {
                    operand.for_each_value(&mut |v| mark(&mut leads, v));
                }
            }
        }
        leads
    }

    /// One node's description: a call's remote description, the nodes it reads and
    /// its values encoded, or why a worker cannot run it.
    fn describe_node(
        &self,
        index: u32,
        node: &Node,
        leads: bool,
        nodes: &syn::Ident,
    ) -> TokenStream {
        let private = &self.private;
        let refuse =
            |why: TokenStream| quote!(#nodes.refuse(#index, #private::remote::Refusal::#why););
        let Op::Call {
            func,
            companion,
            args,
            parens,
        } = &node.op
        else {
            return match (&node.op, &node.out, node.question) {
                // `let v = vec![a, b];`: the worker assembles the nodes' results.
                (
                    Op::Pass(Operand::Array(items, _) | Operand::Vec(items, _)),
                    OutPat::Value(v),
                    None,
                ) if leads && items.iter().all(|i| matches!(i, Operand::Value(..))) => {
                    let ids = items.iter().filter_map(|i| match i {
                        Operand::Value(v, _) => Some(self.graph.values[*v].node as u32),
                        _ => None,
                    });
                    let slot = &self.graph.values[*v].slot;
                    quote!(#nodes.collection(#index, &[#(#ids),*], #slot.value_type_name());)
                }
                _ => refuse(quote!(NotACall)),
            };
        };
        if !leads {
            return refuse(quote!(Unused));
        }
        if node.question.is_some() {
            return refuse(quote!(Question));
        }
        if !matches!(node.out, OutPat::Value(_)) {
            return refuse(quote!(Split));
        }
        let (mut values, mut handles) = (Vec::new(), Vec::new());
        let mut shapes = Vec::new();
        let mut described = Vec::new();
        let mut sources = Vec::new();
        for (position, arg) in args.iter().enumerate() {
            let node_of = |v: &usize| self.graph.values[*v].node as u32;
            match arg {
                _ if !arg.reads_nodes() => {
                    // A value: evaluated as the task's handle, typed by the call below
                    // (never run), encoded from what the handle lends.
                    let value = hidden(&format!("__c{position}"));
                    handles.push(self.handle(arg));
                    values.push(quote!(mut #value));
                    shapes.push(quote!(#private::dynamic::ArgShape::Other("a value")));
                    described.push(quote! {
                        #private::remote::StaticArg::Value(
                            (&&#private::remote::Encode(#private::lend(&mut #value))).__encode(),
                        )
                    });
                    sources.push(quote!(#private::remote::witness(&#value)));
                }
                Operand::Value(v, _) => {
                    let id = node_of(v);
                    shapes.push(quote!(#private::dynamic::ArgShape::Node));
                    described.push(quote!(#private::remote::StaticArg::Node(#id)));
                    sources.push(self.handle(arg));
                }
                Operand::Array(items, _) | Operand::Vec(items, _)
                    if items.iter().all(|i| matches!(i, Operand::Value(..))) =>
                {
                    let ids: Vec<u32> = items
                        .iter()
                        .filter_map(|i| match i {
                            Operand::Value(v, _) => Some(node_of(v)),
                            _ => None,
                        })
                        .collect();
                    let count = ids.len();
                    shapes.push(quote!(#private::dynamic::ArgShape::Many(#count)));
                    described.push(quote!(#private::remote::StaticArg::Many(&[#(#ids),*])));
                    sources.push(self.handle(arg));
                }
                _ => return refuse(quote!(Argument(#position))),
            }
        }
        let describe = quote! {
            #nodes.call(
                #index,
                #companion::__remote([#(#shapes),*]),
                [#(#described),*],
            );
        };
        if values.is_empty() {
            return describe;
        }
        let call = call_expr(func, companion, args, *parens, node.span, sources);
        // The values' handles are made as the task's arguments are (temporaries in
        // them live to the end of the `match`), typed by the call (never run), whose
        // result goes to the node's slot: a generic task's result type may be known
        // only from there (`let c: i64 = conv(3);`).
        let OutPat::Value(v) = node.out else {
            return refuse(quote!(Split));
        };
        let slot = &self.graph.values[v].slot;
        quote! {
            match (#(#handles,)*) {
                (#(#values,)*) => {
                    if false {
                        #slot.put(#call);
                    }
                    #describe
                }
            }
        }
    }

    /// One node's arm: read the operands, compute, apply `?`, store the result.
    fn arm(&self, index: u32, node: &Node) -> TokenStream {
        let private = &self.private;
        let out = hidden("__out");
        self.in_node.set(Some(index));
        let value = self.node_expr(node);
        self.in_node.set(None);
        let value = match node.question {
            None => value,
            Some(span) => {
                let early = hidden("__early");
                // Located at the `?`, so that rustc's error for a graph that returns
                // neither a `Result` nor an `Option` points there (a mixed-site span
                // joined with the `?`'s pointed at the macro's end).
                let residual = syn::Ident::new("__residual", Span::mixed_site().located_at(span));
                let ret = ret_type(self.graph);
                let convert = match &self.graph.ret {
                    Some(_) => quote_spanned!(span=> (move || -> #ret { match #residual? {} })()),
                    None => quote_spanned!(span=> (move || { match #residual? {} })()),
                };
                // The whole call on the `?`: a value that is not a `Result` or an
                // `Option` is reported there.
                let on_question = self.runtime.private_at(span);
                quote_spanned! {span=>
                    match #on_question::Branch::branch(#value) {
                        #private::ControlFlow::Continue(__value) => __value,
                        #private::ControlFlow::Break(#residual) => {
                            #early.put(#index, #convert);
                            return #private::Flow::Stop;
                        }
                    }
                }
            }
        };
        let store = self.store(&node.out, &out, node.span);
        let bind = bind(node, &out, value);
        let mut size = self.values_size(node);
        if node.question.is_some() {
            // Its `?` makes the graph's early exit, the graph's whole result, in the
            // node's frames: a large one (`-> Result<[u8; 1 << 21], E>`) overflowed a
            // pool thread's 2 MiB stack in a debug build, whichever way the `?` went.
            let early = hidden("__early");
            size = quote!(#size + #early.value_size());
        }
        // A closure of its own, run with stack room for the node's values: `__run`'s
        // frame would otherwise hold every arm's copies of them (a debug build keeps
        // one in each), and the room must be there before the frame that reads the
        // arguments, calls and stores the result.
        quote! {
            #index => #private::with_room(#size, || {
                #bind
                #store
                #private::Flow::Continue
            }),
        }
    }

    /// The size of the values a node of the dispatcher's reads and makes: those of the
    /// slots it reads and of those its result goes to, added (a compile-time constant
    /// in an optimised build). Constants and temporaries of the node's own code are not
    /// counted.
    fn values_size(&self, node: &Node) -> TokenStream {
        let mut slots = Vec::new();
        for operand in node.op.operands() {
            operand.for_each_value(&mut |v| slots.push(self.graph.values[v].slot.clone()));
            if let Operand::Hoisted(name, _) = operand {
                slots.push(name.clone());
            }
        }
        let mut outs = vec![&node.out];
        while let Some(out) = outs.pop() {
            match out {
                OutPat::Value(v) => slots.push(self.graph.values[*v].slot.clone()),
                OutPat::Discard | OutPat::Rest => {}
                OutPat::Tuple(items) => outs.extend(items),
            }
        }
        sum(slots.iter().map(|slot| quote!(#slot.value_size())))
    }

    /// Stores a node's result; a tuple is split on the node's own span, so that a
    /// result that is not a tuple is reported on the call.
    fn store(&self, pattern: &OutPat, value: &syn::Ident, span: Span) -> TokenStream {
        match pattern {
            OutPat::Value(v) => {
                let slot = &self.graph.values[*v].slot;
                quote!(#slot.put(#value);)
            }
            OutPat::Discard => quote!(::core::mem::drop(#value);),
            // Only inside a tuple, whose pattern writes it as `..` (below).
            OutPat::Rest => TokenStream::new(),
            OutPat::Tuple(items) => {
                let names: Vec<_> = (0..items.len())
                    .map(|i| hidden(&format!("{value}_{i}")))
                    .collect();
                let pattern = items.iter().zip(&names).map(|(p, n)| match p {
                    OutPat::Rest => quote!(..),
                    _ => quote!(#n),
                });
                let stores = items
                    .iter()
                    .zip(&names)
                    .map(|(p, n)| self.store(p, n, span));
                quote_spanned! {span=>
                    let (#(#pattern,)*) = #value;
                    #(#stores)*
                }
            }
        }
    }

    fn node_expr(&self, node: &Node) -> TokenStream {
        let span = node.span;
        match &node.op {
            Op::Call {
                func,
                companion,
                args,
                parens,
            } => {
                let sources = args.iter().map(|a| self.handle(a)).collect();
                call_expr(func, companion, args, *parens, span, sources)
            }
            Op::Construct { func, args } => {
                let args = args.iter().map(|a| self.given(a));
                quote_spanned!(span=> #func(#(#args),*))
            }
            Op::Struct { path, fields } => {
                let fields = fields.iter().map(|(member, operand)| {
                    let value = self.given(operand);
                    quote!(#member: #value)
                });
                quote_spanned!(span=> #path { #(#fields),* })
            }
            Op::Binary { op, lhs, rhs } if is_comparison(op) => {
                let (lhs, rhs) = (self.lent(lhs), self.lent(rhs));
                quote_spanned!(span=> #lhs #op #rhs)
            }
            Op::Binary { op, lhs, rhs } => {
                let (lhs, rhs) = (self.given(lhs), self.given(rhs));
                quote_spanned!(span=> #lhs #op #rhs)
            }
            Op::Unary { op, operand } => {
                let operand = self.given(operand);
                quote_spanned!(span=> #op #operand)
            }
            Op::Method {
                receiver,
                calls,
                place,
            } => {
                let given = self.given(receiver);
                // The name as the user bound it: rustc's error is on the receiver, its
                // help on the user's `let`, as without `graph!`.
                let bound = place.as_ref().map(|(name, _)| {
                    let mut read = name.clone();
                    read.set_span(operand_span(receiver, name.span()));
                    (name.clone(), read)
                });
                // A method named like taskweave's `compute` runs as written unless the
                // value is a graph (`RunGraphInTask`'s message, on the method's name).
                let check = calls.first().filter(|c| runs_a_graph(&c.method)).map(|c| {
                    let at = c.method.span();
                    let private = self.runtime.private_at(at);
                    move |value: &dyn ToTokens| {
                        quote_spanned! {at=>
                            #[allow(unused_imports)]
                            use #private::NotAGraph as _;
                            #private::GraphCheck(&#value).check();
                        }
                    }
                });
                let mut chain = match (&bound, &check) {
                    (Some((_, read)), _) => read.to_token_stream(),
                    (None, Some(check)) => {
                        let value = syn::Ident::new("__receiver", Span::mixed_site());
                        let check = check(&value);
                        quote_spanned!(span=> { let #value = #given; #check #value })
                    }
                    (None, None) => given.clone(),
                };
                let mut check = match (&bound, &check) {
                    (Some((_, read)), Some(check)) => check(read),
                    _ => TokenStream::new(),
                };
                // A standard library collection's method that takes `&mut self`, on a
                // node or a captured variable: `MutateNode`'s or `MutateCaptured`'s
                // message, on the method's name; on any other type a method so named
                // is the user's, and the type decides as above.
                let first = calls.first().filter(|c| is_mutator(&c.method));
                if let (Some((_, read)), Some((_, of)), Some(first)) = (&bound, place, first) {
                    let at = first.method.span();
                    let private = self.runtime.private_at(at);
                    let checker = match of {
                        PlaceOf::Node => Some(quote_spanned!(at=> NodeMutation)),
                        PlaceOf::Captured => Some(quote_spanned!(at=> CapturedMutation)),
                        PlaceOf::Other => None,
                    };
                    if let Some(checker) = checker {
                        let method = &first.method;
                        check.extend(quote_spanned! {at=>
                            #[allow(unused_imports)]
                            use #private::NotAStdMutation as _;
                            #private::#checker(&#read).#method();
                        });
                    }
                }
                // An argument that names the receiver's binding (`s.count.scale(s.k, a)`
                // on a captured `s`) is read before the binding hides it.
                let mut early = Vec::new();
                for call in calls {
                    let (method, turbofish) = (&call.method, &call.turbofish);
                    let args = call.args.iter().map(|a| {
                        let arg = self.given(a);
                        match &bound {
                            Some((name, _)) if names(&arg, name) => {
                                let early_arg = syn::Ident::new(
                                    &format!("__arg{}", early.len()),
                                    Span::mixed_site(),
                                );
                                early.push(quote!(let #early_arg = #arg;));
                                early_arg.into_token_stream()
                            }
                            _ => arg,
                        }
                    });
                    let args: Vec<_> = args.collect();
                    chain = quote_spanned!(span=> #chain.#method #turbofish (#(#args),*));
                }
                match bound {
                    // Not `mut`: see `Op::Method::place`.
                    Some((name, _)) => {
                        quote_spanned!(span=> { #(#early)* let #name = #given; #check #chain })
                    }
                    None => chain,
                }
            }
            Op::Field { base, member } => {
                let base = self.given(base);
                quote_spanned!(span=> #base.#member)
            }
            Op::Index { base, index } => {
                let (base, index) = (self.lent(base), self.given(index));
                quote_spanned!(span=> ::core::clone::Clone::clone(&#base[#index]))
            }
            Op::Cast { operand, ty } => {
                let operand = self.given(operand);
                quote_spanned!(span=> #operand as #ty)
            }
            Op::Pass(operand) => self.given(operand),
        }
    }

    /// An operand read by value.
    fn given(&self, operand: &Operand) -> TokenStream {
        if let Operand::Temp(tokens) = operand {
            // A temporary is already a value: written as it is, it also keeps its
            // expected type (a closure's parameters, a literal's width).
            return quote!((#tokens));
        }
        let span = operand_span(operand, Span::call_site());
        let private = self.runtime.private_at(span);
        // A value of one reader given by value is moved out, never dropped by its
        // handle: no `MadeBy` (see `made_by`).
        let moved = match operand {
            Operand::Value(v, _) => self.uses[*v] == 1,
            Operand::Hoisted(..) | Operand::Array(..) | Operand::Tuple(..) | Operand::Vec(..) => {
                true
            }
            _ => false,
        };
        let in_node = self.in_node.get();
        if moved {
            self.in_node.set(None);
        }
        let source = self.source(operand);
        self.in_node.set(in_node);
        quote_spanned!(span=> #private::give(#source))
    }

    /// An operand read by reference.
    fn lent(&self, operand: &Operand) -> TokenStream {
        let span = operand_span(operand, Span::call_site());
        let private = self.runtime.private_at(span);
        let source = self.source(operand);
        quote_spanned!(span=> #private::lend(#source))
    }

    /// How a task reads an operand: a mutable borrow of its [`handle`](Self::handle).
    fn source(&self, operand: &Operand) -> TokenStream {
        let handle = self.handle(operand);
        let at = operand_span(operand, Span::call_site());
        quote_spanned!(at=> &mut #handle)
    }

    /// `handle`, read in a node's code through a handle that names the node that made
    /// the value (`MadeBy`): a panic of the value's `Drop` there fails the run once the
    /// reader's result is stored, rather than unwinding through that result (see
    /// `graph_runtime`'s `MadeBy`). `maker` is the node that made it (a node value's),
    /// or `None` for a value made in the reader's code (a temporary); `before_run` for
    /// a value made before the run (`Operand::Hoisted`), named after its reader.
    fn made_by(
        &self,
        handle: TokenStream,
        maker: Option<usize>,
        before_run: bool,
        span: Span,
    ) -> TokenStream {
        let Some(reader) = self.in_node.get() else {
            return handle;
        };
        let maker = match maker {
            Some(usize::MAX) => return handle,
            Some(maker) => maker as u32,
            None => reader,
        };
        let private = self.runtime.private_at(span);
        match before_run {
            true => quote_spanned!(span=> #private::MadeBy::before_run(#handle, #maker)),
            false => quote_spanned!(span=> #private::MadeBy::new(#handle, #maker)),
        }
    }

    /// The handle an operand is read through: a slot's, a constant's, a temporary's.
    fn handle(&self, operand: &Operand) -> TokenStream {
        let private = &self
            .runtime
            .private_at(operand_span(operand, Span::call_site()));
        match operand {
            Operand::Value(v, span) if self.local.get() => {
                let local = &self.graph.values[*v].slot;
                let handle = quote_spanned!(*span=> #private::Value::handed(#local));
                self.made_by(handle, Some(self.graph.values[*v].node), false, *span)
            }
            Operand::Value(v, span) => {
                let slot = &self.graph.values[*v].slot;
                // Called by path, so the expression's span is the user's (a method
                // call would start at the hidden slot name and lose it).
                let handle = if self.uses[*v] == 1 {
                    quote_spanned!(*span=> #private::Slot::owned(&#slot))
                } else {
                    quote_spanned!(*span=> #private::SharedSlot::shared(&#slot))
                };
                self.made_by(handle, Some(self.graph.values[*v].node), false, *span)
            }
            Operand::Const(tokens) => quote!(#private::Const(&(#tokens))),
            Operand::Temp(tokens) => {
                let handle = quote!(#private::Value::new(#tokens));
                self.made_by(handle, None, false, Span::call_site())
            }
            Operand::Hoisted(name, span) => {
                let handle = quote_spanned!(*span=> #private::Slot::owned(&#name));
                self.made_by(handle, None, true, *span)
            }
            Operand::Array(items, span) => {
                let items: Vec<_> = items.iter().map(|i| self.given(i)).collect();
                let handle = quote_spanned!(*span=> #private::Value::new([#(#items),*]));
                self.made_by(handle, None, false, *span)
            }
            Operand::Tuple(items, span) => {
                let items: Vec<_> = items.iter().map(|i| self.given(i)).collect();
                let handle = quote_spanned!(*span=> #private::Value::new((#(#items,)*)));
                self.made_by(handle, None, false, *span)
            }
            Operand::Vec(items, span) => {
                let items: Vec<_> = items.iter().map(|i| self.given(i)).collect();
                let handle = quote_spanned!(*span=> #private::Value::new(::std::vec![#(#items),*]));
                self.made_by(handle, None, false, *span)
            }
            Operand::Ref(inner, span) => {
                let inner = self.lent(inner);
                quote_spanned!(*span=> #private::Ref(#inner))
            }
        }
    }
}

/// A call of a task:
/// `f::__call((handles…), |handles, last, c| { let v0 = c.__arg0(h0, last); … f(v0, …) })`.
/// Each argument's handle (`sources`) is made once, as an argument of `__call` (so its
/// temporaries live as a call's arguments do), and every attempt of the call (one, or
/// more for `#[delayed(retries = n)]`) reads it through the companion's `__arg{i}`, a
/// method of the companion value each attempt is handed (see `names::attempt_reads`).
/// The outer call is spelled from the user's `f` to their parentheses, so errors about
/// the node's value land on `f(…)`, and each value is named at its argument, where
/// errors about it land.
fn call_expr(
    func: &TokenStream,
    companion: &TokenStream,
    args: &[Operand],
    parens: Span,
    span: Span,
    sources: Vec<TokenStream>,
) -> TokenStream {
    let last = hidden("__last");
    let all = hidden("__handles");
    let spans: Vec<Span> = args.iter().map(|a| operand_span(a, span)).collect();
    let AttemptReads {
        companion: companion_value,
        handles,
        reads,
        values,
    } = attempt_reads(&spans, span, &last);
    let mut inner = Group::new(Delimiter::Parenthesis, quote!(#(#values),*));
    inner.set_span(parens);
    let mut outer = Group::new(
        Delimiter::Parenthesis,
        quote_spanned!(span=>
            (#(#sources,)*),
            &mut |#all: &mut _, #last: bool, #companion_value| {
                let (#(#handles,)*) = #all;
                #(#reads)*
                #func #inner
            }
        ),
    );
    outer.set_span(parens);
    quote_spanned!(span=> #companion::__call #outer)
}

/// The label of a room's block (see [`Expander::subtree`]), out of reach of the user's
/// code (mixed-site hygiene, as the expansion's locals).
fn branch_label() -> syn::Lifetime {
    syn::Lifetime::new("'__branch", Span::mixed_site())
}

/// `a + b + …` of `usize` terms, `0usize` of none.
fn sum(terms: impl Iterator<Item = TokenStream>) -> TokenStream {
    let terms: Vec<_> = terms.collect();
    match terms.is_empty() {
        true => quote!(0usize),
        false => quote!(#(#terms)+*),
    }
}

/// `let out: T = value;`, typed as the user's `let` types the node, if it does.
fn bind(node: &Node, out: &syn::Ident, value: TokenStream) -> TokenStream {
    let ty = node.ty.as_ref().map(|ty| quote!(: #ty));
    quote!(let #out #ty = #value;)
}

/// What a node is, for inspection.
fn node_kind(node: &Node) -> &'static str {
    match &node.op {
        Op::Call { .. } => "task",
        Op::Binary { .. } | Op::Unary { .. } | Op::Cast { .. } => "operator",
        Op::Method { .. } => "method",
        Op::Field { .. } => "field",
        Op::Index { .. } => "index",
        Op::Construct { .. } | Op::Struct { .. } => "constructor",
        Op::Pass(_) if node.question.is_some() => "try",
        Op::Pass(_) => "collection",
    }
}

/// Whether `tokens` hold the name `name`, at any depth.
fn names(tokens: &TokenStream, name: &syn::Ident) -> bool {
    let mut streams = vec![tokens.clone()];
    while let Some(stream) = streams.pop() {
        for tree in stream {
            match tree {
                proc_macro2::TokenTree::Ident(ident) if ident == *name => return true,
                proc_macro2::TokenTree::Group(group) => streams.push(group.stream()),
                _ => {}
            }
        }
    }
    false
}

/// `tokens` with every token at `span`, resolved there too: an error about the
/// expression they make is reported at `span` (rustc reports one whose tokens resolve
/// in the macro's expansion at the whole macro call). Only for a path of the user's
/// and the runtime's absolute paths, which resolve the same anywhere.
fn respanned(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut inner = Group::new(group.delimiter(), respanned(group.stream(), span));
                inner.set_span(span);
                TokenTree::Group(inner)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

fn operand_span(operand: &Operand, default: Span) -> Span {
    match operand {
        Operand::Value(_, s)
        | Operand::Array(_, s)
        | Operand::Tuple(_, s)
        | Operand::Vec(_, s)
        | Operand::Ref(_, s)
        | Operand::Hoisted(_, s) => *s,
        Operand::Const(t) | Operand::Temp(t) => {
            t.clone().into_iter().next().map_or(default, |t| t.span())
        }
    }
}
