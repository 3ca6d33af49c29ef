//! What a task is called when its builder names nothing: its function's short name,
//! shared by the dynamic builder ([`delayed`](crate::delayed)) and the futures'
//! `submit`, `map` and `task`.

use std::cell::Cell;

/// The name of a task of function type `F`: the last segment of its path (`inc` for
/// `my_crate::stats::inc`, `mean` for `my_crate::mean::<f64>`, `add` for
/// `<my_crate::V as core::ops::Add>::add`), or `closure` for a closure.
///
/// Called on every `submit`, so the text is worked out once per function type and
/// kept in a small cache of the thread ([`Recent`]): a loop that submits a few
/// functions pays a thread-local read, not a scan of the type's name.
pub(crate) fn short_type_name<F: ?Sized>() -> &'static str {
    std::thread_local! {
        static NAMES: Recent<(&'static str, &'static str)> = const { Recent::new() };
    }
    let full = std::any::type_name::<F>();
    // The same text at the same place (address and length): one comparison.
    let same = |(known, _): (&str, &str)| core::ptr::eq(known, full);
    Recent::find(&NAMES, same, || (full, short_name_of(full))).1
}

/// The last [`RECENT`] entries a thread found in a shared table, most recent first:
/// names and call sites are looked up for every task built or submitted, and a loop
/// builds from a handful of places (measured: a chain whose nodes alternate between
/// two call sites cost 61 ns a node to build with a one-entry cache, 19 with one
/// site). Each entry is a cell of its own, so a hit reads one entry or a few, and the
/// most recent first.
pub(crate) struct Recent<E>([Cell<Option<E>>; RECENT]);

/// How many entries a thread keeps in a [`Recent`].
pub(crate) const RECENT: usize = 4;

impl<E: Copy> Recent<E> {
    /// An empty cache.
    pub(crate) const fn new() -> Self {
        Recent([const { Cell::new(None) }; RECENT])
    }

    /// The entry of this thread's cache `recent` that `matches`, or `find`'s answer,
    /// then kept there (the oldest entry makes room). `find` alone when the thread's
    /// locals are being torn down.
    pub(crate) fn find(
        recent: &'static std::thread::LocalKey<Self>,
        matches: impl Fn(E) -> bool,
        find: impl FnOnce() -> E,
    ) -> E {
        let found = recent.try_with(|recent| {
            recent
                .0
                .iter()
                .find_map(|entry| entry.get().filter(|&e| matches(e)))
        });
        match found {
            Ok(Some(entry)) => return entry,
            Ok(None) => {}
            Err(_) => return find(),
        }
        let entry = find();
        let _ = recent.try_with(|recent| {
            for i in (1..RECENT).rev() {
                recent.0[i].set(recent.0[i - 1].get());
            }
            recent.0[0].set(Some(entry));
        });
        entry
    }
}

/// The short name in a full type name or path (see [`short_type_name`]): after the last
/// `::` outside angle brackets, before any generic arguments. Also what remote tasks'
/// errors call a function registered as `module::path::name`.
pub(crate) fn short_name_of(full: &str) -> &str {
    if full.ends_with("{{closure}}") {
        return "closure";
    }
    let bytes = full.as_bytes();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => start = i + 2,
            _ => {}
        }
    }
    let last = &full[start..];
    match last.find('<') {
        Some(0) | None => last,
        Some(generics) => &last[..generics],
    }
}

#[cfg(test)]
mod tests {
    use super::{short_name_of, short_type_name, Recent, RECENT};

    /// A thread keeps its last `RECENT` entries: each found without asking again, the
    /// oldest asked again once more than that were looked up since.
    #[test]
    fn recent_entries_are_kept_and_the_oldest_makes_room() {
        std::thread_local! {
            static CACHE: Recent<(u32, u32)> = const { Recent::new() };
        }
        let asked = std::cell::Cell::new(0);
        let find = |key: u32| {
            let found = Recent::find(
                &CACHE,
                |(k, _)| k == key,
                || {
                    asked.set(asked.get() + 1);
                    (key, key * 10)
                },
            );
            found.1
        };
        let size = RECENT as u32;
        for round in 0..3 {
            for key in 0..size {
                assert_eq!(find(key), key * 10);
            }
            assert_eq!(asked.get(), size, "round {round}: every key asked once");
        }
        assert_eq!(find(size), size * 10);
        assert_eq!(asked.get(), size + 1);
        // Key 0 was the oldest: it made room for `size`.
        assert_eq!(find(0), 0);
        assert_eq!(asked.get(), size + 2);
        assert_eq!(find(size), size * 10);
        assert_eq!(asked.get(), size + 2);
    }

    fn inc(x: u64) -> u64 {
        x + 1
    }

    fn mean<T>(values: &[T]) -> usize {
        values.len()
    }

    #[test]
    fn functions_are_named_by_their_last_segment() {
        assert_eq!(short_type_name::<fn(u64) -> u64>(), "fn(u64) -> u64");
        let f = inc;
        fn name_of<F>(_: &F) -> &'static str {
            short_type_name::<F>()
        }
        assert_eq!(name_of(&f), "inc");
        assert_eq!(name_of(&mean::<String>), "mean");
        assert_eq!(name_of(&|x: u64| x), "closure");
        // The cache gives each type its own name, alternated.
        for _ in 0..3 {
            assert_eq!(name_of(&f), "inc");
            assert_eq!(name_of(&mean::<u8>), "mean");
        }
    }

    #[test]
    fn paths_with_generics_and_qualified_methods() {
        assert_eq!(short_name_of("my_crate::stats::inc"), "inc");
        assert_eq!(
            short_name_of("my_crate::mean<alloc::string::String>"),
            "mean"
        );
        assert_eq!(short_name_of("<my_crate::V as core::ops::Add>::add"), "add");
        assert_eq!(short_name_of("my_crate::main::{{closure}}"), "closure");
        assert_eq!(short_name_of("inc"), "inc");
    }
}
