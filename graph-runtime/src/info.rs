//! Inspection: the shape of a graph as plain data, the same for every front end.

use crate::table::Table;

/// One node as seen by inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The node's index: its position in the topological order.
    pub id: usize,
    /// The task's name: the function, method or operator it runs.
    pub name: String,
    /// What the node is: `task`, `operator`, `method`, … (see [`NodeInfo::kind`]).
    ///
    /// [`NodeInfo::kind`]: crate::NodeInfo::kind
    pub kind: String,
    /// Where it was written, as `file:line:column`.
    pub call_site: String,
}

/// A graph's nodes, edges and order, built from its node table.
///
/// For a `graph!` it is available without running anything: `job.info()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphInfo {
    nodes: Vec<NodeView>,
    edges: Vec<(usize, usize)>,
    roots: Vec<usize>,
}

impl GraphInfo {
    /// Reads a node table.
    pub fn from_table(table: &Table<'_>) -> Self {
        let nodes = table
            .nodes()
            .iter()
            .enumerate()
            .map(|(id, n)| NodeView {
                id,
                name: n.name.to_owned(),
                kind: n.kind.to_owned(),
                call_site: n.call_site.to_owned(),
            })
            .collect();
        let edges = (0..table.len() as u32)
            .flat_map(|i| {
                table
                    .successors_of(i)
                    .iter()
                    .map(move |&s| (i as usize, s as usize))
            })
            .collect();
        let roots = table.roots().iter().map(|&r| r as usize).collect();
        GraphInfo {
            nodes,
            edges,
            roots,
        }
    }

    /// The nodes, in topological order.
    pub fn nodes(&self) -> &[NodeView] {
        &self.nodes
    }

    /// Every dependency as `(producer, consumer)`.
    pub fn edges(&self) -> &[(usize, usize)] {
        &self.edges
    }

    /// The nodes that wait for nothing.
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }

    /// Node ids in an order where every node comes after the nodes it waits for.
    pub fn topological_order(&self) -> Vec<usize> {
        (0..self.nodes.len()).collect()
    }

    /// The nodes `node` waits for.
    pub fn predecessors(&self, node: usize) -> Vec<usize> {
        self.edges
            .iter()
            .filter(|e| e.1 == node)
            .map(|e| e.0)
            .collect()
    }

    /// The nodes that wait for `node`.
    pub fn successors(&self, node: usize) -> Vec<usize> {
        self.edges
            .iter()
            .filter(|e| e.0 == node)
            .map(|e| e.1)
            .collect()
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node table as text, one node a line: id, name, call site, successors.
    pub fn table_text(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let succ: Vec<String> = self
                .successors(node.id)
                .iter()
                .map(|s| s.to_string())
                .collect();
            out.push_str(&format!(
                "{:>4}  {:<16} {:<32} -> [{}]\n",
                node.id,
                node.name,
                node.call_site,
                succ.join(", ")
            ));
        }
        out
    }
}
