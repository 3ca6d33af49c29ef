//! Inspection: one `GraphInfo` for `graph!`, `Delayed<T>` and futures; depth, width
//! and critical path; outcomes of a run; DOT text; and SVG pictures that parse as
//! XML with one labelled box per task (or per collapsed group) and one arrow per
//! dependency.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use taskweave::prelude::*;
use taskweave::{
    futures_info, Direction, DrawOptions, Label, NodeInfo, NodeOutcome, RunOptions, RunRecord,
};
// A node table with made-up call sites is built by hand only here: `graph!` writes them.
use taskweave::__private::Table;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[delayed]
fn sum(values: Vec<i64>) -> i64 {
    values.iter().sum()
}

#[delayed]
fn load(i: u32) -> Vec<f64> {
    (0..4).map(|k| f64::from(i * 4 + k)).collect()
}

#[delayed]
fn clean(v: Vec<f64>) -> Vec<f64> {
    v.into_iter().filter(|x| x % 2.0 == 0.0).collect()
}

#[delayed]
fn total(parts: &[Vec<f64>]) -> f64 {
    parts.iter().flatten().sum()
}

#[delayed]
fn parse(s: &str) -> Result<i64, String> {
    s.trim().parse().map_err(|e| format!("{s:?}: {e}"))
}

#[delayed]
fn checked(x: i64) -> i64 {
    assert!(x >= 0, "negative input {x}");
    x
}

/// One drawn box of an SVG: its label lines, its node ids and its outcome.
#[derive(Debug)]
struct SvgNode {
    lines: Vec<String>,
    count: usize,
    outcome: Option<String>,
}

/// One drawn arrow: from box, to box, how many dependencies it stands for.
type SvgEdge = (String, String, usize);

/// A point of a picture, in px.
type At = (f64, f64);

/// Whether the segment from `p` to `q` passes through the inside of `rect`
/// (`[left, top, right, bottom]`), touching its border aside.
fn crosses(p: At, q: At, rect: [f64; 4]) -> bool {
    // Liang–Barsky: the part of the segment inside each slab of the box, intersected.
    let inside = [rect[0] + 0.5, rect[1] + 0.5, rect[2] - 0.5, rect[3] - 0.5];
    let (mut enter, mut leave) = (0.0f64, 1.0f64);
    for (start, delta, low, high) in [
        (p.0, q.0 - p.0, inside[0], inside[2]),
        (p.1, q.1 - p.1, inside[1], inside[3]),
    ] {
        if delta.abs() < 1e-9 {
            if start <= low || start >= high {
                return false;
            }
        } else {
            let (a, b) = ((low - start) / delta, (high - start) / delta);
            enter = enter.max(a.min(b));
            leave = leave.min(a.max(b));
        }
    }
    leave - enter > 1e-9
}

/// The points of an arrow's path `M x y L x y …` (the SVG draws arrows as polylines).
fn polyline(d: &str) -> Vec<At> {
    let words: Vec<&str> = d.split_whitespace().collect();
    words
        .chunks(3)
        .map(|w| {
            assert!(matches!(w[0], "M" | "L"), "a polyline: {d}");
            (w[1].parse().unwrap(), w[2].parse().unwrap())
        })
        .collect()
}

/// The width of an SVG picture, in px.
fn svg_width(svg: &str) -> f64 {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    doc.root_element()
        .attribute("width")
        .unwrap()
        .parse()
        .unwrap()
}

