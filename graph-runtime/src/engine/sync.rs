//! The synchronisation primitives of the dispatcher, the result slots and the futures'
//! state: the standard library's and rayon's in the engine, loom's under `cfg(loom)`,
//! where the models of `graph-runtime/tests/loom.rs` explore every interleaving of them
//! (`RUSTFLAGS="--cfg loom" cargo test -p graph-runtime --release --test loom`).
//!
//! Only what differs between the two is wrapped: [`UnsafeCell`] (loom checks every
//! access, through `with` and `with_mut`), `join` (rayon's, or a loom thread), reading
//! an atomic through `&mut`, and the pending counters' [`Counter`]. Every wrapper is
//! `#[inline(always)]` and adds nothing: the engine compiles to the code it had with the
//! standard types used directly.

use std::time::Instant;

use crate::engine::error::TaskError;
use crate::engine::lock::Recover;

pub(crate) use core::sync::atomic::Ordering;

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU8, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU8, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

/// A cell whose accesses are raw pointers handed to a closure: `core`'s `UnsafeCell`
/// in the engine, loom's (which checks each access against the others) in the models.
#[repr(transparent)]
pub(crate) struct UnsafeCell<T> {
    #[cfg(not(loom))]
    cell: core::cell::UnsafeCell<T>,
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<T>,
}

impl<T> UnsafeCell<T> {
    /// A cell holding `value`.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell {
            cell: core::cell::UnsafeCell::new(value),
        }
    }

    /// A cell holding `value` (not `const` under loom, whose cells are registered with
    /// the model when made).
    #[cfg(loom)]
    #[track_caller]
    pub(crate) fn new(value: T) -> Self {
        UnsafeCell {
            cell: loom::cell::UnsafeCell::new(value),
        }
    }

    /// Calls `f` with a pointer for reading; what `f` does with it is the caller's
    /// `unsafe` to justify.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.cell.get())
    }

    /// Calls `f` with a pointer for writing; what `f` does with it is the caller's
    /// `unsafe` to justify.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.cell.get())
    }

    /// Calls `f` with a pointer for reading, the read checked by loom.
    #[cfg(loom)]
    #[track_caller]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        self.cell.with(f)
    }

    /// Calls `f` with a pointer for writing, the write checked by loom.
    #[cfg(loom)]
    #[track_caller]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.cell.with_mut(f)
    }
}

/// The value of an atomic the caller holds exclusively (`get_mut`; loom's atomics spell
/// it `with_mut`).
#[inline(always)]
pub(crate) fn exclusive_u8(atomic: &mut AtomicU8) -> u8 {
    #[cfg(not(loom))]
    return *atomic.get_mut();
    #[cfg(loom)]
    return atomic.with_mut(|v| *v);
}

/// [`exclusive_u8`] for a `u32`.
#[inline(always)]
pub(crate) fn exclusive_u32(atomic: &mut AtomicU32) -> u32 {
    #[cfg(not(loom))]
    return *atomic.get_mut();
    #[cfg(loom)]
    return atomic.with_mut(|v| *v);
}

/// Under loom, runs `b` on a new loom thread and `a` on this one, and returns when both
/// have (the engine's joins are rayon's: see [`join_noting`]).
///
/// Loom 0.7 has no scoped threads, and the dispatcher's closures borrow its stack: the
/// closure's lifetime is erased, and the thread is joined before this returns or
/// unwinds, as `std::thread::scope` does.
#[cfg(loom)]
pub(crate) fn join<RA: Send, RB: Send>(
    owner: Option<&crate::engine::owner::Owner>,
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    // `b` runs on another thread: a part of the run there (see `owner::in_part_of`).
    let b = move || crate::engine::owner::in_part_of(owner, b);
    /// Joins the thread when dropped: on return, and while `a`'s panic unwinds.
    struct Joined(Option<loom::thread::JoinHandle<()>>);
    impl Drop for Joined {
        fn drop(&mut self) {
            if let Some(handle) = self.0.take() {
                let _ = handle.join();
            }
        }
    }
    let mut rb = None;
    let into = &mut rb;
    let b = move || *into = Some(b());
    let b: Box<dyn FnOnce() + Send + '_> = Box::new(b);
    // SAFETY: only the lifetime changes (the layout of a boxed trait object does not
    // depend on it). The closure runs on the thread spawned below, which `Joined` joins
    // before this function returns or unwinds, so every borrow it holds outlives its
    // run, exactly as in a scoped thread.
    let b = unsafe {
        core::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Box<dyn FnOnce() + Send + 'static>>(b)
    };
    let mut joined = Joined(Some(loom::thread::spawn(b)));
    let ra = a();
    if let Some(handle) = joined.0.take() {
        if let Err(payload) = handle.join() {
            std::panic::resume_unwind(payload);
        }
    }
    match rb {
        Some(rb) => (ra, rb),
        // The thread ran `b` to its end (a panic was resumed above).
        None => unreachable!("the joined thread ran `b`"),
    }
}

/// [`rayon::join`] (under loom, `b` on a thread of its own: see the loom `join` above),
/// a tree's: `b`, when another thread takes it, runs there as a part of `owner`'s run
/// (`owner::in_part_of`). In a debug build, on a new segment when less than [`JOIN_ROOM`] of the
/// stack is left, as [`join_noting`]: a tree's joins nest up to 24 deep, and a comb of
/// `u64`s overflowed a 64 KiB worker of the user's. An optimised build's joins take
/// a few hundred bytes a level, and the same comb runs in 64 KiB
/// (`tests/adversarial_environment.rs`, release): a look at the stack at every join
/// would make a tree of empty tasks about 2.5 ns a join slower.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn join<RA: Send, RB: Send>(
    owner: Option<&crate::engine::owner::Owner>,
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    let join = || {
        rayon::join_context(
            |_| a(),
            // Stolen, `b` is a part of the run on the thief's stack (see
            // `owner::in_part_of`); run here, it is on the run's own.
            |ctx| match ctx.migrated() {
                true => crate::engine::owner::in_part_of(owner, b),
                false => b(),
            },
        )
    };
    #[cfg(debug_assertions)]
    return stacker::maybe_grow(JOIN_ROOM, STACK_SEGMENT, join);
    #[cfg(not(debug_assertions))]
    return join();
}

/// The stack a dispatcher's join is sure to have (see [`join_noting`]): room for
/// [`CHECK_EVERY`] levels of joins, and what runs under the last.
#[cfg(not(loom))]
const JOIN_ROOM: usize = 64 << 10;

/// How many levels of the dispatcher's joins share one look at the stack (see
/// [`join_noting`]).
#[cfg(not(loom))]
const CHECK_EVERY: u32 = 4;

/// [`rayon::join`], noting for an `observed` run where a thread's straight run from one task
/// to the next breaks (`observe::note_break`): on the thread that runs `b` if it stole
/// it, and on this one after `b` was stolen (it may have waited, or run other work).
///
/// Outside rayon's pools, in a run taken back on its caller's thread, it is
/// [`join_outside`]: rayon's join would queue both halves and wait for a worker.
///
/// On a new segment when less than [`JOIN_ROOM`] of the stack is left: the dispatcher
/// nests its joins up to `MAX_DEPTH` deep (a comb of 400 links took over 256 KiB in a
/// debug build), and the threads it runs on may have small stacks (a rayon pool of the
/// user's built with `stack_size`, whose workers also run the jobs they steal): a
/// 256 KiB one overflowed and aborted. It looks at the stack at every
/// [`CHECK_EVERY`]th level of `depth` (the join's own, counted by the dispatcher) only:
/// a look (a read of the stack pointer and a thread-local) at every join made a
/// 64-leaf fan-out of empty tasks about 2.5 ns a join slower (`static_graph`'s
/// `fanin64_empty`). A job stolen at any depth starts at the foot of its thief's
/// stack, and looks again within [`CHECK_EVERY`] levels.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn join_noting(
    observed: bool,
    depth: u32,
    owner: Option<&crate::engine::owner::Owner>,
    a: impl FnOnce() + Send,
    b: impl FnOnce() + Send,
) {
    let join = || {
        if !in_pool() {
            // A run taken back on its caller's thread (see `run_taken_back`): `b` may
            // run on a worker, a part of the run there.
            let b = || crate::engine::owner::in_part_of(owner, b);
            join_outside(observed, a, b);
            return;
        }
        let ((), stolen) = rayon::join_context(
            |_| a(),
            |ctx| {
                let migrated = ctx.migrated();
                let stolen = observed && migrated;
                if stolen {
                    crate::engine::observe::note_break();
                }
                match migrated {
                    // A part of the run on the thief's stack (see `owner::in_part_of`).
                    true => crate::engine::owner::in_part_of(owner, b),
                    false => b(),
                }
                stolen
            },
        );
        if stolen {
            crate::engine::observe::note_break();
        }
    };
    if depth.is_multiple_of(CHECK_EVERY) {
        stacker::maybe_grow(JOIN_ROOM, STACK_SEGMENT, join);
    } else {
        join();
    }
}

