//! Rematerialisation of straight-line residuals: the `remat=true` option
//! of `grad`.
//!
//! After reverse mode has appended the adjoint nodes, the *residuals* are
//! the forward (primal) values that adjoint nodes read: they stay alive
//! from the forward part of the program into the backward part. This
//! module chooses a cheaper set of values to keep, and recomputes the
//! others in the backward part from it, with clones of cheap elementwise
//! forward nodes.
//!
//! **The choice is a minimum cut.** Every forward node `v` on a path to a
//! residual is split into `in(v) → out(v)`, with capacity the bytes of `v`
//! ([`residual_cost`]: 0 for parameters, constants and the forward
//! outputs, which are held anyway). Data edges `out(u) → in(v)` and the
//! edges `out(r) → sink` for each residual `r` have infinite capacity, and
//! so do `source → in(v)` for the nodes that may not be recomputed
//! ([`is_recomputable`]: only the elementwise `unary`, `binary`,
//! `compare`, `select`, `cast` and the shape ops `broadcast`, `reshape`
//! may; never a `matmul`, a reduction, a call, a loop or a parameter).
//! A finite cut puts each node on the source side (computed in the
//! forward part only) or the sink side; a sink-side `in(v)` means `v` is
//! recomputed, and a cut edge `in(v) → out(v)` means `v` is stored. The
//! infinite edges make every recomputed node's operands stored or
//! recomputed, so the cut is a valid plan, and its capacity is the bytes
//! it stores.
//!
//! **Stored bytes never increase.** Storing exactly the residuals is one
//! finite cut (the edges `in(r) → out(r)`), so the minimum is at most its
//! capacity. The graph is rewritten only when the minimum is strictly
//! smaller; otherwise it is left exactly as reverse mode built it. Among
//! the minimum cuts the one with the smallest sink side is taken (the
//! nodes that reach the sink in the residual network), so nothing is
//! recomputed that does not have to be.
//!
//! **Each recomputed node is evaluated once more, at most.** It gets one
//! clone, shared by all its adjoint readers.
//!
//! **Clones are evaluated late and kept apart.** The engines evaluate in
//! [`Graph::topo_order`], which prefers the smallest node index among the
//! ready nodes; clones take the largest indices, in the order the backward
//! part first needs them, so each is evaluated only when the backward part
//! cannot go on without it, and the forward value it replaces dies in the
//! forward part. Below them as many free node slots as the graph has nodes
//! are left, which the nodes added by later passes (`simplify` rewriting
//! the backward part) fill first, so that those stay below the clones too. A clone is named
//! `remat_<original>` ([`CLONE_PREFIX`]); `cse` never merges such a value
//! ([`is_clone`]), so `grad{remat=true},simplify,cse,dce` keeps them.
//!
//! Results are bit-for-bit those without `remat`: a clone applies the same
//! op to the same values.

use adjoint_ir::{Graph, NodeId, Op, Result};
use std::collections::{HashMap, HashSet, VecDeque};

/// The prefix of the names of recomputed clones.
pub const CLONE_PREFIX: &str = adjoint_ir::fusion::REMAT_PREFIX;

/// Whether node `id` is a recomputed clone made by [`rematerialise`] (its
/// name begins with [`CLONE_PREFIX`]). `cse` never merges such a node.
pub fn is_clone(g: &Graph, id: NodeId) -> bool {
    g[id]
        .name
        .as_deref()
        .is_some_and(|n| n.starts_with(CLONE_PREFIX))
}

/// Whether the backward part may recompute node `id`: the cheap
/// elementwise and shape ops, with one result.
pub fn is_recomputable(g: &Graph, id: NodeId) -> bool {
    matches!(
        g[id].op,
        Op::Unary(_)
            | Op::Binary(_)
            | Op::Compare(_)
            | Op::Select
            | Op::Cast { .. }
            | Op::Broadcast { .. }
            | Op::Reshape { .. }
    )
}

/// The bytes that keeping forward value `id` for the backward part costs:
/// 0 for parameters and constants (never working memory) and for the
/// `kept` values (the forward outputs, held to the end anyway); otherwise
/// the bytes of its type.
pub fn residual_cost(g: &Graph, id: NodeId, kept: &HashSet<NodeId>) -> u64 {
    if kept.contains(&id) || matches!(g[id].op, Op::Param { .. } | Op::Const(_)) {
        return 0;
    }
    g.ty(id).size_bytes() as u64
}

/// The residuals of `g`: the nodes of `forward` that some node outside
/// `forward` reads, in index order.
pub fn residuals(g: &Graph, forward: &HashSet<NodeId>) -> Vec<NodeId> {
    let mut r: Vec<NodeId> = forward
        .iter()
        .copied()
        .filter(|&f| g.contains(f) && g.users(f).iter().any(|u| !forward.contains(u)))
        .collect();
    r.sort_unstable();
    r
}