/// Parses an SVG as XML and reads its boxes and arrows; checks that no arrow passes
/// over a box other than the two it joins.
fn read_svg(svg: &str) -> (Vec<SvgNode>, Vec<SvgEdge>) {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    // Each box's extent (all its cards), and each arrow's ends and points.
    let mut rects: Vec<[f64; 4]> = Vec::new();
    let mut paths: Vec<(usize, usize, Vec<At>)> = Vec::new();
    for el in doc.descendants().filter(|n| n.is_element()) {
        match (el.tag_name().name(), el.attribute("class")) {
            ("g", Some("node")) => {
                let lines = el
                    .children()
                    .filter(|c| c.has_tag_name("text"))
                    .filter(|c| c.attribute("class") != Some("result"))
                    .map(|c| c.text().unwrap_or("").to_owned())
                    .collect();
                assert!(
                    el.children().any(|c| c.has_tag_name("rect")),
                    "a box has a shape"
                );
                assert!(
                    el.children().any(|c| c.has_tag_name("title")),
                    "a box has a tooltip"
                );
                assert_eq!(
                    el.attribute("id"),
                    Some(format!("n{}", nodes.len()).as_str())
                );
                let number = |c: roxmltree::Node, name: &str| -> f64 {
                    c.attribute(name).unwrap().parse().unwrap()
                };
                let mut extent = [
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ];
                for card in el.children().filter(|c| c.has_tag_name("rect")) {
                    let (x, y) = (number(card, "x"), number(card, "y"));
                    extent[0] = extent[0].min(x);
                    extent[1] = extent[1].min(y);
                    extent[2] = extent[2].max(x + number(card, "width"));
                    extent[3] = extent[3].max(y + number(card, "height"));
                }
                rects.push(extent);
                nodes.push(SvgNode {
                    lines,
                    count: el.attribute("data-count").unwrap().parse().unwrap(),
                    outcome: el.attribute("data-outcome").map(str::to_owned),
                });
            }
            ("path", Some("edge")) => {
                assert!(el.attribute("d").unwrap().starts_with("M "));
                assert_eq!(el.attribute("marker-end"), Some("url(#arrowhead)"));
                paths.push((
                    el.attribute("data-from").unwrap().parse().unwrap(),
                    el.attribute("data-to").unwrap().parse().unwrap(),
                    polyline(el.attribute("d").unwrap()),
                ));
                edges.push((
                    el.attribute("data-from").unwrap().to_owned(),
                    el.attribute("data-to").unwrap().to_owned(),
                    el.attribute("data-count").unwrap().parse().unwrap(),
                ));
            }
            _ => {}
        }
    }
    for (from, to, points) in &paths {
        for segment in points.windows(2) {
            for (i, rect) in rects.iter().enumerate() {
                assert!(
                    i == *from || i == *to || !crosses(segment[0], segment[1], *rect),
                    "the arrow n{from} -> n{to} passes over box n{i} {rect:?}: {segment:?}"
                );
            }
        }
    }
    (nodes, edges)
}

#[test]
fn static_graph_info_without_running() {
    let job = graph!(|n: u32| -> f64 {
        let a = clean(load(n));
        let b = clean(load(n + 1));
        total([a, b]) * 2.0
    });
    let info = job.info();
    let names: Vec<&str> = info.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["load", "clean", "load", "clean", "total", "mul"]);
    let kinds: Vec<&str> = info.nodes().iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["task", "task", "task", "task", "task", "operator"]);
    assert!(info.nodes()[0].call_site.starts_with("tests/inspect.rs:"));
    assert!(info.nodes().iter().all(|n| n.outcome.is_none()));
    assert_eq!(info.edges(), &[(0, 1), (1, 4), (2, 3), (3, 4), (4, 5)]);
    assert_eq!(info.roots(), &[0, 2]);
    assert_eq!(info.topological_order(), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(info.levels(), vec![0, 1, 0, 1, 2, 3]);
    assert_eq!(info.depth(), 4);
    assert_eq!(info.width(), 2);
    assert_eq!(info.critical_path(), vec![0, 1, 4, 5]);
    assert_eq!(info.predecessors(4), vec![1, 3]);
    assert_eq!(info.successors(4), vec![5]);
}

#[test]
fn depth_width_and_critical_path_of_other_shapes() {
    // A chain of 5: depth 5, width 1.
    let mut x = delay!(inc(0));
    for _ in 0..4 {
        x = delay!(inc(x));
    }
    let info = x.info();
    assert_eq!((info.len(), info.depth(), info.width()), (5, 5, 1));
    assert_eq!(info.critical_path(), vec![0, 1, 2, 3, 4]);

    // A fan-in of 10 leaves: depth 2, width 10.
    let leaves: Vec<Delayed<i64>> = (0..10).map(|i| delay!(inc(i))).collect();
    let s = delay!(sum(leaves));
    let info = s.info();
    assert_eq!((info.len(), info.depth(), info.width()), (11, 2, 10));
    assert_eq!(info.critical_path().len(), 2);
    assert_eq!(*info.critical_path().last().unwrap(), 10);

    // A long branch and a short one: the critical path takes the long one.
    let long = delay!(inc(delay!(inc(delay!(inc(1))))));
    let short = delay!(inc(2));
    let top = delay!(add(&short, &long));
    let info = top.info();
    let path = info.critical_path();
    assert_eq!(path.len(), 4);
    assert_eq!(path.len(), info.depth());
    for pair in path.windows(2) {
        assert!(info.edges().contains(&(pair[0], pair[1])));
    }
    assert_eq!(info.levels()[*path.last().unwrap()], 3);
    assert_eq!(info.width(), 2);
}

