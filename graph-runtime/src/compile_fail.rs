//! The `Send`/`Sync` promises of the engine's types, pinned by doc tests (compiled
//! only by `cargo test --doc`, as rayon-core's `compile_fail` module): one module per
//! promise, each with a `compile_fail` snippet whose only possible error is the missing
//! auto trait (or the missing `Send + Sync` bound that keeps a value out), and where it
//! helps a plain snippet showing the impls that are meant to hold.
//!
//! `Cell<u64>` stands for a value that is `Send` but not `Sync`, `MutexGuard` for one
//! that is `Sync` but not `Send`, and `Rc<u8>` for one that is neither.

/** `Owned<T>` (the one consumer's handle on a `Slot`) lends `&T` to whoever holds
`&Owned`, so it is `Sync` only when `T` is, even though `Slot<T>` is `Sync` for any
`T: Send`.

```compile_fail
fn is_sync<T: Sync>() {}
is_sync::<graph_runtime::__private::Owned<'static, core::cell::Cell<u64>>>();
```

It still moves with its task to another thread when `T: Send`, and is `Sync` for a
`Sync` value:

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::__private::Owned<'static, core::cell::Cell<u64>>>();
is_send::<graph_runtime::__private::Owned<'static, u64>>();
is_sync::<graph_runtime::__private::Owned<'static, u64>>();
```
*/
mod owned_is_sync_only_for_sync_values {}

/** `Owned<T>` moves the value out (or drops it) on the thread that holds it, so it is
`Send` only when `T` is.

```compile_fail
fn is_send<T: Send>() {}
is_send::<graph_runtime::__private::Owned<'static, std::rc::Rc<u8>>>();
```
*/
mod owned_is_send_only_for_send_values {}

/** `Slot<T>` is filled on one thread and emptied on another: `Sync` only when `T` is
`Send`.

```compile_fail
fn is_sync<T: Sync>() {}
is_sync::<graph_runtime::__private::Slot<std::rc::Rc<u8>>>();
```

A `Send` value that is not `Sync` is fine: the slot never lends it to two threads.

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::__private::Slot<core::cell::Cell<u64>>>();
is_sync::<graph_runtime::__private::Slot<core::cell::Cell<u64>>>();
```
*/
mod slot_is_sync_only_for_send_values {}

/** `Slot<T>` holds the value: `Send` only when `T` is.

```compile_fail
fn is_send<T: Send>() {}
is_send::<graph_runtime::__private::Slot<std::rc::Rc<u8>>>();
```
*/
mod slot_is_send_only_for_send_values {}

/** `SharedSlot<T>` lends `&T` to several consumers at once: it is `Sync` for any `T:
Send`, and only a `T: Sync` can have one (every constructor requires `ReadAtOnce`,
whose one impl is for `T: Sync`), so that a graph sharing a value that is not `Sync` is
one error, on the node, not a second one about the whole graph's closure.

```compile_fail
let _ = graph_runtime::__private::SharedSlot::<core::cell::Cell<u64>>::new(2);
```

```compile_fail
let _ = graph_runtime::__private::SharedSlot::of(
    2,
    core::marker::PhantomData::<core::cell::Cell<u64>>,
);
```

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::__private::SharedSlot<u64>>();
is_sync::<graph_runtime::__private::SharedSlot<u64>>();
let _ = graph_runtime::__private::SharedSlot::<u64>::new(2);
```
*/
mod shared_slot_holds_only_sync_values {}

/** `SharedSlot<T>`'s last consumer moves the value out (or drops it) on its own
thread: `Sync` only when `T` is `Send` as well.

```compile_fail
fn is_sync<T: Sync>() {}
is_sync::<graph_runtime::__private::SharedSlot<std::sync::MutexGuard<'static, u64>>>();
```
*/
mod shared_slot_is_sync_only_for_send_values {}

/** `Shared<T>` (one consumer's handle on a `SharedSlot`) lends `&T` while other handles
do on other threads: neither `Send` nor `Sync` unless `T: Sync`.

```compile_fail
fn is_send<T: Send>() {}
is_send::<graph_runtime::__private::Shared<'static, core::cell::Cell<u64>>>();
```

```compile_fail
fn is_sync<T: Sync>() {}
is_sync::<graph_runtime::__private::Shared<'static, core::cell::Cell<u64>>>();
```

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::__private::Shared<'static, u64>>();
is_sync::<graph_runtime::__private::Shared<'static, u64>>();
```
*/
mod shared_needs_sync_values {}

/** `Shared<T>` may be the last use, which moves the value out or drops it on its own
thread: not `Send` unless `T: Send`.

```compile_fail
fn is_send<T: Send>() {}
is_send::<graph_runtime::__private::Shared<'static, std::sync::MutexGuard<'static, u64>>>();
```
*/
mod shared_needs_send_values {}