/// [`join`] (the models observe no run).
#[cfg(loom)]
pub(crate) fn join_noting(
    _observed: bool,
    _depth: u32,
    owner: Option<&crate::engine::owner::Owner>,
    a: impl FnOnce() + Send,
    b: impl FnOnce() + Send,
) {
    join(owner, a, b);
}

/// The stack a graph's run is sure to have: a run started with less moves to a new
/// segment (see [`with_stack`]). It covers the run's own frames (the dispatcher's joins,
/// at most `MAX_DEPTH` deep, and rayon's work stealing meanwhile) and its tasks' up to
/// the next nested run, which checks again: one level of nesting takes 2-4 KiB in an
/// optimised build, 8-11 KiB in a debug build.
#[cfg(not(loom))]
const RED_ZONE: usize = 256 << 10;

/// The size of a new segment: what a new thread's stack has (Rust's default).
#[cfg(not(loom))]
const STACK_SEGMENT: usize = 2 << 20;

/// Runs `f`, a graph's run, on this thread's stack when at least [`RED_ZONE`] of it is
/// left, and on a new segment of [`STACK_SEGMENT`] otherwise (`stacker::maybe_grow`,
/// as rustc does): computes nested inside tasks (a task that computes a graph whose task
/// computes a graph ...) then nest to any depth instead of overflowing the stack, which
/// aborts the process. When the stack suffices it reads the stack pointer and a
/// thread-local (about 4 ns, no allocation); a segment comes from the OS (`mmap`),
/// not the heap, and goes back when `f` returns or unwinds.
///
/// Only a run nested in a graph task checks: a run's own depth is bounded, and so is a
/// futures task's (its waits nest at most `MAX_INLINE` jobs), so unbounded nesting
/// always goes through graph tasks; a run started elsewhere pays one thread-local read.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    if crate::engine::observe::in_graph_task() {
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, f)
    } else {
        f()
    }
}

/// Runs `f` on this thread's stack when at least [`RED_ZONE`] of it is left, and on a
/// new segment otherwise, wherever it is called (see [`with_stack`]): for a waiting
/// futures task that runs queued jobs itself, each of which may wait and run more in
/// turn, when its pool can start no thread (see `futures::pool`).
#[cfg(not(loom))]
pub(crate) fn on_grown_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, f)
}

/// [`on_grown_stack`]: under loom, `f` as it is (see the loom [`with_stack`]).
#[cfg(loom)]
pub(crate) fn on_grown_stack<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// A task's value from this size up gets stack room for [`LARGE_VALUE_COPIES`] copies
/// of itself (see [`with_room`]).
const LARGE_VALUE: usize = 32 << 10;

/// How many copies of a task's values its run may keep on the stack at once: a debug
/// build keeps one in each frame the value passes through (the function's local, its
/// return, the task's closure, `catch_unwind`'s, the slot's `put`), about ten on the
/// longest path; an optimised build few.
#[cfg(not(loom))]
const LARGE_VALUE_COPIES: usize = if cfg!(debug_assertions) { 16 } else { 4 };

/// Runs `f`, a task's run that makes a value of type `T`, with stack room for it (see
/// [`with_room`]).
#[inline(always)]
pub(crate) fn with_room_for<T, R>(f: impl FnMut() -> R) -> R {
    with_room(core::mem::size_of::<T>(), f)
}

/// Runs `f`, a whole run of a graph whose result (and inputs) are of type `T`, with
/// stack room for them (see [`with_room`]), and returns its result: on the caller's
/// side of a run a value passes through more frames than in a task (the read of the
/// output, `catch_unwind`'s, the `Result`s of the layers above), so four times a task's
/// room. A 256 KiB result of a `graph!` overflowed a 2 MiB thread, optimised, where
/// plain code returns 768 KiB.
///
/// Outside the room a large result is held only where the caller's caller keeps it:
/// written from inside the room into a slot, then read from there straight into the
/// caller's return place (the `compute` of a front end returns what this returns, as
/// its last expression; see [`returned`]). A `Result` returned by the room and taken
/// apart by the caller, and the room's own slot, were three more copies of a 2 MiB
/// value in a debug build, which overflowed an 8 MiB `main` holding 6 MiB of its own
/// where plain code runs.
///
/// Whether the values are large is a constant (`if const`): a debug build compiles
/// only the branch taken, and so keeps no copies of a large value for the other in the
/// frame (a frame holds every local of its function, taken or not).
#[inline(always)]
pub(crate) fn with_room_for_run<T, R>(mut f: impl FnMut() -> R) -> R {
    if const { run_room::<T>() < LARGE_VALUE } {
        return f();
    }
    returned::<Whole, R>(run_room::<T>(), &mut f)
}

/// [`with_room_for_run`] for a `compute` that returns the run's value and resumes its
/// failure as the task's panic: the value read from the slot straight into the
/// caller's return place, not through a `match` on the `Result` (see [`ValueOf`]).
#[track_caller]
#[inline(always)]
pub(crate) fn value_with_room_for_run<T, R>(mut f: impl FnMut() -> Result<R, TaskError>) -> R {
    if const { run_room::<T>() < LARGE_VALUE } {
        return match f() {
            Ok(value) => value,
            Err(error) => error.resume(),
        };
    }
    returned::<ValueOf, _>(run_room::<T>(), &mut f)
}

/// The stack room a whole run of a graph whose result (and inputs) are of type `T`
/// asks for (see [`with_room_for_run`]).
const fn run_room<T>() -> usize {
    core::mem::size_of::<T>().saturating_mul(4)
}

/// How a run's caller takes the run's result of type `V` out of the slot it was written
/// into, into its own return place (see [`returned`]).
trait Take<V> {
    /// What the caller returns.
    type Out;

    /// Takes the result from `slot`.
    ///
    /// # Safety
    /// `slot` holds a result, which this takes: it is not read again.
    unsafe fn take(slot: *const V) -> Self::Out;
}

/// The whole result.
struct Whole;

impl<V> Take<V> for Whole {
    type Out = V;

    #[inline(always)]
    unsafe fn take(slot: *const V) -> V {
        // SAFETY: the caller's contract. (Read through a pointer, as a call's result into
        // the return place: `assume_init` takes its `MaybeUninit` by value, another copy
        // in a debug build.)
        unsafe { slot.read() }
    }
}

/// The value of a `Result`, its failure resumed as the task's panic
/// ([`TaskError::resume`], at the `compute`'s call site).
struct ValueOf;

impl<R> Take<Result<R, TaskError>> for ValueOf {
    type Out = R;

    #[track_caller]
    #[inline(always)]
    unsafe fn take(slot: *const Result<R, TaskError>) -> R {
        // SAFETY: the caller's contract: `slot` is written. The value is read through
        // a pointer into the return place: a `match` on the `Result` taken by value
        // keeps two more copies of it in a debug build.
        let value: *const R = match unsafe { &*slot } {
            Ok(value) => value,
            // SAFETY: the error is taken once, here, and `slot` is not read again.
            Err(error) => unsafe { core::ptr::read(error) }.resume(),
        };
        // SAFETY: as above, for the value.
        unsafe { value.read() }
    }
}

/// Runs `f`, a whole run of large values (`size` bytes of them), in [`grow_room_into`]'s
/// room, and returns its result as `K` takes it from the slot the room wrote it into:
/// a slot on this stack when it holds one beside the room, on the heap otherwise (then
/// the room is a new segment: this stack had not room enough for it). On a stack that
/// short, as in an 8 MiB `main` holding 6 MiB of temporaries, plain code ran where one
/// more copy of a 2 MiB result overflowed.
#[track_caller]
#[inline(always)]
fn returned<K: Take<V>, V>(size: usize, f: &mut dyn FnMut() -> V) -> K::Out {
    if stack_holds(core::mem::size_of::<V>(), size) {
        in_stack_slot::<K, V>(size, f)
    } else {
        in_heap_slot::<K, V>(size, f)
    }
}

