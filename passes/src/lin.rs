//! Symbolic zeros, as in JAX: a tangent or cotangent is either known to be
//! zero (nothing is materialised) or a value in the graph. Sums and scalings
//! of symbolic zeros emit no nodes; a zero only becomes a tensor at the
//! function boundary ([`Lin::materialize`]).

use crate::emit;
use adjoint_ir::{Graph, NodeId, Result, TensorType};

/// A linear (tangent or cotangent) value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lin {
    /// Identically zero; no node.
    Zero,
    /// The value of a node.
    Val(NodeId),
}

impl Lin {
    /// Whether this is the symbolic zero.
    pub fn is_zero(self) -> bool {
        matches!(self, Lin::Zero)
    }

    /// The node, if not zero.
    pub fn node(self) -> Option<NodeId> {
        match self {
            Lin::Zero => None,
            Lin::Val(n) => Some(n),
        }
    }

    /// `self + other`; emits an `add` only when both are nonzero.
    pub fn add(self, g: &mut Graph, other: Lin) -> Result<Lin> {
        Ok(match (self, other) {
            (Lin::Zero, o) | (o, Lin::Zero) => o,
            (Lin::Val(a), Lin::Val(b)) => Lin::Val(emit::add(g, a, b)?),
        })
    }

    /// Applies a linear map to a nonzero value; zero stays zero.
    pub fn map(self, f: impl FnOnce(NodeId) -> Result<NodeId>) -> Result<Lin> {
        Ok(match self {
            Lin::Zero => Lin::Zero,
            Lin::Val(n) => Lin::Val(f(n)?),
        })
    }

    /// The value as a node: zeros of type `ty` for the symbolic zero.
    pub fn materialize(self, g: &mut Graph, ty: &TensorType) -> Result<NodeId> {
        match self {
            Lin::Zero => emit::zeros(g, ty),
            Lin::Val(n) => Ok(n),
        }
    }
}

/// Sums `parts`, emitting one `add` per pair of nonzero parts.
pub fn sum(g: &mut Graph, parts: impl IntoIterator<Item = Lin>) -> Result<Lin> {
    let mut acc = Lin::Zero;
    for p in parts {
        acc = acc.add(g, p)?;
    }
    Ok(acc)
}
