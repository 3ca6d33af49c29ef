//! Typed result slots and the argument handles tasks read them through.
//!
//! A graph's state is one slot per value, living on the stack of `compute`. The
//! producing task `put`s its result; each consumer takes a handle (`owned` for the
//! only consumer, `shared` for one of several) and reads it with [`give`] (by value)
//! or [`lend`] (by reference). Dropping the last handle drops the value, so an
//! intermediate is freed as soon as its last consumer has run.
//!
//! Every transition is checked with an atomic state, so the safe API stays sound
//! even when it is driven by hand instead of by the generated code: a misuse
//! panics ("filled twice", "not computed yet") instead of reading garbage.

use core::marker::PhantomData;
use core::mem::MaybeUninit;

use crate::engine::lock::Recover;
use crate::engine::sync::{self, AtomicU32, AtomicU8, Mutex, Ordering, UnsafeCell};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const FULL: u8 = 2;
const CLAIMED: u8 = 3;

/// Reads an argument by value: moves it out when this is its last use, clones it
/// otherwise.
pub trait Give {
    /// The type of the value.
    type Target;
    /// Takes the value. Panics if this handle already gave it.
    fn give(&mut self) -> Self::Target;

    /// [`give`](Self::give) through a [`MadeBy`] handle on a value node `maker` made:
    /// a value this drops (the last use of a shared value, released after the clone
    /// it gives) is dropped as that handle's drop would drop it, its `Drop`'s panic
    /// kept for the run rather than unwinding through the value given.
    #[doc(hidden)]
    #[inline(always)]
    fn give_made_by(&mut self, maker: u32) -> Self::Target {
        let _ = maker;
        self.give()
    }
}

/// Reads an argument by reference.
pub trait Lend {
    /// The type of the value.
    type Target: ?Sized;
    /// Borrows the value. Panics if this handle already gave it away.
    fn lend(&self) -> &Self::Target;
}

/// Takes an argument by value (for a by-value parameter, an operator, a method receiver).
#[inline(always)]
pub fn give<S: Give + ?Sized>(source: &mut S) -> S::Target {
    source.give()
}

/// Borrows an argument (for a `&T` parameter or a comparison).
#[inline(always)]
pub fn lend<S: Lend + ?Sized>(source: &mut S) -> &S::Target {
    source.lend()
}

/// Takes an argument by value for one attempt of a task with retries
/// (`#[delayed(retries = n)]`): a clone for an attempt that may be followed by another
/// (`last` false), the value itself for the last.
#[inline(always)]
pub fn give_again<S>(source: &mut S, last: bool) -> <S as Give>::Target
where
    S: Give + Lend<Target = <S as Give>::Target> + ?Sized,
    <S as Give>::Target: Again,
{
    if last {
        source.give()
    } else {
        Again::again(source.lend())
    }
}

/// A value a retried task can be given again: `Clone`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Clone`, so a task with retries cannot be given it again",
    label = "a by-value argument of a task with `retries`",
    note = "each attempt but the last gets a clone of a by-value argument: take it by reference (`&{Self}`), make it `Clone`, or drop `retries`"
)]
pub trait Again {
    /// The value for one more attempt.
    fn again(&self) -> Self;
}

#[diagnostic::do_not_recommend]
impl<T: Clone> Again for T {
    #[inline(always)]
    fn again(&self) -> T {
        self.clone()
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn misuse(what: &str) -> ! {
    panic!("taskweave: result slot misused: {what}")
}

/// Drops the value in `cell`. While the thread is already unwinding (a task panicked
/// with the value's handle alive, or slots are dropped by a panic), a panic in the
/// value's `Drop` would abort the process: it is caught and discarded instead (the
/// panic hook has printed it) and the first panic goes on. Otherwise it propagates: out
/// of the task that dropped the value (and the graph reports that task), or out of the
/// slot's drop. Dropped through a [`MadeBy`] handle, it is caught either way and kept
/// for the dispatcher, with the node that made the value.
///
/// # Safety
/// `cell` holds an initialised value that the caller owns and that nothing borrows;
/// afterwards the caller treats the cell as uninitialised (the value is dropped once,
/// even when its `Drop` panics).
#[inline(always)]
unsafe fn drop_value<T>(cell: &UnsafeCell<MaybeUninit<T>>) {
    if !core::mem::needs_drop::<T>() {
        return;
    }
    let maker = take_made_by();
    if maker.is_some() || std::thread::panicking() {
        // SAFETY: the caller's contract, passed on.
        unsafe { drop_caught(cell, maker) };
    } else {
        // SAFETY: the caller owns the initialised, unborrowed value and never reads it
        // again.
        cell.with_mut(|value| unsafe { (*value).assume_init_drop() });
    }
}

/// [`drop_value`] during a panic, or through a [`MadeBy`] handle on a value node
/// `maker` made: a panic of the value's `Drop` is caught, and kept for the
/// dispatcher (`maker`) or discarded.
///
/// # Safety
/// As for [`drop_value`].
#[cold]
#[inline(never)]
unsafe fn drop_caught<T>(cell: &UnsafeCell<MaybeUninit<T>>, maker: Option<u32>) {
    drop_for(maker, || {
        // SAFETY: the caller owns the initialised, unborrowed value and never reads it
        // again; a panic in its `Drop` leaves it dropped (its fields are dropped while
        // that panic unwinds), so it is never dropped twice.
        cell.with_mut(|value| unsafe { (*value).assume_init_drop() })
    });
}

/// Runs `drop`, a value's drop, catching a panic of it: kept for the run when a
/// [`MadeBy`] handle on a value node `maker` made drops it, discarded otherwise (a
/// panic unwinds already: the hook has printed it).
#[cold]
#[inline(never)]
fn drop_for(maker: Option<u32>, drop: impl FnOnce()) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(drop)) {
        match maker {
            Some(maker) => keep_value_drop(maker, payload),
            None => crate::engine::error::drop_payload(payload),
        }
    }
}

