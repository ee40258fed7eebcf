//! Fusion regions: groups elementwise chains, together with the broadcasts
//! feeding them and the reductions ending them, into regions that a backend
//! lowers as one loop nest each.
//!
//! A region is a set of nodes evaluated in one loop over a common *loop
//! shape*: every elementwise node in it has that shape, and every reduction
//! in it reduces an operand of that shape (all reductions of one region
//! reduce the same axes, so the loop order is fixed: kept axes outside,
//! reduced axes inside). Values flow between nodes of one region in
//! registers; a value leaves its region through memory (the backend stores
//! it) when it is a graph output or has a user outside the region.
//!
//! Shape ops (`broadcast`, `transpose`, `slice`, `reshape`) are index
//! arithmetic on stored values, never region members; for visibility a shape
//! op whose users are all in one region is labelled with that region. Other
//! ops (`matmul`, `pad`, `concat`, `call`, leaves) have no region.
//!
//! The regions are acyclic by construction: each node records the highest
//! region its value depends on through memory, and a node joins a region
//! only if everything it reads from memory was finished by lower-numbered
//! regions. So region `r` only ever depends on regions `< r`, and a backend
//! can run the regions in any topological order of the node graph.

use adjoint_ir::{Graph, NodeId, Op, Result, Shape};
use std::collections::HashMap;

/// What [`assign_regions`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FuseStats {
    /// Number of regions formed.
    pub regions: usize,
    /// Number of compute nodes (elementwise ops and reductions) placed in
    /// regions.
    pub fused_nodes: usize,
    /// Number of regions holding more than one compute node.
    pub multi_node_regions: usize,
    /// Number of shape ops labelled with the region consuming them.
    pub labelled_views: usize,
}

/// Whether `op` is a shape op that a backend lowers as index arithmetic
/// (the op table's class [`OpClass::View`](adjoint_ir::OpClass::View)).
pub fn is_view_op(op: &Op) -> bool {
    op.is_view()
}

/// Whether `op` is a reduction (the op table's class
/// [`OpClass::Reduction`](adjoint_ir::OpClass::Reduction)).
pub fn is_reduction(op: &Op) -> bool {
    op.is_reduction()
}

/// How a node takes part in fusion.
enum Role {
    /// A leaf: no dependency on any region.
    Leaf,
    /// An elementwise op: a region member whose loop shape is its own shape.
    Elementwise,
    /// A reduction over the given (sorted) axes: a region member whose loop
    /// shape is its operand's shape.
    Reduction(Vec<usize>),
    /// A shape op: index arithmetic on its operand's stored value.
    View,
    /// Any other op: computed on its own from stored operands.
    Opaque,
}

fn role(op: &Op) -> Role {
    match op {
        Op::Param { .. } | Op::Const(_) => Role::Leaf,
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::Cast { .. }
        | Op::Logical(_) => Role::Elementwise,
        Op::ReduceSum { axes } | Op::ReduceMax { axes } => {
            let mut a = axes.clone();
            a.sort_unstable();
            Role::Reduction(a)
        }
        Op::Broadcast { .. } | Op::Reshape { .. } | Op::Transpose { .. } | Op::Slice { .. } => {
            Role::View
        }
        Op::Pad { .. }
        | Op::Concat { .. }
        | Op::MatMul
        | Op::Call(_)
        | Op::Iota { .. }
        | Op::Scan { .. }
        | Op::While { .. }
        | Op::Cond { .. }
        | Op::Project { .. } => Role::Opaque,
    }
}

struct RegionInfo {
    shape: Shape,
    axes: Option<Vec<usize>>,
    members: usize,
}

/// Assigns a fusion region to every elementwise op and reduction of `g`
/// (clearing any previous assignment), and labels the shape ops that feed a
/// single region. Region ids are dense, starting at 0, in creation order.
///
/// ```
/// use adjoint_ir::{GraphBuilder, TensorType};
/// use adjoint_passes::fuse::assign_regions;
/// let b = GraphBuilder::new("f");
/// let x = b.param("x", TensorType::f64([8]));
/// let y = ((x * x).exp() + x).sum();
/// let mut g = b.build(&[y]).unwrap();
/// let stats = assign_regions(&mut g).unwrap();
/// // mul, exp, add and the ending reduction form one region.
/// assert_eq!(stats.regions, 1);
/// assert_eq!(stats.fused_nodes, 4);
/// ```
pub fn assign_regions(g: &mut Graph) -> Result<FuseStats> {
    assign_regions_with_limit(g, DEFAULT_MAX_REGION_NODES)
}

