// A captured value of the user's type whose methods are named like taskweave's that run
// a graph (`compute()`, `persist()`): the value's type decides, not the name, as on a
// node, so they run as written, in any constant code of the graph (an argument, an
// operand, a constant `let`, a temporary receiver). It was "`.compute()` inside
// `graph!` would run a graph while this one is being built".
use taskweave::prelude::*;

#[delayed]
fn load() -> u32 {
    1
}

#[delayed]
fn step(a: u32, b: u32) -> u32 {
    a + b
}

#[derive(Clone)]
struct Settings {
    k: u32,
}

impl Settings {
    fn new(k: u32) -> Settings {
        Settings { k }
    }

    fn compute(&self) -> u32 {
        self.k * 2
    }

    fn persist(self) -> u32 {
        self.k + 1
    }
}

fn main() {
    let cfg = Settings { k: 5 };
    // Sequential code first: the graph takes `cfg`.
    let plain = {
        let a = load();
        let b = step(a, cfg.compute());
        let k = cfg.clone().persist() + Settings::new(7).compute();
        step(b, k)
    };
    let g = graph! {
        let a = load();
        let b = step(a, cfg.compute());
        let k = cfg.clone().persist() + Settings::new(7).compute();
        step(b, k)
    };
    assert_eq!(g.compute(), plain);
    assert_eq!(g.compute(), 31);
}
