//! Topic 9: allowed operations. On a value that does not exist yet you may do what
//! can be recorded as one more task: arithmetic and comparisons, method calls, field
//! access, indexing, casts, constructors, collections of nodes, `?`. Each becomes a
//! node of the graph, typed.
//!
//! Dask: `Delayed` overloads operators, `d.attr`, `d[i]` and `d.method()`, each a new
//! task (`x + y`, `p.norm()`, `v[0]`); `delayed(f, nout=2)` splits a tuple.
//! taskweave: the same inside `graph!`, checked at compile time; on `Delayed<T>`,
//! operators, `map(|v| …)` for methods and fields, `split()` for pairs; `Vec`s, nested
//! `Vec`s and maps of nodes as one argument (Dask's lists and dicts of `Delayed`s).
//!
//! Run: `cargo run --release --example 09_allowed_operations`

use std::collections::HashMap;

use taskweave::prelude::*;

#[derive(Debug, Clone, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

impl Point {
    fn norm1(&self) -> i64 {
        self.x.abs() + self.y.abs()
    }
}

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn make_point(x: i64, y: i64) -> Point {
    Point { x, y }
}

#[delayed]
fn load(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 * 1.5).collect()
}

#[delayed]
fn divmod(a: i64, b: i64) -> (i64, i64) {
    (a / b, a % b)
}

#[delayed]
fn parse(text: &str) -> Result<i64, String> {
    text.trim().parse().map_err(|e| format!("{text:?}: {e}"))
}

#[delayed]
fn sum(values: &[i64]) -> i64 {
    values.iter().sum()
}

#[delayed]
fn cheapest(prices: &HashMap<String, i64>) -> String {
    let lowest = prices
        .iter()
        .min_by_key(|&(name, price)| (*price, name.clone()));
    lowest.map(|(name, _)| name.clone()).unwrap_or_default()
}

/// How many nodes of each kind a graph has.
fn kinds(info: &GraphInfo) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for node in info.nodes() {
        match counts.iter_mut().find(|(k, _)| *k == node.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((node.kind.clone(), 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(", ")
}

fn main() {
    // 1. Operators, comparisons (nodes of bool), methods, fields, indexing, casts.
    let offset = 100; // a captured variable: a constant of the graph
    let g = graph!(|x: i64, y: i64| -> (i64, bool, i64, i64, f64, usize, f64) {
        let a = inc(x);
        let p = make_point(x, y);
        let v = load(4);
        (
            a * 2 + offset, // operators
            a > y,          // a comparison: a node of bool
            p.norm1(),      // a method
            p.x,            // a field
            v[2],           // indexing
            v.len(),        // a method of a Vec
            a as f64 / 2.0, // a cast
        )
    });
    println!("operators, methods, fields: {:?}", g.compute(-3, 4));
    println!("  nodes by kind: {}", kinds(&g.info()));

    // 2. Constructors, collections of nodes, tuples split in two nodes, `?`.
    let h = graph!(
        |a: String, b: String| -> Result<(i64, i64, Option<i64>), String> {
            let x = parse(&a)?; // an Err stops the graph; compute returns it
            let y = parse(&b)?;
            let (q, r) = divmod(x, y); // Dask: delayed(divmod, nout=2)
            let total = sum(&[x, y, q, r]); // an array of nodes is one argument
            Ok((total, q * 10 + r, Some(r)))
        }
    );
    println!(
        "collections, split, ?: {:?}",
        h.compute("17".into(), "5".into())
    );
    println!(
        "  with a bad input: {:?}",
        h.compute("17".into(), "five".into())
    );
    println!("  nodes by kind: {}", kinds(&h.info()));

    // 3. Rebinding and unrolled loops over literal ranges.
    let k = graph!(|x: i64| -> i64 {
        let mut acc = inc(x);
        for i in 0..4 {
            acc = acc + inc(i); // each round: new nodes, `acc` names the newest
        }
        acc
    });
    println!("unrolled loop: {} ({} nodes)", k.compute(10), k.len());

    // 4. The same on Delayed<T>, built at run time.
    let a = delay!(inc(1));
    let b = delay!(inc(10));
    let c = &a * 3 + &b - 1; // operators
    let p = delay!(make_point(-3, 4));
    let norm = p.map(|p| p.norm1()); // methods and fields through map
    let x = p.map(|p| p.x);
    let (q, r) = delay!(divmod(17, 5)).split(); // a pair in two nodes
    let (c, norm, x, q, r) = taskweave::compute((&c, &norm, &x, &q, &r));
    println!("Delayed: a*3 + b - 1 = {c}, norm1 = {norm}, x = {x}, divmod = ({q}, {r})");

    // 5. Collections of nodes as one argument (Dask: `delayed(f)([[x, y], [z]])`,
    // `delayed(f)({"apple": a, "pear": b})`): a nested `Vec`, or a `HashMap` or
    // `BTreeMap`, of nodes reaches the task as the same collection of their values,
    // keys kept; each node is one edge of the graph.
    let rows = vec![vec![delay!(inc(1)), delay!(inc(2))], vec![delay!(inc(3))]];
    let prices = HashMap::from([
        ("apple".to_string(), delay!(inc(4))),
        ("pear".to_string(), delay!(inc(2))),
    ]);
    let sums = delayed(|rows: Vec<Vec<i64>>| -> Vec<i64> {
        rows.iter().map(|row| row.iter().sum()).collect()
    })
    .call(rows);
    let low = delay!(cheapest(prices));
    let (sums, low) = taskweave::compute((&sums, &low));
    println!("collections of Delayed: row sums {sums:?}, cheapest {low}");
}