/// The slot of a value with exactly one consumer.
pub struct Slot<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: through `&Slot` the value is only moved in (`put`) or out (`take`), or claimed
// by one `Owned` handle (`owned`); the `state` transitions are atomic and exclusive, so
// no two threads ever reach the value at once, and sending `T` between threads is all
// that is required. Borrowing it (`Owned::lend`) is the handle's business: `Owned`
// carries `T`'s own `Sync`, so `&T` reaches other threads only when `T: Sync`.
unsafe impl<T: Send> Sync for Slot<T> {}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slot<T> {
    /// The name of its value's type (a `graph!`'s description for a cluster).
    #[doc(hidden)]
    pub fn value_type_name(&self) -> &'static str {
        core::any::type_name::<T>()
    }

    /// The size of its value's type (the stack room a `graph!` node makes, see
    /// `sync::with_room`).
    #[doc(hidden)]
    #[inline(always)]
    pub const fn value_size(&self) -> usize {
        core::mem::size_of::<T>()
    }

    /// An empty slot. The empty cell is a constant: a debug build made it in
    /// temporaries of the value's size (a `SharedSlot` of a 256 KiB value took 1 MiB
    /// of stack to make).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Slot {
            state: AtomicU8::new(EMPTY),
            value: const { UnsafeCell::new(MaybeUninit::uninit()) },
        }
    }

    /// An empty slot (not `const` under loom, whose primitives register with the model).
    #[cfg(loom)]
    pub fn new() -> Self {
        Slot {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// An empty slot of the type `of` names: what `graph!` declares for a task's
    /// result, typed from the task's signature (its companion's `__output`) so that
    /// rustc knows the slot's type where it is declared, rather than inferring it from
    /// the node's code (thousands of slots left to inference make type checking
    /// quadratic in the graph's size).
    #[doc(hidden)]
    #[inline(always)]
    pub fn of(_of: core::marker::PhantomData<T>) -> Self {
        Self::new()
    }

    /// Stores the task's result. Panics if the slot is already filled.
    #[inline]
    pub fn put(&self, value: T) {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            misuse("filled twice");
        }
        // SAFETY: the successful EMPTY -> WRITING exchange gives this thread exclusive
        // access to the cell until the FULL store below publishes it; EMPTY means the
        // cell holds no value, so nothing is overwritten without being dropped.
        self.value.with_mut(|cell| unsafe { (*cell).write(value) });
        self.state.store(FULL, Ordering::Release);
    }

    /// Claims the value for its one consumer. Panics if it was not computed or is claimed.
    #[inline]
    pub fn owned(&self) -> Owned<'_, T> {
        if self
            .state
            .compare_exchange(FULL, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            misuse("read before it was computed, or read twice");
        }
        Owned {
            slot: self,
            live: true,
            _value: PhantomData,
        }
    }

    /// Whether the slot holds a value nobody has claimed.
    pub fn is_full(&self) -> bool {
        self.state.load(Ordering::Acquire) == FULL
    }

    /// Takes the value out if it is there (a graph's result read by hand, as the loom
    /// models do).
    pub fn take(&self) -> Option<T> {
        if self
            .state
            .compare_exchange(FULL, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        // SAFETY: FULL means initialised (the Acquire exchange synchronises with the
        // writer's Release store), and the FULL -> CLAIMED exchange makes this thread its
        // only owner; the EMPTY store below marks the cell uninitialised again, so the
        // value is read out once.
        let value = self
            .value
            .with(|cell| unsafe { (*cell).assume_init_read() });
        self.state.store(EMPTY, Ordering::Release);
        Some(value)
    }
}

/// Where a `?` that met an error leaves the value the graph returns early with. When
/// several `?` fail, the one earliest in program order (the lowest node index) is kept,
/// as sequential code would return it; the dispatcher runs every node before it.
pub struct EarlyExit<T> {
    exit: Mutex<Option<(u32, T)>>,
}

impl<T> EarlyExit<T> {
    /// An empty one.
    #[inline(always)]
    pub fn new() -> Self {
        EarlyExit {
            exit: Mutex::new(None),
        }
    }

    /// The size of the value it keeps: a node whose `?` may put its graph's early exit
    /// here holds that value in its frames, and runs with stack room for it (see
    /// `with_room`).
    #[inline(always)]
    pub const fn value_size(&self) -> usize {
        core::mem::size_of::<T>()
    }

    /// Keeps `value`, the early exit of `node`, unless a node before it exited early
    /// too; the value not kept is dropped, outside the lock, and a panic in its `Drop`
    /// discarded (the panic hook prints it): sequential code would never have made it,
    /// and its drop runs inside whichever node's code came second, which it must not
    /// fail (the earlier `?`'s own exit was lost to a later error's `Drop`).
    #[cold]
    pub fn put(&self, node: u32, value: T) {
        let mut exit = self.exit.lock().recover();
        let not_kept = if exit.as_ref().is_none_or(|(first, _)| node < *first) {
            exit.replace((node, value)).map(|(_, later)| later)
        } else {
            Some(value)
        };
        drop(exit);
        if let Some(not_kept) = not_kept {
            crate::engine::error::discard_panic(|| drop(not_kept));
        }
    }

    /// Takes the kept value out, if any, once the run is over (`&mut`: no lock on a
    /// run that ended without an early exit, the common case).
    pub fn take(&mut self) -> Option<T> {
        self.take_at().map(|(_, value)| value)
    }

    /// [`take`](Self::take), with the node whose `?` made the exit.
    pub fn take_at(&mut self) -> Option<(u32, T)> {
        self.exit.get_mut().recover().take()
    }
}

impl<T> Default for EarlyExit<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        if sync::exclusive_u8(&mut self.state) == FULL {
            // SAFETY: FULL means initialised and unclaimed (no handle owns it), and
            // `&mut self` rules out any other access; the slot is never used again.
            unsafe { drop_value(&self.value) };
        }
    }
}

/// A node's slot whose value a run may leave unread: a `?` that returned early before
/// the value's readers ran (see [`early_exit`](crate::__private::early_exit)).
pub trait Unread {
    /// Drops the value if it is there and no reader took it; a panic of its `Drop`
    /// propagates, the slot left empty (the value is never dropped twice).
    fn drop_unread(&mut self);
}

impl<T> Unread for Slot<T> {
    fn drop_unread(&mut self) {
        if sync::exclusive_u8(&mut self.state) == FULL {
            // Emptied before the value is dropped: a panic there leaves nothing for the
            // slot's own drop.
            self.state.store(EMPTY, Ordering::Relaxed);
            // SAFETY: FULL meant initialised and unclaimed (no handle owns it), `&mut
            // self` rules out any other access, and the slot now says EMPTY: the value
            // is dropped once, in place (a large value is not copied out first).
            self.value
                .with_mut(|value| unsafe { (*value).assume_init_drop() });
        }
    }
}

