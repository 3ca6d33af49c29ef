//! Whom the task running on a thread works for: the futures client whose task it is,
//! or whose graph it is a task of (Dask's `get_client()` finds it in every task). Kept
//! opaque here, since the engine knows no front end: the futures set it around their
//! tasks and read it back; a graph run carries it to whichever thread runs its tasks.

use std::any::Any;
use std::cell::Cell;
use std::sync::Arc;

/// An owning handle to the client a run belongs to, of a type only its front end knows.
pub(crate) type Owner = Arc<dyn Any + Send + Sync>;

/// A borrowed owner, as a thread-local holds it: where the owner's handle is, and how
/// to make an owning [`Owner`] of it. A handle of the front end's own type (a futures
/// task's `Arc` of its client) is lent as it is, with no count taken per task. Two
/// words, copied around every task scope: the functions lie in a `'static` table.
#[derive(Clone, Copy)]
pub(crate) struct OwnerRef {
    /// The lent handle.
    handle: *const (),
    /// What can be made of `handle`.
    fns: &'static OwnerFns,
}

/// What an [`OwnerRef`] makes of its handle, each function called with the handle's
/// address while a scope lends it.
pub(crate) struct OwnerFns {
    /// An owning handle of the owner.
    pub(crate) own: unsafe fn(*const ()) -> Owner,
    /// What a run started here takes for its tasks: the owner itself, or (inside a
    /// futures task) the owner and the task, which waits for the run (see
    /// [`current_run_owner`]).
    pub(crate) for_run: unsafe fn(*const ()) -> Owner,
    /// Whether the task the owner is lent for was cancelled (see [`owner_cancelled`]):
    /// false but for a futures task's.
    pub(crate) cancelled: unsafe fn(*const ()) -> bool,
}

/// An owner with no task of its own to cancel.
unsafe fn never(_: *const ()) -> bool {
    false
}

/// # Safety
/// `handle` points to a live `Owner`.
unsafe fn own_erased(handle: *const ()) -> Owner {
    // SAFETY: the caller's contract.
    unsafe { &*handle.cast::<Owner>() }.clone()
}

/// The table of an [`Owner`] lent (see [`OwnerRef::erased`]).
static ERASED: OwnerFns = OwnerFns {
    own: own_erased,
    for_run: own_erased,
    cancelled: never,
};

impl OwnerRef {
    /// Lends `handle`, of a front end's own type, with `fns` to make what is asked of
    /// it.
    ///
    /// # Safety
    /// `fns`' functions may be called with `handle`'s address while a scope lends it
    /// (see [`to_owned`](Self::to_owned)), and must be sound then.
    pub(crate) unsafe fn with<H>(handle: &H, fns: &'static OwnerFns) -> OwnerRef {
        OwnerRef {
            handle: (handle as *const H).cast(),
            fns,
        }
    }

    /// Lends an [`Owner`].
    pub(crate) fn erased(handle: &Owner) -> OwnerRef {
        OwnerRef {
            handle: (handle as *const Owner).cast(),
            fns: &ERASED,
        }
    }

    /// An owning handle.
    pub(crate) fn to_owned(self) -> Owner {
        // SAFETY: an `OwnerRef` is read only from `OWNER` (see `with_owner`), while the
        // scope that lent its handle is alive.
        unsafe { (self.fns.own)(self.handle) }
    }

    /// What a run started here takes for its tasks.
    fn for_run(self) -> Owner {
        // SAFETY: as for `to_owned`.
        unsafe { (self.fns.for_run)(self.handle) }
    }
}

thread_local! {
    /// The owner of the task running on this thread, innermost (see [`OwnerScope`]).
    /// A borrow, not a count: setting it around every task must not touch a count
    /// that every thread of a client shares.
    static OWNER: Cell<Option<OwnerRef>> = const { Cell::new(None) };
}

/// `f` of the owner of the task running on this thread, if any.
pub(crate) fn with_owner<R>(f: impl FnOnce(Option<OwnerRef>) -> R) -> R {
    // The handle lent is alive: `OWNER` holds it only while the `OwnerScope` that lent
    // it is, and scopes end in the reverse order of their making (each restores the
    // one before).
    f(OWNER.with(Cell::get))
}

/// An owning handle to the owner of the task running on this thread, if any: what a
/// graph run started here takes for its tasks.
pub(crate) fn current_owner() -> Option<Owner> {
    with_owner(|owner| owner.map(OwnerRef::to_owned))
}

