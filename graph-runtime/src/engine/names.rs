//! What a task is called when its builder names nothing: its function's short name,
//! shared by the dynamic builder ([`delayed`](crate::delayed)) and the futures'
//! `submit`, `map` and `task`.

use std::cell::Cell;

/// The name of a task of function type `F`: the last segment of its path (`inc` for
/// `my_crate::stats::inc`, `mean` for `my_crate::mean::<f64>`, `add` for
/// `<my_crate::V as core::ops::Add>::add`), or `closure` for a closure.
///
/// Called on every `submit`, so the text is worked out once per function type and
/// kept in a one-entry cache of the thread: a loop that submits one function pays a
/// thread-local read, not a scan of the type's name.
pub(crate) fn short_type_name<F: ?Sized>() -> &'static str {
    std::thread_local! {
        static LAST: Cell<(&'static str, &'static str)> = const { Cell::new(("", "")) };
    }
    let full = std::any::type_name::<F>();
    if let Ok((last, name)) = LAST.try_with(Cell::get) {
        // The same text at the same place: one comparison of two words each.
        if core::ptr::eq(last, full) {
            return name;
        }
    }
    let name = short_name_of(full);
    let _ = LAST.try_with(|last| last.set((full, name)));
    name
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
    use super::{short_name_of, short_type_name};

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
