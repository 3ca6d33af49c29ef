//! The futures tasks blocked in waits, as a wait-for graph, and the waits that could
//! never end.
//!
//! A task that waits without a deadline and has to sleep (see `pool::wait`) first
//! publishes its thread here: the tasks on the thread's stack, bottom first (a waiter
//! runs what its awaited task needs inline, see `pool`), each with what it waits for.
//! Under the same lock it then looks for a way from what it waits for back to a task
//! of its own stack, following what each unfinished task needs:
//!
//! - a task that has not started needs its unfinished arguments (it starts only once
//!   they have finished; it could also end early, failed, if another of its
//!   arguments failed first, a chance a wait is refused in spite of, as before);
//! - a task on the stack of a published thread needs what it waits for, and the task
//!   above it on that stack (which must return before it resumes);
//! - a wait for several futures needs all of them (`AllCompleted`) or any one;
//! - a gather's wait (`waiting::wait_in_gather`) needs the future it waits for, or any
//!   other of its list not ended yet (a failure of one ends the gather, as Dask's
//!   stops at the first); those others are listed only when the first is found
//!   unable to end (see `Search::expand`), so that a search through a gather of many
//!   futures costs what one through a `result` does;
//! - anything else can go on, and ends the search there: a task running on a thread
//!   that is not published (not blocked, or in a wait with a deadline, which ends),
//!   a ready task in a queue (the pool grows while its threads block, see `pool`).
//!
//! A graph task of a run that a futures task started (a `Delayed::compute` inside it,
//! on whichever thread the graph's task runs) waits as that task, with the tasks under
//! it on its thread: none of them can end before the graph task does. So does any
//! wait on a thread with a part of such a run under it (a rayon worker waiting in a
//! join of the run takes up other work, above the join, see
//! `engine::owner::in_part_of`), whoever's code waits: the part resumes only once the
//! wait has ended, and the task's run needs the part.
//!
//! If the wait needs its own stack, it could never end: it fails instead of
//! sleeping, and is not published. The part of the graph the wait reaches is built in
//! a loop and evaluated by marks spread from the thread's own tasks (a task or a wait
//! for all is marked once one of its needs is, a wait for any once all of its are, or
//! once one is and none could ever end: what can end is found first, up from what
//! needs nothing), so nothing recurses, and what bounds the search is the tasks actually blocked and the
//! unfinished tasks the awaited ones need, not a depth.
//!
//! One look suffices: only a wait that blocks adds a way out of a task that was free to
//! go on, so a cycle of waits is closed by one of them blocking; publishing and looking
//! happen under one lock, so the last wait of a cycle to block finds every other one
//! published, and the cycle with it. That wait fails, which breaks the cycle; the
//! others sleep on and end once its task does. (A wait for the first exception among
//! several looks again each time one of them ends without making it ready: what it
//! needs then shrinks. So does a gather's each time a future of its list finishes
//! well: when a search finds that what keeps it from a cycle is a future that might
//! still fail, the gather looks again once that future has ended, see
//! `waiting::Watch::wake_at_end`.) A future cancelled from outside ends its waits all
//! the same, cycle or not.
//!
//! Cost: nothing for a wait that ends while it polls, nor outside futures tasks and
//! their graphs' tasks; a wait that blocks takes a process-wide lock twice and
//! allocates its records. A search that finds a future free keeps what it reached
//! until a thread publishes one of those tasks, or of what later searches joined to
//! them: a later search stops at those tasks, and a wait for one of them is not
//! searched at all (see `Free`).

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::{Arc, Mutex, Weak};

use super::error::{CycleLink, CycleStep, FutureError};
use super::job::{current_task, current_task_under_graph, graph_task_owner, Runnable, TaskOwner};
use super::state::{Core, HasCore};
use super::waiting::{Listed, Watch};
use super::Status;
use crate::engine::lock::Recover;

/// What a wait waits for.
pub(crate) enum Awaited<'a> {
    /// One future (`result`): a worker may run what it needs meanwhile (see `pool`).
    // The loom models wait for a future's state without the pool.
    #[cfg_attr(loom, allow(dead_code))]
    One(&'a Core),
    /// Several (`wait`, `as_completed`): the wait ends once every one of the futures
    /// `futures()` lists has ended (`all`), or any one of them. Listed only when the
    /// wait blocks.
    Several {
        all: bool,
        futures: &'a dyn Fn() -> Vec<Arc<dyn HasCore>>,
        /// For a wait for any one: the awaited futures one by one, in the caller's
        /// order, each once (a cursor), for a worker to run the first one still
        /// queued itself (see `pool::wait`). `None` for a wait for all.
        next_inline: Option<&'a dyn Fn() -> Option<Arc<dyn HasCore>>>,
    },
    /// A gather's (see `waiting::wait_in_gather`): the wait ends once `first` has
    /// ended, or any other future of its list has ended without a result; `watch()`
    /// lists those (called only when the wait blocks, in a futures task).
    #[cfg_attr(loom, allow(dead_code))]
    Gather {
        first: &'a Core,
        watch: &'a dyn Fn() -> Arc<Watch>,
    },
}

/// What a task on a published thread waits for.
#[derive(Clone)]
struct Awaits {
    /// Every one of `futures` (else any one).
    all: bool,
    futures: Vec<Arc<dyn HasCore>>,
    /// A gather's wait: for `futures[0]`, or any future its watch lists.
    gather: Option<Arc<Watch>>,
}

/// A task on a published thread's stack, and what it waits for.
struct Frame {
    task: Arc<dyn HasCore>,
    awaits: Awaits,
    /// Whose wait it is (see [`block`]).
    via: Via,
}

/// Whose wait a published frame's is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// The task's own.
    Own,
    /// A graph task's, of a run the task started.
    Graph,
    /// A task's run above a part of a run the task started (a join of it, waiting on
    /// this thread, see `engine::owner::in_part_of`): the wait of whatever runs on top
    /// of the thread, which that part resumes only after.
    Part,
}

