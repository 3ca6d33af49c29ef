// A `let mut` of a captured value binds a clone (the graph runs again and reads what it
// captured afresh): a value that is not `Clone` cannot be taken so. The second error is
// the `mut` binding's own copy, taken where a task reads it.
use taskweave::prelude::*;

#[delayed]
fn scale(x: i64, by: u32) -> i64 {
    x * by as i64
}

pub struct Config {
    factor: u32,
}

pub struct Settings {
    config: Config,
}

fn main() {
    let settings = Settings { config: Config { factor: 3 } };
    let g = graph!(|x: i64| -> i64 {
        let mut config = settings.config;
        if x > 10 {
            config = Config { factor: 2 };
        }
        scale(x, config.factor)
    });
    let _ = g.compute(1);
}
