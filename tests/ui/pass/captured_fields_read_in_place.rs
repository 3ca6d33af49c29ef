// Fields and indexes of a captured variable are read in place, as the variable is: lent
// to a `&self` method or a `&T` parameter, cloned for a task that takes them by value,
// since every run of the graph reads them again. They were moved out of the variable,
// which made the graph a closure that runs once (rustc's E0525 on the whole graph). A
// `let` of one stands for it (`let f = config.scale; f(2)` calls the field's function).
use std::collections::HashMap;
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn named(prefix: String, x: i64) -> String {
    format!("{prefix}{x}")
}

#[delayed]
fn length(s: &String) -> usize {
    s.len()
}

#[derive(Clone, Debug)]
pub struct Config {
    base: HashMap<i64, i64>,
    name: String,
    tags: Vec<String>,
    scale: fn(i64) -> i64,
}

fn main() {
    let config = Config {
        base: HashMap::from([(2, 7)]),
        name: "n=".into(),
        tags: vec!["t=".into()],
        scale: |x| x * 10,
    };
    let plain = |config: &Config, x: i64| {
        let a = inc(x);
        let s = named(config.name.clone(), a);
        let b = config.base.get(&a).copied();
        let f = config.scale;
        let name = config.name.clone();
        let t = named(name, inc(f(2)));
        (s, b, named(config.tags[0].clone(), a), length(&config.name), t)
    };
    let expected = (plain(&config, 1), plain(&config, 5));
    let g = graph!(|x: i64| -> (String, Option<i64>, String, usize, String) {
        let a = inc(x);
        let s = named(config.name, a);
        let b = config.base.get(&a).copied();
        let f = config.scale;
        let name = config.name;
        let t = named(name, inc(f(2)));
        (s, b, named(config.tags[0], a), length(&config.name), t)
    });
    assert_eq!((g.compute(1), g.compute(5)), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, 1), expected.0);
}