#[test]
fn empty_graph() {
    let job = graph!(|x: i64| -> i64 { x });
    let info = job.info();
    assert!(info.is_empty());
    assert_eq!((info.depth(), info.width()), (0, 0));
    assert!(info.critical_path().is_empty());
    assert_eq!(info.to_dot(), "digraph taskweave {\n    rankdir=TB;\n    node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\"];\n}\n");
    let (nodes, edges) = read_svg(&info.to_svg());
    assert!(nodes.is_empty() && edges.is_empty());
}

/// A diamond with made-up call sites: `load` feeds `left` and `right`, both feed
/// `join`.
fn diamond() -> taskweave::GraphInfo {
    static NODES: [NodeInfo<'static>; 4] = [
        NodeInfo::new(&const { Label::task("load", "src/data.rs:3:9") }, 0, 0, 2),
        NodeInfo::new(&const { Label::task("left", "src/data.rs:4:9") }, 1, 2, 1),
        NodeInfo::new(
            &const { Label::new("right", "method", "src/data.rs:5:9") },
            1,
            3,
            1,
        ),
        NodeInfo::new(
            &const { Label::task("join \"both\"", "src/data.rs:6:5") },
            2,
            4,
            0,
        ),
    ];
    static TABLE: Table<'static> = Table::new(&NODES, &[1, 2, 3, 3], &[0], 2);
    taskweave::GraphInfo::from(&TABLE)
}

#[test]
fn dot_of_a_small_graph_is_exact() {
    let expected = r##"digraph taskweave {
    rankdir=TB;
    node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];
    n0 [label="load\ntask at src/data.rs:3:9"];
    n1 [label="left\ntask at src/data.rs:4:9"];
    n2 [label="right\nmethod at src/data.rs:5:9"];
    n3 [label="join \"both\"\ntask at src/data.rs:6:5"];
    n0 -> n1;
    n0 -> n2;
    n1 -> n3;
    n2 -> n3;
}
"##;
    let info = diamond();
    assert_eq!(info.to_dot(), expected);
    let lr = info.to_dot_with(&DrawOptions::new().direction(Direction::LeftToRight));
    assert_eq!(lr, expected.replace("rankdir=TB", "rankdir=LR"));
}

#[test]
fn dot_shows_outcomes_as_fill_colours() {
    let job = graph!(|x: i64| -> i64 { add(inc(x), checked(x)) });
    let rec = Arc::new(RunRecord::new());
    let run = job.try_compute_with(
        RunOptions::new()
            .scheduler(Scheduler::Sync)
            .observer(rec.clone()),
        -1,
    );
    assert!(run.is_err());
    let dot = job.info().with_outcomes(&rec).to_dot();
    let lines: Vec<&str> = dot.lines().filter(|l| l.contains("label=")).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].contains("fillcolor=\"#b9e6c3\", tooltip=\"finished\""));
    assert!(lines[1].contains("fillcolor=\"#f5a3a3\", tooltip=\"failed\""));
    assert!(lines[2].contains("fillcolor=\"#d6d6d6\", tooltip=\"never ran\""));
}