/// The one consumer's handle on a [`Slot`]; dropping it unused drops the value.
///
/// `Send` when `T: Send`, `Sync` only when `T` is `Send` and `Sync` as well: the handle
/// owns the value (it moves it out, drops it, and lends `&T` to whoever holds
/// `&Owned`), so it must not be shared where `T` could not be.
pub struct Owned<'a, T> {
    slot: &'a Slot<T>,
    live: bool,
    /// Carries `T`'s own auto traits: `&'a Slot<T>` alone is `Sync` for any `T: Send`
    /// (the slot hands the value to one owner), which would let `&Owned` lend a
    /// `!Sync` value to several threads at once.
    _value: PhantomData<T>,
}

impl<T> Owned<'_, T> {
    fn release(&mut self) {
        self.live = false;
        self.slot.state.store(EMPTY, Ordering::Release);
    }
}

impl<T> Give for Owned<'_, T> {
    type Target = T;
    #[inline]
    fn give(&mut self) -> T {
        if !self.live {
            misuse("given twice");
        }
        // SAFETY: a live handle is the one owner of the initialised value (its FULL ->
        // CLAIMED exchange in `owned`); `release` clears `live` and empties the slot, so
        // the value is read out once and never dropped here again.
        let value = self
            .slot
            .value
            .with(|cell| unsafe { (*cell).assume_init_read() });
        self.release();
        value
    }
}

impl<T> Lend for Owned<'_, T> {
    type Target = T;
    #[inline]
    fn lend(&self) -> &T {
        if !self.live {
            misuse("lent after it was given");
        }
        // SAFETY: a live handle owns the initialised value until it is given or the
        // handle dropped; both need the handle by `&mut` or by value, so neither can
        // happen while the returned borrow (tied to `&self`) lives.
        self.slot
            .value
            .with(|cell| unsafe { (*cell).assume_init_ref() })
    }
}

impl<T> Drop for Owned<'_, T> {
    fn drop(&mut self) {
        if self.live {
            self.live = false;
            // SAFETY: the live handle owns the initialised value, and nothing borrows it
            // (borrows from `lend` end before the handle is dropped); `live` is already
            // false and the slot stays CLAIMED until the EMPTY store, so even a panic in
            // the value's `Drop` cannot lead to a second drop.
            unsafe { drop_value(&self.slot.value) };
            self.slot.state.store(EMPTY, Ordering::Release);
        }
    }
}

/// The slot of a value with several consumers: lent to `&T` parameters, cloned for
/// by-value ones, moved into the last.
pub struct SharedSlot<T> {
    state: AtomicU8,
    /// Handles not yet handed out.
    unclaimed: AtomicU32,
    /// Uses that have not released the value yet; the one that takes it to 0 drops it.
    live: AtomicU32,
    uses: u32,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: consumers on different threads borrow the value at the same time (needs
// `Sync`: every constructor requires `T: ReadAtOnce`, whose one impl is for `T: Sync`,
// so no `SharedSlot<T>` exists for a `T` that is not; the bound is on the constructors
// rather than here so that a graph sharing a value that is not `Sync` gets the one
// error of `ReadAtOnce`, on the node, not a second one on the whole graph) and the last
// one moves or drops it on its own thread (needs `Send`); the cell is written once,
// before FULL publishes it, and moved out or dropped only by the use that takes `live`
// to 0, after every other use has released it.
unsafe impl<T: Send> Sync for SharedSlot<T> {}

/// A value several tasks read: they may read it at the same time, on different
/// threads, so it must be `Sync`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is read by several tasks, which may read it at the same time on different threads, so it must be `Sync`",
    label = "this value is read by more than one task",
    note = "use `Mutex`, `RwLock` or atomics rather than `Cell` or `RefCell`, or read the value in one task only"
)]
pub trait ReadAtOnce: Sync {}
// Not recommended in errors: a missing `Sync` is reported as the missing `ReadAtOnce`,
// with the message above, on the node whose value is shared.
#[diagnostic::do_not_recommend]
impl<T: Sync> ReadAtOnce for T {}

