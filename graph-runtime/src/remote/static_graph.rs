//! `graph!` graphs on a cluster: [`Graph::compute_on_cluster`].
//!
//! With the `hyperqueue` feature a `graph!` also writes, in its body, the code that
//! describes its nodes instead of running them: for each call of a task, the
//! function's remote description (what its companion's `__remote` makes for `delay!`),
//! which nodes it reads and its constant arguments encoded; for a `vec!` of nodes bound
//! to a name, the nodes (a worker assembles them: [`StaticNodes::collection`]); for
//! every other node (an operator, a method, a field, a `?`…) why a worker cannot run it. Asked through
//! its [`RunOptions`], the body returns that description at once ([`StaticNodes`]);
//! the nodes then become one cluster job exactly as a `Delayed` graph's do (partitions,
//! errors with the task's name and call site, observers), numbered as in the graph's
//! own table.

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::graph::{compute_nodes, CallArg, GraphArg, GraphNode, RemoteCall, COLLECT};
use super::{Cluster, ClusterOptions, Payload, RemoteError};
use crate::dynamic::RemoteSpec;
use crate::engine::error::TaskError;
use crate::engine::lock::Recover;
use crate::engine::options::RunOptions;
use crate::engine::table::Table;
use crate::graph::{for_each_arity, Graph};

/// A request, carried by a run's options, that a `graph!` describe its nodes rather
/// than run them; the description comes back in it.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct DescribeRequest(Mutex<Option<Result<Vec<GraphNode>, RemoteError>>>);

/// The request in `options`, if the graph is asked to describe itself.
#[doc(hidden)]
#[inline]
pub fn describe_request(options: &RunOptions) -> Option<&DescribeRequest> {
    options.describe.as_deref()?.downcast_ref()
}

/// One argument of a task of a `graph!`, as its description gives it.
#[doc(hidden)]
#[derive(Debug)]
pub enum StaticArg<'a> {
    /// The result of the node with this number.
    Node(u32),
    /// The results of these nodes, as one collection (`[a, b]`, `vec![a, b]`).
    Many(&'a [u32]),
    /// A value (a graph input, a captured variable, a literal), encoded.
    Value(Result<Payload, RemoteError>),
}

/// Why a node of a `graph!` cannot run on a worker.
#[doc(hidden)]
#[derive(Debug)]
pub enum Refusal {
    /// A call of a function not marked `remote`.
    Local,
    /// Not a call: an operator, a method, a field, an index, a constructor.
    NotACall,
    /// `?` on the node's result.
    Question,
    /// `let (a, b) = …` on the node's result.
    Split,
    /// The graph's result does not need the node.
    Unused,
    /// The argument at this position is not a node, nodes or a value.
    Argument(usize),
    /// The value at this position cannot be encoded.
    Value(usize, RemoteError),
    /// Nodes (at this argument's position; none for a collection node) of this type,
    /// not a `Vec`.
    NotAVec(Option<usize>, &'static str),
}

/// A `graph!`'s nodes, described one by one in the order of its table (what its body
/// writes when asked through [`describe_request`]); the first node a worker cannot run
/// is the error.
#[doc(hidden)]
#[derive(Debug)]
pub struct StaticNodes {
    table: &'static Table<'static>,
    nodes: Vec<GraphNode>,
    /// Whether the graph's result is the last node.
    output: bool,
    error: Option<RemoteError>,
}

impl StaticNodes {
    /// No node described yet, of the graph whose table is `table`.
    pub fn new(table: &'static Table<'static>) -> StaticNodes {
        StaticNodes {
            table,
            nodes: Vec::with_capacity(table.len()),
            output: false,
            error: None,
        }
    }

