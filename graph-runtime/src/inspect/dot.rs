//! DOT text: Graphviz's language, for `dot -Tsvg` or any DOT reader.

use std::fmt::Write;

use super::collapse::Drawing;
use super::colour::fill_of;
use super::{Direction, DrawOptions};

/// `s` as the inside of a DOT string: quotes and backslashes escaped, newlines as
/// `\n`, other control characters but tab written out as text (`\u{1b}`): Graphviz
/// stops reading a file at a NUL, and an escape sequence would reach whatever prints
/// the label.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push(c),
            // `\\u{..}`: the backslash itself escaped, so DOT shows it as written.
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out
}

/// The drawing as a `digraph`.
pub(crate) fn write(drawing: &Drawing, options: &DrawOptions) -> String {
    let rankdir = match options.direction {
        Direction::TopToBottom => "TB",
        Direction::LeftToRight => "LR",
    };
    let mut out = String::new();
    out.push_str("digraph taskweave {\n");
    let _ = writeln!(out, "    rankdir={rankdir};");
    out.push_str(
        "    node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\"];\n",
    );
    for (i, node) in drawing.nodes.iter().enumerate() {
        let mut label = node.title();
        label.push('\n');
        label.push_str(&node.kind);
        match &node.call_site {
            Some(site) => {
                label.push_str(" at ");
                label.push_str(site);
            }
            None => label.push_str(" at several call sites"),
        }
        if let Some(note) = node.group_note() {
            label.push('\n');
            label.push_str(&note);
        }
        let _ = write!(out, "    n{i} [label=\"{}\"", escape(&label));
        if let Some(outcome) = node.outcome {
            let _ = write!(
                out,
                ", fillcolor=\"{}\", tooltip=\"{}\"",
                fill_of(Some(outcome)),
                outcome
            );
        }
        out.push_str("];\n");
    }
    for &(a, b, count) in &drawing.edges {
        if count > 1 {
            let _ = writeln!(out, "    n{a} -> n{b} [label=\"\u{d7}{count}\"];");
        } else {
            let _ = writeln!(out, "    n{a} -> n{b};");
        }
    }
    out.push_str("}\n");
    out
}

// The DOT text is checked by layout-rs's parser: a dependency of the feature `svg`.
#[cfg(all(test, feature = "svg"))]
mod tests {
    use layout::gv::parser::ast::{Stmt, StmtList};
    use layout::gv::{DotParser, GraphBuilder};

    use crate::engine::table::{NodeInfo, Table};
    use crate::inspect::GraphInfo;
    use crate::{Direction, DrawOptions};

    fn sample() -> GraphInfo {
        static NODES: [NodeInfo<'static>; 5] = [
            NodeInfo::new(
                &const { crate::engine::table::Label::task("load", "src/a.rs:1:1") },
                0,
                0,
                2,
            ),
            NodeInfo::new(
                &const { crate::engine::table::Label::task("clean", "src/a.rs:2:1") },
                1,
                2,
                1,
            ),
            NodeInfo::new(
                &const { crate::engine::table::Label::task("clean", "src/a.rs:3:1") },
                1,
                3,
                1,
            ),
            NodeInfo::new(
                &const { crate::engine::table::Label::new("add", "operator", "src/a.rs:4:1") },
                2,
                4,
                1,
            ),
            NodeInfo::new(
                &const { crate::engine::table::Label::task("say \"hi\"", "src/a.rs:5:1") },
                1,
                5,
                0,
            ),
        ];
        static TABLE: Table<'static> = Table::new(&NODES, &[1, 2, 3, 3, 4], &[0], 2);
        GraphInfo::from(&TABLE)
    }

    /// Pairs of names: `(node, label)` or `(from, to)`.
    type Pairs = Vec<(String, String)>;

    /// Every node statement's name and label, every edge, of a parsed graph.
    fn statements(list: &StmtList) -> (Pairs, Pairs) {
        let (mut nodes, mut edges) = (Vec::new(), Vec::new());
        for stmt in &list.list {
            match stmt {
                Stmt::Node(node) => {
                    let label = node
                        .list
                        .iter()
                        .find(|(k, _)| k == "label")
                        .map(|(_, v)| v.clone())
                        .expect("every node is labelled");
                    nodes.push((node.id.name.clone(), label));
                }
                Stmt::Edge(edge) => {
                    let mut from = edge.from.name.clone();
                    for (to, _) in &edge.to {
                        edges.push((from.clone(), to.name.clone()));
                        from = to.name.clone();
                    }
                }
                _ => {}
            }
        }
        (nodes, edges)
    }

    #[test]
    fn dot_round_trips_through_a_dot_parser() {
        let info = sample();
        for direction in [Direction::TopToBottom, Direction::LeftToRight] {
            let dot = info.to_dot_with(
                &DrawOptions::new()
                    .direction(direction)
                    .collapse_above(usize::MAX),
            );
            let mut parser = DotParser::new(&dot);
            let graph = parser.process().expect("layout-rs parses the DOT text");
            let (nodes, edges) = statements(&graph.list);
            assert_eq!(nodes.len(), info.len());
            for ((id, label), view) in nodes.iter().zip(info.nodes()) {
                assert_eq!(id, &format!("n{}", view.id));
                assert!(label.starts_with(&view.name), "{label:?}");
                assert!(label.contains(&view.call_site), "{label:?}");
                assert!(label.contains(&view.kind), "{label:?}");
            }
            let expected: Vec<(String, String)> = info
                .edges()
                .iter()
                .map(|(a, b)| (format!("n{a}"), format!("n{b}")))
                .collect();
            assert_eq!(edges, expected);
            // And it builds a graph layout-rs can lay out.
            let mut builder = GraphBuilder::new();
            builder.visit_graph(&graph);
            let laid_out = builder.get();
            assert_eq!(laid_out.num_nodes(), info.len());
        }
    }
}