impl<T> SharedSlot<T> {
    /// The name of its value's type (a `graph!`'s description for a cluster).
    #[doc(hidden)]
    pub fn value_type_name(&self) -> &'static str {
        core::any::type_name::<T>()
    }

    /// The size of its value's type (see [`Slot::value_size`]).
    #[doc(hidden)]
    #[inline(always)]
    pub const fn value_size(&self) -> usize {
        core::mem::size_of::<T>()
    }

    /// An empty slot whose value will be read by `uses` consumers (its cell a
    /// constant, as [`Slot::new`]'s).
    #[cfg(not(loom))]
    pub const fn new(uses: u32) -> Self
    where
        T: ReadAtOnce,
    {
        SharedSlot {
            state: AtomicU8::new(EMPTY),
            unclaimed: AtomicU32::new(0),
            live: AtomicU32::new(0),
            uses,
            value: const { UnsafeCell::new(MaybeUninit::uninit()) },
        }
    }

    /// An empty slot whose value will be read by `uses` consumers (not `const` under
    /// loom, whose primitives register with the model).
    #[cfg(loom)]
    pub fn new(uses: u32) -> Self
    where
        T: ReadAtOnce,
    {
        SharedSlot {
            state: AtomicU8::new(EMPTY),
            unclaimed: AtomicU32::new(0),
            live: AtomicU32::new(0),
            uses,
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// An empty slot for `uses` consumers, of the type `of` names (see [`Slot::of`]).
    #[doc(hidden)]
    #[inline(always)]
    pub fn of(uses: u32, _of: core::marker::PhantomData<T>) -> Self
    where
        T: ReadAtOnce,
    {
        Self::new(uses)
    }

    /// Stores the task's result. Panics if the slot is already filled.
    #[inline]
    pub fn put(&self, value: T) {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            misuse("filled twice");
        }
        // SAFETY: the EMPTY -> WRITING exchange gives exclusive access to an empty cell.
        unsafe { self.fill(value) }
    }

    /// [`put`](Self::put) by the slot's only writer, at a time no other thread reads
    /// or writes it: the same check, without the read-modify-write that makes a
    /// second, concurrent writer fail (the dynamic dispatcher's result slots, whose
    /// node runs once per run, before any reader of it is released: one atomic
    /// read-modify-write less per task). Panics if the slot is already filled.
    ///
    /// # Safety
    /// No other thread accesses the slot until this returns.
    #[doc(hidden)]
    #[inline]
    pub unsafe fn put_alone(&self, value: T) {
        // Acquire, as `put`'s exchange: the last run's drop of the value, which stored
        // EMPTY with release, happens before this write.
        if self.state.load(Ordering::Acquire) != EMPTY {
            misuse("filled twice");
        }
        // SAFETY: the slot is empty and, by the caller's contract, nobody else
        // accesses it.
        unsafe { self.fill(value) }
    }

    /// Writes `value` into the empty cell and publishes it with its counters (FULL),
    /// or, of no use, drops it and leaves the slot EMPTY.
    ///
    /// # Safety
    /// The cell is empty and the caller has exclusive access to the slot until the
    /// final store.
    #[inline]
    unsafe fn fill(&self, value: T) {
        if self.uses == 0 {
            drop(value);
            self.state.store(EMPTY, Ordering::Release);
            return;
        }
        // SAFETY: exclusive access to an empty cell (the caller's contract) until the
        // FULL store below publishes it (with the counters set before it).
        self.value.with_mut(|cell| unsafe { (*cell).write(value) });
        self.unclaimed.store(self.uses, Ordering::Relaxed);
        self.live.store(self.uses, Ordering::Relaxed);
        self.state.store(FULL, Ordering::Release);
    }

    /// Claims one of the uses. Panics if the value is not there or every use is claimed.
    #[inline]
    pub fn shared(&self) -> Shared<'_, T> {
        if self.state.load(Ordering::Acquire) != FULL
            || self
                .unclaimed
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_err()
        {
            misuse("read before it was computed, or more often than declared");
        }
        Shared {
            _lends: core::marker::PhantomData,
            slot: self,
            live: true,
        }
    }

    /// [`shared`](Self::shared) by a reader whose claim a plan counted: the dynamic
    /// dispatcher's inputs, one use per input occurrence, each read once per run by
    /// the one node that has it. The plan's count is exact, so the claim is not
    /// counted again: a slot of one use is claimed with a check and a store (a
    /// chain's every read; giving the one use then moves the value out with plain
    /// stores, so such a read takes no read-modify-write at all), a slot of several
    /// uses with a check only (the read-modify-write left is `live`'s release, which
    /// decides who moves the value out). Panics if the value is not there, or if a
    /// one-use slot is claimed twice. Debug builds count every claim, as `shared`
    /// does, so that the test suite catches a plan that counts wrong.
    ///
    /// # Safety
    /// The claim is one of the `uses` the slot was made for, and no more claims are
    /// made than it has uses until the value is gone (each reader of the plan claims
    /// its own use once per run, and [`take_last`](Self::take_last) or
    /// [`take_last_alone`](Self::take_last_alone) is called only when every other
    /// claim has been released); a slot of one use is claimed by its one reader only.
    #[doc(hidden)]
    #[inline]
    pub unsafe fn shared_planned(&self) -> Shared<'_, T> {
        if cfg!(debug_assertions) && self.uses != 1 {
            return self.shared();
        }
        // Acquire, as `shared`'s: the writer's FULL store (with release) publishes the
        // value and the counters.
        if self.state.load(Ordering::Acquire) != FULL
            || (self.uses == 1 && self.unclaimed.load(Ordering::Relaxed) != 1)
        {
            misuse("read before it was computed, or more often than declared");
        }
        if self.uses == 1 {
            // By the caller's contract nobody else claims the one use: a store claims it.
            self.unclaimed.store(0, Ordering::Relaxed);
        }
        // Of several uses, by the caller's contract this is one that `live` counts:
        // the value stays until this handle releases it.
        Shared {
            _lends: core::marker::PhantomData,
            slot: self,
            live: true,
        }
    }

    /// Moves the value out when the one use left is an unclaimed one: a graph's
    /// output, read after every task has run. `None` if other uses remain.
    pub fn take_last(&self) -> Option<T> {
        if self.state.load(Ordering::Acquire) != FULL || self.live.load(Ordering::Acquire) != 1 {
            return None;
        }
        // Claiming the last unclaimed use proves no handle holds the value: the one
        // live use left was that unclaimed one.
        self.unclaimed
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| n.checked_sub(1))
            .ok()?;
        // SAFETY: the one live use left is the unclaimed one just claimed (every handle
        // has released, the Acquire load above synchronising with their releases).
        Some(unsafe { self.move_out() })
    }

    /// [`take_last`](Self::take_last) by a caller no other thread competes with: the
    /// claim is a check and a store (a dynamic graph's outputs, read by the run's
    /// caller once the run has ended: one read-modify-write less per output).
    ///
    /// # Safety
    /// No other thread accesses the slot until this returns.
    #[doc(hidden)]
    #[inline]
    pub unsafe fn take_last_alone(&self) -> Option<T> {
        if self.state.load(Ordering::Acquire) != FULL || self.live.load(Ordering::Acquire) != 1 {
            return None;
        }
        let unclaimed = self.unclaimed.load(Ordering::Relaxed);
        if unclaimed == 0 {
            return None;
        }
        // By the caller's contract nobody competes for the claim: a store makes it.
        self.unclaimed.store(unclaimed - 1, Ordering::Relaxed);
        // SAFETY: as in `take_last`: the one live use left is the one just claimed.
        Some(unsafe { self.move_out() })
    }

    /// Moves the value out and empties the slot.
    ///
    /// # Safety
    /// The slot is FULL and the caller holds its one live use, which no handle has
    /// (every other use released, and synchronised with by an Acquire load of `live`).
    #[inline]
    unsafe fn move_out(&self) -> T {
        // SAFETY: FULL means initialised; the caller's one live use means nothing
        // borrows the value, and the stores below end the value's life in the slot:
        // it is moved out exactly once.
        let value = self
            .value
            .with(|cell| unsafe { (*cell).assume_init_read() });
        self.live.store(0, Ordering::Relaxed);
        self.state.store(EMPTY, Ordering::Release);
        value
    }

    fn release(&self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: this was the last live use: every other handle has released (the
            // AcqRel decrement orders their reads before this), no borrow of the value
            // remains, and `live` is 0, so neither the slot's drop nor another handle
            // touches it again: it is dropped exactly once.
            unsafe { drop_value(&self.value) };
            self.state.store(EMPTY, Ordering::Release);
        }
    }
}

