//! The SVG picture: laid out by layout-rs (pure Rust, no Graphviz), drawn here.
//!
//! layout-rs places the boxes and routes the arrows; a small render backend
//! collects the positions, and this module writes the SVG itself, so that every box
//! is one `<g class="node">` holding its shape, its label and a tooltip, every
//! dependency one `<path class="edge">`, with a title and a legend above.

use std::fmt::Write;

use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::{Point, Position};
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::collapse::{DrawNode, Drawing};
use super::{Direction, DrawOptions};
use crate::info::{GraphInfo, NodeOutcome};

/// Font size of a box's first line (the task's name).
const NAME_FONT: f64 = 14.0;
/// Font size of a box's second line (kind and call site).
const SITE_FONT: f64 = 11.0;
/// Estimated advance of one character, as a fraction of the font size (generous for
/// a sans-serif font, so that labels fit).
const CHAR_WIDTH: f64 = 0.62;
/// Space between a label and its box's border.
const PAD_X: f64 = 12.0;
/// Height of a box of two lines.
const BOX_HEIGHT: f64 = 44.0;
/// Space around the picture.
const MARGIN: f64 = 16.0;
/// Colour of the arrows.
const EDGE_COLOUR: &str = "#5f6b7a";

/// The fill of a box with this outcome.
pub(crate) fn fill_of(outcome: Option<NodeOutcome>) -> &'static str {
    match outcome {
        None => "#eef3fb",
        Some(NodeOutcome::Finished) => "#b9e6c3",
        Some(NodeOutcome::Failed) => "#f5a3a3",
        Some(NodeOutcome::Stopped | NodeOutcome::Cancelled) => "#fbcf8e",
        Some(NodeOutcome::Running) => "#a9cdf5",
        Some(NodeOutcome::Pending) => "#f4f4f4",
        Some(NodeOutcome::NeverRan) => "#d6d6d6",
    }
}

/// The border of a box with this outcome.
fn stroke_of(outcome: Option<NodeOutcome>) -> &'static str {
    match outcome {
        None => "#4a6a94",
        Some(NodeOutcome::Finished) => "#2e7d43",
        Some(NodeOutcome::Failed) => "#b3261e",
        Some(NodeOutcome::Stopped | NodeOutcome::Cancelled) => "#b36b00",
        Some(NodeOutcome::Running) => "#2763a8",
        Some(NodeOutcome::Pending | NodeOutcome::NeverRan) => "#8a8a8a",
    }
}

/// What the legend says of an outcome.
fn legend_text(outcome: NodeOutcome) -> &'static str {
    match outcome {
        NodeOutcome::Finished => "finished",
        NodeOutcome::Failed => "failed (panicked)",
        NodeOutcome::Stopped => "stopped the graph (? met an error)",
        NodeOutcome::Cancelled => "cancelled",
        NodeOutcome::Running => "running",
        NodeOutcome::Pending => "pending",
        NodeOutcome::NeverRan => "never ran",
    }
}

/// `s` escaped for XML text and attribute values.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// `path/to/file.rs:12:5` as `file.rs:12`: enough to find it, short enough to read.
fn short_site(site: &str) -> String {
    let mut parts = site.rsplitn(3, ':');
    let (column, line, file) = (parts.next(), parts.next(), parts.next());
    match (column, line, file) {
        (Some(_), Some(line), Some(file)) => {
            let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
            format!("{name}:{line}")
        }
        _ => site.rsplit(['/', '\\']).next().unwrap_or(site).to_owned(),
    }
}

