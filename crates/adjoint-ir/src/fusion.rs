//! Fusion regions, an analysis: groups elementwise chains, together with the broadcasts
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

//!
//! The analysis is a pure function of the graph: [`assign_regions`] returns
//! a side table ([`Regions`]) and never changes the graph. Fusion is a
//! backend decision: the JIT computes regions for itself on every compile
//! and reads the side table; the `fuse` pass of adjoint-passes writes the
//! same table into the graph's `region=N` annotations so dumps show it.
//! It lives in this crate because both use it and the passes crate must not
//! depend on a backend (docs/architecture.md, "Dependencies").

use crate::{Graph, NodeId, Op, Result, Shape};
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

/// Whether `op` is a shape op that a backend lowers as index arithmetic.
pub fn is_view_op(op: &Op) -> bool {
    op.is_view()
}

/// Whether `op` is a reduction.
pub fn is_reduction(op: &Op) -> bool {
    op.is_reduction()
}

/// The fusion regions of a graph: a side table indexed by node, and what
/// the assignment did. Computed by [`assign_regions`] without changing the
/// graph.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Regions {
    /// The region of each node, indexed by [`NodeId::index`].
    of: Vec<Option<u32>>,
    /// What the assignment did.
    pub stats: FuseStats,
}

impl Regions {
    /// The region of node `id`: its loop for a compute node, the region
    /// consuming it for a labelled shape op; `None` otherwise.
    pub fn region(&self, id: NodeId) -> Option<u32> {
        self.of.get(id.index()).copied().flatten()
    }

    fn set(&mut self, id: NodeId, r: Option<u32>) {
        self.of[id.index()] = r;
    }

    /// Writes the regions into `g`'s `region=N` annotations
    /// ([`Graph::set_region`]), clearing the annotation of every other
    /// node. `g` must be the graph the regions were computed for.
    pub fn annotate(&self, g: &mut Graph) {
        for id in g.node_ids() {
            g.set_region(id, self.region(id));
        }
    }
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
        | Op::Revolve { .. }
        | Op::Cond { .. }
        | Op::Project { .. } => Role::Opaque,
    }
}

struct RegionInfo {
    shape: Shape,
    axes: Option<Vec<usize>>,
    members: usize,
}

/// Assigns a fusion region to every elementwise op and reduction of `g`,
/// and labels the shape ops that feed a single region. Region ids are
/// dense, starting at 0, in creation order. The graph's own `region=N`
/// annotations are neither read nor changed.
///
/// ```
/// use adjoint_ir::{GraphBuilder, TensorType};
/// use adjoint_ir::fusion::assign_regions;
/// let b = GraphBuilder::new("f");
/// let x = b.param("x", TensorType::f64([8]));
/// let y = ((x * x).exp() + x).sum();
/// let g = b.build(&[y]).unwrap();
/// let r = assign_regions(&g).unwrap();
/// // mul, exp, add and the ending reduction form one region.
/// assert_eq!(r.stats.regions, 1);
/// assert_eq!(r.stats.fused_nodes, 4);
/// assert_eq!(r.region(y.id()), Some(0));
/// ```
pub fn assign_regions(g: &Graph) -> Result<Regions> {
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
pub fn assign_regions_with_limit(g: &Graph, max_nodes: usize) -> Result<Regions> {
    let max_nodes = max_nodes.max(1);
    let order = g.topo_order()?;
    let bound = order.iter().map(|id| id.index() + 1).max().unwrap_or(0);
    let mut out = Regions {
        of: vec![None; bound],
        stats: FuseStats::default(),
    };
    // dep[n]: the highest region whose completion n's value needs, or -1.
    let mut dep: HashMap<NodeId, i64> = HashMap::with_capacity(order.len());
    let mut regions: Vec<RegionInfo> = Vec::new();
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
                    || (out.region(*o) == Some(r as u32) && !is_reduction(&g[*o].op))
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
        out.set(id, Some(r as u32));
        dep.insert(id, r as i64);
        out.stats.fused_nodes += 1;
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
        let r = out.region(first);
        if r.is_some()
            && users.iter().all(|&u| out.region(u) == r)
            && !g.outputs().contains(&id)
            && (dep.get(&id).copied().unwrap_or(-1) < r.map_or(-1, i64::from))
        {
            out.set(id, r);
            out.stats.labelled_views += 1;
        }
    }
    out.stats.regions = regions.len();
    out.stats.multi_node_regions = regions.iter().filter(|r| r.members > 1).count();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GraphBuilder, TensorType};

    #[test]
    fn elementwise_chain_and_reduction_form_one_region() {
        let b = GraphBuilder::new("f");
        let x = b.param("x", TensorType::f64([16]));
        let y = b.param("y", TensorType::f64([16]));
        let z = ((x * y).sin() + x).sum();
        let g = b.build(&[z]).unwrap();
        let s = assign_regions(&g).unwrap().stats;
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
        let g = b.build(&[e]).unwrap();
        let r = assign_regions(&g).unwrap();
        let mid = m.id();
        let eid = e.id();
        assert!(r.region(mid).is_some());
        assert!(r.region(eid).is_some());
        assert_ne!(r.region(mid), r.region(eid));
        // The broadcast feeding the exp's region is labelled with it.
        assert_eq!(r.region(mb.id()), r.region(eid));
    }

    #[test]
    fn different_shapes_are_different_regions() {
        let b = GraphBuilder::new("f");
        let x = b.param("x", TensorType::f64([3]));
        let y = x.exp().sum() * b.scalar(2.0, crate::DType::F64);
        let g = b.build(&[y]).unwrap();
        let s = assign_regions(&g).unwrap().stats;
        assert_eq!(s.regions, 2);
    }

    #[test]
    fn long_chains_are_capped() {
        let b = GraphBuilder::new("f");
        let mut x = b.param("x", TensorType::f64([4]));
        for _ in 0..10 {
            x = x.sin() * x;
        }
        let g = b.build(&[x]).unwrap();
        let s = assign_regions_with_limit(&g, 5).unwrap().stats;
        assert_eq!(s.fused_nodes, 20);
        assert_eq!(s.regions, 4);
        let s = assign_regions(&g).unwrap().stats;
        assert_eq!(s.regions, 1);
    }

    #[test]
    fn reductions_over_different_axes_split() {
        let b = GraphBuilder::new("f");
        let x = b.param("x", TensorType::f64([3, 5]));
        let e = x.exp();
        let a = e.sum_axes(&[0]);
        let c = e.sum_axes(&[1]);
        let g = b.build(&[a, c]).unwrap();
        let r = assign_regions(&g).unwrap();
        assert_eq!(r.region(e.id()), r.region(a.id()));
        assert_ne!(r.region(a.id()), r.region(c.id()));
    }

    #[test]
    fn assignment_leaves_the_graph_alone_and_annotate_writes_it() {
        let b = GraphBuilder::new("f");
        let x = b.param("x", TensorType::f64([4]));
        let y = (x * x).exp();
        let mut g = b.build(&[y]).unwrap();
        g.set_region(x.id(), Some(9));
        let r = assign_regions(&g).unwrap();
        assert_eq!(g.region(x.id()), Some(9));
        assert_eq!(g.region(y.id()), None);
        r.annotate(&mut g);
        assert_eq!(g.region(x.id()), None);
        assert_eq!(g.region(y.id()), Some(0));
    }
}