#[test]
fn svg_has_one_labelled_box_per_task_and_one_arrow_per_dependency() {
    let job = graph!(|n: u32| -> f64 {
        let a = clean(load(n));
        let b = clean(load(n + 1));
        total([a, b]) * 2.0
    });
    let info = job.info();
    for direction in [Direction::TopToBottom, Direction::LeftToRight] {
        let svg = info.to_svg_with(&DrawOptions::new().direction(direction));
        let (nodes, edges) = read_svg(&svg);
        assert_eq!(nodes.len(), info.len());
        for (node, view) in nodes.iter().zip(info.nodes()) {
            assert_eq!(node.count, 1);
            assert_eq!(node.lines[0], view.name);
            let line = view.call_site.rsplit_once(':').unwrap().0;
            let file_line = line.rsplit('/').next().unwrap();
            assert!(node.lines[1].ends_with(file_line), "{:?}", node.lines);
            assert_eq!(node.outcome, None);
        }
        assert_eq!(
            nodes[5].lines[1],
            format!(
                "operator * \u{b7} inspect.rs:{}",
                info.nodes()[5].call_site.split(':').nth(1).unwrap()
            )
        );
        let drawn: BTreeSet<(usize, usize)> = edges
            .iter()
            .map(|(a, b, c)| {
                assert_eq!(*c, 1);
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        let expected: BTreeSet<(usize, usize)> = info.edges().iter().copied().collect();
        assert_eq!(drawn, expected);
        assert_eq!(edges.len(), info.edges().len());
        assert!(svg.contains("an arrow goes from a task to a task that uses its result"));
    }
    // The same through the convenience method.
    let path = std::env::temp_dir().join(format!("taskweave-inspect-{}.svg", std::process::id()));
    job.visualize(&path).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(written, info.to_svg());
}

#[test]
fn labels_are_escaped() {
    let info = diamond();
    let svg = info.to_svg();
    let (nodes, _) = read_svg(&svg);
    assert_eq!(nodes[3].lines[0], "join \"both\"");
    assert_eq!(nodes[2].lines[1], "method \u{b7} data.rs:5");
}

#[test]
fn dynamic_graph_info_and_svg() {
    let parts: Vec<Delayed<i64>> = (0..3).map(|i| delay!(inc(i))).collect();
    let s = delay!(sum(parts)).named("total");
    let info = s.info();
    assert_eq!(info.len(), 4);
    assert_eq!(info.nodes()[3].name, "total");
    assert_eq!(info.edges(), &[(0, 3), (1, 3), (2, 3)]);
    let (nodes, edges) = read_svg(&info.to_svg());
    assert_eq!(nodes.len(), 4);
    assert_eq!(edges.len(), 3);
    // Small graphs are never collapsed, even with alike siblings.
    assert!(nodes.iter().all(|n| n.count == 1));
    assert_eq!(
        nodes.iter().filter(|n| n.lines[0] == "inc").count(),
        3,
        "{nodes:?}"
    );
}

#[test]
fn a_row_of_more_than_eight_siblings_is_one_box() {
    // 24 leaves from one call site into one sum: one `inc ×24` box, one arrow.
    let fan_in = |leaves: i64| {
        let parts: Vec<Delayed<i64>> = (0..leaves).map(|i| delay!(inc(i))).collect();
        delay!(sum(parts)).info()
    };
    let info = fan_in(24);
    let svg = info.to_svg();
    let (nodes, edges) = read_svg(&svg);
    let titles: Vec<&str> = nodes.iter().map(|n| n.lines[0].as_str()).collect();
    assert_eq!(titles, ["inc \u{d7}24", "sum"]);
    assert_eq!(edges, vec![("0".to_owned(), "1".to_owned(), 24)]);
    let width = svg_width(&svg);
    assert!(width < 1600.0, "{width} px wide");
    assert!(svg.contains("2 boxes for 25 tasks"));
    // Eight are a row of their own boxes; nine are one box.
    assert_eq!(read_svg(&fan_in(8).to_svg()).0.len(), 9);
    assert_eq!(read_svg(&fan_in(9).to_svg()).0.len(), 2);
    // Collapsing off: a box per task, and (read_svg checks) no arrow over a neighbour.
    for direction in [Direction::TopToBottom, Direction::LeftToRight] {
        let options = DrawOptions::new()
            .collapse_above(usize::MAX)
            .direction(direction);
        let (nodes, edges) = read_svg(&info.to_svg_with(&options));
        assert_eq!((nodes.len(), edges.len()), (25, 24));
    }
}

#[test]
fn arrows_that_skip_ranks_go_around_boxes() {
    // Four leaves feed a first sum, then a chain of three `inc`s, and the last sum
    // too: their arrows into the last sum pass four ranks of boxes.
    let leaves: Vec<Delayed<i64>> = (0..4).map(|i| delay!(add(i, 1))).collect();
    let mut x = delay!(sum(leaves.clone()));
    for _ in 0..3 {
        x = delay!(inc(x));
    }
    let mut parts = leaves;
    parts.push(x);
    let info = delay!(sum(parts)).info();
    assert_eq!((info.len(), info.depth()), (9, 6));
    for direction in [Direction::TopToBottom, Direction::LeftToRight] {
        let svg = info.to_svg_with(&DrawOptions::new().direction(direction));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let bent = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("edge"))
            .filter(|n| polyline(n.attribute("d").unwrap()).len() > 2)
            .count();
        assert_eq!(bent, 4, "the arrows from the leaves into the last sum");
        // read_svg checks that none of them passes over a box.
        let (nodes, edges) = read_svg(&svg);
        assert_eq!((nodes.len(), edges.len()), (9, 12));
    }
}

#[test]
fn large_graph_collapses_repeated_siblings() {
    let leaves: Vec<Delayed<i64>> = (0..1000).map(|i| delay!(inc(i))).collect();
    let s = delay!(sum(leaves));
    let info = s.info();
    assert_eq!(info.len(), 1001);
    let (nodes, edges) = read_svg(&info.to_svg());
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert_eq!(nodes[0].lines[0], "inc \u{d7}1000");
    assert_eq!(nodes[0].count, 1000);
    assert_eq!(nodes[1].lines[0], "sum");
    assert_eq!(edges, vec![("0".to_owned(), "1".to_owned(), 1000)]);
    // Asked not to collapse: one box per task (a smaller graph: laying out a
    // thousand boxes takes seconds in a debug build).
    let few: Vec<Delayed<i64>> = (0..150).map(|i| delay!(inc(i))).collect();
    let few = delay!(sum(few)).info();
    let (nodes, edges) = read_svg(&few.to_svg_with(&DrawOptions::new().collapse_above(usize::MAX)));
    assert_eq!((nodes.len(), edges.len()), (151, 150));
    let (nodes, edges) = read_svg(&few.to_svg());
    assert_eq!((nodes.len(), edges.len()), (2, 1));
    // DOT collapses only when asked.
    assert_eq!(info.to_dot().matches("->").count(), 1000);
    let dot = info.to_dot_with(&DrawOptions::new());
    assert!(dot.contains("n0 [label=\"inc \u{d7}1000\\ntask at tests/inspect.rs:"));
    assert!(dot.contains("n0 -> n1 [label=\"\u{d7}1000\"];"));
}

#[test]
fn large_graph_collapses_parallel_chains_and_long_chains() {
    // 100 chains inc -> add(·, 1) -> inc into one sum, and a chain of 300 incs on top.
    let ends: Vec<Delayed<i64>> = (0..100)
        .map(|i| {
            let a = delay!(inc(i));
            let b = delay!(add(a, 1));
            delay!(inc(b))
        })
        .collect();
    let mut x = delay!(sum(ends));
    for _ in 0..300 {
        x = delay!(inc(x));
    }
    let info = x.info();
    assert_eq!(info.len(), 601);
    assert_eq!(info.depth(), 304);
    let (nodes, edges) = read_svg(&info.to_svg());
    let titles: Vec<&str> = nodes.iter().map(|n| n.lines[0].as_str()).collect();
    assert_eq!(
        titles,
        [
            "inc \u{d7}100",
            "add \u{d7}100",
            "inc \u{d7}100",
            "sum",
            "inc \u{d7}300"
        ]
    );
    assert!(
        nodes[4].lines[1].starts_with("chain of 300 \u{b7} inspect.rs:"),
        "{:?}",
        nodes[4]
    );
    assert_eq!(nodes.iter().map(|n| n.count).sum::<usize>(), 601);
    let counts: Vec<usize> = edges.iter().map(|e| e.2).collect();
    assert_eq!(counts, [100, 100, 100, 1]);
}

#[test]
fn collapse_keeps_different_consumers_apart() {
    // 60 incs feed `sum`, 60 other incs at the same call site feed `add` chains: the
    // two kinds of leaves stay apart.
    let make = |i: i64| delay!(inc(i));
    let a: Vec<Delayed<i64>> = (0..60).map(make).collect();
    let b: Vec<Delayed<i64>> = (0..60).map(make).collect();
    let left = delay!(sum(a));
    let right = delay!(sum(b.iter().map(|d| delay!(add(d, 1))).collect::<Vec<_>>()));
    let top = delay!(add(left, right));
    let info = top.info();
    assert_eq!(info.len(), 60 + 60 + 60 + 3);
    let (nodes, edges) = read_svg(&info.to_svg());
    let titles: BTreeSet<&str> = nodes.iter().map(|n| n.lines[0].as_str()).collect();
    assert_eq!(
        titles,
        ["add", "add \u{d7}60", "inc \u{d7}60", "sum"]
            .into_iter()
            .collect(),
    );
    assert_eq!(nodes.len(), 6);
    assert_eq!(edges.len(), 5);
}

#[test]
fn run_record_colours_a_failed_run() {
    let job = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = checked(x);
        add(a, b)
    });
    let rec = Arc::new(RunRecord::new());
    assert!(!rec.has_run());
    assert_eq!(
        job.info().with_outcomes(&rec).nodes()[0].outcome,
        Some(NodeOutcome::NeverRan)
    );
    let options = RunOptions::new()
        .scheduler(Scheduler::Sync)
        .observer(rec.clone());
    let error = job.try_compute_with(options.clone(), -5).unwrap_err();
    assert!(rec.has_run());
    assert_eq!(rec.len(), 3);
    let info = job.info().with_outcomes(&rec);
    let outcomes: Vec<Option<NodeOutcome>> = info.nodes().iter().map(|n| n.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Some(NodeOutcome::Finished),
            Some(NodeOutcome::Failed),
            Some(NodeOutcome::NeverRan)
        ]
    );
    assert_eq!(info.run_error(), Some(error.to_string().as_str()));
    let svg = info.to_svg();
    let (nodes, edges) = read_svg(&svg);
    let drawn: Vec<Option<&str>> = nodes.iter().map(|n| n.outcome.as_deref()).collect();
    assert_eq!(drawn, [Some("finished"), Some("failed"), Some("never-ran")]);
    assert_eq!(edges.len(), 2);
    assert!(svg.contains("class=\"legend\""));
    assert!(svg.contains("never ran"));
    assert!(svg.contains("negative input -5"));

    // A new run starts afresh.
    assert_eq!(job.try_compute_with(options, 5).unwrap(), 11);
    let info = job.info().with_outcomes(&rec);
    assert!(info
        .nodes()
        .iter()
        .all(|n| n.outcome == Some(NodeOutcome::Finished)));
    assert_eq!(info.run_error(), None);
}