impl<T> Drop for SharedSlot<T> {
    fn drop(&mut self) {
        if sync::exclusive_u8(&mut self.state) == FULL && sync::exclusive_u32(&mut self.live) > 0 {
            // SAFETY: FULL with live uses left means the value is initialised and not
            // yet dropped (its remaining consumers never ran), and `&mut self` rules out
            // any handle or other access; the slot is never used again.
            unsafe { drop_value(&self.value) };
        }
    }
}

impl<T> Unread for SharedSlot<T> {
    fn drop_unread(&mut self) {
        if sync::exclusive_u8(&mut self.state) == FULL && sync::exclusive_u32(&mut self.live) > 0 {
            // Emptied before the value is dropped: a panic there leaves nothing for the
            // slot's own drop.
            self.live.store(0, Ordering::Relaxed);
            self.state.store(EMPTY, Ordering::Relaxed);
            // SAFETY: FULL with live uses left meant the value is initialised and not yet
            // dropped, `&mut self` rules out any handle or other access, and the slot
            // now says EMPTY: the value is dropped once, in place.
            self.value
                .with_mut(|value| unsafe { (*value).assume_init_drop() });
        }
    }
}

/// One consumer's handle on a [`SharedSlot`].
///
/// `Send` and `Sync` only when `T` is both (the auto traits of `&SharedSlot<T>` and
/// `&T`, which it holds): other handles lend `&T` on other threads while this one does
/// (`T: Sync`), and whichever handle is last moves the value out or drops it on its own
/// thread (`T: Send`).
pub struct Shared<'a, T> {
    slot: &'a SharedSlot<T>,
    live: bool,
    /// `T: Sync` in the handle's own auto traits, not only through the slot's
    /// constructors (see `SharedSlot`'s `Sync`).
    _lends: core::marker::PhantomData<&'a T>,
}

/// Shared values given by value to several consumers are cloned for all but the last.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is used by several tasks and one of them takes it by value, so it must be `Clone`",
    label = "this value is shared",
    note = "take `&{Self}` in all but one of the tasks, implement `Clone`, or wrap the value in `std::sync::Arc`"
)]
pub trait SharedByValue: Clone {}
// Not recommended in errors: a missing `Clone` is reported as the missing
// `SharedByValue`, with the message above, on the use that needs it.
#[diagnostic::do_not_recommend]
impl<T: Clone> SharedByValue for T {}

impl<T: SharedByValue> Give for Shared<'_, T> {
    type Target = T;
    #[inline]
    fn give(&mut self) -> T {
        self.give_releasing(|slot| slot.release())
    }

    #[inline]
    fn give_made_by(&mut self, maker: u32) -> T {
        // The release may drop the value: other uses released after the check below.
        // (`MadeBy` calls this only for a `T` with drop glue.)
        self.give_releasing(|slot| with_made_by(maker, || slot.release()))
    }
}

impl<T: SharedByValue> Shared<'_, T> {
    /// Moves the value out when this is its one live use; clones it otherwise, and
    /// then releases this use with `release`.
    #[inline(always)]
    fn give_releasing(&mut self, release: impl FnOnce(&SharedSlot<T>)) -> T {
        if !self.live {
            misuse("given twice");
        }
        self.live = false;
        let slot = self.slot;
        if slot.live.load(Ordering::Acquire) == 1 {
            // SAFETY: this handle is the only live use: the others released (the Acquire
            // load synchronises with their decrements, so their reads came first) and no
            // handle can be claimed past `uses`; the stores below end the value's life
            // in the slot, so it is moved out exactly once.
            let value = slot
                .value
                .with(|cell| unsafe { (*cell).assume_init_read() });
            slot.live.store(0, Ordering::Relaxed);
            slot.state.store(EMPTY, Ordering::Release);
            value
        } else {
            // SAFETY: this use is still counted in `live` until `release` below, so the
            // value stays initialised and is not moved or dropped while it is cloned.
            let value = slot
                .value
                .with(|cell| unsafe { (*cell).assume_init_ref() })
                .clone();
            release(slot);
            value
        }
    }
}

impl<T> Lend for Shared<'_, T> {
    type Target = T;
    #[inline]
    fn lend(&self) -> &T {
        if !self.live {
            misuse("lent after it was given");
        }
        // SAFETY: the live use keeps the value initialised until this handle gives it or
        // is dropped; both need the handle by `&mut` or by value, so neither can happen
        // while the returned borrow (tied to `&self`) lives.
        self.slot
            .value
            .with(|cell| unsafe { (*cell).assume_init_ref() })
    }
}

impl<T> Drop for Shared<'_, T> {
    fn drop(&mut self) {
        if self.live {
            self.live = false;
            self.slot.release();
        }
    }
}

/// A task's handle on a node value, with the node that made the value. The value's
/// last reader drops it, in that reader's code, after the reader's own call returned:
/// a panic of the value's `Drop` propagating from there would unwind through the
/// reader's result (which the process aborts on if its `Drop` panics too), and in a
/// graph with `?` it is not the reader's failure either: sequential code drops the
/// value at the end of the body, or at the `?` that returns early (see
/// `Ctx::value_dropped`). So the panic is caught (`drop_value` is told the maker)
/// and kept on this thread for the run, which picks it up when the reader's code
/// ends: the reader's own value is stored, and the run fails with the panic, named
/// after the reader, or in a graph with `?` after the node that made the value. It is
/// kept even while the reader's own panic unwinds: in a graph with `?`, a reader
/// after a `?` that returns early ran beside it, and its panic is not the run's.
///
/// For a value without drop glue it is the handle itself, nothing more.
pub struct MadeBy<H: Holds> {
    handle: core::mem::ManuallyDrop<H>,
    maker: u32,
}

/// A handle a task reads a node value through.
pub trait Holds {
    /// Whether dropping the handle may drop a value with drop glue.
    #[doc(hidden)]
    const DROPS: bool;
}

impl<T> Holds for Owned<'_, T> {
    const DROPS: bool = core::mem::needs_drop::<T>();
}

impl<T> Holds for Shared<'_, T> {
    const DROPS: bool = core::mem::needs_drop::<T>();
}

impl<T> Holds for Value<T> {
    const DROPS: bool = core::mem::needs_drop::<T>();
}