/// The default cap on compute nodes per region: long enough for any
/// realistic elementwise chain, short enough that one loop body stays a
/// function the code generator handles quickly (a 1000-op chain with its
/// gradient compiles ~30% faster as regions of 256 than as one region).
pub const DEFAULT_MAX_REGION_NODES: usize = 256;

/// [`assign_regions`] with at most `max_nodes` compute nodes per region; a
/// node that would exceed it starts a new region (its value then passes
/// through memory).
pub fn assign_regions_with_limit(g: &mut Graph, max_nodes: usize) -> Result<FuseStats> {
    let max_nodes = max_nodes.max(1);
    let order = g.topo_order()?;
    for &id in &order {
        g[id].region = None;
    }
    // dep[n]: the highest region whose completion n's value needs, or -1.
    let mut dep: HashMap<NodeId, i64> = HashMap::with_capacity(order.len());
    let mut regions: Vec<RegionInfo> = Vec::new();
    let mut stats = FuseStats::default();
    for &id in &order {
        let operands = g.operands(id);
        let max_dep = operands
            .iter()
            .map(|o| dep.get(o).copied().unwrap_or(-1))
            .max()
            .unwrap_or(-1);
        let node_role = role(&g[id].op);
        let (loop_shape, axes) = match &node_role {
            Role::Leaf => {
                dep.insert(id, -1);
                continue;
            }
            Role::View | Role::Opaque => {
                dep.insert(id, max_dep);
                continue;
            }
            Role::Elementwise => (g[id].ty.shape.clone(), None),
            Role::Reduction(axes) => (g.ty(operands[0]).shape.clone(), Some(axes.clone())),
        };
        // May the node join region `max_dep`? Every operand that depends on
        // that region must be a value computed in its loop (not a stored
        // value read back, and not a reduction result, which only exists
        // after the loop).
        let mut join = None;
        if max_dep >= 0 {
            let r = max_dep as usize;
            let info = &regions[r];
            let shape_ok = info.shape == loop_shape;
            let axes_ok = match (&axes, &info.axes) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            let operands_ok = operands.iter().all(|o| {
                dep.get(o).copied().unwrap_or(-1) < max_dep
                    || (g[*o].region == Some(r as u32) && !is_reduction(&g[*o].op))
            });
            if shape_ok && axes_ok && operands_ok && info.members < max_nodes {
                join = Some(r);
            }
        }
        // Otherwise join the latest region of the same loop shape that was
        // started after everything this node reads (so no cycle can form):
        // independent loops over one shape become one loop.
        if join.is_none() {
            join = regions
                .iter()
                .enumerate()
                .rev()
                .take_while(|(r, _)| *r as i64 > max_dep)
                .find(|(_, info)| {
                    info.members < max_nodes
                        && info.shape == loop_shape
                        && match (&axes, &info.axes) {
                            (Some(a), Some(b)) => a == b,
                            _ => true,
                        }
                })
                .map(|(r, _)| r);
        }
        let r = match join {
            Some(r) => r,
            None => {
                regions.push(RegionInfo {
                    shape: loop_shape,
                    axes: None,
                    members: 0,
                });
                regions.len() - 1
            }
        };
        if axes.is_some() {
            regions[r].axes = axes;
        }
        regions[r].members += 1;
        g[id].region = Some(r as u32);
        dep.insert(id, r as i64);
        stats.fused_nodes += 1;
    }
    // Label shape ops feeding exactly one region.
    for &id in &order {
        if !is_view_op(&g[id].op) {
            continue;
        }
        let users = g.users(id);
        let Some(&first) = users.first() else {
            continue;
        };
        let r = g[first].region;
        if r.is_some()
            && users.iter().all(|&u| g[u].region == r)
            && !g.outputs().contains(&id)
            && (dep.get(&id).copied().unwrap_or(-1) < r.map_or(-1, i64::from))
        {
            g[id].region = r;
            stats.labelled_views += 1;
        }
    }
    stats.regions = regions.len();
    stats.multi_node_regions = regions.iter().filter(|r| r.members > 1).count();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use adjoint_ir::{GraphBuilder, TensorType};

    #[test]
    fn elementwise_chain_and_reduction_form_one_region() {
        let b = GraphBuilder::new("f");
        let x = b.param("x", TensorType::f64([16]));
        let y = b.param("y", TensorType::f64([16]));
        let z = ((x * y).sin() + x).sum();
        let mut g = b.build(&[z]).unwrap();
        let s = assign_regions(&mut g).unwrap();
        assert_eq!(s.regions, 1);
        assert_eq!(s.fused_nodes, 4);
        assert_eq!(s.multi_node_regions, 1);
    }

    #[test]
    fn reduction_result_is_not_used_in_its_own_region() {
        // softmax-like: x - max(x) needs the max finished first.
        let b = GraphBuilder::new("f");
        let x = b.param("x", TensorType::f64([4, 8]));
        let m = x.max_axes(&[1]);
        let mb = m.reshape([4, 1]).broadcast_to([4, 8]);
        let e = (x - mb).exp();
        let g0 = b.build(&[e]).unwrap();
        let mut g = g0.clone();
        assign_regions(&mut g).unwrap();
        let mid = m.id();
        let eid = e.id();
        assert!(g[mid].region.is_some());
        assert!(g[eid].region.is_some());
        assert_ne!(g[mid].region, g[eid].region);
        // The broadcast feeding the exp's region is labelled with it.
        assert_eq!(g[mb.id()].region, g[eid].region);
    }

    #[test]
    fn different_shapes_are_different_regions() {
        let b = GraphBuilder::new("f");
        let x = b.param("x", TensorType::f64([3]));
        let y = x.exp().sum() * b.scalar(2.0, adjoint_ir::DType::F64);
        let mut g = b.build(&[y]).unwrap();
        let s = assign_regions(&mut g).unwrap();
        assert_eq!(s.regions, 2);
    }

    #[test]
    fn long_chains_are_capped() {
        let b = GraphBuilder::new("f");
        let mut x = b.param("x", TensorType::f64([4]));
        for _ in 0..10 {
            x = x.sin() * x;
        }
        let mut g = b.build(&[x]).unwrap();
        let s = assign_regions_with_limit(&mut g, 5).unwrap();
        assert_eq!(s.fused_nodes, 20);
        assert_eq!(s.regions, 4);
        let s = assign_regions(&mut g).unwrap();
        assert_eq!(s.regions, 1);
    }

    #[test]
    fn reductions_over_different_axes_split() {
        let b = GraphBuilder::new("f");
        let x = b.param("x", TensorType::f64([3, 5]));
        let e = x.exp();
        let a = e.sum_axes(&[0]);
        let c = e.sum_axes(&[1]);
        let mut g = b.build(&[a, c]).unwrap();
        assign_regions(&mut g).unwrap();
        assert_eq!(g[e.id()].region, g[a.id()].region);
        assert_ne!(g[a.id()].region, g[c.id()].region);
    }
}