/// Node ids as ranges: `0-999,1004`; past 12 ranges, `…` ends the list.
fn ranges(ids: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut written = 0;
    while i < ids.len() {
        if written == 12 {
            out.push_str(",\u{2026}");
            break;
        }
        written += 1;
        let start = ids[i];
        let mut end = start;
        while i + 1 < ids.len() && ids[i + 1] == end + 1 {
            i += 1;
            end = ids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

/// The symbol of an operator node's name (`mul` is `*`), to show what it computes.
fn operator_symbol(name: &str) -> Option<&'static str> {
    Some(match name {
        "add" => "+",
        "sub" => "-",
        "mul" => "*",
        "div" => "/",
        "rem" => "%",
        "neg" => "-x",
        "not" => "!",
        "bitand" => "&",
        "bitor" => "|",
        "bitxor" => "^",
        "shl" => "<<",
        "shr" => ">>",
        "eq" => "==",
        "ne" => "!=",
        "lt" => "<",
        "le" => "<=",
        "gt" => ">",
        "ge" => ">=",
        _ => return None,
    })
}

/// The two lines of a box.
fn label_lines(node: &DrawNode) -> (String, String) {
    let mut details: Vec<String> = Vec::new();
    match (node.kind.as_str(), operator_symbol(&node.name)) {
        ("task" | "future", _) => {}
        ("operator", Some(symbol)) => details.push(format!("operator {symbol}")),
        (kind, _) => details.push(kind.to_owned()),
    }
    match node.chains {
        Some((1, length)) if node.members.len() > 1 => details.push(format!("chain of {length}")),
        Some((count, length)) if node.members.len() > 1 => {
            details.push(format!("{count} chains of {length}"))
        }
        _ if node.chained => details.push("chained".to_owned()),
        _ => {}
    }
    details.push(match &node.call_site {
        Some(site) => short_site(site),
        None => "several call sites".to_owned(),
    });
    (node.title(), details.join(" \u{b7} "))
}

fn text_width(text: &str, font: f64) -> f64 {
    text.chars().count() as f64 * font * CHAR_WIDTH
}

/// What layout-rs hands its backend: where each box went, how each arrow runs.
struct Canvas {
    boxes: Vec<Option<(Point, Point)>>,
    arrows: Vec<Option<Vec<(Point, Point)>>>,
}

/// The index in a `n12` / `e3` property.
fn index_of(properties: &Option<String>, prefix: char) -> Option<usize> {
    properties.as_deref()?.strip_prefix(prefix)?.parse().ok()
}

impl RenderBackend for Canvas {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        if let Some(i) = index_of(&properties, 'n') {
            if let Some(slot) = self.boxes.get_mut(i) {
                *slot = Some((xy, size));
            }
        }
    }

    fn draw_line(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_circle(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}

    fn draw_text(&mut self, _: Point, _: &str, _: &StyleAttr) {}

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _dashed: bool,
        _head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        if let Some(i) = index_of(&properties, 'e') {
            if let Some(slot) = self.arrows.get_mut(i) {
                *slot = Some(path.to_vec());
            }
        }
    }

    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }
}

/// A box's top-left corner and size.
type Placed = (Point, Point);
/// An arrow's path: layout-rs's cubic Bézier segments.
type Route = Vec<(Point, Point)>;

/// Lays the drawing out: where each box goes, how each arrow runs.
fn lay_out(drawing: &Drawing, sizes: &[Point], direction: Direction) -> (Vec<Placed>, Vec<Route>) {
    let orientation = match direction {
        Direction::TopToBottom => Orientation::TopToBottom,
        Direction::LeftToRight => Orientation::LeftToRight,
    };
    let mut graph = VisualGraph::new(orientation);
    let handles: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let mut element = Element::create_with_properties(
                ShapeKind::new_box(""),
                StyleAttr::simple(),
                orientation,
                size,
                format!("n{i}"),
            );
            // The space kept free around a box: enough for arrows to pass between.
            let halo = match direction {
                Direction::TopToBottom => Point::new(24.0, 40.0),
                Direction::LeftToRight => Point::new(48.0, 16.0),
            };
            element.pos = Position::new(Point::zero(), size, Point::zero(), halo);
            graph.add_node(element)
        })
        .collect();
    for (j, &(a, b, _)) in drawing.edges.iter().enumerate() {
        graph.add_edge(
            Arrow::simple_with_properties("", format!("e{j}")),
            handles[a],
            handles[b],
        );
    }
    let mut canvas = Canvas {
        boxes: vec![None; sizes.len()],
        arrows: vec![None; drawing.edges.len()],
    };
    if !sizes.is_empty() {
        graph.do_it(false, false, false, &mut canvas);
    }
    let boxes = canvas
        .boxes
        .into_iter()
        .map(|b| b.expect("layout-rs draws every box"))
        .collect();
    let arrows = canvas
        .arrows
        .into_iter()
        .map(|a| a.expect("layout-rs draws every arrow"))
        .collect();
    (boxes, arrows)
}

