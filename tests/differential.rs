//! `tests/differential_generated.rs` is what the generator writes for the seed and
//! program count recorded in it: nobody edits it by hand, and a change to the
//! generator comes with the regenerated file (`cargo run --example gen_graphs`).

#[path = "support/gen_graphs.rs"]
mod gen_graphs;

#[test]
fn generated_file_is_up_to_date() {
    let on_disk = include_str!("differential_generated.rs");
    let (seed, programs) =
        gen_graphs::recorded(on_disk).expect("the file records `const SEED` and `const PROGRAMS`");
    assert!(programs >= 200, "at least 200 programs, not {programs}");
    let fresh = gen_graphs::generate(seed, programs);
    // Compared without whitespace and trailing commas: the file is `rustfmt`ed.
    let (on_disk, fresh) = (
        gen_graphs::normalized(on_disk),
        gen_graphs::normalized(&fresh),
    );
    if on_disk != fresh {
        let at = on_disk
            .chars()
            .zip(fresh.chars())
            .take_while(|(a, b)| a == b)
            .count();
        let context = |s: &str| {
            s.chars()
                .skip(at.saturating_sub(80))
                .take(160)
                .collect::<String>()
        };
        panic!(
            "{} differs from what the generator writes for seed {seed:#x} (first \
             difference near character {at} of the text without whitespace):\n  file:      \
             {}\n  generator: {}\nregenerate it with `cargo run --example gen_graphs -- --seed \
             {seed:#x} --programs {programs}`",
            gen_graphs::OUTPUT,
            context(&on_disk),
            context(&fresh),
        );
    }
}