    /// Node `node` is a call: `spec` is its function's remote description (none for a
    /// function not marked `remote`), `args` its arguments.
    pub fn call<const N: usize>(&mut self, node: u32, spec: RemoteSpec, args: [StaticArg<'_>; N]) {
        if self.error.is_some() {
            return;
        }
        let Some(call) = spec
            .into_call()
            .and_then(|call| call.downcast::<RemoteCall>().ok())
        else {
            return self.refuse(node, Refusal::Local);
        };
        let mut graph_args = Vec::with_capacity(args.len());
        for (position, arg) in args.into_iter().enumerate() {
            graph_args.push(match arg {
                StaticArg::Node(id) => GraphArg::Node(id),
                StaticArg::Many(ids) => match call.args.get(position) {
                    // A worker assembles the nodes' results as a `Vec`.
                    Some(CallArg::Many(_, type_name))
                        if type_name.starts_with("alloc::vec::Vec<") =>
                    {
                        GraphArg::Many(ids.to_vec(), type_name)
                    }
                    Some(CallArg::Many(_, type_name)) => {
                        return self.refuse(node, Refusal::NotAVec(Some(position), type_name))
                    }
                    _ => return self.refuse(node, Refusal::Argument(position)),
                },
                StaticArg::Value(Ok(payload)) => GraphArg::Const(payload),
                StaticArg::Value(Err(error)) => {
                    return self.refuse(node, Refusal::Value(position, error))
                }
            });
        }
        self.push(node, call.function, graph_args);
    }

    /// Adds node `node`, a call of `function`.
    fn push(&mut self, node: u32, function: &'static str, args: Vec<GraphArg>) {
        if node as usize != self.nodes.len() {
            self.error = Some(RemoteError::Protocol(format!(
                "the nodes of a graph are described in order: node {node} after {}",
                self.nodes.len()
            )));
            return;
        }
        let info = &self.table.nodes()[node as usize];
        self.nodes.push(GraphNode {
            function,
            name: info.task_name().into_owned(),
            call_site: info.call_site(),
            args,
        });
    }

    /// Node `node` is a collection of the nodes `items` (`let v = vec![a, b];`), of type
    /// `type_name`: the worker assembles their results, as for a call's argument.
    pub fn collection(&mut self, node: u32, items: &[u32], type_name: &'static str) {
        if self.error.is_some() {
            return;
        }
        if !type_name.starts_with("alloc::vec::Vec<") {
            return self.refuse(node, Refusal::NotAVec(None, type_name));
        }
        self.push(
            node,
            COLLECT,
            vec![GraphArg::Many(items.to_vec(), type_name)],
        );
    }

    /// Node `node` cannot run on a worker, for `why` (the first such node is the error;
    /// later ones are not described).
    pub fn refuse(&mut self, node: u32, why: Refusal) {
        if self.error.is_some() {
            return;
        }
        let info = &self.table.nodes()[node as usize];
        let reason = match why {
            Refusal::Local => String::from(
                "it calls a function not marked `#[delayed(remote)]`, which only this process \
                 can run; mark the function `#[delayed(remote)]`, or compute this value first \
                 and pass it to the graph as an input",
            ),
            Refusal::NotACall => {
                let kind = info.kind();
                let article = match kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    true => "an",
                    false => "a",
                };
                format!(
                    "it is {article} {kind} node, which only this process can run: a worker runs \
                     calls of `#[delayed(remote)]` functions; write the step as a \
                     `#[delayed(remote)]` function and call it in the graph"
                )
            }
            Refusal::Question => String::from(
                "`?` on its result decides here whether the graph goes on; on a cluster, \
                 return the `Result` from the graph and check it after the compute",
            ),
            Refusal::Split => String::from(
                "its result is split into several nodes (`let (a, b) = …`), and a worker's \
                 task gives one result; split it with `#[delayed(remote)]` functions",
            ),
            Refusal::Unused => String::from(
                "its result does not lead to the graph's result, and a cluster runs only what \
                 the result needs (here it runs); use its result, or remove it",
            ),
            Refusal::Argument(position) => format!(
                "its argument {position} mixes nodes with values, or is a tuple or a borrow of \
                 nodes; a worker is given nodes, arrays or `vec!`s of nodes, and values: make \
                 that argument with a `#[delayed(remote)]` function"
            ),
            Refusal::NotAVec(Some(position), type_name) => format!(
                "its argument {position} is nodes for a parameter of type `{type_name}`; a \
                 worker is given several nodes' results as a `Vec`: take a `Vec` and pass \
                 `vec![a, b]`"
            ),
            Refusal::NotAVec(None, type_name) => format!(
                "it collects nodes as a `{type_name}`; a worker assembles several nodes' \
                 results as a `Vec`: write `vec![a, b]`"
            ),
            Refusal::Value(position, error) => {
                format!("its argument {position} cannot be sent to a worker: {error}")
            }
        };
        self.error = Some(RemoteError::NotRemote {
            task: info.task_name().into_owned(),
            call_site: info.call_site().to_owned(),
            reason,
        });
    }

    /// The graph's result is the result of node `node`, the last one.
    pub fn output(&mut self, node: u32) {
        self.output = node as usize + 1 == self.table.len();
    }

    /// The graph's result, written at `call_site`, is not one node's result.
    pub fn refuse_output(&mut self, call_site: &'static str) {
        if self.error.is_none() {
            self.error = Some(RemoteError::NotRemote {
                task: String::from("the graph's result"),
                call_site: call_site.to_owned(),
                reason: String::from(
                    "a cluster job gives back one node's result, and this is not one (a \
                     value, or several nodes); return one node, or combine the nodes with a \
                     `#[delayed(remote)]` function",
                ),
            });
        }
    }

