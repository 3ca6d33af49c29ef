//! The SVG picture: laid out by layout-rs (pure Rust, no Graphviz), drawn here.
//!
//! layout-rs places the boxes in ranks; a small render backend collects the
//! positions, and this module routes the arrows and writes the SVG itself, so that
//! every box is one `<g class="node">` holding its shape, its label and a tooltip,
//! every dependency one `<path class="edge">`, with a title and a legend above.
//!
//! Arrows are polylines that never pass under a box: between two ranks nothing is
//! drawn but arrows, so an arrow runs straight across that gap, and it crosses a
//! rank it skips where that rank has room (see [`Obstacles::route`]).

use std::fmt::Write;

use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::{Point, Position};
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::collapse::{DrawNode, Drawing};
use super::colour::{fill_of, stroke_of};
use super::{Direction, DrawOptions};
use crate::inspect::info::{GraphInfo, NodeOutcome};

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
/// How far the back card of a group's box sticks out, up and to the right.
const STACK: f64 = 4.0;
/// The least space between an arrow and a box it passes.
const CLEARANCE: f64 = 8.0;

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

/// `s` escaped for XML text and attribute values; the characters XML 1.0 allows
/// nowhere, escaped or not (control characters but tab, line feed and carriage return;
/// U+FFFE, U+FFFF), are shown as U+FFFD, so that a task named with one still gives a
/// well-formed file.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            // Not allowed in XML (C0 controls, U+FFFE, U+FFFF), or in HTML, which
            // the performance report inlines this picture into (C1 controls and the
            // other noncharacters).
            c if c.is_control()
                || (0xfdd0..=0xfdef).contains(&u32::from(c))
                || u32::from(c) & 0xfffe == 0xfffe =>
            {
                out.push(char::REPLACEMENT_CHARACTER)
            }
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
/// An arrow as layout-rs would draw it: cubic Bézier segments, through a point in
/// each rank it skips.
type Curve = Vec<(Point, Point)>;