/// The bit of a [`MadeBy`]'s maker that says the value was made before the run (a
/// value hoisted out of a task's argument), the rest naming the task it was given
/// to: sequential code made it whatever a `?` returns, and drops it.
const BEFORE_RUN: u32 = 1 << 31;

/// The node a [`MadeBy`]'s `maker` names, and whether the value was made before the
/// run (given to that node).
pub(crate) fn maker_node(maker: u32) -> (u32, bool) {
    (maker & !BEFORE_RUN, maker & BEFORE_RUN != 0)
}

impl<H: Holds> MadeBy<H> {
    /// `handle`, on a value node `maker` made (or, for a temporary of a node's code,
    /// the node itself).
    #[inline(always)]
    pub fn new(handle: H, maker: u32) -> Self {
        MadeBy {
            handle: core::mem::ManuallyDrop::new(handle),
            maker,
        }
    }

    /// `handle`, on a value made before the run and given to node `reader`.
    #[inline(always)]
    pub fn before_run(handle: H, reader: u32) -> Self {
        Self::new(handle, reader | BEFORE_RUN)
    }
}

#[diagnostic::do_not_recommend]
impl<H: Holds + Give> Give for MadeBy<H> {
    type Target = H::Target;
    #[inline(always)]
    fn give(&mut self) -> H::Target {
        if H::DROPS {
            self.handle.give_made_by(self.maker)
        } else {
            self.handle.give()
        }
    }
}

#[diagnostic::do_not_recommend]
impl<H: Holds + Lend> Lend for MadeBy<H> {
    type Target = H::Target;
    #[inline(always)]
    fn lend(&self) -> &H::Target {
        self.handle.lend()
    }
}

impl<H: Holds> Drop for MadeBy<H> {
    #[inline(always)]
    fn drop(&mut self) {
        if !H::DROPS {
            // SAFETY: the handle is dropped once, here, and never used again.
            unsafe { core::mem::ManuallyDrop::drop(&mut self.handle) };
            return;
        }
        // SAFETY: the handle is dropped once, here, and never used again.
        with_made_by(self.maker, || unsafe {
            core::mem::ManuallyDrop::drop(&mut self.handle)
        });
    }
}

/// Runs `f`, a handle's drop or release of a value node `maker` made: the value's drop
/// in it, if any, takes the maker (a `Drop` of the value that drops other values sees
/// none).
#[inline(always)]
fn with_made_by(maker: u32, f: impl FnOnce()) {
    let outer = MADE_BY.try_with(|made_by| made_by.replace(Some(maker)));
    f();
    if let Ok(outer) = outer {
        let _ = MADE_BY.try_with(|made_by| made_by.set(outer));
    }
}

std::thread_local! {
    /// The node that made the value a [`MadeBy`] handle is dropping, for the drop
    /// inside: set around the handle's drop, taken by that drop ([`take_made_by`]).
    static MADE_BY: core::cell::Cell<Option<u32>> = const { core::cell::Cell::new(None) };

    /// The panic of a value's `Drop` that a task's [`MadeBy`] handle caught, with the
    /// node that made the value (the earliest such node, when several panicked),
    /// until the run takes it ([`take_value_drop`]) as the task's code ends.
    static VALUE_DROP: core::cell::Cell<Option<(u32, Box<dyn std::any::Any + Send>)>> =
        const { core::cell::Cell::new(None) };

    /// Whether [`VALUE_DROP`] holds a panic: read after every task (no destructor,
    /// so the cheapest kind of thread-local).
    static VALUE_DROPPED: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// The node whose value a [`MadeBy`] handle is dropping now, if any: a value's drop
/// asks once, as it starts.
#[inline(always)]
fn take_made_by() -> Option<u32> {
    MADE_BY.try_with(|maker| maker.take()).ok().flatten()
}

/// Keeps `payload`, the panic of the `Drop` of a value node `maker` made, for
/// [`take_value_drop`]; one of a later node than the one kept is discarded.
#[cold]
#[inline(never)]
fn keep_value_drop(maker: u32, payload: Box<dyn std::any::Any + Send>) {
    let mut payload = Some((maker, payload));
    let _ = VALUE_DROP.try_with(|kept| {
        let before = kept.take();
        let (keep, discard) = match before {
            Some(before) if before.0 <= maker => (Some(before), payload.take()),
            before => (payload.take(), before),
        };
        kept.set(keep);
        let _ = VALUE_DROPPED.try_with(|dropped| dropped.set(true));
        if let Some((_, discarded)) = discard {
            crate::engine::error::drop_payload(discarded);
        }
    });
    // Only while the thread's locals are destroyed: no run is there to take it.
    if let Some((_, payload)) = payload {
        crate::engine::error::drop_payload(payload);
    }
}

/// The panic kept by a task's [`MadeBy`] handle on this thread, if any (see
/// [`MadeBy`]), and the node that made the value.
#[inline(always)]
pub(crate) fn take_value_drop() -> Option<(u32, Box<dyn std::any::Any + Send>)> {
    if !VALUE_DROPPED
        .try_with(|dropped| dropped.get())
        .unwrap_or(false)
    {
        return None;
    }
    take_kept_value_drop()
}

#[cold]
#[inline(never)]
fn take_kept_value_drop() -> Option<(u32, Box<dyn std::any::Any + Send>)> {
    let _ = VALUE_DROPPED.try_with(|dropped| dropped.set(false));
    VALUE_DROP.try_with(|kept| kept.take()).ok().flatten()
}

/// A constant argument read in place: a graph input or a captured variable. Given by
/// value, it is cloned, since every run of the graph reads it again.
pub struct Const<'a, T: ?Sized>(pub &'a T);

/// Values read in place and given by value are cloned: the graph keeps them for its
/// other readers and for its next `compute`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is read in place by the graph and taken by value here, so it must be `Clone`",
    label = "cloned for this task",
    note = "a graph's input read once, by one task, is moved into it; one read several times, or a variable captured from around the graph (which each `compute` reads again), is cloned for each task that takes it by value: take `&{Self}` in the task, implement `Clone`, or wrap the value in `std::sync::Arc`"
)]
pub trait ConstByValue: Clone {}
// As for `SharedByValue`: a missing `Clone` is reported as this, with the message above.
#[diagnostic::do_not_recommend]
impl<T: Clone> ConstByValue for T {}

