// A pure call is keyed by its arguments; one that is neither `Hash` nor a float has no
// key, in either form.
use taskweave::prelude::*;

#[derive(Clone)]
struct Settings {
    depth: u32,
}

#[delayed(pure)]
fn plan(settings: Settings) -> u32 {
    settings.depth
}

fn main() {
    let _ = delay!(plan(Settings { depth: 3 }));
    let _ = delayed(|s: Settings| s.depth).pure().call(Settings { depth: 3 });
}