/// Lays the drawing out: where each box goes, how layout-rs would draw each arrow.
fn lay_out(drawing: &Drawing, sizes: &[Point], direction: Direction) -> (Vec<Placed>, Vec<Curve>) {
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

/// `p` in the router's frame, where arrows run down (`y`) whichever way the picture
/// runs; the same call turns a point of the frame back.
fn frame(p: Point, direction: Direction) -> Point {
    match direction {
        Direction::TopToBottom => p,
        Direction::LeftToRight => Point::new(p.y, p.x),
    }
}

/// A rectangle of the router's frame: top-left and bottom-right corners.
type Rect = (Point, Point);

/// Boxes that overlap along the arrows: a rank of the layout.
struct Band {
    top: f64,
    bottom: f64,
    boxes: Vec<usize>,
    /// Where a line down through the band would come nearer than [`CLEARANCE`] to a
    /// box: disjoint spans across, from the left. Made once, not per arrow crossing.
    blocked: Vec<(f64, f64)>,
}

/// The boxes as the router sees them, in its frame.
struct Obstacles {
    /// What each box covers, its back card included.
    rects: Vec<Rect>,
    /// Where arrows leave and enter each box across: the middle of its front card.
    ports: Vec<f64>,
    /// From the top; nothing lies between two bands.
    bands: Vec<Band>,
    band_of: Vec<usize>,
    /// Right of every box, by [`CLEARANCE`]: where an arrow goes around them all.
    right: f64,
}

impl Obstacles {
    fn new(drawing: &Drawing, boxes: &[Placed], direction: Direction) -> Obstacles {
        let mut rects = Vec::with_capacity(boxes.len());
        let mut ports = Vec::with_capacity(boxes.len());
        for (&(xy, size), node) in boxes.iter().zip(&drawing.nodes) {
            let stack = if node.members.len() > 1 { STACK } else { 0.0 };
            let a = frame(Point::new(xy.x, xy.y - stack), direction);
            let b = frame(Point::new(xy.x + size.x + stack, xy.y + size.y), direction);
            rects.push((
                Point::new(a.x.min(b.x), a.y.min(b.y)),
                Point::new(a.x.max(b.x), a.y.max(b.y)),
            ));
            ports.push(frame(xy.add(size.scale(0.5)), direction).x);
        }
        let mut order: Vec<usize> = (0..rects.len()).collect();
        order.sort_by(|&a, &b| rects[a].0.y.total_cmp(&rects[b].0.y));
        let mut bands: Vec<Band> = Vec::new();
        let mut band_of = vec![0; rects.len()];
        for i in order {
            let (top, bottom) = (rects[i].0.y, rects[i].1.y);
            match bands.last_mut() {
                Some(band) if top < band.bottom => {
                    band.bottom = band.bottom.max(bottom);
                    band.boxes.push(i);
                }
                _ => bands.push(Band {
                    top,
                    bottom,
                    boxes: vec![i],
                    blocked: Vec::new(),
                }),
            }
            band_of[i] = bands.len() - 1;
        }
        for band in &mut bands {
            let mut spans: Vec<(f64, f64)> = band
                .boxes
                .iter()
                .map(|&i| (rects[i].0.x - CLEARANCE, rects[i].1.x + CLEARANCE))
                .collect();
            spans.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (left, right) in spans {
                match band.blocked.last_mut() {
                    Some(last) if left <= last.1 => last.1 = last.1.max(right),
                    _ => band.blocked.push((left, right)),
                }
            }
        }
        let right = rects
            .iter()
            .map(|r| r.1.x)
            .fold(f64::NEG_INFINITY, f64::max)
            + CLEARANCE;
        Obstacles {
            rects,
            ports,
            bands,
            band_of,
            right,
        }
    }

    /// The `x` nearest to `want` where a line down through `band` keeps
    /// [`CLEARANCE`] from each of its boxes.
    fn free_x(band: &Band, want: f64) -> f64 {
        // The spans are disjoint and ordered, so by their right ends too: the only
        // one that can hold `want` is the first that ends right of it.
        let at = band.blocked.partition_point(|&(_, right)| right <= want);
        match band.blocked.get(at) {
            Some(&(left, right)) if left < want && want - left <= right - want => left,
            Some(&(left, right)) if left < want => right,
            _ => want,
        }
    }

    /// The polyline of the arrow from box `a` to box `b`; `hints` are the points
    /// where layout-rs would cross the bands between, followed where they leave
    /// room.
    ///
    /// It leaves `a` at the middle of its bottom, runs straight through each gap
    /// between bands (where no box is), crosses each band between on a line clear of
    /// that band's boxes, and enters `b` at the middle of its top. Should `b` not lie
    /// in a band below `a`'s (layout-rs ranks every arrow downwards), it goes around
    /// the right of every box instead.
    fn route(&self, a: usize, b: usize, hints: &[Point]) -> Vec<Point> {
        let bands = &self.bands;
        let start = Point::new(self.ports[a], self.rects[a].1.y);
        let end = Point::new(self.ports[b], self.rects[b].0.y);
        let (band_a, band_b) = (self.band_of[a], self.band_of[b]);
        let mut points = vec![start, Point::new(start.x, bands[band_a].bottom)];
        if band_b > band_a {
            let between = &bands[band_a + 1..band_b];
            // The first hint within each band between, found by bisection: looking
            // through every hint for every band took the square of a long arrow's
            // length. Bands are ordered and disjoint but may touch, so a hint on a
            // border is the first of both.
            let mut first_hint: Vec<Option<f64>> = vec![None; between.len()];
            for hint in hints.iter().filter(|p| !p.y.is_nan()) {
                let from = between.partition_point(|band| band.bottom < hint.y);
                for (slot, band) in first_hint[from..].iter_mut().zip(&between[from..]) {
                    if band.top > hint.y {
                        break;
                    }
                    slot.get_or_insert(hint.x);
                }
            }
            for (band, hint) in between.iter().zip(first_hint) {
                let want = match hint {
                    Some(x) => x,
                    None => {
                        let t = ((band.top + band.bottom) / 2.0 - start.y) / (end.y - start.y);
                        start.x + t * (end.x - start.x)
                    }
                };
                let x = Self::free_x(band, want);
                points.push(Point::new(x, band.top));
                points.push(Point::new(x, band.bottom));
            }
            points.push(Point::new(end.x, bands[band_b].top));
        } else {
            // Along the middle of the gap below `a`'s band, right of every box, and
            // back along the middle of the gap above `b`'s band.
            let gap_below = match bands.get(band_a + 1) {
                Some(next) => (bands[band_a].bottom + next.top) / 2.0,
                None => bands[band_a].bottom + CLEARANCE,
            };
            let gap_above = match band_b.checked_sub(1) {
                Some(previous) => (bands[previous].bottom + bands[band_b].top) / 2.0,
                None => bands[band_b].top - CLEARANCE,
            };
            let right = self.right;
            points.extend([
                Point::new(start.x, gap_below),
                Point::new(right, gap_below),
                Point::new(right, gap_above),
                Point::new(end.x, gap_above),
            ]);
        }
        points.push(end);
        points.dedup_by(|p, q| (p.x - q.x).abs() < 0.05 && (p.y - q.y).abs() < 0.05);
        points
    }
}

/// Every arrow of `drawing` as a polyline in picture coordinates (see
/// [`Obstacles::route`]); `curves` are layout-rs's.
fn routes(
    drawing: &Drawing,
    boxes: &[Placed],
    curves: &[Curve],
    direction: Direction,
) -> Vec<Vec<Point>> {
    let obstacles = Obstacles::new(drawing, boxes, direction);
    drawing
        .edges
        .iter()
        .zip(curves)
        .map(|(&(a, b, _), curve)| {
            // The points layout-rs's curve passes between its ends.
            let hints: Vec<Point> = curve
                .get(1..curve.len().saturating_sub(1))
                .unwrap_or_default()
                .iter()
                .map(|&(_, p)| frame(p, direction))
                .collect();
            obstacles
                .route(a, b, &hints)
                .into_iter()
                .map(|p| frame(p, direction))
                .collect()
        })
        .collect()
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
    let (boxes, curves) = lay_out(drawing, &sizes, options.direction);
    let arrows = routes(drawing, &boxes, &curves, options.direction);

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
    for &p in arrows.iter().flatten() {
        grow(p);
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
        for (k, &p) in path.iter().enumerate() {
            let p = at(p);
            let command = if k == 0 { "M" } else { " L" };
            let _ = write!(d, "{command} {:.1} {:.1}", p.x, p.y);
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
                xy.x + STACK,
                xy.y - STACK,
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
        assert_eq!(xml("a\u{1}b\tc\u{ffff}"), "a\u{fffd}b\tc\u{fffd}");
    }
}