/// A captured variable, or a field or element of one, that a `let` inside `graph!`
/// takes for its own (`let mut c = cfg.c;`, a type, a tuple pattern): a clone, since
/// every run of the graph reads the captured value again.
#[inline(always)]
pub fn own_captured<S: OwnCaptured + ?Sized>(place: &S) -> S::Target {
    place.own()
}

/// A captured place that a `let` takes for its own (see [`own_captured`]): through a
/// trait, so that rustc reports a missing `Clone` with [`CapturedByValue`]'s text.
pub trait OwnCaptured {
    /// The value's type.
    type Target;
    /// A clone of the value.
    fn own(&self) -> Self::Target;
}

impl<T: CapturedByValue> OwnCaptured for Const<'_, T> {
    type Target = T;
    #[inline(always)]
    fn own(&self) -> T {
        self.0.clone()
    }
}

/// Captured values a `let` takes for its own are cloned (see [`own_captured`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is captured by the graph and taken for its own by this `let`, so it must be `Clone`",
    label = "cloned on every run of the graph",
    note = "each `compute` runs the graph's code again and reads what it captured afresh, so a `let mut`, a typed `let` or a tuple pattern of a captured value binds a clone: borrow it instead (`let c = &…;`, or a plain `let`, which reads it in place), implement `Clone`, or wrap the value in `std::sync::Arc`"
)]
pub trait CapturedByValue: Clone {}
// As for `ConstByValue`: a missing `Clone` is reported as this, with the message above.
#[diagnostic::do_not_recommend]
impl<T: Clone> CapturedByValue for T {}

impl<T: ConstByValue> Give for Const<'_, T> {
    type Target = T;
    #[inline(always)]
    fn give(&mut self) -> T {
        self.0.clone()
    }
}

impl<T: ?Sized> Lend for Const<'_, T> {
    type Target = T;
    #[inline(always)]
    fn lend(&self) -> &T {
        self.0
    }
}

/// A temporary argument built in the consuming task: a literal, an array or tuple
/// of values, a constant expression. Given by value, it is moved.
pub struct Value<T>(Option<T>);

impl<T> Value<T> {
    /// Wraps a temporary.
    #[inline(always)]
    pub fn new(value: T) -> Self {
        Value(Some(value))
    }

    /// A node's value handed over to its reader in a tree (see `engine::tree`): moved
    /// into the reader, so that the reader owns it as it owns a slot's handle.
    #[inline(always)]
    pub fn handed(value: Value<T>) -> Self {
        value
    }

    /// An empty tree local (see `engine::tree`) for a value of the type `of` names:
    /// `graph!` makes a long chain's locals at once, before any node's code, and typed
    /// there each is no inference variable waiting for its node's code (see
    /// [`Slot::of`]).
    #[doc(hidden)]
    #[inline(always)]
    pub const fn none_of(_of: core::marker::PhantomData<T>) -> Option<Self> {
        None
    }

    /// The size of the value in a tree's local (the stack room its reader makes, see
    /// `Tree::node`).
    #[inline(always)]
    pub const fn size_in(_local: &Option<Value<T>>) -> usize {
        core::mem::size_of::<T>()
    }

    /// A node's value taken from the local its tree's branch keeps it in, by its
    /// reader's code (see `engine::tree`), which runs only when it is there.
    #[inline(always)]
    pub fn taken(local: &mut Option<Value<T>>) -> Self {
        match local.take() {
            Some(value) => value,
            None => misuse("taken twice"),
        }
    }
}

impl<T> Give for Value<T> {
    type Target = T;
    #[inline(always)]
    fn give(&mut self) -> T {
        match self.0.take() {
            Some(value) => value,
            None => misuse("given twice"),
        }
    }
}

impl<T> Drop for Value<T> {
    /// A value never given: dropped as a slot's is (`drop_value`), so that a panic in
    /// its `Drop` while its task's panic unwinds (a tree's node inputs are `Value`s) is
    /// caught rather than aborting the process. Nothing at all for a type without drop
    /// glue.
    #[inline(always)]
    fn drop(&mut self) {
        if core::mem::needs_drop::<T>() && self.0.is_some() {
            self.drop_unread();
        }
    }
}

impl<T> Value<T> {
    #[cold]
    #[inline(never)]
    fn drop_unread(&mut self) {
        let Some(value) = self.0.take() else { return };
        let maker = take_made_by();
        if maker.is_none() && !std::thread::panicking() {
            drop(value);
            return;
        }
        // Through a `MadeBy` handle, kept for the run; while a panic unwinds, a second
        // would abort: caught and discarded.
        drop_for(maker, move || drop(value));
    }
}

impl<T> Lend for Value<T> {
    type Target = T;
    #[inline(always)]
    fn lend(&self) -> &T {
        match &self.0 {
            Some(value) => value,
            None => misuse("lent after it was given"),
        }
    }
}

/// `&value` written in a graph: given as the reference itself, lent as the value (so
/// that a `&T` parameter receives `&T`, not `&&T`).
pub struct Ref<'a, T: ?Sized>(pub &'a T);

impl<'a, T: ?Sized> Give for Ref<'a, T> {
    type Target = &'a T;
    #[inline(always)]
    fn give(&mut self) -> &'a T {
        self.0
    }
}