/// [`returned`] through a slot in this function's frame, entered only when the stack
/// holds it.
#[track_caller]
#[inline(never)]
fn in_stack_slot<K: Take<V>, V>(size: usize, f: &mut dyn FnMut() -> V) -> K::Out {
    let mut slot = core::mem::MaybeUninit::uninit();
    grow_room_into(size, &mut slot, f);
    // SAFETY: `grow_room_into` returns only once it has written `slot` (a panic unwinds
    // past this line); it is taken once.
    unsafe { K::take(slot.as_ptr()) }
}

/// [`returned`] through a slot on the heap, freed once its result is taken (a
/// `MaybeUninit`: nothing in it is dropped).
#[track_caller]
#[inline(never)]
fn in_heap_slot<K: Take<V>, V>(size: usize, f: &mut dyn FnMut() -> V) -> K::Out {
    let mut slot = Box::<V>::new_uninit();
    grow_room_into(size, &mut slot, f);
    // SAFETY: as in `in_stack_slot`.
    unsafe { K::take(slot.as_ptr()) }
}

/// Whether this stack has `slot` bytes left beside what [`grow_room_into`] asks for
/// `size` bytes of values (which then run on it too).
#[cfg(not(loom))]
fn stack_holds(slot: usize, size: usize) -> bool {
    let need = size
        .saturating_mul(LARGE_VALUE_COPIES)
        .saturating_add(RED_ZONE)
        .saturating_add(slot);
    stacker::remaining_stack().is_some_and(|left| left >= need)
}

/// [`stack_holds`] under loom: no model makes large values.
#[cfg(loom)]
fn stack_holds(_slot: usize, _size: usize) -> bool {
    true
}

/// `f` of the value taken out of `value`, with a run's stack room for copies of it
/// when it is large (see [`with_room_for_run`]), as it is otherwise: a value handed
/// over by value on the caller's thread (a client's scatter, a task's arguments)
/// passes through the frames that store it, each keeping a copy, in an optimised
/// build too (a 2 MiB value overflowed an 8 MiB `main` and aborted the process, where
/// plain code holding it runs; a task's room, four copies optimised, was not enough).
/// The value comes by reference: each move before the room is a copy on the caller's
/// stack in a debug build (the caller's `&mut Some(value)`, made as its first
/// statement, is the only one: a parameter moved after a call, or in one branch only,
/// was copied to a temporary first, its drop flag).
#[inline(always)]
pub(crate) fn with_room_taking<T, R>(value: &mut Option<T>, f: impl FnOnce(T) -> R) -> R {
    if const { !is_large::<T>() } {
        return f(value.take().expect("taken once"));
    }
    taken_in_room(value, f)
}

/// `f(value)` inside a run's stack room for values of type `Room` (`value`'s type, or
/// more; see [`with_room_for_run`]), `value` read into the room from where it is: a
/// parameter of an entry point that keeps it (a client's `submit`), read from where
/// its caller passed it, as `delay!` reads a large argument (see
/// `dynamic::args::hold1`). [`with_room_taking`]'s `Option` in the entry point's frame
/// held the value once more than plain code holding it does. Meant for a large `T`
/// (see [`is_large`]).
///
/// A panic of `f` is returned, not unwound, when `T` has drop glue: the caller forgets
/// its parameter first, then resumes it. (A value whose room never ran `f` is then
/// leaked, not dropped.)
///
/// No branch of the caller may move the parameter but to forget it: a function that
/// both borrows a parameter (here) and moves it (into an `Option`, a call) copies it
/// to a temporary first in a debug build, a copy more.
///
/// # Safety
/// The owner of `value` never reads, moves or borrows it again, and forgets it when
/// `T` has drop glue (before resuming a returned panic).
#[inline(always)]
pub(crate) unsafe fn with_room_reading<Room, T, R>(
    value: &T,
    f: impl FnOnce(T) -> R,
) -> std::thread::Result<R> {
    let value: *const T = value;
    let mut f = Some(f);
    let mut in_room = || {
        with_room_for_run::<Room, _>(|| {
            let f = f.take().expect("with_room runs its closure once");
            // SAFETY: read once (the room runs its closure once), and the caller's
            // contract: its owner never uses it again, nor drops it.
            f(unsafe { value.read() })
        })
    };
    if const { !core::mem::needs_drop::<T>() } {
        return Ok(in_room());
    }
    std::panic::catch_unwind(core::panic::AssertUnwindSafe(in_room))
}

/// [`with_room_taking`] of a large value, out of line.
fn taken_in_room<T, R>(value: &mut Option<T>, f: impl FnOnce(T) -> R) -> R {
    let mut f = Some(f);
    with_room_for_run::<T, _>(|| {
        let (Some(value), Some(f)) = (value.take(), f.take()) else {
            unreachable!("with_room runs its closure once")
        };
        f(value)
    })
}

/// `run` of the state `make` makes (a `graph!` body's slots), both inside a run's stack
/// room for copies of the state when it is large (see `with_room_for_run`), as they
/// are otherwise: every slot is a local of the body, all alive across the run, and a
/// debug build keeps each in a place of its own, so a graph of many large values (an
/// unrolled loop over a 64 KiB array) overflowed the caller's stack, where plain code
/// looping over one variable runs. `S` is a constant size, so this is an `if const`.
#[inline(always)]
pub fn in_room_of<S, R>(make: impl FnOnce() -> S, run: impl FnOnce(S) -> R) -> R {
    if const { !is_large::<S>() } {
        return run(make());
    }
    state_in_room(make, run)
}

/// [`in_room_of`] of a large state, out of line.
fn state_in_room<S, R>(make: impl FnOnce() -> S, run: impl FnOnce(S) -> R) -> R {
    let mut steps = Some((make, run));
    with_room_for_run::<S, _>(|| {
        let Some((make, run)) = steps.take() else {
            unreachable!("with_room runs its closure once")
        };
        run(make())
    })
}

/// Whether a value of type `T` handed over by value to be kept (in a node: a
/// constant, a task's argument) is taken into a run's stack room before it is moved
/// into its place (see [`with_room_taking`]): in a debug build, where each frame it
/// passes through by value keeps a copy of it (a 2 MiB value overflowed an 8 MiB
/// `main` where plain code holding it runs), and only when it is large. An optimised
/// build moves it into its place (the node is written in place) with no room, whose
/// `Option` would be one more copy on the caller's stack. A constant, to be tested
/// as `if const`: a debug build keeps no frame space for the branch not taken.
pub(crate) const fn taken_into_room<T>() -> bool {
    cfg!(debug_assertions) && is_large::<T>()
}

/// Whether values of type `T` are large enough for a run's stack room (see
/// [`with_room_for_run`]): a task's arguments (`delayed(f).call(…)`, see [`with_room_taking`])
/// are taken into it in an optimised build too. A constant, to be tested as
/// `if const` (see [`taken_into_room`]).
pub(crate) const fn is_large<T>() -> bool {
    run_room::<T>() >= LARGE_VALUE
}

/// Runs `f`, a task's run whose values (its result, its arguments) take `size` bytes,
/// with room on the stack for copies of them (16 in a debug build, 4 optimised) when
/// they are large (a 256 KiB array, passed by value, overflowed a 2 MiB worker stack in
/// a debug build and aborted the process), on a new segment if this one has not that
/// much left; as it is otherwise. `size` is a compile-time constant where it is called (sizes of
/// types, added), so in an optimised build a task of small values pays nothing.
///
/// The frames `f` runs in are its own: `f` must hold its values in them, not in its
/// caller's, whose frame is already on the stack (generated code runs a node's whole
/// code, the reads of its arguments, the call and the store of its result, in `f`),
/// and it should capture references only. Its result comes back to the stack it
/// leaves: one copy there, written from inside the room (see `grow_room`).
#[inline(always)]
pub fn with_room<R>(size: usize, mut f: impl FnMut() -> R) -> R {
    if size < LARGE_VALUE {
        return f();
    }
    grow_room(size, &mut f)
}

/// Values handed back through a tree's join (both sides together) from this size up
/// make the join ask for stack room (see `Tree::join`): joins nest, each level keeping
/// copies of them, so values well under [`LARGE_VALUE`] add up.
const JOIN_VALUES: usize = 4 << 10;

/// Whether a tree's join of branches whose values are of type `T` runs in stack room
/// ([`with_join_room`]). A constant, to be tested as `if const`.
pub(crate) const fn needs_join_room<T>() -> bool {
    core::mem::size_of::<T>() >= JOIN_VALUES
}

/// How many times more than a node's room (see [`LARGE_VALUE_COPIES`]) a join's
/// room is: 16 copies of its values in either build, as a level of nested joins keeps
/// about ten in a debug build and seven in an optimised one (the branch's frame,
/// rayon's job and its result, the room's own), where an optimised node's room has 4.
const JOIN_ROOM_SCALE: usize = if cfg!(debug_assertions) { 1 } else { 4 };

