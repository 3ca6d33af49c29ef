//! Topic 8: inspecting graphs, programmatically and visually. Every front end gives a
//! `GraphInfo`: nodes (name, kind, call site), edges, topological order, depth,
//! width, critical path; as text, as DOT, as an SVG picture, and coloured by how a
//! run went.
//!
//! Dask: `total.dask` (the graph as a dict), `total.__dask_graph__()`,
//! `total.visualize("graph.svg")` (needs Graphviz), `dask.base.collections_to_dsk`.
//! taskweave: `info()` on a `graph!`, a `Delayed`, a `Future`; `table_text()`,
//! `to_dot()`, `visualize("graph.svg")` (pure Rust, no Graphviz); `RunRecord` for
//! outcomes. For a `graph!`, `cargo expand --example 08_inspect_graphs` shows the
//! generated node table itself.
//!
//! Run: `cargo run --release --example 08_inspect_graphs`

use std::sync::Arc;

use taskweave::prelude::*;
use taskweave::{futures_info, NodeOutcome, RunOptions, RunRecord};

#[delayed]
fn load(part: u32) -> Vec<f64> {
    (0..100).map(|i| f64::from(part * 100 + i)).collect()
}

#[delayed]
fn clean(values: Vec<f64>) -> Vec<f64> {
    values.into_iter().filter(|v| v % 3.0 != 0.0).collect()
}

#[delayed]
fn total(parts: &[Vec<f64>]) -> f64 {
    parts.iter().flatten().sum()
}

#[delayed]
fn parse(text: String) -> i64 {
    text.parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::temp_dir().join("taskweave-course");
    std::fs::create_dir_all(&out)?;
    // The failing task below is expected: keep its panic message off the output.
    std::panic::set_hook(Box::new(|_| {}));

    // 1. A static graph, inspected before anything runs.
    let job = graph!(|n: u32| -> f64 {
        let a = clean(load(n));
        let b = clean(load(n + 1));
        total([a, b]) * 2.0
    });
    let info = job.info();
    println!(
        "graph!: {} nodes, {} edges, depth {}, width {}",
        info.len(),
        info.edges().len(),
        info.depth(),
        info.width()
    );
    print!("{}", info.table_text());
    let name = |i: usize| info.nodes()[i].name.clone();
    let kinds: Vec<String> = info
        .nodes()
        .iter()
        .map(|n| format!("{}:{}", n.name, n.kind))
        .collect();
    println!("kinds: {}", kinds.join(", "));
    println!("edges: {:?}", info.edges());
    println!("roots (no inputs): {:?}", info.roots());
    println!(
        "topological order: {:?}",
        info.topological_order()
            .into_iter()
            .map(name)
            .collect::<Vec<_>>()
    );
    println!(
        "critical path: {:?}",
        info.critical_path()
            .into_iter()
            .map(name)
            .collect::<Vec<_>>()
    );
    let dot = info.to_dot();
    println!(
        "DOT: {} lines, starting {:?}",
        dot.lines().count(),
        dot.lines().next().unwrap_or("")
    );
    let path = out.join("08-static.svg");
    info.visualize(&path)?;
    println!(
        "SVG: {} ({} bytes)",
        path.display(),
        std::fs::metadata(&path)?.len()
    );

    // 2. A dynamic graph of 200 load → clean chains: the picture collapses the 200
    //    similar chains into one box each ("load ×200").
    let parts: Vec<Delayed<Vec<f64>>> = (0..200).map(|i| delay!(clean(load(i)))).collect();
    let sum = delay!(total(parts));
    let info = sum.info();
    println!(
        "Delayed: {} nodes, {} edges, depth {}, width {}",
        info.len(),
        info.edges().len(),
        info.depth(),
        info.width()
    );
    let path = out.join("08-dynamic.svg");
    sum.visualize(&path)?;
    let svg = std::fs::read_to_string(&path)?;
    let collapsed: Vec<&str> = ["load ×200", "clean ×200"]
        .into_iter()
        .filter(|label| svg.contains(label))
        .collect();
    println!(
        "SVG: {} ({} bytes), collapsed boxes: {collapsed:?}",
        path.display(),
        svg.len()
    );

    // 3. A run that fails, coloured by outcome.
    let parsed: Vec<Delayed<i64>> = ["1", "2", "three", "4"]
        .iter()
        .map(|t| delay!(parse(t.to_string())))
        .collect();
    let left = delay!(add(&parsed[0], &parsed[1]));
    let right = delay!(add(&parsed[2], &parsed[3]));
    let result = delay!(add(left, right));
    let record = Arc::new(RunRecord::new());
    let run = taskweave::compute_with(
        RunOptions::new()
            .scheduler(Scheduler::Sync)
            .observer(record.clone()),
        (&result,),
    );
    let info = result.info().with_outcomes(&record);
    println!(
        "failed run: {}",
        run.err().map_or("?".into(), |e| e.to_string())
    );
    for outcome in [
        NodeOutcome::Finished,
        NodeOutcome::Failed,
        NodeOutcome::NeverRan,
    ] {
        let names: Vec<&str> = info
            .nodes()
            .iter()
            .filter(|n| n.outcome == Some(outcome))
            .map(|n| n.name.as_str())
            .collect();
        println!("  {outcome}: {names:?}");
    }
    let path = out.join("08-outcomes.svg");
    info.visualize(&path)?;
    println!("  SVG: {}", path.display());

    // 4. Futures: the graph of what a future depends on, with each one's status.
    let client = Client::builder().threads(2).build()?;
    let a = client.submit(|x: i64| x + 1, (1,));
    let b = client.submit(|x: i64| x * 10, (&a,));
    let c = client.submit(|x: i64, y: i64| x + y, (&a, &b));
    c.result()?;
    let info = futures_info(&[&c]);
    println!(
        "futures: {} futures, {} edges, statuses {:?}",
        info.len(),
        info.edges().len(),
        info.nodes()
            .iter()
            .map(|n| n.outcome.map_or("?", NodeOutcome::as_str))
            .collect::<Vec<_>>()
    );
    Ok(())
}