#[test]
fn run_record_on_the_thread_pool_and_a_stopped_graph() {
    let job = graph!(|a: String, b: String| -> Result<i64, String> {
        let x = parse(&a)?;
        let y = parse(&b)?;
        Ok(add(x, y))
    });
    let rec = Arc::new(RunRecord::new());
    let options = RunOptions::new().observer(rec.clone());
    assert_eq!(
        job.compute_with(options.clone(), "2".into(), "40".into()),
        Ok(42)
    );
    let info = job.info().with_outcomes(&rec);
    assert!(info
        .nodes()
        .iter()
        .all(|n| n.outcome == Some(NodeOutcome::Finished)));

    let stopped = job.compute_with(
        RunOptions::new()
            .scheduler(Scheduler::Sync)
            .observer(rec.clone()),
        "x".into(),
        "40".into(),
    );
    assert!(stopped.is_err());
    let info = job.info().with_outcomes(&rec);
    assert!(info
        .nodes()
        .iter()
        .any(|n| n.outcome == Some(NodeOutcome::Stopped)));
    assert!(info
        .nodes()
        .iter()
        .any(|n| n.outcome == Some(NodeOutcome::NeverRan)));
    let svg = info.to_svg();
    assert!(svg.contains("data-outcome=\"stopped\""));
    read_svg(&svg);
}