/// Runs `f`, a tree's join whose branches hand back values of type `T`, with stack room
/// for copies of them, as [`with_room`] does for a node's values, whatever their size
/// (the caller asks only from [`JOIN_VALUES`] up: see [`needs_join_room`]).
#[inline(always)]
pub(crate) fn with_join_room<T, R>(mut f: impl FnMut() -> R) -> R {
    grow_room(
        core::mem::size_of::<T>().saturating_mul(JOIN_ROOM_SCALE),
        &mut f,
    )
}

/// [`with_room`]'s room, compiled once per result type rather than once per node: with
/// `stacker`'s functions made again for each node's closure, a debug build of a graph
/// of 4,000 nodes took 45% longer to compile.
#[inline(never)]
fn grow_room<R>(size: usize, f: &mut dyn FnMut() -> R) -> R {
    let mut out = core::mem::MaybeUninit::<R>::uninit();
    grow_room_into(size, &mut out, f);
    // SAFETY: `grow_room_into` returns only once it has written `out` (a panic unwinds
    // past this line). (Read through a pointer: `assume_init` takes `out` by value,
    // another copy in a debug build.)
    unsafe { out.as_ptr().read() }
}

/// Runs `f` with room for `size` bytes of values, as [`with_room`] does, and writes its
/// result into `out` from inside the room, so that `stacker` returns nothing: its own
/// frames hold their result as an `Option` and unwrap it, two copies on the caller's
/// stack (4 MiB of a 2 MiB result overflowed an 8 MiB `main` where plain code runs).
/// `out` is written when this returns; a panic of `f` unwinds through it.
#[cfg(not(loom))]
#[inline(never)]
fn grow_room_into<R>(size: usize, out: &mut core::mem::MaybeUninit<R>, f: &mut dyn FnMut() -> R) {
    let room = size.saturating_mul(LARGE_VALUE_COPIES);
    stacker::maybe_grow(
        room.saturating_add(RED_ZONE),
        room.saturating_add(STACK_SEGMENT),
        || write_result(out, f),
    );
}

/// `out.write(f())`, in a frame of its own inside the room: inlined into
/// [`grow_room_into`] (`maybe_grow` calls its closure there when the stack has room), an
/// optimised build kept `f`'s result there too, before the copy into `out`, a copy
/// outside the room when it is a new segment.
#[cfg(not(loom))]
#[inline(never)]
fn write_result<R>(out: &mut core::mem::MaybeUninit<R>, f: &mut dyn FnMut() -> R) {
    out.write(f());
}

/// [`grow_room_into`] under loom: `f` as it is (no model makes large values).
#[cfg(loom)]
fn grow_room_into<R>(_size: usize, out: &mut core::mem::MaybeUninit<R>, f: &mut dyn FnMut() -> R) {
    out.write(f());
}

/// [`with_stack`]: under loom, whose threads run on stacks of their own that `stacker`
/// cannot measure, `f` runs as it is (no model nests runs).
#[cfg(loom)]
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Whether this thread is one of a rayon pool's (one of the model's, under loom, where
/// the dispatcher never enters a pool).
#[inline(always)]
pub(crate) fn in_pool() -> bool {
    #[cfg(not(loom))]
    return rayon::current_thread_index().is_some();
    #[cfg(loom)]
    return true;
}

/// Rayon workers, of any pool, now waiting for a future (see [`WaitingForFuture`]).
/// (The standard library's atomic under loom too: no model waits on rayon.)
static WAITING_FOR_FUTURES: core::sync::atomic::AtomicUsize =
    core::sync::atomic::AtomicUsize::new(0);

/// Marks the calling rayon worker as waiting for a future until dropped.
///
/// Such a worker runs nothing but its own pending work meanwhile (see the futures
/// pool's `wait`), and, while every worker waits so, work queued on its pool that is
/// not the engine's ([`run_stranded_job`]): a job of the engine's queued from outside
/// the pool could wait, in turn, for a future that needs the frame under it, and
/// neither could return. So a graph entered from outside while every worker waits is
/// never started by one; its caller runs it itself instead (see
/// [`workers_all_waiting`]).
pub(crate) struct WaitingForFuture(());

#[cfg(not(loom))]
std::thread_local! {
    /// Set while this worker runs a job from a wait for a future that found every
    /// worker waiting so (see [`run_stranded_job`]).
    static STRANDED_HELP: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Runs one job queued on this worker's pool, if any (`rayon::yield_now`), for a worker
/// asleep in a wait for a future while every worker waits so: work queued there from
/// outside (a futures task's own `par_iter`, from the client's thread) then has no one
/// else to run it, and the wait may need it. True if a job ran.
///
/// A graph's run queued from outside the pool declines to run there: it could wait,
/// in turn, for a future that needs the frame under this wait, and neither could
/// return. Its caller, woken, runs it instead, as it does anyway within
/// [`TAKE_BACK_CHECK`] once every worker waits ([`Claim::decline`]). The halves that
/// runs taken back offer (see [`OFFERS`]) are run, as by a free worker: a declined
/// ticket would be gone, and an open half left with none (a join whose first half
/// waits for its second to start would wait until its caller took the second back,
/// after the first: for ever).
#[cfg(not(loom))]
pub(crate) fn run_stranded_job() -> bool {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            STRANDED_HELP.set(self.0);
        }
    }
    let _restore = Restore(STRANDED_HELP.replace(true));
    rayon::yield_now() == Some(rayon::Yield::Executed)
}

/// [`run_stranded_job`]: no rayon pool under loom.
#[cfg(loom)]
pub(crate) fn run_stranded_job() -> bool {
    false
}

/// Whether this worker runs a job from a wait for a future (see [`run_stranded_job`]).
#[cfg(not(loom))]
fn stranded_help() -> bool {
    STRANDED_HELP.get()
}

impl WaitingForFuture {
    pub(crate) fn enter() -> Self {
        // Read by callers outside the pool, which decide on it with nothing else to
        // order: sequentially consistent, as the pool's sleep counts are.
        WAITING_FOR_FUTURES.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
        WaitingForFuture(())
    }
}

impl Drop for WaitingForFuture {
    fn drop(&mut self) {
        WAITING_FOR_FUTURES.fetch_sub(1, core::sync::atomic::Ordering::SeqCst);
    }
}

/// Called outside rayon's pool: whether every worker of the global pool (the one a
/// graph entered from here runs on) may be waiting for a future, and so none would
/// start a job queued now. Workers of other pools count too: at worst a graph then
/// runs on its caller's thread, in order, when the pool could have run it.
#[inline]
pub(crate) fn workers_all_waiting() -> bool {
    #[cfg(not(loom))]
    return WAITING_FOR_FUTURES.load(core::sync::atomic::Ordering::SeqCst)
        >= rayon::current_num_threads();
    #[cfg(loom)]
    return false;
}

/// Whether a futures client was ever built in this process: only then can a rayon
/// worker wait for a future (see [`WaitingForFuture`]).
static CLIENTS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// A futures client is built (see [`enter_pool`]).
pub(crate) fn note_client() {
    CLIENTS.store(true, core::sync::atomic::Ordering::SeqCst);
}

/// Called outside `pool`, a pool of the caller's (`Graph::compute_on`): whether every
/// worker of it may be waiting for a future, as [`workers_all_waiting`] says of the
/// global pool (and with its compromise: workers of other pools count too).
#[cfg(not(loom))]
#[inline]
fn workers_of_all_waiting(pool: &rayon::ThreadPool) -> bool {
    WAITING_FOR_FUTURES.load(core::sync::atomic::Ordering::SeqCst) >= pool.current_num_threads()
}

/// Runs `run(false)` as a job of rayon's global pool and returns its result, called
/// from outside any pool; or, when no worker would start that job because every one
/// waits for a future (see [`WaitingForFuture`]), `run(true)` on this thread, which
/// then runs the work alone, in order. A job already queued is taken back when that
/// happens, checked every [`TAKE_BACK_CHECK`] while it has not started: the workers
/// may be waiting for the very task that called.
///
/// In a process that never built a futures client no worker can wait for a future, and
/// this is rayon's cold `join` (nothing allocated); otherwise the job is this frame's,
/// run through a type-erased pointer by a boxed spawn that can be taken back.
#[cfg(not(loom))]
pub(crate) fn enter_pool<F, R>(run: F) -> R
where
    F: FnOnce(bool) -> R + Send,
    R: Send,
{
    enter(None, run)
}