/// A task under the one running on this thread: it waits for the task of `awaited`,
/// and runs a job that one needs inline meanwhile.
#[derive(Clone)]
pub(crate) struct Under {
    task: Arc<dyn HasCore>,
    awaited: Weak<dyn Runnable>,
}

thread_local! {
    /// The tasks under the one running on this thread, bottom first (see
    /// [`run_inline`]); at most `pool::MAX_INLINE`.
    static UNDER: RefCell<Vec<Under>> = const { RefCell::new(Vec::new()) };
}

/// The threads blocked in waits, and where each task on their stacks is.
struct Registry {
    /// Each published thread's stack, by a number drawn when it blocked.
    threads: BTreeMap<u64, Vec<Frame>>,
    /// Where a task on a published thread's stack is (its thread, its place there),
    /// by the address of its core: one place, or several for a futures task whose
    /// graph tasks wait on several threads (see [`block`]).
    tasks: BTreeMap<usize, Vec<(u64, usize)>>,
    next: u64,
    /// Tasks that searches found free (see [`Free`]).
    free: Free,
}

/// The tasks reached by searches that found no way back to their waiting threads and
/// met none of their tasks. Each such search reached a closed set: every task in it
/// needs only tasks in it (a task of an earlier set was not looked at again, and the
/// union of closed sets is closed). What a task needs only shrinks (it starts, ends,
/// leaves its thread's stack), except when a thread publishes: a task then needs what
/// that thread waits for. So while no thread publishes a task of the set, it stays
/// closed, and a wait none of whose own tasks is in it cannot need its own stack
/// through any task of it: a search stops at those tasks as at a free one, and a wait
/// for one of them is not searched at all. Without this, many tasks waiting for the
/// end of one long unfinished chain each walked the whole chain under the lock (300
/// waits on a 100,000-long chain: 12–26 s), and waits for different links of it
/// still did.
///
/// The set is kept as groups, each closed on its own: a search's tasks form one with
/// the groups whose tasks it stopped at (what it reached may need those). A thread
/// that publishes a task of a group lets that group go, and only that one: no task of
/// another group needs it. Letting the whole set go instead had every unrelated wait
/// that published one of its own tasks (another client's, in another part of the
/// program) send the chain's waiters through the whole chain again.
struct Free {
    /// Each task by address, kept allocated (a weak handle) while it is here, so that
    /// the address is not another task's meanwhile; with its group.
    tasks: FreeTasks,
    /// Each group's tasks, by address.
    groups: Groups,
    /// The number of the next group.
    next: u64,
    /// The size at which the entries of freed tasks are let go (see [`Free::add`]).
    prune_at: usize,
}

/// The fewest entries [`Free`] has when it lets go of freed tasks' entries.
const PRUNE_FROM: usize = 1024;

impl Free {
    fn contains(&self, core: &Core) -> bool {
        self.tasks.contains_key(&address(core))
    }

    /// Adds the tasks a search reached and found free, as one group with the groups it
    /// met (the largest keeps its number: each task changes group at most a
    /// logarithmic number of times). Freed tasks' entries are let go once the set has
    /// doubled since it last did: a task freed has ended, and needs nothing. So the
    /// set holds at most twice the tasks still alive (or [`PRUNE_FROM`]), at a
    /// constant cost per entry, amortised.
    fn add(&mut self, reached: Reached) {
        let Free {
            tasks,
            groups,
            next,
            prune_at,
        } = self;
        let mut met: Vec<u64> = (reached.iter())
            .filter_map(|(key, _)| Some(tasks.get(key)?.1))
            .collect();
        met.sort_unstable();
        met.dedup();
        let size = |group: &u64| groups.get(group).map_or(0, Vec::len);
        let group = match met.iter().copied().max_by_key(size) {
            Some(group) => group,
            None => {
                *next += 1;
                *next - 1
            }
        };
        for other in met.into_iter().filter(|&other| other != group) {
            let members = groups.remove(&other).unwrap_or_default();
            for key in &members {
                if let Some(entry) = tasks.get_mut(key) {
                    entry.1 = group;
                }
            }
            groups.entry(group).or_default().extend(members);
        }
        let members = groups.entry(group).or_default();
        for (key, task) in reached {
            if let Entry::Vacant(entry) = tasks.entry(key) {
                entry.insert((task, group));
                members.push(key);
            }
        }
        if tasks.len() >= *prune_at {
            // Under the lock: a freed task's last weak handle frees memory, no `Drop`.
            tasks.retain(|_, (task, _)| task.strong_count() > 0);
            *prune_at = (2 * tasks.len()).max(PRUNE_FROM);
            groups.clear();
            for (&key, &(_, group)) in tasks.iter() {
                groups.entry(group).or_default().push(key);
            }
        }
    }

    /// Lets go of the groups of the tasks at `keys` (for the caller to drop outside
    /// the lock).
    fn let_go(&mut self, keys: &[usize]) -> Vec<Weak<dyn HasCore>> {
        let mut gone = Vec::new();
        for key in keys {
            let Some(&(_, group)) = self.tasks.get(key) else {
                continue;
            };
            for member in self.groups.remove(&group).unwrap_or_default() {
                gone.extend(self.tasks.remove(&member).map(|(task, _)| task));
            }
        }
        gone
    }

    /// Lets every task go (for the caller to drop outside the lock).
    fn take(&mut self) -> FreeTasks {
        self.prune_at = PRUNE_FROM;
        self.groups.clear();
        std::mem::replace(
            &mut self.tasks,
            HashMap::with_hasher(BuildHasherDefault::new()),
        )
    }
}

/// [`Free`]'s tasks and their groups: a hasher that needs no seed, for a `static` (the
/// keys are addresses and numbers, chosen by no user).
type FreeTasks = HashMap<usize, (Weak<dyn HasCore>, u64), BuildHasherDefault<DefaultHasher>>;
type Groups = HashMap<u64, Vec<usize>, BuildHasherDefault<DefaultHasher>>;