#[test]
fn run_record_of_a_dynamic_graph() {
    let parts: Vec<Delayed<i64>> = [1, -1, 2].into_iter().map(|i| delay!(checked(i))).collect();
    let s = delay!(sum(parts));
    let rec = Arc::new(RunRecord::new());
    let run = taskweave::compute_with(
        RunOptions::new()
            .scheduler(Scheduler::Sync)
            .observer(rec.clone()),
        (&s,),
    );
    assert!(run.is_err());
    let info = s.info().with_outcomes(&rec);
    let outcomes: Vec<NodeOutcome> = info.nodes().iter().map(|n| n.outcome.unwrap()).collect();
    assert_eq!(
        outcomes,
        [
            NodeOutcome::Finished,
            NodeOutcome::Failed,
            NodeOutcome::NeverRan,
            NodeOutcome::NeverRan
        ]
    );
}

#[test]
#[should_panic(expected = "this RunRecord watched a run of 1 nodes, but this graph has 2")]
fn outcomes_of_another_graph_are_refused() {
    let one = graph!(|x: i64| -> i64 { inc(x) });
    let two = graph!(|x: i64| -> i64 { inc(inc(x)) });
    let rec = Arc::new(RunRecord::new());
    one.compute_with(RunOptions::new().observer(rec.clone()), 1);
    let _ = two.info().with_outcomes(&rec);
}