/// [`enter_pool`] for `pool`, a pool of the caller's (`Graph::compute_on`): its workers
/// may all wait for futures too, and a graph queued there then ran never (a futures
/// task computing a graph there, whose task waits for a future whose task computes a
/// graph there, hung for ever). On a worker of `pool`, `run(false)` runs here.
#[cfg(not(loom))]
pub(crate) fn enter_pool_of<F, R>(pool: &rayon::ThreadPool, run: F) -> R
where
    F: FnOnce(bool) -> R + Send,
    R: Send,
{
    if pool.current_thread_index().is_some() {
        return pool.install(|| run(false));
    }
    if rayon::current_thread_index().is_some() {
        if !CLIENTS.load(core::sync::atomic::Ordering::SeqCst) {
            return pool.install(|| run(false));
        }
        return across(pool, run);
    }
    enter(Some(pool), run)
}

/// [`enter_pool_of`] on a worker of another pool, which goes on with that pool's work
/// while it waits, as rayon's install across pools does, rather than sleep as `enter`
/// would. The run is queued on `pool` unless every worker of it waits for a future,
/// and taken back, to run here, when that happens before one starts it: the workers
/// may begin to wait after it was queued (it then waited for ever in rayon's install).
#[cfg(not(loom))]
fn across<F, R>(pool: &rayon::ThreadPool, run: F) -> R
where
    F: FnOnce(bool) -> R + Send,
    R: Send,
{
    if workers_of_all_waiting(pool) {
        return run(true);
    }
    let job = StackJob::new(run);
    let claim = job.queue(Some(pool));
    loop {
        if claim.said() {
            // `finish` happened-before, through `said`.
            return job.into_result();
        }
        if (workers_of_all_waiting(pool) || claim.declined()) && claim.take_back() {
            let run = job.f.into_inner().expect("a job taken back has not run");
            return run(true);
        }
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            claim.sleep_until_said(TAKE_BACK_CHECK);
        }
    }
}

/// [`enter_pool`] for `pool`, or the global pool.
#[cfg(not(loom))]
fn enter<F, R>(pool: Option<&rayon::ThreadPool>, run: F) -> R
where
    F: FnOnce(bool) -> R + Send,
    R: Send,
{
    if let Some(around) = TAKEN_BACK_RUN.get() {
        // Inside a run taken back on this thread: the run itself entering (a
        // `compute_on` taken back enters here for the global pool), or a task's nested
        // run. It runs here too, its joins offered to the pool of the run around it;
        // a `compute_on` another pool is entered as usual.
        let same = match (pool, around) {
            (None, _) => true,
            (Some(pool), Target::Pool(around)) => core::ptr::eq(pool, around),
            (Some(_), Target::Global) => false,
        };
        if same {
            return run(true);
        }
    }
    let all_waiting = || pool.map_or_else(workers_all_waiting, workers_of_all_waiting);
    if !CLIENTS.load(core::sync::atomic::Ordering::SeqCst) {
        return match pool {
            Some(pool) => pool.install(|| run(false)),
            None => rayon::join(|| run(false), || ()).0,
        };
    }
    if all_waiting() {
        return run_taken_back(pool, || run(true));
    }
    let job = StackJob::new(run);
    let claim = job.queue(pool);
    match claim.wait(all_waiting) {
        // Ran: `finish` happened-before, through the claim's lock.
        Some(()) => job.into_result(),
        // Taken back: the job never ran, and its closure is this thread's again.
        None => {
            let run = job.f.into_inner().expect("a job taken back has not run");
            run_taken_back(pool, || run(true))
        }
    }
}

/// Where the joins of a run taken back on this thread are offered (see
/// [`run_taken_back`]).
#[cfg(not(loom))]
#[derive(Clone, Copy)]
enum Target {
    Global,
    /// A pool of the caller's, borrowed by the `compute_on` call that runs here.
    Pool(*const rayon::ThreadPool),
}

#[cfg(not(loom))]
std::thread_local! {
    /// Set while this thread runs a graph taken back from a pool (see
    /// [`run_taken_back`]): the pool its joins offer their second halves to.
    static TAKEN_BACK_RUN: core::cell::Cell<Option<Target>> = const { core::cell::Cell::new(None) };
}

/// Runs `f`, a graph's run taken back from `pool` (or the global pool) because every
/// worker waits for a future, on this thread: its joins offer their second halves to
/// that pool as they go ([`join_outside`]), so that a worker free again takes part.
/// A run taken back used to run in order to its end, even once the workers were free,
/// and a task that waited for a sibling to start waited for ever.
#[cfg(not(loom))]
pub(crate) fn run_taken_back<R>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> R) -> R {
    /// Puts back what was there before, on return and while unwinding.
    struct Restore(Option<Target>);
    impl Drop for Restore {
        fn drop(&mut self) {
            TAKEN_BACK_RUN.set(self.0);
        }
    }
    let target = pool.map_or(Target::Global, |pool| Target::Pool(pool));
    let _restore = Restore(TAKEN_BACK_RUN.replace(Some(target)));
    f()
}

/// The second halves of joins of runs taken back (see [`join_outside`]) that no one
/// has started yet, and the tickets queued on the pools to start them.
///
/// A worker starts an open half through a ticket, a job of its pool's that takes the
/// oldest half open for that pool when a worker pops it, or nothing. A join opens its
/// half, and queues a ticket only when its pool has fewer tickets queued than halves
/// open: a half taken back by its caller leaves its ticket queued for the next one. So
/// the tickets left in a queue while every worker waits are as many as the halves
/// ever open at once (the joins' depth), not one per join, and every open half has
/// one: a join whose first half waits for its second to start (a channel, a barrier)
/// ends once a worker is free again. (Each join queued a job of its own before, at
/// most 64 of them left queued while every worker waited, and the joins past those
/// ran in order: the first half of a join past them waited for its second for ever,
/// the workers free again or not.)
#[cfg(not(loom))]
static OFFERS: std::sync::Mutex<Offers> = std::sync::Mutex::new(Offers {
    open: Vec::new(),
    pools: Vec::new(),
});

/// See [`OFFERS`].
#[cfg(not(loom))]
struct Offers {
    /// The halves open, oldest first.
    open: Vec<Open>,
    /// The counts of each pool that has halves open or tickets queued (pools come
    /// and go: one with neither has no entry).
    pools: Vec<PoolOffers>,
}

/// A pool's counts in [`Offers`].
#[cfg(not(loom))]
struct PoolOffers {
    /// The pool (see [`Open::pool`]).
    pool: usize,
    /// Its halves open.
    open: usize,
    /// Its tickets queued and not yet popped.
    tickets: usize,
}

/// An open half (see [`OFFERS`]): a [`StackJob`] on its caller's stack, which its
/// caller removes, and takes back unless a ticket has started it, under the lock.
#[cfg(not(loom))]
struct Open {
    /// The pool it is offered to: its address, or 0 for the global pool.
    pool: usize,
    claim: std::sync::Arc<Claim<()>>,
    /// The job, and its type's `execute`.
    at: usize,
    execute: unsafe fn(usize),
    observed: bool,
}

#[cfg(not(loom))]
impl Offers {
    /// `pool`'s counts, made if it has none; then, when `change` leaves both zero,
    /// its entry removed. Returns what `change` returns.
    fn counts<R>(&mut self, pool: usize, change: impl FnOnce(&mut PoolOffers) -> R) -> R {
        let at = match self.pools.iter().position(|p| p.pool == pool) {
            Some(at) => at,
            None => {
                self.pools.push(PoolOffers {
                    pool,
                    open: 0,
                    tickets: 0,
                });
                self.pools.len() - 1
            }
        };
        let out = change(&mut self.pools[at]);
        if self.pools[at].open == 0 && self.pools[at].tickets == 0 {
            self.pools.swap_remove(at);
        }
        out
    }

    /// Opens a half; true if a ticket is to be queued for it.
    fn open(&mut self, open: Open) -> bool {
        let pool = open.pool;
        self.open.push(open);
        self.counts(pool, |counts| {
            counts.open += 1;
            let short = counts.tickets < counts.open;
            counts.tickets += usize::from(short);
            short
        })
    }

    /// Closes the half of `claim` if it is open still (no ticket started it).
    fn close(&mut self, pool: usize, claim: &std::sync::Arc<Claim<()>>) {
        let mine = self
            .open
            .iter()
            .rposition(|open| std::sync::Arc::ptr_eq(&open.claim, claim));
        if let Some(mine) = mine {
            self.open.remove(mine);
            self.counts(pool, |counts| counts.open -= 1);
        }
    }

