//! Values counted when made and dropped, some of whose `Drop` panics, the ledger that
//! counts them, and the quieting of the panics tests inject: shared by the outcome
//! tests (`#[path]`-included by each; each keeps its own `Val::new`).

// Each includer uses part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};

/// Marks a clone's value in a ledger of values (its own value stays the original's).
pub(crate) const CLONED: u64 = 1 << 63;

/// What a ledger keeps of each value not dropped yet: a text, or its value.
pub(crate) trait Entry: Send + 'static {
    /// The entry of a clone of a value of `value`.
    fn of_clone(value: u64) -> Self;
}

impl Entry for String {
    fn of_clone(value: u64) -> String {
        format!("a clone of {value:#x}")
    }
}

impl Entry for u64 {
    fn of_clone(value: u64) -> u64 {
        value ^ CLONED
    }
}

/// The values a case made and dropped, by serial number.
pub(crate) struct Ledger<E> {
    pub(crate) next: AtomicU64,
    pub(crate) made: AtomicUsize,
    pub(crate) dropped: AtomicUsize,
    /// Each value not dropped yet, with its entry.
    pub(crate) live: Mutex<HashMap<u64, E>>,
    /// Drops of a serial not live: dropped twice (or never made).
    pub(crate) unknown: AtomicUsize,
}

// Not derived: that would ask `E: Default`.
impl<E> Default for Ledger<E> {
    fn default() -> Self {
        Ledger {
            next: AtomicU64::default(),
            made: AtomicUsize::default(),
            dropped: AtomicUsize::default(),
            live: Mutex::default(),
            unknown: AtomicUsize::default(),
        }
    }
}

impl<E> Ledger<E> {
    pub(crate) fn enter(&self, entry: E) -> u64 {
        let serial = self.next.fetch_add(1, Ordering::SeqCst);
        self.made.fetch_add(1, Ordering::SeqCst);
        lock(&self.live).insert(serial, entry);
        serial
    }

    pub(crate) fn leave(&self, serial: u64) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
        if lock(&self.live).remove(&serial).is_none() {
            self.unknown.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// How many values are not dropped yet.
    pub(crate) fn live(&self) -> usize {
        lock(&self.live).len()
    }
}

/// A lock, whoever panicked holding it (a value's `Drop` may).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A task's value: counted when made (or cloned) and dropped. The value a task made
/// `Fused` panics when dropped (unless the thread is unwinding already, where a second
/// panic would abort any Rust code); its clones do not. `parts` is drop glue of more
/// counted values.
pub(crate) struct Val<E: Entry> {
    pub(crate) value: u64,
    pub(crate) serial: u64,
    pub(crate) fuse: Option<Arc<str>>,
    pub(crate) parts: Vec<Val<E>>,
    pub(crate) ledger: Arc<Ledger<E>>,
}

impl<E: Entry> Clone for Val<E> {
    fn clone(&self) -> Self {
        Val {
            value: self.value,
            serial: self.ledger.enter(E::of_clone(self.value)),
            fuse: None,
            parts: self.parts.clone(),
            ledger: self.ledger.clone(),
        }
    }
}

impl<E: Entry> Drop for Val<E> {
    fn drop(&mut self) {
        self.ledger.leave(self.serial);
        if let Some(token) = self.fuse.take() {
            if !std::thread::panicking() {
                panic!("drop of [{token}]");
            }
        }
    }
}

/// The payload of a caught panic, as text.
pub(crate) fn text_of(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else {
        "<not text>".to_owned()
    }
}

/// Keeps the injected panics (those starting with one of `ours`) and the warnings
/// about them off the test's output, unless the environment variable `loud` is set.
pub(crate) fn quiet(loud: &str, ours: &'static [&'static str]) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(loud).is_some() {
            return;
        }
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = text_of(info.payload());
            if !ours.iter().any(|o| text.starts_with(o)) {
                default(info);
            }
        }));
        taskweave::on_warning(move |message| {
            if !ours.iter().any(|o| message.contains(o)) {
                // A warning quoting an injected panic.
                eprintln!("{message}");
            }
        });
    });
}

/// What a task is told to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Makes its value.
    Ok,
    /// Panics (`boom [token]`).
    Panics,
    /// Makes a value whose `Drop` panics (`drop of [token]`).
    Fused,
    /// Makes a value holding more counted values (`outcomes_futures` only).
    Glue,
    /// Panics on its first attempt (`flaky [token]`), retried once.
    Flaky,
}

/// Runs `f`; the text of its panic, if it panics (the payload dropped).
pub(crate) fn caught<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let text = text_of(&*payload);
        drop(payload);
        text
    })
}

/// Waits up to five seconds for `flag`.
pub(crate) fn wait_for(flag: &std::sync::atomic::AtomicBool) {
    let start = std::time::Instant::now();
    while !flag.load(Ordering::SeqCst) && start.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// How many times each value's `Drop` panic (`drop of [token]`) was caught, by token,
/// of the panics caught at each place; the first other panic's failure otherwise.
pub(crate) fn drop_panics<'a>(
    caught: &'a [(&'static str, String)],
) -> Result<HashMap<&'a str, usize>, String> {
    let mut tokens: HashMap<&str, usize> = HashMap::new();
    for (place, text) in caught {
        let token = text
            .strip_prefix("drop of [")
            .and_then(|rest| rest.strip_suffix(']'))
            .ok_or_else(|| format!("a panic at {place}: {text}"))?;
        *tokens.entry(token).or_default() += 1;
    }
    Ok(tokens)
}