static BLOCKED: Mutex<Registry> = Mutex::new(Registry {
    threads: BTreeMap::new(),
    tasks: BTreeMap::new(),
    next: 0,
    free: Free {
        tasks: HashMap::with_hasher(BuildHasherDefault::new()),
        groups: HashMap::with_hasher(BuildHasherDefault::new()),
        next: 0,
        prune_at: PRUNE_FROM,
    },
});

fn address(core: &Core) -> usize {
    core as *const Core as usize
}

/// The task running on this thread waits for `awaited` and runs a job inline: the
/// task under it is recorded until the guard drops, for a wait of that job to publish.
pub(crate) fn run_inline(awaited: &Core) -> RunningInline {
    let (Some(task), Some(awaited)) = (current_task(), awaited.job.clone()) else {
        return RunningInline(false);
    };
    UNDER.with(|under| under.borrow_mut().push(Under { task, awaited }));
    RunningInline(true)
}

/// The tasks under the one running on this thread (see [`run_inline`]), as a graph
/// run started by it keeps them (see `job::TaskOwner`).
pub(crate) fn under_here() -> Vec<Under> {
    UNDER
        .try_with(|under| {
            under
                .borrow()
                .iter()
                .map(|u| Under {
                    task: u.task.clone(),
                    awaited: u.awaited.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `under`'s tasks as frames of a published thread, each waiting for the one above;
/// `None` when one of those has ended (the task above it has returned).
fn frames_of(under: &[Under]) -> Option<Vec<Frame>> {
    under
        .iter()
        .map(|u| {
            Some(Frame {
                task: u.task.clone(),
                awaits: Awaits {
                    all: true,
                    futures: vec![u.awaited.upgrade()?.task()],
                    gather: None,
                },
                via: Via::Own,
            })
        })
        .collect()
}

/// The futures tasks that own the run parts on this thread's stack (see
/// `engine::owner::in_part_of`), innermost first, each once (a run started by a
/// graph task of a futures task's run is that task's too).
fn parts_here() -> Vec<Arc<TaskOwner>> {
    let mut owners: Vec<Arc<TaskOwner>> = Vec::new();
    crate::engine::owner::owners_of_parts_here(|owner| {
        if let Ok(owner) = owner.clone().downcast::<TaskOwner>() {
            if !owners.iter().any(|o| o.task.ptr_eq(&owner.task)) {
                owners.push(owner);
            }
        }
    });
    owners
}

/// Takes the record of [`run_inline`] back when dropped (also while unwinding).
pub(crate) struct RunningInline(bool);

impl Drop for RunningInline {
    fn drop(&mut self) {
        if self.0 {
            // Dropped outside the borrow (the task is still running: not the last one).
            let under = UNDER.with(|under| under.borrow_mut().pop());
            drop(under);
        }
    }
}

/// The calling thread, published as blocked until dropped.
pub(crate) struct Published(u64);

impl Drop for Published {
    fn drop(&mut self) {
        let unpublished = BLOCKED.lock().recover().unpublish(self.0);
        // Dropped outside the lock: no `Drop` of a task runs under it.
        drop(unpublished);
    }
}

impl Registry {
    /// Takes `thread`'s frames out, and the free tasks once no thread is left blocked,
    /// for the caller to drop outside the lock.
    fn unpublish(&mut self, thread: u64) -> Option<(Vec<Frame>, FreeTasks)> {
        let frames = self.threads.remove(&thread)?;
        // No wait left to serve: what they reached is let go (see `Free`).
        let free = match self.threads.is_empty() {
            true => self.free.take(),
            false => FreeTasks::default(),
        };
        for frame in &frames {
            let key = address(frame.task.core());
            if let Some(places) = self.tasks.get_mut(&key) {
                places.retain(|&(t, _)| t != thread);
                if places.is_empty() {
                    self.tasks.remove(&key);
                }
            }
        }
        Some((frames, free))
    }
}

/// Publishes the calling thread as blocked, the futures task running on it waiting for
/// `awaited` (without a deadline), unless that wait could never end: then the error
/// that says why, and nothing is published. `Ok(None)` when there is nothing to
/// publish: outside a futures task, or in user code run while a task ends (a done
/// callback), whose task is the one under it already.
pub(crate) fn block(awaited: &Awaited<'_>) -> Result<Option<Published>, FutureError> {
    // The futures task whose wait this is: the task running here, or the one whose
    // graph run the graph task running here belongs to, which cannot end before that
    // graph task does, nor can the tasks under it on its thread. Several graph tasks
    // of one run may so wait for it at once, each on a thread of its own: the task
    // then needs every one of those waits (see `Search::look_at`).
    // (`via`: whose wait it is, for the error to say so.)
    let own = match current_task_under_graph() {
        Some((top, in_graph)) => {
            let via = if in_graph { Via::Graph } else { Via::Own };
            Some((top, None, via))
        }
        None => match graph_task_owner() {
            Some(owner) => match owner.task.upgrade() {
                Some(top) => Some((top, Some(owner), Via::Graph)),
                None => return Ok(None),
            },
            None => None,
        },
    };
    // The futures tasks whose runs have parts under this wait on this thread (a
    // worker waiting in a join of one took up the work this wait is in): none of them
    // can end before the wait does, whether or not the waiting task is theirs.
    let parts = parts_here();
    if own.is_none() && parts.is_empty() {
        return Ok(None);
    }
    let awaits = match awaited {
        Awaited::One(core) => match core.job.as_ref().and_then(Weak::upgrade) {
            Some(job) => Awaits {
                all: true,
                futures: vec![job.task()],
                gather: None,
            },
            // A future no task makes has ended (`scatter`).
            None => return Ok(None),
        },
        Awaited::Several { all, futures, .. } => Awaits {
            all: *all,
            futures: futures(),
            gather: None,
        },
        Awaited::Gather { first, watch } => match first.job.as_ref().and_then(Weak::upgrade) {
            Some(job) => Awaits {
                all: false,
                futures: vec![job.task()],
                gather: Some(watch()),
            },
            None => return Ok(None),
        },
    };
    // Bottom first: each run part's task (with the tasks under it on its own thread),
    // outermost first, then the waiting task (with the ones under it here). Each of
    // them needs this wait to end.
    let mut mine = Vec::new();
    if let Some((top, owner, via)) = own {
        // The awaited futures of the tasks under it are held by those tasks' waits.
        let under = match &owner {
            // (None under it once `UNDER` is destroyed: no task runs on the thread then.)
            None => UNDER
                .try_with(|under| frames_of(&under.borrow()))
                .unwrap_or(Some(Vec::new())),
            Some(owner) => frames_of(&owner.under),
        };
        let Some(under) = under else {
            return Ok(None);
        };
        mine = under;
        mine.push(Frame {
            task: top,
            awaits: awaits.clone(),
            via,
        });
    }
    // A part of a run of the waiting task, or of a task under it here, adds nothing:
    // that task is a frame of this thread's already, with what it waits for; nor does
    // a task under a part's task that is one already. A task published twice on a
    // thread is taken as nothing to publish: the search saw no cycle through it, and
    // the wait hung (a task run here above one whose `graph!` runs here too, the
    // tree's root marked a part of its run).
    let mut seen: Vec<usize> = mine.iter().map(|f| address(f.task.core())).collect();
    let mut frames = Vec::new();
    for part in parts.iter().rev() {
        let Some(task) = part.task.upgrade() else {
            continue;
        };
        // (A run its task no longer waits for: a failed one whose other tasks finish.
        // A task cancelled while it runs goes on, and may still wait for its run.)
        let returned = task.core().is_done() && task.core().status() != Status::Cancelled;
        if returned || seen.contains(&address(task.core())) {
            continue;
        }
        let Some(under) = frames_of(&part.under) else {
            continue;
        };
        for frame in under {
            let at = address(frame.task.core());
            if !seen.contains(&at) {
                seen.push(at);
                frames.push(frame);
            }
        }
        seen.push(address(task.core()));
        frames.push(Frame {
            task,
            awaits: awaits.clone(),
            via: Via::Part,
        });
    }
    frames.extend(mine);
    if frames.is_empty() {
        return Ok(None);
    }
    let mut addresses: Vec<usize> = frames.iter().map(|f| address(f.task.core())).collect();
    addresses.sort_unstable();
    if addresses.windows(2).any(|pair| pair[0] == pair[1]) {
        return Ok(None);
    }
    let mut registry = BLOCKED.lock().recover();
    #[cfg(all(test, not(loom)))]
    tests::UNDER_LOCK.with(crate::futures::hook::Hook::run);
    let thread = registry.next;
    registry.next += 1;
    for (at, frame) in frames.iter().enumerate() {
        registry
            .tasks
            .entry(address(frame.task.core()))
            .or_default()
            .push((thread, at));
    }
    // A task of this thread among the free ones now needs what it waits for: its
    // group is no longer closed, and is let go (see `Free`).
    let stale = registry.free.let_go(&addresses);
    // A wait for every one of futures found free is free, with no search; so is a
    // gather's whose first future is.
    let known_free = match &frames[frames.len() - 1].awaits {
        Awaits {
            all: true, futures, ..
        } => (futures.iter()).all(|future| registry.free.contains(future.core())),
        Awaits {
            gather: Some(_),
            futures,
            ..
        } => registry.free.contains(futures[0].core()),
        Awaits { .. } => false,
    };
    registry.threads.insert(thread, frames);
    let (error, seen, savers) = match known_free {
        true => (None, None, Vec::new()),
        false => {
            let (error, seen, reached, savers) = never_ending(&registry, thread);
            if let Some(reached) = reached {
                registry.free.add(reached);
            }
            (error, Some(seen), savers)
        }
    };
    let (result, unpublished) = match error {
        None => (Ok(Some(Published(thread))), None),
        Some(error) => (Err(error), registry.unpublish(thread)),
    };
    drop(registry);
    // Outside the lock (they take the futures' own): the gathers kept from a cycle
    // only by a future that may still fail look again once it has ended.
    for (watch, saver) in savers {
        watch.wake_at_end(saver);
    }
    // Outside the lock: the search held these tasks, and may have held the last
    // reference to some that ended meanwhile.
    drop(seen);
    drop(unpublished);
    drop(stale);
    result
}

/// How a node of the search needs another.
#[derive(Clone, Copy)]
enum Need {
    /// A task on a published thread needs what it waits for (its own wait, or one
    /// of a run it started, see [`Via`]).
    Blocked { via: Via },
    /// A wait needs an awaited task.
    Awaited,
    /// A task that has not started needs an argument.
    Argument,
    /// A task on a published thread needs the task above it there.
    Above,
}

/// A task, or a wait, reached by the search.
struct Node {
    /// The task (`None` for a wait).
    task: Option<Arc<dyn HasCore>>,
    /// A wait for any one of its futures: marked once every one of them is.
    any: bool,
    /// How many needs it has.
    needs: usize,
    /// Needs not marked yet (for `any`).
    open: usize,
    /// Who needs it, and how.
    needed_by: Vec<(usize, Need)>,
    /// Cannot end before a task of the waiting thread does.
    marked: bool,
    /// The need that marked it.
    cause: Option<(usize, Need)>,
}

/// A gather's wait reached by the search (see [`Search::expand`]).
struct GatherWait {
    /// Its node.
    node: usize,
    /// The node of the future it waits for (`None`: ended).
    first: Option<usize>,
    watch: Arc<Watch>,
    /// The nodes of the other futures of its list not ended, in its order, once
    /// listed.
    others: Option<Vec<usize>>,
}

/// The part of the wait-for graph a wait reaches.
struct Search<'r> {
    registry: &'r Registry,
    nodes: Vec<Node>,
    /// The node of each task, by its core's address.
    index: HashMap<usize, usize>,
    /// Tasks' nodes still to look at.
    todo: Vec<usize>,
    /// The gathers' waits met.
    gathers: Vec<GatherWait>,
    /// Tasks met again or found ended, and the gathers' lists: dropped with the
    /// nodes, outside the registry's lock (one may be the last reference, and a task's
    /// `Drop` drops user values).
    held: Vec<Arc<dyn HasCore>>,
    lists: Vec<Listed>,
}

impl Search<'_> {
    fn node(&mut self, task: Option<Arc<dyn HasCore>>, any: bool) -> usize {
        self.nodes.push(Node {
            task,
            any,
            needs: 0,
            open: 0,
            needed_by: Vec::new(),
            marked: false,
            cause: None,
        });
        self.nodes.len() - 1
    }

    fn need(&mut self, node: usize, needs: usize, how: Need) {
        self.nodes[needs].needed_by.push((node, how));
        self.nodes[node].needs += 1;
    }

    /// The wait of `node` can end whatever else it needs: it needs a node that
    /// nothing marks.
    fn ends(&mut self, node: usize) {
        let ended = self.node(None, false);
        self.need(node, ended, Need::Awaited);
    }

    /// The node of a task, made when first met, and queued to look at unless a search
    /// found it free before (see [`Free`]): then it needs nothing this wait could.
    fn task(&mut self, task: Arc<dyn HasCore>) -> usize {
        let key = address(task.core());
        if let Some(&node) = self.index.get(&key) {
            self.held.push(task);
            return node;
        }
        let free = self.registry.free.contains(task.core());
        let node = self.node(Some(task), false);
        self.index.insert(key, node);
        if !free {
            self.todo.push(node);
        }
        node
    }

    /// The node of a wait, with what it needs: its unfinished futures (of a gather's,
    /// the first only, until [`expand`](Self::expand)ed).
    fn wait(&mut self, awaits: &Awaits) -> usize {
        let node = self.node(None, !awaits.all);
        let mut first = None;
        let mut ended = false;
        for future in &awaits.futures {
            if !future.core().is_done() {
                let needs = self.task(future.clone());
                self.need(node, needs, Need::Awaited);
                first = first.or(Some(needs));
            } else {
                ended = true;
            }
        }
        if ended && !awaits.all {
            // One ended since the wait was published: that ends a wait for any one (a
            // gather's for its first), which wakes and looks again.
            self.ends(node);
        }
        if let Some(watch) = &awaits.gather {
            self.gathers.push(GatherWait {
                node,
                first,
                watch: watch.clone(),
                others: None,
            });
        }
        node
    }

    /// Adds to the wait of the gather `at` the other futures of its list not ended:
    /// any one of them failing ends it. Done only once the future it waits for was
    /// found unable to end (the others cannot make the wait less able to end), so
    /// that a gather of many futures is listed only when it matters.
    fn expand(&mut self, at: usize) {
        let node = self.gathers[at].node;
        let first = self.gathers[at].first;
        let Some(listed) = self.gathers[at].watch.listed() else {
            self.gathers[at].others = Some(Vec::new());
            return;
        };
        let mut others = Vec::new();
        let mut ended = false;
        for future in listed.iter() {
            if future.core().is_done() {
                ended |= future.core().status() != Status::Finished;
                continue;
            }
            // (A future listed twice is needed twice: each of its marks counts.)
            let needs = self.task(future.clone());
            if Some(needs) != first {
                self.need(node, needs, Need::Awaited);
                others.push(needs);
            }
        }
        if ended {
            // One that ended without a result ends the gather (it may have failed
            // after the gather last looked, its waiter not woken yet).
            self.ends(node);
        }
        self.lists.push(listed);
        self.gathers[at].others = Some(others);
    }

    /// Which nodes could never end, as far as the search reached: every node but
    /// those that can, found from what needs nothing (a task free to go on, a wait
    /// already over) up (a task once all it needs can end, a wait for any one once
    /// one of them can). The thread's own tasks (nodes `0..mine`) cannot.
    fn stuck(&self, mine: usize) -> Vec<bool> {
        let nodes = &self.nodes;
        let mut can_end = vec![false; nodes.len()];
        // Needs left before a node can end: all of them, or one for a wait for any.
        let mut left: Vec<usize> = (nodes.iter())
            .map(|node| if node.any { 1 } else { node.needs })
            .collect();
        let mut free: Vec<usize> = (mine..nodes.len())
            .filter(|&at| nodes[at].needs == 0)
            .collect();
        for &at in &free {
            can_end[at] = true;
        }
        while let Some(node) = free.pop() {
            for &(by, _) in &nodes[node].needed_by {
                if by < mine || can_end[by] {
                    continue;
                }
                left[by] -= 1;
                if left[by] == 0 {
                    can_end[by] = true;
                    free.push(by);
                }
            }
        }
        can_end.into_iter().map(|can| !can).collect()
    }

    /// Marks the nodes that cannot end before a task of the waiting thread does (its
    /// own, nodes `0..mine`), from scratch: breadth first, so that each node's cause
    /// is one of its shortest ways back. A wait for any one is marked once each of
    /// its futures is, or once one is and none of them could ever end otherwise (see
    /// [`stuck`](Self::stuck)): a task waiting for any of `a` and `b`, where `a` waits
    /// for that task and `b` is the waiting thread's, needs `b`, though `a` is never
    /// marked (nothing marks a cycle that does not go through the waiting thread),
    /// and such a cycle hung.
    fn mark(&mut self, mine: usize) {
        let stuck = self.stuck(mine);
        let nodes = &mut self.nodes;
        for (at, node) in nodes.iter_mut().enumerate() {
            node.marked = at < mine;
            node.cause = None;
            node.open = node.needs;
        }
        let mut marked: VecDeque<usize> = (0..mine).collect();
        while let Some(node) = marked.pop_front() {
            for at in 0..nodes[node].needed_by.len() {
                let (by, how) = nodes[node].needed_by[at];
                let needer = &mut nodes[by];
                if needer.marked {
                    continue;
                }
                needer.open -= 1;
                if !needer.any || needer.open == 0 || stuck[by] {
                    needer.marked = true;
                    needer.cause = Some((node, how));
                    marked.push_back(by);
                }
            }
        }
    }

    /// Adds what the task of `node` needs.
    fn look_at(&mut self, node: usize) {
        let registry = self.registry;
        let task = self.nodes[node].task.clone().expect("a task's node");
        let core = task.core();
        // A task cancelled while it runs is done, but its code goes on: blocked on a
        // published thread, it needs what it waits for there all the same, and the
        // tasks under it there need it to return (a waiter is never given a done task
        // to wait for: see `wait`). Taken as ended, it freed a cycle of waits through
        // the tasks under it, which hung.
        let places = registry.tasks.get(&address(core));
        if core.is_done() && places.is_none() {
            return;
        }
        if let Some(places) = places {
            // Each place blocks it: it needs every one of their waits.
            for &(thread, at) in places {
                let frames = &registry.threads[&thread];
                let wait = self.wait(&frames[at].awaits);
                let via = frames[at].via;
                self.need(node, wait, Need::Blocked { via });
                if let Some(above) = frames.get(at + 1) {
                    let above = self.task(above.task.clone());
                    self.need(node, above, Need::Above);
                }
            }
        } else if core.status() == Status::Pending {
            for dependency in core.dependencies.iter() {
                let Some(dependency) = dependency.core.upgrade() else {
                    continue;
                };
                if dependency.core().is_done() {
                    self.held.push(dependency);
                } else {
                    let needs = self.task(dependency);
                    self.need(node, needs, Need::Argument);
                }
            }
        }
        // Otherwise it runs on a thread that is not blocked, or is ready to: it can
        // end.
    }

    /// Looks at every task queued.
    fn look(&mut self) {
        while let Some(node) = self.todo.pop() {
            self.look_at(node);
        }
    }

    /// The gathers whose first future cannot end, kept from a cycle by others of
    /// their lists that could still fail, each with the last of those in its list:
    /// once that one has ended, the gather must look again (a future that finishes
    /// well no longer ends its wait). The last, as futures tend to end in the order
    /// of their list, so that such a gather looks again seldom.
    fn savers(&self) -> Vec<(Arc<Watch>, Arc<dyn HasCore>)> {
        let nodes = &self.nodes;
        (self.gathers.iter())
            .filter(|gather| !nodes[gather.node].marked)
            .filter(|gather| gather.first.is_some_and(|first| nodes[first].marked))
            .filter_map(|gather| {
                let others = gather.others.as_ref()?;
                let saver = others.iter().rev().find(|&&other| !nodes[other].marked)?;
                Some((gather.watch.clone(), nodes[*saver].task.clone()?))
            })
            .collect()
    }
}

/// What a search held, to drop outside the registry's lock.
type Held = (Vec<Node>, Vec<Arc<dyn HasCore>>, Vec<Listed>);

/// The tasks a search reached, by address, for [`Free`].
type Reached = Vec<(usize, Weak<dyn HasCore>)>;

/// The gathers to wake once a future has ended (see [`Search::savers`]).
type Savers = Vec<(Arc<Watch>, Arc<dyn HasCore>)>;

/// Why the wait of the published `thread`'s top task could never end, if it could
/// not; what the search held; when it met none of the thread's own tasks, every
/// task it reached, by address (see [`Free`]); and the gathers to look again once a
/// future has ended.
fn never_ending(
    registry: &Registry,
    thread: u64,
) -> (Option<FutureError>, Held, Option<Reached>, Savers) {
    let mine = &registry.threads[&thread];
    let mut search = Search {
        registry,
        nodes: Vec::new(),
        index: HashMap::new(),
        todo: Vec::new(),
        gathers: Vec::new(),
        held: Vec::new(),
        lists: Vec::new(),
    };
    // The thread's own tasks, bottom first, as nodes 0..mine.len(): none of them can
    // end while this wait lasts. Not looked at: what they need is what is asked.
    for frame in mine {
        let node = search.node(Some(frame.task.clone()), false);
        search.nodes[node].marked = true;
        search.index.insert(address(frame.task.core()), node);
    }
    let start = search.wait(&mine[mine.len() - 1].awaits);
    search.look();
    // Nothing needs the thread's own tasks: the wait can end, and the set reached is
    // closed (every task in it was looked at, or found free before; a gather's wait
    // not listed needs a task in it, which is enough for a wait for any one). Unless
    // a gather's wait not listed could never end through the future it waits for:
    // its list may hold a task of this thread's.
    let unlisted_stuck = |search: &Search<'_>| {
        let stuck = search.stuck(mine.len());
        (0..search.gathers.len())
            .filter(|&at| search.gathers[at].others.is_none())
            .filter(|&at| stuck[search.gathers[at].node])
            .collect::<Vec<usize>>()
    };
    if search.nodes[..mine.len()]
        .iter()
        .all(|n| n.needed_by.is_empty())
        && unlisted_stuck(&search).is_empty()
    {
        // (Not kept as free when part of it could never end: tasks already blocked,
        // in a cycle that this wait is not part of, which later searches must see.)
        let stuck = search.stuck(mine.len());
        let reached = (!stuck[mine.len()..].iter().any(|&stuck| stuck)).then(|| {
            (search.index.into_iter())
                .filter(|&(_, node)| node >= mine.len())
                .filter_map(|(key, node)| {
                    Some((key, Arc::downgrade(search.nodes[node].task.as_ref()?)))
                })
                .collect()
        });
        let held = (search.nodes, search.held, search.lists);
        return (None, held, reached, Vec::new());
    }
    // A gather's wait marked through the future it waits for needs its other futures
    // too: they are added, and the marks made again, until no gather's wait marked is
    // left to list (each is listed once); so is one that could never end through the
    // future it waits for.
    loop {
        search.mark(mine.len());
        let never = unlisted_stuck(&search);
        let unlisted: Vec<usize> = (0..search.gathers.len())
            .filter(|&at| search.gathers[at].others.is_none())
            .filter(|at| search.nodes[search.gathers[*at].node].marked || never.contains(at))
            .collect();
        if unlisted.is_empty() {
            break;
        }
        for at in unlisted {
            search.expand(at);
        }
        search.look();
    }
    let savers = search.savers();
    let error = match search.nodes[start].marked {
        true => Some(cycle_error(&search.nodes, start, mine)),
        false => None,
    };
    let held = (search.nodes, search.held, search.lists);
    (error, held, None, savers)
}

/// The error of the wait whose node `start` was marked: the cycle it closes, followed
/// from `start` through the needs that marked each node back to the waiting thread.
fn cycle_error(nodes: &[Node], start: usize, mine: &[Frame]) -> FutureError {
    let top = mine.len() - 1;
    let waits = |via| match via {
        Via::Own => CycleLink::Waits,
        Via::Graph => CycleLink::GraphWaits,
        Via::Part => CycleLink::PartUnderWait,
    };
    let mut cycle: Vec<(&Arc<dyn HasCore>, CycleLink)> =
        vec![(&mine[top].task, waits(mine[top].via))];
    // Through another thread's wait, or a part of a run under a wait: a cycle of
    // waits, not a task waiting for itself.
    let mut through_waits = mine[top].via == Via::Part;
    let mut at = start;
    loop {
        // A node marked by a need always has its cause; the thread's own are 0..=top.
        let (next, how) = nodes[at].cause.expect("a marked node has a cause");
        let link = match how {
            Need::Awaited => None,
            Need::Blocked { via } => {
                through_waits = true;
                Some(waits(via))
            }
            Need::Argument => Some(CycleLink::Argument),
            Need::Above => Some(CycleLink::RunsInline),
        };
        if let (Some(link), Some(last)) = (link, cycle.last_mut()) {
            last.1 = link;
        }
        if next <= top {
            // Back on the waiting thread, at `next`: the tasks above it there, up to
            // the waiting one, each resume only once the next returns (a run part's
            // task, once the wait above its part ends).
            for frame in &mine[next..top] {
                let link = match frame.via {
                    Via::Part => {
                        through_waits = true;
                        CycleLink::PartUnderTask
                    }
                    Via::Own | Via::Graph => CycleLink::RunsInline,
                };
                cycle.push((&frame.task, link));
            }
            break;
        }
        if let Some(task) = &nodes[next].task {
            cycle.push((task, CycleLink::Waits));
        }
        at = next;
    }
    let waiter = mine[top].task.core();
    if !through_waits {
        // The awaited task (the waiting one itself when it waits for its own future).
        let awaited = cycle.get(1).map_or(waiter, |(task, _)| task.core());
        return FutureError::WaitsForItself {
            task: awaited.name.to_string(),
            call_site: awaited.call_site(),
            waiter: waiter.name.to_string(),
            waiter_call_site: waiter.call_site(),
            in_graph: mine[top].via == Via::Graph,
        };
    }
    FutureError::WaitCycle {
        cycle: cycle
            .into_iter()
            .map(|(task, then)| CycleStep {
                task: task.core().name.to_string(),
                call_site: task.core().call_site(),
                then,
            })
            .collect(),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::{mpsc, Mutex, OnceLock};
    use std::time::Duration;

    use super::*;
    use crate::futures::hook::Hook;
    use crate::futures::{Client, Future};

    thread_local! {
        /// Run once when this thread next publishes a wait, under the registry's
        /// lock, before the search: nothing another thread publishes or lets go
        /// meanwhile reaches the search.
        pub(super) static UNDER_LOCK: Hook = const { Hook::new() };
    }

    /// Whether the task of `future` is on a published thread's stack.
    fn is_published<T>(future: &Future<T>) -> bool {
        let registry = BLOCKED.lock().recover();
        registry.tasks.contains_key(&address(future.core()))
    }

    /// Whether a search found the task of `future` free and keeps it so.
    fn is_free<T>(future: &Future<T>) -> bool {
        BLOCKED.lock().recover().free.contains(future.core())
    }

    /// Polls until `condition` holds (each step below waits for a wait to publish).
    fn until(condition: impl Fn() -> bool) {
        while !condition() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A task that waits for the channel it returns the sender of, then runs `then`;
    /// returned once it runs (a wait for it then sleeps, instead of running it inline).
    fn gated<T: Send + Sync + 'static>(
        client: &Client,
        then: impl Fn() -> T + Send + Sync + 'static,
    ) -> (Future<T>, mpsc::Sender<()>) {
        let (open, opened) = mpsc::channel::<()>();
        let opened = Mutex::new(opened);
        let future = client.submit(
            move || {
                let _ = opened.lock().unwrap().recv();
                then()
            },
            (),
        );
        until(|| future.status() == crate::futures::Status::Running);
        (future, open)
    }

    /// A chain's tasks found free by a wait for its end stay free while a task of
    /// another client that a search found free publishes a wait of its own: only that
    /// task's group is let go. The whole set was, and every later wait for the chain
    /// walked it again (a rare 30 s watchdog of
    /// `waits_for_different_links_of_a_long_chain_are_not_each_searched_through_it`
    /// beside other tests).
    #[test]
    fn a_wait_published_elsewhere_lets_go_only_the_free_tasks_it_may_need() {
        let client = Client::builder().threads(2).build().unwrap();
        let (gate, open) = gated(&client, || 0_u64);
        let mut end = gate.clone();
        for _ in 0..1_000 {
            end = client.submit(|x: u64| x + 1, (&end,));
        }
        let of = end.clone();
        let waiter = client.submit(move || of.result().unwrap(), ());
        until(|| is_free(&end));

        let other = Client::builder().threads(4).build().unwrap();
        let (inner, open_inner) = gated(&other, || 1_u64);
        let of = inner.clone();
        let (outer, open_outer) = gated(&other, move || of.result().unwrap() + 1);
        let of = outer.clone();
        let outer_waiter = other.submit(move || of.result().unwrap(), ());
        until(|| is_free(&outer));
        // `outer` now waits for `inner`: it and what was found with it are let go.
        open_outer.send(()).unwrap();
        until(|| !is_free(&outer));

        assert!(is_free(&end) && is_free(&gate), "the chain was let go");
        open_inner.send(()).unwrap();
        open.send(()).unwrap();
        assert_eq!(outer_waiter.result().unwrap(), 2);
        assert_eq!(waiter.result().unwrap(), 1_000);
    }

    /// A search that stops at a task found free before joins that task's group: what
    /// it reached may need it. `d` (an argument `a`) is found free through `a`, found
    /// free before; `a` then waits for `y`, which lets `d` go with it, and `y`'s wait
    /// for `d` is searched and refused (`y` → `d` → `a` → `y`). Had `d` been kept free,
    /// `y`'s wait would not have been searched, and the three would have waited for
    /// ever.
    #[test]
    fn a_task_found_free_through_another_is_let_go_with_it() {
        let client = Client::builder().threads(4).build().unwrap();
        let y_slot: Arc<OnceLock<Future<String>>> = Arc::default();
        let of = y_slot.clone();
        let (a, open_a) = gated(&client, move || {
            (of.wait().result()).unwrap_or_else(|error| error.to_string())
        });
        let of = a.clone();
        let a_waiter = client.submit(move || of.result().unwrap(), ());
        until(|| is_free(&a));
        let d = client.submit(|s: String| s, (&a,));
        let of = d.clone();
        let d_waiter = client.submit(move || of.result().unwrap(), ());
        until(|| is_free(&d));

        let of = d.clone();
        let (y, open_y) = gated(&client, move || {
            (of.result()).unwrap_or_else(|error| error.to_string())
        });
        assert!(y_slot.set(y.clone()).is_ok());
        open_a.send(()).unwrap();
        until(|| !is_free(&a));
        assert!(
            !is_free(&d),
            "`d` kept free after `a`, which it needs, published"
        );
        open_y.send(()).unwrap();

        let refused = y.result_timeout(Duration::from_secs(30)).unwrap();
        assert!(refused.contains("cycle"), "{refused}");
        assert_eq!(a.result().unwrap(), refused);
        assert_eq!(d_waiter.result().unwrap(), refused);
        assert_eq!(a_waiter.result().unwrap(), refused);
    }

    /// How `t` waits for `[a, b]` in [`ended_unseen`].
    enum Waits {
        /// A gather: `b` fails.
        Gather,
        /// A wait for the first to complete: `b` finishes well.
        FirstCompleted,
    }

    /// A search through another task's wait that a future has ended, the waiter not
    /// woken by it yet, sees that the wait can end. `t` waits for `[a, b]` as `waits`
    /// says, `a` waits for `u`, and `u` waits for `t` just as `b` ends: under the lock,
    /// so that `t` is still published then. `u`'s result, and `t`'s, which `u` reads.
    fn ended_unseen(waits: Waits) -> (String, String) {
        use crate::futures::{wait, Status, WaitMode};
        let client = Client::builder().threads(4).build().unwrap();
        let ends_as = match waits {
            Waits::Gather => Status::Error,
            Waits::FirstCompleted => Status::Finished,
        };
        let (b, open_b) = gated(&client, move || match ends_as {
            Status::Error => panic!("b fails"),
            _ => "b".to_string(),
        });
        let u_slot: Arc<OnceLock<Future<String>>> = Arc::default();
        let of = u_slot.clone();
        let read = |f: &Future<String>| f.result().unwrap_or_else(|e| e.to_string());
        let a = client.submit(move || read(of.wait()), ());
        until(|| a.status() == Status::Running);
        let list = [a.clone(), b.clone()];
        let t = client.submit(
            move || match waits {
                Waits::Gather => match crate::futures::get_client().unwrap().gather(&list) {
                    Ok(values) => values.concat(),
                    Err(error) => error.to_string(),
                },
                Waits::FirstCompleted => {
                    let (done, _) = wait(&list, WaitMode::FirstCompleted, None);
                    done.iter().map(read).collect()
                }
            },
            (),
        );
        until(|| is_published(&t));
        let (of, ending) = (t.clone(), b.clone());
        let open_b = Mutex::new(open_b);
        let (u, open_u) = gated(&client, move || {
            let (open_b, ending) = (open_b.lock().unwrap().clone(), ending.clone());
            UNDER_LOCK.with(|hook| {
                hook.set(move || {
                    open_b.send(()).unwrap();
                    until(|| ending.status() == ends_as);
                })
            });
            read(&of)
        });
        assert!(u_slot.set(u.clone()).is_ok());
        until(|| is_published(&a));
        open_u.send(()).unwrap();

        let got = u.result_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(a.result().unwrap(), got);
        (got, t.result().unwrap())
    }

    /// A gather's listed future that failed after the gather last looked ends it for
    /// another task's search: `u` saw a cycle and failed with its error, though `t`
    /// ends with `b`'s failure, and `u` with it.
    #[test]
    fn a_failure_a_gather_has_not_seen_yet_ends_it_for_another_search() {
        let (u, t) = ended_unseen(Waits::Gather);
        assert!(u.contains("b fails"), "{u}");
        assert_eq!(u, t);
    }

    /// A future that ended after a wait for the first to complete was published ends
    /// that wait for another task's search (it was left out of the wait's needs, the
    /// others then all found unable to end).
    #[test]
    fn an_end_a_wait_for_any_has_not_seen_yet_ends_it_for_another_search() {
        let (u, t) = ended_unseen(Waits::FirstCompleted);
        assert_eq!(u, "b");
        assert_eq!(t, "b");
    }
}