    /// A ticket of `pool` popped: the oldest half open for it, taken out, if any.
    fn popped(&mut self, pool: usize) -> Option<Open> {
        let first = self.open.iter().position(|open| open.pool == pool);
        let taken = first.map(|at| self.open.remove(at));
        self.counts(pool, |counts| {
            counts.tickets -= 1;
            counts.open -= usize::from(taken.is_some());
        });
        taken
    }
}

/// A ticket popped by a worker of `pool` (see [`OFFERS`]): starts the oldest half
/// open for it, if any.
#[cfg(not(loom))]
fn ticket(pool: usize) {
    // Every half open is queued still: its caller closes it as it takes it back.
    let started = OFFERS
        .lock()
        .recover()
        .popped(pool)
        .filter(|open| open.claim.start());
    if let Some(open) = started {
        if open.observed {
            crate::engine::observe::note_break();
        }
        // SAFETY: `open.at` is its caller's job, of `execute`'s type, alive until the
        // caller returns: the caller found it started (`take_back` failed, under the
        // lock), so it waits for `finish` first.
        unsafe { (open.execute)(open.at) };
        open.claim.finish(());
    }
}

/// A join on a thread outside rayon's pools, in a run taken back on it (see
/// [`run_taken_back`]): `b` is offered to the run's pool, `a` runs here, then `b`
/// runs here too unless a worker has started it (then this thread waits for it, as
/// its front end says: see [`blocking`]). On a pool's thread, or outside a taken-back
/// run, it is rayon's join. An `observed` run notes the breaks as
/// [`join_noting`] does.
#[cfg(not(loom))]
pub(crate) fn join_outside<RA: Send, RB: Send>(
    observed: bool,
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    let (mut a, mut b) = (Some(a), Some(b));
    let (mut ra, mut rb) = (None, None);
    join_outside_dyn(observed, &mut || ra = a.take().map(|a| a()), &mut || {
        rb = b.take().map(|b| b())
    });
    match (ra, rb) {
        (Some(ra), Some(rb)) => (ra, rb),
        // Both ran, or a panic unwound through the join.
        _ => unreachable!("taskweave: both halves of a join ran"),
    }
}

/// [`join_outside`] through pointers, compiled once. On a new segment when less than
/// [`JOIN_ROOM`] of the stack is left, at every join: it is off the hot path, and a
/// tree's joins nest on the caller's thread, which may be small (a 24-deep comb
/// overflowed a 64 KiB thread's stack in a debug build).
#[cfg(not(loom))]
#[inline(never)]
fn join_outside_dyn(observed: bool, a: &mut (dyn FnMut() + Send), b: &mut (dyn FnMut() + Send)) {
    let target = match TAKEN_BACK_RUN.get() {
        Some(target) if !in_pool() => target,
        _ => {
            rayon::join(a, b);
            return;
        }
    };
    stacker::maybe_grow(JOIN_ROOM, STACK_SEGMENT, || offer(target, observed, a, b));
}

/// [`join_outside`]'s join in a run taken back (see [`run_taken_back`]), `b` offered
/// to `target`.
#[cfg(not(loom))]
fn offer(
    target: Target,
    observed: bool,
    a: &mut (dyn FnMut() + Send),
    b: &mut (dyn FnMut() + Send),
) {
    let pool = match target {
        Target::Global => None,
        // SAFETY: a `Pool` target is the pool that `run_taken_back`'s caller borrows
        // for as long as the run, and so this join, lasts.
        Target::Pool(pool) => Some(unsafe { &*pool }),
    };
    let job = StackJob::new(|_: bool| b());
    let claim = std::sync::Arc::new(Claim::<()>::new());
    let key = pool.map_or(0, |pool| pool as *const rayon::ThreadPool as usize);
    let queue_ticket = OFFERS.lock().recover().open(Open {
        pool: key,
        claim: claim.clone(),
        at: &job as *const _ as usize,
        execute: job.executor(),
        observed,
    });
    if queue_ticket {
        match pool {
            Some(pool) => pool.spawn(move || ticket(key)),
            None => rayon::spawn(move || ticket(key)),
        }
    }
    let ran_a = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut *a));
    let taken_back = {
        let mut offers = OFFERS.lock().recover();
        offers.close(key, &claim);
        claim.take_back()
    };
    if taken_back {
        let b = job.f.into_inner().expect("an offer taken back has not run");
        match ran_a {
            Ok(()) => b(true),
            // `b` is dropped unrun, as the sequential runs do after a panic.
            Err(payload) => std::panic::resume_unwind(payload),
        }
        return;
    }
    // Started by a worker: it ends, and says so.
    let _ = claim.wait(|| false);
    if observed {
        crate::engine::observe::note_break();
    }
    if let Err(payload) = ran_a {
        std::panic::resume_unwind(payload);
    }
    job.into_result()
}

/// `f`: the models take nothing back.
#[cfg(loom)]
pub(crate) fn run_taken_back<R>(_pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> R) -> R {
    f()
}

/// [`join`]: the models take nothing back.
#[cfg(loom)]
pub(crate) fn join_outside<RA: Send, RB: Send>(
    _observed: bool,
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB) {
    // (Its callers mark `b` as a part of their run themselves.)
    join(None, a, b)
}

#[cfg(loom)]
pub(crate) fn enter_pool<F: FnOnce(bool) -> R, R>(run: F) -> R {
    run(false)
}

#[cfg(loom)]
pub(crate) fn enter_pool_of<F: FnOnce(bool) -> R, R>(_pool: &rayon::ThreadPool, run: F) -> R {
    run(false)
}

/// A front end's way for its threads to sleep in the engine's waits (see
/// [`blocking`]): it runs the wait it is given.
pub(crate) type BlockingHook = fn(&mut dyn FnMut());

#[cfg(not(loom))]
std::thread_local! {
    /// How the calling thread sleeps in the engine's waits for a run (see
    /// [`blocking`]), when its front end says: a futures client's worker, for its
    /// life, hands its place in the client's pool over meanwhile (`futures::pool`).
    static BLOCKING: core::cell::Cell<Option<BlockingHook>> = const { core::cell::Cell::new(None) };
}

/// Sets how the calling thread sleeps in the engine's waits (see [`blocking`]), for as
/// long as it runs or until set again; `None`: as any thread, in place.
pub(crate) fn set_blocking(hook: Option<BlockingHook>) {
    // Loom's threads share one OS thread's thread-locals: no model has a futures worker.
    #[cfg(not(loom))]
    let _ = BLOCKING.try_with(|h| h.set(hook));
    #[cfg(loom)]
    let _ = hook;
}

/// Runs `wait`, which blocks the calling thread until a run on rayon's pool ends,
/// inside the hook its front end set (see [`set_blocking`]), if any. A futures task
/// that computes a graph would otherwise keep its place in its client's pool while it
/// sleeps: with every place so held, futures that the graph's tasks submit to that
/// client and wait for would never start.
pub(crate) fn blocking<R>(wait: impl FnOnce() -> R) -> R {
    #[cfg(not(loom))]
    if let Some(hook) = BLOCKING.try_with(core::cell::Cell::get).ok().flatten() {
        let (mut wait, mut out) = (Some(wait), None);
        hook(&mut || out = wait.take().map(|wait| wait()));
        return out.expect("the hook runs the wait");
    }
    wait()
}

/// How often a caller whose job has not started looks whether every worker waits for
/// a future (see [`enter_pool`]): the delay such a job gets at most before its caller
/// runs it itself.
pub(crate) const TAKE_BACK_CHECK: std::time::Duration = std::time::Duration::from_millis(1);

/// A closure on its caller's stack and the place for its result (see [`enter_pool`]).
#[cfg(not(loom))]
struct StackJob<F, R> {
    f: core::cell::UnsafeCell<Option<F>>,
    result: core::cell::UnsafeCell<Option<std::thread::Result<R>>>,
}

#[cfg(not(loom))]
impl<F: FnOnce(bool) -> R + Send, R: Send> StackJob<F, R> {
    fn new(f: F) -> Self {
        StackJob {
            f: core::cell::UnsafeCell::new(Some(f)),
            result: core::cell::UnsafeCell::new(None),
        }
    }

