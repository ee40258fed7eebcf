//! Common-subexpression elimination by structural hashing: two nodes are
//! the same value when they have equal ops (`Op` derives `Hash`/`Eq`;
//! constants compare bitwise) and the same operand nodes. Operands of
//! commutative ops (`add`, `mul`, `max`, `min`) are sorted first, so `a*b`
//! and `b*a` merge. One pass in topological order finds every redundancy,
//! since operands are canonicalised before their users are hashed.
//!
//! Loops merge like any node: two `scan`s (`while`s, `cond`s) with the
//! same op (attributes and the very same bodies, by address) and the same
//! operands are one loop, and their projections then merge too. The pass
//! runs in every body ([`crate::nested`], innermost first), so bodies
//! shared by two loops stay shared and such loops can merge.
//!
//! The clones `grad{remat=true}` makes (named `remat_…`, see
//! [`crate::remat`]) are never merged: they are duplicates on purpose.

use crate::nested::{run_nested, Order};
use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{Graph, NodeId, Op, Result};
use std::collections::HashMap;

/// The structural key of a node: its op and its operands, commutative
/// operands sorted.
fn key(g: &Graph, id: NodeId) -> (Op, Vec<NodeId>) {
    let op = g[id].op.clone();
    let mut ops = g.operands(id);
    if let Op::Binary(b) = &op {
        if b.is_commutative() {
            ops.sort_unstable();
        }
    }
    (op, ops)
}

/// Merges structurally equal nodes in `g` and in every body it runs;
/// returns the ops of the removed nodes.
pub fn eliminate_common(g: &mut Graph) -> Result<Vec<&'static str>> {
    let mut removed = Vec::new();
    run_nested(g, Order::BottomUp, |h| {
        let r = eliminate_common_here(h)?;
        let changed = !r.is_empty();
        removed.extend(r);
        Ok(changed)
    })?;
    Ok(removed)
}

/// Merges structurally equal nodes of `g` (not inside its bodies); returns
/// the ops of the removed nodes.
pub fn eliminate_common_here(g: &mut Graph) -> Result<Vec<&'static str>> {
    let mut seen: HashMap<(Op, Vec<NodeId>), NodeId> = HashMap::new();
    let mut merged = Vec::new();
    for id in g.topo_order()? {
        if matches!(g[id].op, Op::Param { .. }) || crate::remat::is_clone(g, id) {
            // A recomputed clone stays apart from the value it recomputes.
            continue;
        }
        let k = key(g, id);
        match seen.get(&k) {
            Some(&keep) => {
                g.replace_all_uses(id, keep);
                merged.push(id);
            }
            None => {
                seen.insert(k, id);
            }
        }
    }
    // The merged nodes have no users left; remove them in one batch (one
    // by one, unlinking them from a widely shared operand would cost time
    // quadratic in its use count).
    Ok(g.remove_nodes(&merged)?
        .into_iter()
        .map(|n| n.op.name())
        .collect())
}

/// The `cse` pass.
#[derive(Clone, Debug, Default)]
pub struct Cse;

impl Pass for Cse {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        Ok(PassStats::removing(0, &eliminate_common(g)?))
    }
}

impl PassType for Cse {
    const NAME: &'static str = "cse";
    const SUMMARY: &'static str =
        "merge structurally equal nodes (hash of op and operands; commutative operands sorted), in bodies too";
    const OPTIONS: &'static [OptionSpec] = &[];
    fn from_options(_: &PassOptions) -> Result<Self> {
        Ok(Cse)
    }
}