/** `EarlyExit<T>` takes a `?`'s residual from any task's thread: `Sync` only when `T`
is `Send` (a `Mutex` guards it, so `T` need not be `Sync`).

```compile_fail
fn is_sync<T: Sync>() {}
is_sync::<graph_runtime::__private::EarlyExit<std::rc::Rc<u8>>>();
```

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::__private::EarlyExit<core::cell::Cell<u64>>>();
is_sync::<graph_runtime::__private::EarlyExit<core::cell::Cell<u64>>>();
```
*/
mod early_exit_is_sync_only_for_send_values {}

/** A `Graph` is `Send`/`Sync` exactly when its body is: its inputs are arguments of
`compute`, not part of it.

```compile_fail
use graph_runtime::{__private::RunOptions, Graph, TaskError};
fn is_send<T: Send>() {}
is_send::<Graph<Box<dyn Fn(RunOptions) -> Result<u8, TaskError> + Sync>, ()>>();
```

```compile_fail
use graph_runtime::{__private::RunOptions, Graph, TaskError};
fn is_sync<T: Sync>() {}
is_sync::<Graph<Box<dyn Fn(RunOptions) -> Result<u8, TaskError> + Send>, ()>>();
```

```
use graph_runtime::{__private::RunOptions, Graph, TaskError};
use std::rc::Rc;
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<Graph<fn(RunOptions, Rc<u8>) -> Result<u8, TaskError>, (Rc<u8>,)>>();
is_sync::<Graph<fn(RunOptions, Rc<u8>) -> Result<u8, TaskError>, (Rc<u8>,)>>();
```
*/
mod graph_is_send_and_sync_with_its_body {}

/** `Delayed<T>` is a handle on a node, `Send + Sync` whatever `T`: it holds no `T`,
and no `Delayed<T>` can be built unless `T: Send + Sync` (its task runs on the pool
and its value is shared by the tasks that read it).

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::Delayed<u64>>();
is_sync::<graph_runtime::Delayed<u64>>();
let _: graph_runtime::Delayed<std::sync::Arc<u8>> =
    graph_runtime::delayed(|| std::sync::Arc::new(1u8)).call();
```

```compile_fail
let _ = graph_runtime::delayed(|| std::rc::Rc::new(1u8)).call();
```
*/
mod delayed_values_are_send {}

/** A `Delayed` of a value that is `Send` but not `Sync` cannot be built either.

```compile_fail
let _ = graph_runtime::delayed(|| core::cell::Cell::new(1u64)).call();
```
*/
mod delayed_values_are_sync {}

/** `Prepared<V>` holds the arena, not values of `V`: `Send + Sync`; and it cannot be
made for outputs that are not `Send + Sync`.

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::Prepared<(u64,)>>();
is_sync::<graph_runtime::Prepared<(u64,)>>();
```

```compile_fail
fn prepare_it(value: &graph_runtime::Delayed<std::rc::Rc<u8>>) {
    let _ = graph_runtime::prepare((value,));
}
```
*/
mod prepared_is_send_and_sync {}

/** `Future<T>` shares an `Arc<T>` between its handles and the pool's threads: `Send`
and `Sync` only when `T` is both.

```compile_fail
fn is_send<T: Send>() {}
is_send::<graph_runtime::Future<core::cell::Cell<u64>>>();
```

```compile_fail
fn is_sync<T: Sync>() {}
is_sync::<graph_runtime::Future<core::cell::Cell<u64>>>();
```

```compile_fail
fn is_send<T: Send>() {}
is_send::<graph_runtime::Future<std::sync::MutexGuard<'static, u64>>>();
```

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::Future<u64>>();
is_sync::<graph_runtime::Future<u64>>();
```
*/
mod future_is_send_and_sync_with_its_value {}

/** A task whose result is not `Send + Sync` cannot be submitted.

```compile_fail
fn submit_it(client: &graph_runtime::Client) {
    let _ = client.submit(|| std::rc::Rc::new(1u8), ());
}
```

```
fn submit_it(client: &graph_runtime::Client) {
    let _ = client.submit(|| std::sync::Arc::new(1u8), ());
}
```
*/
mod submitted_results_are_send_and_sync {}

/** `Client` is shared by threads (and by the tasks that submit tasks): `Send + Sync`.

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::Client>();
is_sync::<graph_runtime::Client>();
is_send::<graph_runtime::ClientBuilder>();
is_sync::<graph_runtime::ClientBuilder>();
```
*/
mod client_is_send_and_sync {}

/** `AsCompleted<F>` queues the futures it yields from the pool's threads: `Send`
only when its futures are.

```compile_fail
fn is_send<T: Send>() {}
is_send::<graph_runtime::AsCompleted<graph_runtime::Future<core::cell::Cell<u64>>>>();
```

```
fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}
is_send::<graph_runtime::AsCompleted<graph_runtime::Future<u64>>>();
is_sync::<graph_runtime::AsCompleted<graph_runtime::Future<u64>>>();
is_send::<graph_runtime::AsCompleted<graph_runtime::ErasedFuture>>();
is_sync::<graph_runtime::AsCompleted<graph_runtime::ErasedFuture>>();
```
*/
mod as_completed_is_send_with_its_futures {}