impl<T: ?Sized> Lend for Ref<'_, T> {
    type Target = T;
    #[inline(always)]
    fn lend(&self) -> &T {
        self.0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[derive(Clone)]
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn owned_moves_and_drops_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Slot::new();
        slot.put(Counted(drops.clone()));
        let v = give(&mut slot.owned());
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(v);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(slot);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn unread_value_is_dropped_with_the_slot() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Slot::new();
        slot.put(Counted(drops.clone()));
        drop(slot);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn shared_lends_then_moves_to_the_last() {
        let slot = SharedSlot::new(3);
        slot.put(vec![1, 2, 3]);
        let a = slot.shared();
        let mut b = slot.shared();
        assert_eq!(a.lend().len(), 3);
        let cloned = give(&mut b); // `a` and the third use are still live: a clone
        assert_eq!(cloned, vec![1, 2, 3]);
        drop(a);
        let moved = give(&mut slot.shared()); // last use: a move
        assert_eq!(moved, vec![1, 2, 3]);
        assert_ne!(slot.state.load(Ordering::SeqCst), FULL);
    }

    #[test]
    fn shared_drops_after_last_release() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = SharedSlot::new(2);
        slot.put(Counted(drops.clone()));
        drop(slot.shared());
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(slot.shared());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(slot);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    #[should_panic(expected = "more often than declared")]
    fn shared_refuses_extra_uses() {
        let slot = SharedSlot::new(1);
        slot.put(1);
        let _a = slot.shared();
        let _b = slot.shared();
    }

    #[test]
    #[should_panic(expected = "before it was computed")]
    fn reading_an_empty_slot_panics() {
        let slot: Slot<u8> = Slot::new();
        let _ = slot.owned();
    }

    #[test]
    #[should_panic(expected = "filled twice")]
    fn filling_twice_panics() {
        let slot = Slot::new();
        slot.put(1);
        slot.put(2);
    }

    #[test]
    fn a_slot_filled_alone_serves_its_uses_and_fills_again() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = SharedSlot::new(2);
        for round in 1..=2 {
            // SAFETY: this thread is the only one that touches the slot.
            unsafe { slot.put_alone(Counted(drops.clone())) };
            drop(slot.shared());
            drop(slot.shared());
            assert_eq!(drops.load(Ordering::SeqCst), round);
        }
        // Of no use, the value is dropped at once and the slot stays empty.
        let unused = SharedSlot::new(0);
        // SAFETY: as above.
        unsafe { unused.put_alone(Counted(drops.clone())) };
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        // SAFETY: as above.
        unsafe { unused.put_alone(Counted(drops.clone())) };
        assert_eq!(drops.load(Ordering::SeqCst), 4);
    }

    #[test]
    #[should_panic(expected = "filled twice")]
    fn filling_alone_twice_panics() {
        let slot = SharedSlot::new(1);
        // SAFETY: this thread is the only one that touches the slot.
        unsafe { slot.put_alone(1) };
        // SAFETY: as above.
        unsafe { slot.put_alone(2) };
    }

    #[test]
    fn a_one_use_slot_read_as_planned_moves_its_value_out_and_fills_again() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = SharedSlot::new(1);
        for round in 1..=2 {
            slot.put(Counted(drops.clone()));
            // SAFETY: this thread is the only one that touches the slot.
            let value = give(&mut unsafe { slot.shared_planned() });
            assert_eq!(slot.state.load(Ordering::SeqCst), EMPTY);
            assert_eq!(drops.load(Ordering::SeqCst), round - 1);
            drop(value);
            assert_eq!(drops.load(Ordering::SeqCst), round);
        }
        // Lent and released, the value is dropped in the slot.
        slot.put(Counted(drops.clone()));
        // SAFETY: as above.
        drop(unsafe { slot.shared_planned() });
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        assert_eq!(slot.state.load(Ordering::SeqCst), EMPTY);
        drop(slot);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_slot_of_several_uses_read_as_planned_is_cloned_then_moved() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = SharedSlot::new(2);
        for round in 0..2 {
            slot.put(Counted(drops.clone()));
            // SAFETY: this thread is the only one that touches the slot, and claims
            // its two uses once each.
            let mut first = unsafe { slot.shared_planned() };
            // SAFETY: as above.
            let mut second = unsafe { slot.shared_planned() };
            // The first given is a clone; the value stays for the second use.
            let clone = give(&mut first);
            assert_eq!(slot.state.load(Ordering::SeqCst), FULL);
            // The last moves it out: the slot is empty, nothing dropped yet.
            let moved = give(&mut second);
            assert_eq!(slot.state.load(Ordering::SeqCst), EMPTY);
            assert_eq!(drops.load(Ordering::SeqCst), 2 * round);
            drop((clone, moved));
            assert_eq!(drops.load(Ordering::SeqCst), 2 * round + 2);
        }
        // Lent and released, the value is dropped in the slot, once.
        slot.put(Counted(drops.clone()));
        // SAFETY: as above.
        let (first, second) = unsafe { (slot.shared_planned(), slot.shared_planned()) };
        drop(first);
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        drop(second);
        assert_eq!(drops.load(Ordering::SeqCst), 5);
        drop(slot);
        assert_eq!(drops.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn the_last_use_taken_alone_moves_the_value_out_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = SharedSlot::new(2);
        // SAFETY: this thread is the only one that touches the slot.
        assert!(unsafe { slot.take_last_alone() }.is_none(), "empty");
        slot.put(Counted(drops.clone()));
        // SAFETY: as above.
        let still_used = unsafe { slot.take_last_alone() };
        assert!(still_used.is_none(), "a use is still live");
        drop(slot.shared());
        // SAFETY: as above.
        let value = unsafe { slot.take_last_alone() }.expect("the last use");
        assert_eq!(slot.state.load(Ordering::SeqCst), EMPTY);
        // SAFETY: as above.
        assert!(unsafe { slot.take_last_alone() }.is_none(), "taken already");
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(value);
        drop(slot);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    #[should_panic(expected = "more often than declared")]
    fn reading_a_one_use_slot_as_planned_twice_panics() {
        let slot = SharedSlot::new(1);
        slot.put(1);
        // SAFETY: this thread is the only one that touches the slot.
        let _a = unsafe { slot.shared_planned() };
        // SAFETY: as above.
        let _b = unsafe { slot.shared_planned() };
    }

    #[test]
    #[should_panic(expected = "before it was computed")]
    fn reading_an_empty_slot_as_planned_panics() {
        let slot: SharedSlot<u8> = SharedSlot::new(1);
        // SAFETY: this thread is the only one that touches the slot.
        let _ = unsafe { slot.shared_planned() };
    }

    #[test]
    fn earliest_early_exit_wins() {
        let mut exit = EarlyExit::new();
        exit.put(5, "five");
        exit.put(3, "three");
        exit.put(4, "four");
        assert_eq!(exit.take(), Some("three"));
        assert_eq!(exit.take(), None);
    }
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for EarlyExit<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EarlyExit").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Owned<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owned")
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl<H: Holds + std::fmt::Debug> std::fmt::Debug for MadeBy<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MadeBy")
            .field("handle", &*self.handle)
            .field("maker", &self.maker)
            .finish()
    }
}

impl<T> std::fmt::Debug for SharedSlot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSlot").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Shared<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> std::fmt::Debug for Const<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Const").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Value")
            .field("taken", &self.0.is_none())
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> std::fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ref").finish_non_exhaustive()
    }
}