/// The SVG document of `drawing`, a drawing of `info`.
pub(crate) fn render(info: &GraphInfo, drawing: &Drawing, options: &DrawOptions) -> String {
    let labels: Vec<(String, String)> = drawing.nodes.iter().map(label_lines).collect();
    let sizes: Vec<Point> = labels
        .iter()
        .map(|(name, details)| {
            let width = text_width(name, NAME_FONT)
                .max(text_width(details, SITE_FONT))
                .max(40.0);
            Point::new((width + 2.0 * PAD_X).round(), BOX_HEIGHT)
        })
        .collect();
    let (boxes, arrows) = lay_out(drawing, &sizes, options.direction);

    // The header: a title, what the picture shows, and a legend of the colours used.
    let tasks = info.len();
    let title = options.title.clone().unwrap_or_else(|| {
        let futures = !info.is_empty() && info.nodes().iter().all(|n| n.kind == "future");
        let noun = match (futures, tasks == 1) {
            (true, true) => "future",
            (true, false) => "futures",
            (false, true) => "task",
            (false, false) => "tasks",
        };
        let deps = info.edges().len();
        let dep_noun = if deps == 1 {
            "dependency"
        } else {
            "dependencies"
        };
        format!("{tasks} {noun}, {deps} {dep_noun}")
    });
    let arrow_word = match options.direction {
        Direction::TopToBottom => "Read from top to bottom",
        Direction::LeftToRight => "Read from left to right",
    };
    let mut notes = vec![format!(
        "{arrow_word}: an arrow goes from a task to a task that uses its result."
    )];
    if drawing.collapsed {
        notes.push(format!(
            "\u{d7}N: N similar tasks drawn as one box ({} boxes for {tasks} tasks).",
            drawing.nodes.len()
        ));
    }
    if let Some(error) = info.run_error() {
        notes.push(format!("The run failed: {error}"));
    }
    let mut outcomes: Vec<NodeOutcome> = drawing.nodes.iter().filter_map(|n| n.outcome).collect();
    outcomes.sort_unstable();
    outcomes.dedup();

    // Where things go: the header on top, the graph below, in picture coordinates.
    let (mut min, mut max) = (
        Point::new(f64::INFINITY, f64::INFINITY),
        Point::new(f64::NEG_INFINITY, f64::NEG_INFINITY),
    );
    let mut grow = |p: Point| {
        min = Point::new(min.x.min(p.x), min.y.min(p.y));
        max = Point::new(max.x.max(p.x), max.y.max(p.y));
    };
    // Boxes nothing waits for are what the graph computes: marked `result`.
    let mut is_output = vec![true; drawing.nodes.len()];
    for &(a, _, _) in &drawing.edges {
        is_output[a] = false;
    }
    for (&(xy, size), &output) in boxes.iter().zip(&is_output) {
        grow(xy);
        grow(xy.add(size));
        if output {
            grow(match options.direction {
                Direction::TopToBottom => xy.add(Point::new(0.0, size.y + 6.0)),
                Direction::LeftToRight => xy.add(Point::new(size.x + 44.0, 0.0)),
            });
        }
    }
    for path in &arrows {
        for &(p, q) in path {
            grow(p);
            grow(q);
        }
    }
    if boxes.is_empty() {
        min = Point::zero();
        max = Point::zero();
    }
    let title_height = 22.0;
    let note_height = 17.0;
    let legend_height = if outcomes.is_empty() { 0.0 } else { 24.0 };
    let header = title_height + note_height * notes.len() as f64 + legend_height + 12.0;
    let header_width = text_width(&title, 15.0).max(
        notes
            .iter()
            .map(|n| text_width(n, 12.0))
            .fold(0.0, f64::max),
    );
    let legend_width: f64 = outcomes
        .iter()
        .map(|&o| 26.0 + text_width(legend_text(o), 12.0) + 14.0)
        .sum();
    let graph_width = max.x - min.x;
    let width = graph_width.max(header_width).max(legend_width) + 2.0 * MARGIN;
    let height = header + (max.y - min.y) + 2.0 * MARGIN;
    // Centre the graph under the header when the header is wider.
    let dx = MARGIN - min.x + ((width - 2.0 * MARGIN - graph_width) / 2.0).max(0.0);
    let dy = MARGIN + header - min.y;
    let at = |p: Point| Point::new(p.x + dx, p.y + dy);

    let mut svg = String::new();
    svg.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica, Arial, 'DejaVu Sans', sans-serif\">",
        w = width.ceil(),
        h = height.ceil()
    );
    let _ = writeln!(svg, "<title>{}</title>", xml(&title));
    let _ = writeln!(
        svg,
        "<defs><marker id=\"arrowhead\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"9\" markerHeight=\"9\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"{EDGE_COLOUR}\"/></marker></defs>"
    );
    let _ = writeln!(
        svg,
        "<rect class=\"background\" x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
        width.ceil(),
        height.ceil()
    );

    // Header.
    svg.push_str("<g class=\"header\">\n");
    let mut y = MARGIN + 15.0;
    let _ = writeln!(
        svg,
        "<text x=\"{MARGIN}\" y=\"{y}\" font-size=\"15\" font-weight=\"bold\" fill=\"#1f2933\">{}</text>",
        xml(&title)
    );
    y += title_height - 2.0;
    for note in &notes {
        let _ = writeln!(
            svg,
            "<text x=\"{MARGIN}\" y=\"{y}\" font-size=\"12\" fill=\"#3e4c59\">{}</text>",
            xml(note)
        );
        y += note_height;
    }
    if !outcomes.is_empty() {
        svg.push_str("<g class=\"legend\">\n");
        let mut x = MARGIN;
        let top = y - 8.0;
        for &outcome in &outcomes {
            let _ = writeln!(
                svg,
                "<rect x=\"{x}\" y=\"{top}\" width=\"18\" height=\"14\" rx=\"3\" fill=\"{}\" stroke=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#3e4c59\">{}</text>",
                fill_of(Some(outcome)),
                stroke_of(Some(outcome)),
                x + 24.0,
                top + 11.0,
                xml(legend_text(outcome))
            );
            x += 26.0 + text_width(legend_text(outcome), 12.0) + 14.0;
        }
        svg.push_str("</g>\n");
    }
    svg.push_str("</g>\n");

    // Arrows under the boxes.
    svg.push_str("<g class=\"edges\">\n");
    for (path, &(a, b, count)) in arrows.iter().zip(&drawing.edges) {
        let mut d = String::new();
        if let [(p0, c0), (c1, p1), rest @ ..] = &path[..] {
            let (p0, c0, c1, p1) = (at(*p0), at(*c0), at(*c1), at(*p1));
            let _ = write!(
                d,
                "M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}",
                p0.x, p0.y, c0.x, c0.y, c1.x, c1.y, p1.x, p1.y
            );
            for (c, p) in rest {
                let (c, p) = (at(*c), at(*p));
                let _ = write!(d, " S {:.1} {:.1}, {:.1} {:.1}", c.x, c.y, p.x, p.y);
            }
        }
        let width = if count > 1 { 2.2 } else { 1.4 };
        let _ = writeln!(
            svg,
            "<path class=\"edge\" data-from=\"{a}\" data-to=\"{b}\" data-count=\"{count}\" d=\"{d}\" \
             fill=\"none\" stroke=\"{EDGE_COLOUR}\" stroke-width=\"{width}\" marker-end=\"url(#arrowhead)\"/>"
        );
    }
    svg.push_str("</g>\n");

    // Boxes.
    svg.push_str("<g class=\"nodes\">\n");
    for (i, (node, (name, details))) in drawing.nodes.iter().zip(&labels).enumerate() {
        let (xy, size) = boxes[i];
        let xy = at(xy);
        let centre_x = xy.x + size.x / 2.0;
        let mut tooltip = format!("{} ({})", node.title(), node.kind);
        match &node.call_site {
            Some(site) => {
                let _ = write!(tooltip, "\n{site}");
            }
            None => tooltip.push_str("\nseveral call sites"),
        }
        if let Some(note) = node.group_note() {
            let _ = write!(tooltip, "\n{note}");
        }
        let _ = write!(
            tooltip,
            "\nnode{} {}",
            if node.members.len() == 1 { "" } else { "s" },
            ranges(&node.members)
        );
        if let Some(outcome) = node.outcome {
            let _ = write!(tooltip, "\n{outcome}");
        }
        let outcome_attr = node
            .outcome
            .map(|o| format!(" data-outcome=\"{}\"", o.as_str().replace(' ', "-")))
            .unwrap_or_default();
        let dash = match node.outcome {
            Some(NodeOutcome::NeverRan | NodeOutcome::Pending) => " stroke-dasharray=\"4 3\"",
            _ => "",
        };
        let border = if node.members.len() > 1 { 2.4 } else { 1.4 };
        let _ = writeln!(
            svg,
            "<g class=\"node\" id=\"n{i}\" data-nodes=\"{}\" data-count=\"{}\"{outcome_attr}>\
             <title>{}</title>",
            ranges(&node.members),
            node.members.len(),
            xml(&tooltip)
        );
        if node.members.len() > 1 {
            // A stack of cards: a group of similar tasks.
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"7\" fill=\"{}\" stroke=\"{}\" stroke-width=\"1\"/>",
                xy.x + 4.0,
                xy.y - 4.0,
                size.x,
                size.y,
                fill_of(node.outcome),
                stroke_of(node.outcome)
            );
        }
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"7\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{border}\"{dash}/>",
            xy.x,
            xy.y,
            size.x,
            size.y,
            fill_of(node.outcome),
            stroke_of(node.outcome)
        );
        let _ = writeln!(
            svg,
            "<text x=\"{centre_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{NAME_FONT}\" \
             font-weight=\"bold\" fill=\"#1f2933\">{}</text>",
            xy.y + 19.0,
            xml(name)
        );
        let _ = writeln!(
            svg,
            "<text x=\"{centre_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{SITE_FONT}\" \
             fill=\"#52606d\">{}</text>",
            xy.y + 35.0,
            xml(details)
        );
        if is_output[i] {
            // What the graph computes: nothing waits for it.
            let (x, y, anchor) = match options.direction {
                Direction::TopToBottom => (centre_x, xy.y + size.y + 14.0, "middle"),
                Direction::LeftToRight => (xy.x + size.x + 6.0, xy.y + size.y / 2.0 + 4.0, "start"),
            };
            let _ = writeln!(
                svg,
                "<text class=\"result\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" font-size=\"11\" \
                 font-style=\"italic\" fill=\"#52606d\">result</text>"
            );
        }
        svg.push_str("</g>\n");
    }
    svg.push_str("</g>\n</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_sites_and_ranges() {
        assert_eq!(
            short_site("examples/quickstart.rs:31:17"),
            "quickstart.rs:31"
        );
        assert_eq!(short_site("/a/b/c.rs:1:2"), "c.rs:1");
        assert_eq!(short_site("nowhere"), "nowhere");
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        let odd: Vec<usize> = (0..100).map(|i| 2 * i + 1).collect();
        assert_eq!(ranges(&odd), "1,3,5,7,9,11,13,15,17,19,21,23,\u{2026}");
        assert_eq!(xml("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