fn client() -> Client {
    Client::builder().threads(2).build().unwrap()
}

fn plus(x: i64) -> i64 {
    x + 1
}

fn both(x: i64, y: i64) -> i64 {
    x + y
}

fn refuse(x: i64) -> i64 {
    panic!("refusing {x}")
}

#[test]
fn futures_info_has_every_dependency_and_status() {
    let client = client();
    let a = client.submit(plus, (1,));
    let b = client.submit(plus, (&a,));
    let c = client.submit(both, (&a, &b));
    let label = client.submit(|x: i64| format!("{x}"), (&c,));
    assert_eq!(label.result().unwrap(), "5");
    let info = label.info();
    let names: Vec<&str> = info.nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["plus", "plus", "both", "closure"]);
    assert_eq!(info.edges(), &[(0, 1), (0, 2), (1, 2), (2, 3)]);
    assert!(info.nodes().iter().all(|n| n.kind == "future"));
    assert!(info
        .nodes()
        .iter()
        .all(|n| n.outcome == Some(NodeOutcome::Finished)));
    assert!(info.nodes()[0].call_site.starts_with("tests/inspect.rs:"));
    assert_eq!((info.depth(), info.width()), (4, 1));
    // Futures of different types in one call; each once.
    let info = futures_info(&[&a, &label, &c]);
    assert_eq!(info.len(), 4);
    let (nodes, edges) = read_svg(&info.to_svg());
    assert_eq!((nodes.len(), edges.len()), (4, 4));
    assert!(info.to_svg().contains("4 futures, 4 dependencies"));
}

#[test]
fn futures_info_shows_errors_cancellations_and_pending() {
    let client = client();
    let a = client.submit(plus, (1,));
    let bad = client.submit(refuse, (&a,));
    let after = client.submit(both, (&a, &bad));
    assert!(after.result().is_err());
    let info = after.info();
    let outcomes: Vec<Option<NodeOutcome>> = info.nodes().iter().map(|n| n.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Some(NodeOutcome::Finished),
            Some(NodeOutcome::Failed),
            Some(NodeOutcome::NeverRan)
        ]
    );

    let gate = Arc::new(std::sync::Barrier::new(2));
    let held = gate.clone();
    let slow = client.submit(
        move |x: i64| {
            held.wait();
            x
        },
        (1,),
    );
    let waiting = client.submit(plus, (&slow,));
    let cancelled = client.submit(plus, (&slow,));
    cancelled.cancel();
    let info = futures_info(&[&waiting, &cancelled]);
    let outcome_of = |name: &str| {
        info.nodes()
            .iter()
            .filter(|n| n.name == name)
            .map(|n| n.outcome.unwrap())
            .collect::<Vec<_>>()
    };
    assert!(matches!(
        outcome_of("closure")[..],
        [NodeOutcome::Pending | NodeOutcome::Running]
    ));
    let plus_outcomes: BTreeSet<NodeOutcome> = outcome_of("plus").into_iter().collect();
    assert_eq!(
        plus_outcomes,
        [NodeOutcome::Pending, NodeOutcome::Cancelled]
            .into_iter()
            .collect()
    );
    gate.wait();
    assert_eq!(waiting.result().unwrap(), 2);
    read_svg(&info.to_svg());
}

/// Counts drops of its values.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn recording_dependencies_keeps_no_result_alive() {
    let client = client();
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = drops.clone();
    let big = client.submit(move |x: i64| (Tracked(counter.clone()), x), (7,));
    let small = client.submit(|p: Arc<(Tracked, i64)>| p.1 + 1, (&big,));
    assert_eq!(small.result().unwrap(), 8);
    assert_eq!(small.info().len(), 2);
    drop(big);
    // The dependency's result is freed as soon as its last handle goes, although
    // `small` remembers it for inspection.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while drops.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let info = small.info();
    assert_eq!(info.len(), 2);
    assert_eq!(info.nodes()[0].name, "closure");
    assert_eq!(info.nodes()[0].outcome, Some(NodeOutcome::Finished));
    assert_eq!(info.edges(), &[(0, 1)]);
}

