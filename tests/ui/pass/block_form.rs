// The block form, `graph! { … }`: a graph with no inputs.
use taskweave::prelude::*;

#[delayed]
fn seven() -> i64 {
    7
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let g = graph! {
        let a = seven();
        let b = add(a, 1);
        add(a, b)
    };
    assert_eq!(g.compute(), add(seven(), add(seven(), 1)));
    assert_eq!(g.compute_with(Scheduler::Sync), g.compute());
}