/// What [`rematerialise`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RematReport {
    /// Bytes of the residuals reverse mode left (by [`residual_cost`]).
    pub stored_before: u64,
    /// Bytes of the residuals after rematerialisation (equal to
    /// `stored_before` when nothing changed).
    pub stored_after: u64,
    /// The forward nodes now recomputed in the backward part, each by one
    /// clone.
    pub recomputed: Vec<NodeId>,
}

const INF: u64 = u64::MAX / 4;

/// A flow network for Dinic's maximum-flow algorithm.
struct Network {
    /// Per edge: target, residual capacity. Edge `e ^ 1` is its reverse.
    to: Vec<usize>,
    cap: Vec<u64>,
    adj: Vec<Vec<usize>>,
}

impl Network {
    fn new(n: usize) -> Network {
        Network {
            to: Vec::new(),
            cap: Vec::new(),
            adj: vec![Vec::new(); n],
        }
    }

    fn edge(&mut self, a: usize, b: usize, c: u64) {
        self.adj[a].push(self.to.len());
        self.to.push(b);
        self.cap.push(c);
        self.adj[b].push(self.to.len());
        self.to.push(a);
        self.cap.push(0);
    }

    /// Pushes a maximum flow from `s` to `t`.
    fn max_flow(&mut self, s: usize, t: usize) {
        let n = self.adj.len();
        loop {
            // Levels by breadth-first search over residual edges.
            let mut level = vec![usize::MAX; n];
            level[s] = 0;
            let mut q = VecDeque::from([s]);
            while let Some(a) = q.pop_front() {
                for &e in &self.adj[a] {
                    let b = self.to[e];
                    if self.cap[e] > 0 && level[b] == usize::MAX {
                        level[b] = level[a] + 1;
                        q.push_back(b);
                    }
                }
            }
            if level[t] == usize::MAX {
                return;
            }
            // Blocking flow by iterative depth-first search.
            let mut next = vec![0usize; n];
            loop {
                let mut path: Vec<usize> = Vec::new();
                let mut a = s;
                let found = loop {
                    if a == t {
                        break true;
                    }
                    let mut advanced = false;
                    while next[a] < self.adj[a].len() {
                        let e = self.adj[a][next[a]];
                        let b = self.to[e];
                        if self.cap[e] > 0 && level[b] == level[a] + 1 {
                            path.push(e);
                            a = b;
                            advanced = true;
                            break;
                        }
                        next[a] += 1;
                    }
                    if !advanced {
                        // Dead end: retreat one edge and skip it.
                        match path.pop() {
                            Some(e) => {
                                a = self.to[e ^ 1];
                                next[a] += 1;
                            }
                            None => break false,
                        }
                    }
                };
                if !found {
                    break;
                }
                let f = path.iter().map(|&e| self.cap[e]).min().unwrap_or(0);
                for &e in &path {
                    self.cap[e] -= f;
                    self.cap[e ^ 1] = self.cap[e ^ 1].saturating_add(f);
                }
            }
        }
    }

    /// The nodes that reach `t` over residual edges.
    fn reaching(&self, t: usize) -> Vec<bool> {
        let mut seen = vec![false; self.adj.len()];
        seen[t] = true;
        let mut stack = vec![t];
        while let Some(b) = stack.pop() {
            for &e in &self.adj[b] {
                // `e` leaves `b`; its reverse `e ^ 1` enters `b` from `a`.
                let a = self.to[e];
                if !seen[a] && self.cap[e ^ 1] > 0 {
                    seen[a] = true;
                    stack.push(a);
                }
            }
        }
        seen
    }
}

/// Chooses, by a minimum cut (see the module documentation), the forward
/// values to keep for the adjoint nodes of `g`, and recomputes the other
/// residuals in the backward part with clones. `forward` holds the nodes
/// of the program before reverse mode appended the adjoint nodes, and
/// `kept` the forward values held to the end anyway (the forward outputs).
/// Leaves `g` untouched unless the stored bytes fall.
pub fn rematerialise(
    g: &mut Graph,
    forward: &HashSet<NodeId>,
    kept: &HashSet<NodeId>,
) -> Result<RematReport> {
    let res = residuals(g, forward);
    let stored_before = res
        .iter()
        .fold(0u64, |s, &r| s.saturating_add(residual_cost(g, r, kept)));
    let unchanged = RematReport {
        stored_before,
        stored_after: stored_before,
        recomputed: Vec::new(),
    };
    if stored_before == 0 {
        return Ok(unchanged);
    }
    // The forward nodes on a path to a residual, each split in two.
    let mut nodes: Vec<NodeId> = g
        .ancestors(&res)
        .into_iter()
        .filter(|n| forward.contains(n))
        .collect();
    nodes.sort_unstable();
    let slot: HashMap<NodeId, usize> = nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let (src, sink) = (2 * nodes.len(), 2 * nodes.len() + 1);
    let mut net = Network::new(2 * nodes.len() + 2);
    for (i, &v) in nodes.iter().enumerate() {
        net.edge(2 * i, 2 * i + 1, residual_cost(g, v, kept).min(INF - 1));
        if !is_recomputable(g, v) {
            net.edge(src, 2 * i, INF);
        } else {
            for o in g.operands(v) {
                net.edge(2 * slot[&o] + 1, 2 * i, INF);
            }
        }
    }
    for r in &res {
        net.edge(2 * slot[r] + 1, sink, INF);
    }
    net.max_flow(src, sink);
    let sink_side = net.reaching(sink);
    let mut stored_after = 0u64;
    let mut recompute: HashSet<NodeId> = HashSet::new();
    for (i, &v) in nodes.iter().enumerate() {
        if sink_side[2 * i] {
            recompute.insert(v);
        } else if sink_side[2 * i + 1] {
            stored_after = stored_after.saturating_add(residual_cost(g, v, kept));
        }
    }
    if stored_after >= stored_before {
        return Ok(unchanged);
    }
    let recomputed = rewrite(g, forward, &recompute)?;
    Ok(RematReport {
        stored_before,
        stored_after,
        recomputed,
    })
}

