// A `let` that takes a captured variable, or a field or element of one, for its own (`let
// mut`, a type, a tuple pattern), or an assignment to a `mut` name (`q = config.values;`,
// `(a, b) = (config.x, config.y);`), binds a clone, as a task taking it by value gets
// one: every run of the graph reads what it captured again. Moved out, it made the graph a
// closure that runs once (rustc's E0525 on the whole graph). Checked against the same
// code run sequentially, twice, so a second run would see a first run's change.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn total(values: Vec<i64>, x: i64) -> i64 {
    values.iter().sum::<i64>() + x
}

#[derive(Clone, Debug)]
pub struct Config {
    values: Vec<i64>,
    pair: (String, Vec<u8>),
    count: u32,
}

fn main() {
    let config = Config {
        values: vec![1, 2],
        pair: ("ab".into(), vec![7]),
        count: 3,
    };
    let whole = config.clone();
    let plain = |config: &Config, whole: &Config, x: i64| {
        let a = inc(x);
        let mut values = config.values.clone();
        values.push(10);
        let (label, bytes) = config.pair.clone();
        let mut count: u32 = config.count;
        count = count + 1;
        let mut copy = whole.clone();
        copy = Config { count: copy.count * 2, ..copy };
        let first: i64 = config.values[0];
        let mut again: Vec<i64> = vec![0];
        let before = again.len() as i64;
        again = config.values.clone();
        let (mut label2, mut n) = (String::from("x"), 1u32);
        let before = before + label2.len() as i64 + n as i64;
        (label2, n) = (config.pair.0.clone(), config.count);
        let first = first + before + again.len() as i64 + label2.len() as i64 + n as i64;
        total(values, a) + label.len() as i64 + bytes[0] as i64 + count as i64 + copy.count as i64 + first
    };
    let expected = (plain(&config, &whole, 1), plain(&config, &whole, 5));
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let mut values = config.values;
        values.push(10);
        let (label, bytes) = config.pair;
        let mut count: u32 = config.count;
        count = count + 1;
        let mut copy = whole;
        copy = Config { count: copy.count * 2, ..copy };
        let first: i64 = config.values[0];
        let mut again: Vec<i64> = vec![0];
        let before = again.len() as i64;
        again = config.values;
        let (mut label2, mut n) = (String::from("x"), 1u32);
        let before = before + label2.len() as i64 + n as i64;
        (label2, n) = (config.pair.0, config.count);
        let first = first + before + again.len() as i64 + label2.len() as i64 + n as i64;
        total(values, a) + label.len() as i64 + bytes[0] as i64 + count as i64 + copy.count as i64 + first
    });
    assert_eq!((g.compute(1), g.compute(5)), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, 1), expected.0);
}
