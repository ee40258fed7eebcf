//! Errors about one node, located at its statement when the graph came
//! from IR text ([`Graph::loc`]), so they print as `line:col: …` like parse
//! errors.

use adjoint_ir::{Error, Graph, NodeId};

/// `e`, located at the statement of node `n` of `g` when `g` knows it and
/// `e` has no location yet (an error from inside a body keeps the body
/// statement's location).
pub(crate) fn at_node(e: Error, g: &Graph, n: NodeId) -> Error {
    match g.loc(n) {
        Some(loc) => e.at(loc),
        None => e,
    }
}

/// A pass error about node `n` of `g`, located at its statement when
/// known.
pub(crate) fn node_err(g: &Graph, n: NodeId, message: impl Into<String>) -> Error {
    at_node(Error::pass(message), g, n)
}