/// Gives each node of `recompute` one clone, appended after every other
/// node in the order the adjoint nodes first read them, and points the
/// adjoint readers at the clones. Returns the recomputed nodes in clone
/// order.
fn rewrite(
    g: &mut Graph,
    forward: &HashSet<NodeId>,
    recompute: &HashSet<NodeId>,
) -> Result<Vec<NodeId>> {
    // The clones take the largest node indices: the free node slots are
    // filled, and as many again are reserved, before the clones are
    // added; the fillers are removed at the end, so that the nodes later
    // passes add reuse those slots and stay below the clones.
    let readers: Vec<NodeId> = g
        .topo_order()?
        .into_iter()
        .filter(|n| !forward.contains(n))
        .collect();
    let bound = g
        .node_ids()
        .iter()
        .map(|n| n.index() + 1)
        .max()
        .unwrap_or(0);
    let reserve = bound.saturating_sub(g.len()) + g.len();
    let fillers: Vec<NodeId> = (0..reserve).map(|_| emit_filler(g)).collect();
    let mut names: HashSet<String> = g
        .node_ids()
        .into_iter()
        .filter_map(|n| g[n].name.clone())
        .collect();
    let mut clones: HashMap<NodeId, NodeId> = HashMap::new();
    let mut order = Vec::new();
    for b in readers {
        for (pos, o) in g.operand_edges(b) {
            if recompute.contains(&o) {
                let mut cx = CloneCtx {
                    recompute,
                    clones: &mut clones,
                    order: &mut order,
                    names: &mut names,
                };
                let c = cx.clone_of(g, o);
                g.set_operand(b, pos as usize, c);
            }
        }
    }
    g.remove_nodes(&fillers)?;
    Ok(order)
}

fn emit_filler(g: &mut Graph) -> NodeId {
    crate::emit::scalar(g, adjoint_ir::DType::F64, 0.0)
}

/// The state of [`rewrite`]: the clones made so far and the names taken.
struct CloneCtx<'a> {
    recompute: &'a HashSet<NodeId>,
    clones: &'a mut HashMap<NodeId, NodeId>,
    order: &'a mut Vec<NodeId>,
    names: &'a mut HashSet<String>,
}

impl CloneCtx<'_> {
    /// The clone of `v`, made (operands first) if it does not exist yet.
    fn clone_of(&mut self, g: &mut Graph, v: NodeId) -> NodeId {
        // Depth-first, operands before users, without recursion.
        let mut stack = vec![(v, false)];
        while let Some((n, expanded)) = stack.pop() {
            if self.clones.contains_key(&n) {
                continue;
            }
            let ops = g.operands(n);
            if !expanded {
                stack.push((n, true));
                for &o in ops.iter().rev() {
                    if self.recompute.contains(&o) && !self.clones.contains_key(&o) {
                        stack.push((o, false));
                    }
                }
                continue;
            }
            let args: Vec<NodeId> = ops
                .iter()
                .map(|o| self.clones.get(o).copied().unwrap_or(*o))
                .collect();
            let node = &g[n];
            let (op, ty) = (node.op.clone(), node.ty.clone());
            let base = format!(
                "{CLONE_PREFIX}{}",
                node.name.clone().unwrap_or_else(|| n.index().to_string())
            );
            let c = g.add_unchecked(op, ty, &args);
            let name = (1..)
                .map(|k| {
                    if k == 1 {
                        base.clone()
                    } else {
                        format!("{base}_{k}")
                    }
                })
                .find(|s| !self.names.contains(s))
                .expect("some suffix is free");
            self.names.insert(name.clone());
            g[c].name = Some(name);
            g.set_loc(c, g.loc(n));
            self.clones.insert(n, c);
            self.order.push(n);
        }
        self.clones[&v]
    }
}