/// The owner lent on this thread, if any: what a run keeps of its caller, to ask the
/// caller's stop condition as the caller (see `engine::observe::Outer`).
pub(crate) fn current_ref() -> Option<OwnerRef> {
    with_owner(|owner| owner)
}

/// Whether the task the owner on this thread was lent for was cancelled: a futures
/// task's stop condition (`taskweave::cancelled`) asked from another thread, for a
/// graph run started inside it (see `engine::observe::Outer::ask`).
pub(crate) fn owner_cancelled() -> bool {
    // SAFETY: as in `to_owned`: the lent handle is alive while `OWNER` holds it.
    with_owner(|owner| owner.is_some_and(|owner| unsafe { (owner.fns.cancelled)(owner.handle) }))
}

/// What a graph run started on this thread takes for its tasks, if anything: the
/// owner of the task running here; inside a futures task, one that also names the
/// task, which waits for the run (so that a graph task's wait for a future counts as
/// that task's, and a cycle of waits through the run is found).
pub(crate) fn current_run_owner() -> Option<Owner> {
    with_owner(|owner| owner.map(OwnerRef::for_run))
}

/// Makes an owner that of the task running on this thread until dropped, then the one
/// before again: around a client's task, and around a graph task (`None`: a run with
/// no owner, whose task must not see the owner of the task its thread happens to be
/// inside, as rayon's threads run other runs' tasks while they wait); and around a
/// run's stop condition, asked as the task the run was started in, on whichever
/// thread (`engine::observe::Outer::ask`). Made only where the lent handle outlives
/// the scope (on a stack frame below which it lives, or for a caller that waits for
/// the run, or holds it under a lease), and never forgotten.
#[must_use = "the owner is this thread's only while the scope lives"]
pub(crate) struct OwnerScope(Option<OwnerRef>);

impl OwnerScope {
    #[inline]
    pub(crate) fn enter(owner: Option<OwnerRef>) -> OwnerScope {
        OwnerScope(OWNER.with(|o| o.replace(owner)))
    }
}

impl Drop for OwnerScope {
    #[inline]
    fn drop(&mut self) {
        OWNER.with(|o| o.set(self.0));
    }
}

/// A part of an owned run on this thread's stack: the run's root, or a half of one of
/// its joins, run here (see [`in_part_of`]). Linked through the stack, innermost first.
struct Part {
    owner: *const Owner,
    below: *const Part,
}

thread_local! {
    /// The innermost part of an owned run on this thread's stack (null: none).
    static PARTS: Cell<*const Part> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f`, a part of the run `owner` owns (its root, or a half of a join of it), with
/// that part marked on this thread until `f` returns or unwinds; `f` alone for a run
/// no one owns.
///
/// Why: a rayon worker waiting in a join of a run takes up other work meanwhile, on
/// the same stack, above the join. A task of that work waiting for a future of the
/// task the run's owner is (a futures task that computes the run) waits for ever: the
/// future needs the run, the run its join, the join this thread, and the thread the
/// wait. The futures' search for waits that could never end (`futures::blocked`) asks
/// [`owners_of_parts_here`] for the owners of the run parts under such a wait, and so
/// finds that cycle. Two thread-local writes a part, only for a run a client owns.
#[inline]
pub(crate) fn in_part_of<R>(owner: Option<&Owner>, f: impl FnOnce() -> R) -> R {
    let Some(owner) = owner else {
        return f();
    };
    struct Leave(*const Part);
    impl Drop for Leave {
        #[inline]
        fn drop(&mut self) {
            PARTS.with(|parts| parts.set(self.0));
        }
    }
    let part = Part {
        owner,
        below: PARTS.with(Cell::get),
    };
    PARTS.with(|parts| parts.set(&part));
    let _leave = Leave(part.below);
    f()
}

/// Calls `each` with the owner of every part of an owned run on this thread's stack
/// (see [`in_part_of`]), innermost first: the runs that cannot end before what runs
/// above them here returns.
pub(crate) fn owners_of_parts_here(mut each: impl FnMut(&Owner)) {
    // (None once the thread-local is destroyed: no run part is on the stack then.)
    let mut at = PARTS.try_with(Cell::get).unwrap_or(std::ptr::null());
    // SAFETY: every `Part` linked from `PARTS` lives in a frame of `in_part_of` on this
    // thread's stack, below this call, and is unlinked (its `Leave` dropped) before that
    // frame ends; the `Owner` it points to is the run's, which outlives its parts.
    while let Some(part) = unsafe { at.as_ref() } {
        // SAFETY: as above.
        each(unsafe { &*part.owner });
        at = part.below;
    }
}