    /// Queues this job on `pool` (or the global pool) as a spawn that runs it if its
    /// claim's `start` wins; the claim says when it has ended. The caller keeps the job
    /// alive until then, or until it took the job back. (A whole run's job: the joins
    /// of a run taken back offer their halves through [`OFFERS`] instead.)
    fn queue(&self, pool: Option<&rayon::ThreadPool>) -> std::sync::Arc<Claim<()>> {
        let claim = std::sync::Arc::new(Claim::<()>::new());
        let (queued, at) = (claim.clone(), self as *const Self as usize);
        let execute = Self::execute as unsafe fn(usize);
        let queued = move || {
            if stranded_help() {
                // Its caller runs it (see `run_stranded_job`).
                queued.decline();
                return;
            }
            if queued.start() {
                // SAFETY: `at` is the caller's job, alive until the caller returns, and
                // the caller returns only after `finish` (`wait` gave a word): it waits
                // without a deadline once the job started, and a job taken back
                // (`start` false) never reaches this. `execute` is the job's own type's.
                unsafe { execute(at) };
                queued.finish(());
            }
        };
        match pool {
            Some(pool) => pool.spawn(queued),
            None => rayon::spawn(queued),
        }
        claim
    }

    /// The job's `execute`, to run it through its address (see [`OFFERS`]).
    fn executor(&self) -> unsafe fn(usize) {
        Self::execute
    }

    /// The result of the job, which ran (its claim said so): its value, or its panic
    /// resumed.
    fn into_result(self) -> R {
        match self.result.into_inner() {
            Some(Ok(value)) => value,
            Some(Err(payload)) => std::panic::resume_unwind(payload),
            None => unreachable!("taskweave: a finished job left no result"),
        }
    }

    /// Runs the job at address `at` on the pool, keeping its result or its panic.
    ///
    /// # Safety
    /// `at` is a live `StackJob<F, R>` that no other thread touches until this returns,
    /// and this is called once.
    unsafe fn execute(at: usize) {
        // SAFETY: the caller's contract: the job is alive and this thread's alone.
        let job = unsafe { &*(at as *const Self) };
        // SAFETY: as above; nothing else reads the cells meanwhile.
        let f = unsafe { (*job.f.get()).take() }.expect("a stack job runs once");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(false)));
        // SAFETY: as above.
        unsafe { *job.result.get() = Some(result) };
    }
}

/// A job queued from outside rayon's pool, as its caller waits for it: who runs it
/// (a worker, or its caller, who takes it back while every worker waits for a future),
/// and the first word of its end (`T`), which the caller waits for. Serves
/// [`enter_pool`]'s jobs and a dynamic graph's detached run (`dynamic::plan`). (The
/// engine's primitives: loom's under `cfg(loom)`, where a model checks the protocol.)
pub(crate) struct Claim<T> {
    /// [`QUEUED`] until a worker starts the job ([`STARTED`]) or its caller takes it
    /// back ([`TAKEN_BACK`]); the first to change it decides.
    runner: AtomicU8,
    /// A worker declined to run it (see [`decline`](Self::decline)): its caller takes
    /// it back.
    declined: AtomicBool,
    /// The first word of the job's end.
    ended: Mutex<Option<T>>,
    /// Set once `ended` holds it: what a caller polls before it sleeps.
    said: AtomicBool,
    told: Condvar,
}

/// A queued job's [`Claim`], before anyone took it.
const QUEUED: u8 = 0;
/// A worker started it.
const STARTED: u8 = 1;
/// Its caller took it back, to run it on its own thread.
const TAKEN_BACK: u8 = 2;

impl<T> Claim<T> {
    pub(crate) fn new() -> Self {
        Claim {
            runner: AtomicU8::new(QUEUED),
            declined: AtomicBool::new(false),
            ended: Mutex::new(None),
            said: AtomicBool::new(false),
            told: Condvar::new(),
        }
    }

    /// The worker's claim: true if it runs the job.
    pub(crate) fn start(&self) -> bool {
        self.runner
            .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The job's word on its end (an early failure, or the end itself): the first one
    /// is kept, and wakes the caller.
    pub(crate) fn finish(&self, word: T) {
        let mut ended = self.ended.lock().recover();
        if ended.is_none() {
            *ended = Some(word);
            self.said.store(true, Ordering::Release);
            self.told.notify_all();
        }
    }

    /// A worker's refusal of the job, which it drops unstarted (see
    /// `run_stranded_job`): the caller, woken, takes it back and runs it itself.
    #[cfg(not(loom))]
    fn decline(&self) {
        let ended = self.ended.lock().recover();
        self.declined.store(true, Ordering::Release);
        drop(ended);
        self.told.notify_all();
    }

    /// Whether a worker declined the job (see [`decline`](Self::decline)).
    fn declined(&self) -> bool {
        self.declined.load(Ordering::Acquire)
    }

    /// The caller's claim, made at once: true if it takes the job back (no worker has
    /// started it, and none will).
    pub(crate) fn take_back(&self) -> bool {
        self.runner
            .compare_exchange(QUEUED, TAKEN_BACK, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Sleeps until the first word is there, or for `at_most`.
    #[cfg(not(loom))]
    pub(crate) fn sleep_until_said(&self, at_most: std::time::Duration) {
        let ended = self.ended.lock().recover();
        if ended.is_none() {
            drop(self.told.wait_timeout(ended, at_most).recover());
        }
    }

    /// Whether the first word is there (read without the lock, by a caller polling
    /// before it sleeps).
    pub(crate) fn said(&self) -> bool {
        self.said.load(Ordering::Acquire)
    }

    /// The caller waits for the first word; `None` when it took the job back, which
    /// it does when `take_back()` says so while the job has not started (looked at
    /// every [`TAKE_BACK_CHECK`]). Its way out: a started job always says its word
    /// (its runner must see to that, unwinding included), and one that does not start
    /// is taken back. A caller that has to sleep does so as its front end says (see
    /// [`blocking`]): a futures task's run of a graph whose tasks wait for futures of
    /// its own client hands its thread's place over, so that those still run.
    pub(crate) fn wait(&self, take_back: impl Fn() -> bool) -> Option<T> {
        if let Some(word) = self.ended.lock().recover().take() {
            return Some(word);
        }
        blocking(|| self.sleep(take_back))
    }

    /// [`wait`](Self::wait)'s sleep.
    fn sleep(&self, take_back: impl Fn() -> bool) -> Option<T> {
        let mut ended = self.ended.lock().recover();
        loop {
            if let Some(word) = ended.take() {
                return Some(word);
            }
            if self.runner.load(Ordering::Acquire) != QUEUED {
                ended = self.told.wait(ended).recover();
                continue;
            }
            if (self.declined() || take_back()) && self.take_back() {
                return None;
            }
            ended = self.told.wait_timeout(ended, TAKE_BACK_CHECK).recover().0;
        }
    }
}

/// A [`Claim`] for the loom models (`graph-runtime/tests/loom.rs`): a worker's start
/// and finish racing with its caller's wait and take-back.
#[cfg(loom)]
pub(crate) mod loom_model {
    /// One queued job's claim.
    pub struct JobClaim(super::Claim<()>);

    // Opaque, as the crate's other handles are (missing_debug_implementations is denied).
    impl std::fmt::Debug for JobClaim {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("JobClaim").finish_non_exhaustive()
        }
    }

    impl Default for JobClaim {
        fn default() -> Self {
            JobClaim(super::Claim::new())
        }
    }

    impl JobClaim {
        /// A queued job's claim.
        pub fn new() -> Self {
            JobClaim::default()
        }

        /// The worker's start: true if it runs the job.
        pub fn start(&self) -> bool {
            self.0.start()
        }

        /// The worker ran the job.
        pub fn finish(&self) {
            self.0.finish(())
        }

        /// The caller's wait, taking the job back if `take_back` and it has not
        /// started: true if the job ran.
        pub fn wait(&self, take_back: bool) -> bool {
            self.0.wait(|| take_back).is_some()
        }
    }
}

/// A node's pending counter, as the dispatcher uses it: `core`'s `AtomicU32` (what
/// `dispatch` takes), or loom's in the models.
pub(crate) trait Counter: Sync {
    /// `AtomicU32::load`.
    fn load(&self, order: Ordering) -> u32;
    /// `AtomicU32::store`.
    fn store(&self, value: u32, order: Ordering);
    /// `AtomicU32::fetch_sub`.
    fn fetch_sub(&self, value: u32, order: Ordering) -> u32;
}

impl Counter for core::sync::atomic::AtomicU32 {
    #[inline(always)]
    fn load(&self, order: Ordering) -> u32 {
        core::sync::atomic::AtomicU32::load(self, order)
    }
    #[inline(always)]
    fn store(&self, value: u32, order: Ordering) {
        core::sync::atomic::AtomicU32::store(self, value, order);
    }
    #[inline(always)]
    fn fetch_sub(&self, value: u32, order: Ordering) -> u32 {
        core::sync::atomic::AtomicU32::fetch_sub(self, value, order)
    }
}

#[cfg(loom)]
impl Counter for loom::sync::atomic::AtomicU32 {
    fn load(&self, order: Ordering) -> u32 {
        loom::sync::atomic::AtomicU32::load(self, order)
    }
    fn store(&self, value: u32, order: Ordering) {
        loom::sync::atomic::AtomicU32::store(self, value, order);
    }
    fn fetch_sub(&self, value: u32, order: Ordering) -> u32 {
        loom::sync::atomic::AtomicU32::fetch_sub(self, value, order)
    }
}

/// How long a [`yield_gave_away`] may take before it counts as having given the core
/// to another thread: a `sched_yield` that returns at once takes about a µs; one
/// that let another thread run takes that thread's time slice, a ms or more.
const YIELD_GAVE_AWAY: std::time::Duration = std::time::Duration::from_micros(50);

/// Yields the core (`std::thread::yield_now`); true if another thread had it for a
/// while meanwhile: the machine is busy, and polling on would wait one time slice per
/// yield. (A waiter that yielded 64 times before sleeping, beside two busy processes
/// on two cores, took about 12 ms: 600 tasks each waiting for a future, started one
/// after another as each blocked, took 8 s instead of 0.35 s in a debug build.)
pub(crate) fn yield_gave_away() -> bool {
    let before = Instant::now();
    std::thread::yield_now();
    before.elapsed() > YIELD_GAVE_AWAY
}

/// Polls `done` for up to `rounds` rounds before a waiter sleeps (a round is a spin-loop
/// hint; every 64th yields the core instead, to a thread that needs it): a short wait
/// costs less than sleeping on a condition variable and being woken, which takes a
/// thread tens of µs on a virtual machine. The polling stops early, to sleep, once a
/// yield gave the core away (see [`yield_gave_away`]): on a busy machine each yield
/// would wait a time slice. The deadline (`None`: none) is looked at every 64 rounds,
/// first of all, so a zero timeout only looks. `Some(true)` when `done`, `Some(false)`
/// when the deadline passed, `None` to sleep.
pub(crate) fn spin_rounds(
    done: &dyn Fn() -> bool,
    deadline: Option<Instant>,
    rounds: u32,
) -> Option<bool> {
    spin_rounds_yielding(done, deadline, rounds, yield_gave_away).ended()
}

/// How a [`spin_rounds_yielding`] ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Spun {
    /// `done()` (`true`), or the deadline passed (`false`).
    Ended(bool),
    /// Every round polled, none done: sleep, or poll on.
    Polled,
    /// A yield gave the core away: sleep, without polling on (each further yield
    /// would wait a time slice).
    GaveAway,
}

impl Spun {
    /// [`spin_rounds`]' answer: `Some` when ended, `None` to sleep.
    pub(crate) fn ended(self) -> Option<bool> {
        match self {
            Spun::Ended(ended) => Some(ended),
            Spun::Polled | Spun::GaveAway => None,
        }
    }
}

/// [`spin_rounds`], yielding with `gave_away` (a test's stand-in for
/// [`yield_gave_away`], whose answer depends on what else the machine runs), and
/// saying why it stopped.
pub(crate) fn spin_rounds_yielding(
    done: &dyn Fn() -> bool,
    deadline: Option<Instant>,
    rounds: u32,
    gave_away: fn() -> bool,
) -> Spun {
    for round in 0..rounds {
        if done() {
            return Spun::Ended(true);
        }
        if round % 64 == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            return Spun::Ended(false);
        }
        if round % 64 == 63 {
            if gave_away() {
                // Looked at once more: it may have ended while another thread ran.
                return match done() {
                    true => Spun::Ended(true),
                    false => Spun::GaveAway,
                };
            }
        } else {
            std::hint::spin_loop();
        }
    }
    Spun::Polled
}