/// The `fuse` pass: [`assign_regions`] as a pipeline step, so the fusion
/// regions the JIT will use are visible in IR dumps (`region=N`). The JIT
/// recomputes regions itself, so running this pass is never required.
#[derive(Clone, Debug)]
pub struct Fuse {
    /// The cap on compute nodes per region.
    pub max_nodes: usize,
}

impl crate::Pass for Fuse {
    fn name(&self) -> &'static str {
        <Self as crate::registry::PassType>::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<crate::PassStats> {
        let before: Vec<Option<u32>> = g.node_ids().iter().map(|&n| g[n].region).collect();
        let s = assign_regions_with_limit(g, self.max_nodes)?;
        let after: Vec<Option<u32>> = g.node_ids().iter().map(|&n| g[n].region).collect();
        Ok(crate::PassStats {
            added: 0,
            removed: 0,
            changed: before != after,
            notes: vec![format!(
                "fuse: {} region(s), {} of them with several ops; {} compute node(s) fused, {} view(s) labelled",
                s.regions, s.multi_node_regions, s.fused_nodes, s.labelled_views
            )],
        })
    }
}

impl crate::registry::PassType for Fuse {
    const NAME: &'static str = "fuse";
    const SUMMARY: &'static str =
        "group elementwise chains, the broadcasts feeding them and a reduction ending them into regions (region=N)";
    const OPTIONS: &'static [crate::registry::OptionSpec] = &[crate::registry::OptionSpec {
        name: "max_nodes",
        help: "the most compute nodes in one region (default 256)",
    }];
    fn from_options(o: &crate::PassOptions) -> Result<Self> {
        Ok(Fuse {
            max_nodes: o
                .get_usize("fuse", "max_nodes")?
                .unwrap_or(DEFAULT_MAX_REGION_NODES),
        })
    }
}
