//! How taskweave's environment variables are parsed, by one rule for all:
//! `TASKWEAVE_SCHEDULER` (read in `options`), `TASKWEAVE_PROGRESS` (in `progress`) and
//! `TASKWEAVE_WARNINGS` (in `warn`), each by its owner through `warn::read_env`, which
//! prints the warning below. This module depends on no other.
//!
//! Each is read once per process. A value is trimmed and matched case-insensitively;
//! an empty one counts as unset. Any other value is ignored with a warning on stderr
//! naming the variable, the value and the accepted values, once per variable: a typo
//! (`syn`) no longer silently leaves the default in place, and a stray space (`"sync "`,
//! easy to get from a shell script) is no typo.

/// An on/off variable's value. `On` is the default behaviour, spelled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    /// `on`, `true`, `1`: the default.
    On,
    /// `off`, `false`, `0`, `never`.
    Off,
}

/// The values accepted by `TASKWEAVE_PROGRESS` and `TASKWEAVE_WARNINGS`.
pub(crate) const SWITCH: &[(&str, Switch)] = &[
    ("on", Switch::On),
    ("off", Switch::Off),
    ("true", Switch::On),
    ("false", Switch::Off),
    ("1", Switch::On),
    ("0", Switch::Off),
    ("never", Switch::Off),
];

/// The value of `var` when set to `raw` (`None`: unset), and the warning to print
/// when `raw` is none of `accepted`. Pure, for the tests.
pub(crate) fn parse<T: Copy>(
    var: &str,
    raw: Option<&str>,
    what: &str,
    accepted: &[(&str, T)],
) -> (Option<T>, Option<String>) {
    let Some(raw) = raw else {
        return (None, None);
    };
    let value = raw.trim();
    if value.is_empty() {
        return (None, None);
    }
    if let Some((_, parsed)) = accepted
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
    {
        return (Some(*parsed), None);
    }
    let names: Vec<&str> = accepted.iter().map(|(name, _)| *name).collect();
    let warning = format!(
        "taskweave: {var}={raw:?} is not {what}; expected one of: {} (ignored)",
        names.join(", ")
    );
    (None, Some(warning))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::options::{Scheduler, SCHEDULER};

    fn scheduler(raw: Option<&str>) -> (Option<Scheduler>, Option<String>) {
        parse("TASKWEAVE_SCHEDULER", raw, "a scheduler", SCHEDULER)
    }

    fn switch(raw: &str) -> (Option<Switch>, Option<String>) {
        parse("TASKWEAVE_PROGRESS", Some(raw), "on or off", SWITCH)
    }

    #[test]
    fn accepted_values_are_trimmed_and_case_insensitive() {
        assert_eq!(scheduler(Some("sync")), (Some(Scheduler::Sync), None));
        assert_eq!(scheduler(Some("sync ")), (Some(Scheduler::Sync), None));
        assert_eq!(scheduler(Some(" SYNC\n")), (Some(Scheduler::Sync), None));
        assert_eq!(scheduler(Some("Threads")), (Some(Scheduler::Threads), None));
        assert_eq!(switch("OFF"), (Some(Switch::Off), None));
        assert_eq!(switch(" Never "), (Some(Switch::Off), None));
        assert_eq!(switch("0"), (Some(Switch::Off), None));
        assert_eq!(switch("False"), (Some(Switch::Off), None));
        assert_eq!(switch("on"), (Some(Switch::On), None));
        assert_eq!(switch("TRUE"), (Some(Switch::On), None));
        assert_eq!(switch("1"), (Some(Switch::On), None));
    }

    #[test]
    fn unset_or_empty_is_the_default_without_a_warning() {
        assert_eq!(scheduler(None), (None, None));
        assert_eq!(scheduler(Some("")), (None, None));
        assert_eq!(scheduler(Some("  ")), (None, None));
    }

    #[test]
    fn unknown_values_are_ignored_with_a_warning_naming_the_accepted_ones() {
        assert_eq!(
            scheduler(Some("syn")),
            (
                None,
                Some(
                    "taskweave: TASKWEAVE_SCHEDULER=\"syn\" is not a scheduler; expected one \
                     of: sync, threads (ignored)"
                        .to_owned()
                )
            )
        );
        assert_eq!(
            switch("of"),
            (
                None,
                Some(
                    "taskweave: TASKWEAVE_PROGRESS=\"of\" is not on or off; expected one of: \
                     on, off, true, false, 1, 0, never (ignored)"
                        .to_owned()
                )
            )
        );
        // The raw value is quoted as given, so that stray spaces show.
        let (value, warning) = switch(" no ");
        assert_eq!(value, None);
        assert!(
            warning
                .as_deref()
                .is_some_and(|w| w.contains("TASKWEAVE_PROGRESS=\" no \" is not on or off")),
            "{warning:?}"
        );
    }
}