/// Sleeps on `condvar` until `ready` holds or `deadline` passes (`None`: no deadline);
/// returns the guard and whether `ready` holds. Every wait of the futures goes through
/// it (the progress bars' thread waits on the standard library's types even under
/// `cfg(loom)`, for its `static` screen lock, and so has its own loop).
pub(crate) fn sleep_until<'a, T>(
    condvar: &Condvar,
    mut guard: MutexGuard<'a, T>,
    mut ready: impl FnMut(&mut T) -> bool,
    deadline: Option<Instant>,
) -> (MutexGuard<'a, T>, bool) {
    loop {
        if ready(&mut guard) {
            return (guard, true);
        }
        match deadline {
            None => guard = condvar.wait(guard).recover(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return (guard, false);
                }
                guard = condvar.wait_timeout(guard, deadline - now).recover().0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph's run queued on the pool and popped by a worker that runs queued work
    /// from a wait for a future ([`run_stranded_job`]) declines: it never starts, and
    /// its caller, woken, takes it back and runs it, though it would take it back by
    /// itself only once every worker waits (`|| false` here): the worker has dropped
    /// the job, and the caller would otherwise wait for ever.
    #[test]
    #[cfg(not(loom))]
    fn a_run_popped_from_a_wait_for_a_future_is_taken_back_by_its_caller() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let (ran, ran_one) = std::sync::mpsc::channel::<bool>();
        // The only worker waits at the gate, so that the run below stays queued, then
        // takes up queued work as a worker waiting for a future does.
        pool.spawn(move || {
            gate.recv().unwrap();
            ran.send(run_stranded_job()).unwrap();
        });
        let job = StackJob::new(|alone: bool| if alone { 8u32 } else { 7 });
        let claim = job.queue(Some(&pool));
        open.send(()).unwrap();
        assert!(ran_one.recv().unwrap(), "the worker popped the queued run");
        let (said, waited) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || said.send(claim.wait(|| false)).unwrap());
        let word = waited
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the caller is told, not left waiting");
        waiter.join().unwrap();
        assert!(word.is_none(), "taken back, never started");
        let run = job.f.into_inner().expect("a job taken back has not run");
        assert_eq!(run(true), 8);
    }

    /// A waiter polls for its full count while its yields come back at once, and
    /// stops at the first yield that gave the core away (a busy machine: each further
    /// yield would wait a time slice), looking once more before it sleeps.
    #[test]
    fn polling_stops_at_a_yield_that_gave_the_core_away() {
        use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
        static LOOKS: AtomicU32 = AtomicU32::new(0);
        let never = || {
            LOOKS.fetch_add(1, Relaxed);
            false
        };
        assert_eq!(
            spin_rounds_yielding(&never, None, 4096, || false),
            Spun::Polled
        );
        assert_eq!(LOOKS.swap(0, Relaxed), 4096, "a quiet machine: every round");
        assert_eq!(
            spin_rounds_yielding(&never, None, 4096, || true),
            Spun::GaveAway
        );
        assert_eq!(
            LOOKS.swap(0, Relaxed),
            65,
            "a busy one: to the first yield, and once more"
        );
        // Ended while another thread had the core: said so, not slept on.
        let later = || LOOKS.fetch_add(1, Relaxed) == 64;
        assert_eq!(
            spin_rounds_yielding(&later, None, 4096, || true),
            Spun::Ended(true)
        );
        LOOKS.store(0, Relaxed);
    }

    /// A value read into its room from its owner's place arrives whole; one with drop
    /// glue is dropped once, by the reader, when it panics too.
    #[test]
    fn with_room_reading_reads_the_value_from_where_it_is() {
        let large = [3u8; 16 << 10];
        // SAFETY: `[u8; 16 KiB]` has no drop glue, and `large` is not used after.
        let sum = unsafe {
            with_room_reading::<[u8; 16 << 10], _, _>(&large, |v| {
                v.iter().map(|&b| u64::from(b)).sum::<u64>()
            })
        };
        assert_eq!(sum.ok(), Some(3 * (16 << 10)));

        static DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        struct Counted([u8; 16 << 10]);
        impl Drop for Counted {
            fn drop(&mut self) {
                DROPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let counted = Counted([1; 16 << 10]);
        // SAFETY: `counted` is forgotten right after, and not used otherwise.
        let out = unsafe { with_room_reading::<Counted, _, _>(&counted, |c| usize::from(c.0[0])) };
        core::mem::forget(counted);
        assert_eq!(
            (out.ok(), DROPS.load(std::sync::atomic::Ordering::SeqCst)),
            (Some(1), 1)
        );
        let counted = Counted([1; 16 << 10]);
        // SAFETY: as above.
        let out = unsafe {
            with_room_reading::<Counted, _, _>(&counted, |_c| -> usize { panic!("read") })
        };
        core::mem::forget(counted);
        assert!(out.is_err());
        assert_eq!(DROPS.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