#[test]
fn dot_round_trips_its_structure() {
    // The DOT text names every node once and every edge once, in a form any DOT
    // reader takes: `nI [label="…"];` and `nI -> nJ;`.
    let leaves: Vec<Delayed<i64>> = (0..5).map(|i| delay!(inc(i))).collect();
    let s = delay!(sum(leaves));
    let info = s.info();
    let dot = info.to_dot();
    assert!(dot.starts_with("digraph taskweave {\n") && dot.ends_with("}\n"));
    let mut nodes = BTreeSet::new();
    let mut edges = BTreeSet::new();
    for line in dot.lines().map(str::trim) {
        if let Some((from, to)) = line.strip_suffix(';').and_then(|l| l.split_once(" -> ")) {
            edges.insert((
                from[1..].parse::<usize>().unwrap(),
                to[1..].parse::<usize>().unwrap(),
            ));
        } else if let Some((id, _)) = line.split_once(" [label=") {
            nodes.insert(id[1..].parse::<usize>().unwrap());
        }
    }
    assert_eq!(nodes, (0..info.len()).collect());
    assert_eq!(edges, info.edges().iter().copied().collect());
}

/// `table_text()` keeps its columns aligned whatever the names' lengths: the arrows of
/// every line start at one column.
#[test]
fn table_text_aligns_long_names() {
    let short = delayed(|x: i64| x + 1).named("inc").call(1);
    let long = delayed(|x: i64| x * 2)
        .named("a_task_name_much_longer_than_sixteen_characters")
        .call(short);
    let text = long.info().table_text();
    let arrows: Vec<usize> = text.lines().map(|l| l.find(" -> ").unwrap()).collect();
    assert_eq!(arrows.len(), 2);
    assert_eq!(arrows[0], arrows[1], "{text}");
    assert!(text.contains("a_task_name_much_longer_than_sixteen_characters "));
}

/// `RunOptions::observer` given twice reports to both (the first was dropped), and a
/// task named with a control character still draws as well-formed XML.
#[test]
fn two_observers_on_one_run_and_a_control_character_in_a_name() {
    let job = graph!(|a: String, b: String| -> Result<i64, String> {
        let x = parse(&a)?;
        let y = parse(&b)?;
        Ok(add(x, y))
    });
    let (first, second) = (Arc::new(RunRecord::new()), Arc::new(RunRecord::new()));
    let options = RunOptions::new()
        .observer(first.clone())
        .observer(second.clone());
    assert_eq!(job.compute_with(options, "2".into(), "40".into()), Ok(42));
    for rec in [&first, &second] {
        let info = job.info().with_outcomes(rec);
        assert!(info
            .nodes()
            .iter()
            .all(|n| n.outcome == Some(NodeOutcome::Finished)));
    }

    let named = delayed(|x: u64| x + 1)
        .named("bell\u{7}and\u{1}more")
        .call(1);
    let (nodes, _) = read_svg(&named.info().to_svg());
    assert_eq!(nodes.len(), 1);
}

/// Control characters of a task's name reach DOT as text: a NUL ends Graphviz's read
/// of the file, an escape sequence would reach whatever prints the label.
#[test]
fn dot_writes_control_characters_of_a_name_as_text() {
    let named = delayed(|x: u64| x + 1)
        .named("nul\0esc\u{1b}[31mtab\tline\nend")
        .call(1);
    let dot = named.info().to_dot();
    assert!(
        !dot.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{dot:?}"
    );
    assert!(
        dot.contains("nul\\\\u{0}esc\\\\u{1b}[31mtab\tline\\nend"),
        "{dot}"
    );
}

/// A small graph whose arrows span many levels (each of 100 nodes reads 8 earlier ones
/// at random): its layout used to take minutes (the crossing reduction over every
/// level an arrow crosses); it is drawn collapsed instead, at once.
#[test]
fn a_small_graph_of_long_arrows_draws_at_once() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seed = 12_345u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let sum = delayed(|v: Vec<u64>| v.iter().sum::<u64>());
        let mut nodes: Vec<Delayed<u64>> = vec![Delayed::value(1u64)];
        for _ in 0..98 {
            let parents: Vec<Delayed<u64>> = (0..8)
                .map(|_| nodes[next() as usize % nodes.len()].clone())
                .collect();
            nodes.push(sum.call(parents));
        }
        let info = sum.call(nodes).info();
        let (boxes, _) = read_svg(&info.to_svg());
        let _ = done.send((info.len(), boxes.len()));
    });
    let (nodes, boxes) = finished
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("drawn within two minutes (it took more than ten)");
    assert!(boxes < nodes, "{boxes} boxes for {nodes} nodes: collapsed");
}