    /// Hands the description to `request` and returns from the graph's body (with an
    /// error nobody reads: the graph did not run).
    pub fn finish<R>(self, request: &DescribeRequest) -> Result<R, TaskError> {
        let described = match self.error {
            Some(error) => Err(error),
            None if !self.output || self.nodes.len() != self.table.len() => Err(
                RemoteError::Protocol(String::from("a graph's description has no result node")),
            ),
            None => Ok(self.nodes),
        };
        *request.0.lock().recover() = Some(described);
        Err(TaskError::from_panic(
            "graph",
            "",
            Box::new("described for a cluster, not run"),
        ))
    }
}

/// The nodes of a graph whose body is `run` (given the options it is run with).
fn describe<R>(
    run: impl FnOnce(RunOptions) -> Result<R, TaskError>,
) -> Result<Vec<GraphNode>, RemoteError> {
    let request = Arc::new(DescribeRequest::default());
    let mut options = RunOptions::new();
    options.describe = Some(request.clone());
    let _ = run(options);
    let described = request.0.lock().recover().take();
    described.unwrap_or_else(|| {
        Err(RemoteError::BadJob(String::from(
            "the graph did not describe its nodes: it was built by a `graph!` without \
             taskweave's `hyperqueue` feature; build the graph and call it with the same \
             taskweave",
        )))
    })
}

// ---- what the description's code calls ---------------------------------------------
//
// A constant argument is encoded by autoref specialization:
// `(&&Encode(&value)).__encode()` encodes a `Serialize` value, and anything else is an
// error at run time (on a cluster only: the same graph still runs here).

/// A constant argument, to encode.
#[doc(hidden)]
#[derive(Debug)]
pub struct Encode<'a, T: ?Sized>(pub &'a T);

/// A `Serialize` value: encoded.
#[doc(hidden)]
pub trait EncodeSerialize {
    /// The value's payload.
    fn __encode(&self) -> Result<Payload, RemoteError>;
}

impl<T: Serialize> EncodeSerialize for &Encode<'_, T> {
    fn __encode(&self) -> Result<Payload, RemoteError> {
        Payload::encode(self.0)
    }
}

/// Any other value: an error naming its type.
#[doc(hidden)]
pub trait EncodeOther {
    /// The error.
    fn __encode(&self) -> Result<Payload, RemoteError>;
}

impl<T: ?Sized> EncodeOther for Encode<'_, T> {
    fn __encode(&self) -> Result<Payload, RemoteError> {
        Err(RemoteError::Encode {
            type_name: std::any::type_name::<T>().to_owned(),
            message: String::from(
                "it does not implement `serde::Serialize`; derive `Serialize` and \
                 `Deserialize` for it",
            ),
        })
    }
}

/// A value of type `T`, in code that never runs: a tree's description types its
/// result's slot with the graph's declared result type.
#[doc(hidden)]
pub fn value_of<T>() -> T {
    unreachable!("a type witness is only written in code that never runs")
}

/// A value of the type of the one `_like` points to, in code that never runs: a
/// description's constant takes the type the call it goes to gives it (a literal `2`
/// for a `u64` parameter is a `u64`).
#[doc(hidden)]
#[allow(clippy::extra_unused_type_parameters)]
pub fn witness<T>(_like: &T) -> T {
    unreachable!("a type witness is only written in code that never runs")
}

// ---- the graph's methods -----------------------------------------------------------

macro_rules! arity {
    ($($arg:ident: $ty:ident),*) => {
        #[allow(clippy::too_many_arguments)]
        impl<F, R, $($ty),*> Graph<F, ($($ty,)*)>
        where
            F: Fn(RunOptions, $($ty),*) -> Result<R, TaskError>,
        {
            /// Computes the graph on `cluster` (feature `hyperqueue`) as one job, its
            /// nodes grouped into cluster tasks as [`Partition::Auto`](super::Partition::Auto)
            /// says: Dask's `client.compute(x)`, here for a graph built at compile time.
            /// [`compute_on`](Graph::compute_on) runs it on a rayon pool of this
            /// process instead. See [`compute_on_cluster_with`](Graph::compute_on_cluster_with).
            pub fn compute_on_cluster(
                &self,
                cluster: &(impl Cluster + ?Sized)
                $(, $arg: $ty)*
            ) -> Result<R, RemoteError>
            where
                R: DeserializeOwned,
            {
                self.compute_on_cluster_with(cluster, ClusterOptions::new() $(, $arg)*)
            }

            /// Computes the graph on `cluster` with `options` (a
            /// [`Partition`](super::Partition), or [`ClusterOptions`] with an
            /// observer), as [`Delayed::compute_on_with`](crate::Delayed::compute_on_with)
            /// computes a `Delayed` graph: one job, the same partitions, errors and
            /// observers, the nodes numbered as in [`info`](Graph::info).
            ///
            /// Every node must be a call of a `#[delayed(remote)]` function whose
            /// arguments are nodes, `vec!`s of nodes, or values (`Serialize` inputs,
            /// captured variables, literals), or a `vec!` of nodes bound to a name, and
            /// every node must lead to the result, which is one node's: an operator, a
            /// method, a field, an index, a `?`, a tuple split, an array of nodes or a
            /// node whose result is not used is [`RemoteError::NotRemote`] naming the
            /// first such node and its call site, before anything is submitted (the
            /// same graph still computes here). Write such a step as a
            /// `#[delayed(remote)]` function.
            pub fn compute_on_cluster_with(
                &self,
                cluster: &(impl Cluster + ?Sized),
                options: impl Into<ClusterOptions>
                $(, $arg: $ty)*
            ) -> Result<R, RemoteError>
            where
                R: DeserializeOwned,
            {
                let body = self.body();
                compute_nodes(
                    cluster,
                    self.table(),
                    move || describe(|options| body(options $(, $arg)*)),
                    options.into(),
                )
            }
        }
    };
}

for_each_arity!(arity);
