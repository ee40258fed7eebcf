//! Constant folding: a node whose operands are all constants is evaluated
//! by the reference interpreter ([`adjoint_interp::eval_node`], so folding
//! has exactly the interpreter's semantics) and replaced by a constant. Results with
//! more than [`Fold::DEFAULT_MAX_ELEMENTS`] elements (option `max`) are left
//! alone, so folding never bloats the IR with large literals (a broadcast
//! scalar stays one scalar).
//!
//! Only ops whose results are the same bits on every engine in every math
//! mode are folded (docs/ir.md §14): not the transcendental functions
//! (`exp log sin cos tanh sigmoid pow`, whose bits depend on the math
//! mode), not `matmul` (whose summation order is the engine's), and not
//! custom-op calls (whose bodies may hold either). Folding them with the
//! interpreter would change what the JIT computes.
//!
//! Loops, conditionals and `iota` are never evaluated; the pass folds
//! inside every body instead ([`crate::nested`], innermost first).

use crate::nested::{run_nested, Order};
use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{BinaryOp, Graph, NodeId, Op, Result, Tensor, TensorType};
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use std::collections::{HashMap, HashSet};

/// Whether `op`'s result is the same bits on every engine and in every
/// math mode (docs/ir.md §14), so that evaluating it with the interpreter
/// at compile time cannot change what another engine computes.
pub fn engine_independent(op: &Op) -> bool {
    match op {
        Op::Unary(u) => !u.is_transcendental(),
        Op::Binary(b) => *b != BinaryOp::Pow,
        Op::MatMul | Op::Call(_) => false,
        _ => true,
    }
}

/// Whether folding the op is worthwhile: an `iota` is a compact stand-in
/// for a constant (folding would only expand it), and loops, conditionals
/// and their results are left to the passes that understand bodies.
fn foldable(op: &Op) -> bool {
    !matches!(
        op,
        Op::Iota { .. }
            | Op::Scan { .. }
            | Op::While { .. }
            | Op::Revolve { .. }
            | Op::Cond { .. }
            | Op::Project { .. }
    )
}

/// Evaluates node `id` on constant operands with the interpreter's
/// [`adjoint_interp::eval_node`]; `None` if evaluation fails.
fn eval_const(g: &Graph, id: NodeId, args: &[Tensor]) -> Option<Tensor> {
    let refs: Vec<&Tensor> = args.iter().collect();
    let t = adjoint_interp::eval_node(&g[id].op, &g[id].ty, &refs).ok()?;
    (t.ty() == g[id].ty).then_some(t)
}

/// If `x` is a splat constant (a `const` with all elements equal, or a
/// `broadcast` of a scalar `const`), that element as a scalar tensor.
fn splat_scalar(g: &Graph, x: NodeId) -> Option<Tensor> {
    let scalar_of = |t: &Tensor| {
        let v = t.splat_value()?;
        Some(Tensor::full(&TensorType::scalar(t.dtype()), v))
    };
    match &g[x].op {
        Op::Const(t) => scalar_of(t),
        Op::Broadcast { .. } => match &g[g.operands(x)[0]].op {
            Op::Const(t) if t.shape().is_scalar() => Some(t.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The folded form of a value: a scalar `const`, broadcast if the value is
/// a splat of more than one element, else a dense `const`.
fn materialize(g: &mut Graph, t: Tensor, ty: &TensorType) -> Result<NodeId> {
    if ty.numel() > 1 {
        if let Some(v) = t.splat_value() {
            let c = g.constant(Tensor::full(&TensorType::scalar(ty.dtype), v));
            return g.add(
                Op::Broadcast {
                    shape: ty.shape.clone(),
                },
                &[c],
            );
        }
    }
    Ok(g.constant(t.reshaped(ty.shape.clone())?))
}

/// Folds constants; returns the number of nodes added and the ops of the
/// nodes removed.
///
/// - An elementwise op on splat operands (scalar constants, broadcast or
///   not) is evaluated once on the scalars and broadcast, whatever its
///   size.
/// - Any other op whose operands are all `const` is evaluated if its
///   result has at most `max_elements` elements.
/// - Ops whose results depend on the engine or the math mode
///   ([`engine_independent`]) are never folded.
/// - A splat result stays compact (`broadcast` of a scalar), and a
///   `broadcast` of a scalar constant is already folded.
pub fn fold_constants(g: &mut Graph, max_elements: usize) -> Result<(usize, Vec<&'static str>)> {
    let (mut added, mut removed) = (0, Vec::new());
    let mut deferred = Vec::new();
    for id in g.topo_order()? {
        if !g.contains(id)
            || g[id].op.is_leaf()
            || !engine_independent(&g[id].op)
            || !foldable(&g[id].op)
        {
            continue;
        }
        let ops = g.operands(id);
        let ty = g[id].ty.clone();
        if let Op::Broadcast { .. } = g[id].op {
            if g.ty(ops[0]).shape.is_scalar() && matches!(g[ops[0]].op, Op::Const(_)) {
                continue;
            }
        }
        let folded = if g[id].op.is_elementwise() && ty.numel() > 1 {
            let scalars: Option<Vec<Tensor>> = ops.iter().map(|&o| splat_scalar(g, o)).collect();
            scalars.and_then(|s| {
                let refs: Vec<&Tensor> = s.iter().collect();
                let sty = TensorType::scalar(ty.dtype);
                adjoint_interp::eval_node(&g[id].op, &sty, &refs).ok()
            })
        } else {
            None
        };
        let folded = match folded {
            Some(t) => Some(t),
            None if ty.numel() <= max_elements => {
                let args: Option<Vec<Tensor>> = ops
                    .iter()
                    .map(|&o| match &g[o].op {
                        Op::Const(t) => Some(t.clone()),
                        _ => None,
                    })
                    .collect();
                args.and_then(|a| eval_const(g, id, &a))
            }
            None => None,
        };
        let Some(t) = folded else {
            continue;
        };
        let before = g.len();
        let c = materialize(g, t, &ty)?;
        added += g.len() - before;
        let name = g[id].name.take();
        g.replace_all_uses(id, c);
        if g[c].name.is_none() {
            g[c].name = name;
        }
        remove_or_defer(g, id, &mut removed, &mut deferred)?;
    }
    // What was too costly to remove one at a time goes in one batch.
    let dead = dead_after(g, deferred);
    removed.extend(g.remove_nodes(&dead)?.iter().map(|n| n.op.name()));
    Ok((added, removed))
}

/// Removing a node walks the list of users of each of its operands: past
/// this many users the removal is deferred to one batch at the end.
const CHEAP_USES: usize = 32;

/// Whether `n` has no users and is not an output or parameter.
fn is_dead(g: &Graph, n: NodeId) -> bool {
    g.contains(n)
        && g.petgraph()
            .neighbors_directed(NodeIndex::new(n.index()), Direction::Outgoing)
            .next()
            .is_none()
        && !g.outputs().contains(&n)
        && !g.params().contains(&n)
}

/// Whether removing `n` is cheap: each operand has at most [`CHEAP_USES`]
/// users (counted no further than that).
fn cheap_to_remove(g: &Graph, n: NodeId) -> bool {
    g.operands(n).iter().all(|o| {
        g.petgraph()
            .neighbors_directed(NodeIndex::new(o.index()), Direction::Outgoing)
            .take(CHEAP_USES + 1)
            .count()
            <= CHEAP_USES
    })
}

/// Removes `id` if it is dead, then the operand chains it leaves dead, one
/// node at a time (so the ids freed are reused in the same order as
/// always, and the printed IR does not change); a dead node whose removal
/// would walk a long list of users is put in `deferred` instead.
fn remove_or_defer(
    g: &mut Graph,
    id: NodeId,
    removed: &mut Vec<&'static str>,
    deferred: &mut Vec<NodeId>,
) -> Result<()> {
    let mut stack = vec![id];
    while let Some(n) = stack.pop() {
        if !is_dead(g, n) {
            continue;
        }
        if !cheap_to_remove(g, n) {
            deferred.push(n);
            continue;
        }
        let ops = g.operands(n);
        removed.push(g[n].op.name());
        g.remove_node(n)?;
        stack.extend(ops);
    }
    Ok(())
}

/// `roots` (nodes left without users) and every node whose users all end
/// up in the result, never parameters or outputs; linear in the edges
/// visited (each node's remaining users are counted down, not rescanned).
fn dead_after(g: &Graph, roots: Vec<NodeId>) -> Vec<NodeId> {
    let params: HashSet<NodeId> = g.params().iter().copied().collect();
    let outputs: HashSet<NodeId> = g.outputs().iter().copied().collect();
    let mut users_left: HashMap<NodeId, usize> = HashMap::new();
    let mut dead = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<NodeId> = roots
        .into_iter()
        .filter(|&r| g.users(r).is_empty())
        .collect();
    while let Some(n) = stack.pop() {
        if params.contains(&n) || outputs.contains(&n) || !seen.insert(n) {
            continue;
        }
        dead.push(n);
        for o in g.operands(n) {
            let left = users_left.entry(o).or_insert_with(|| g.users(o).len());
            *left -= 1;
            if *left == 0 {
                stack.push(o);
            }
        }
    }
    dead
}

/// The `fold` pass.
#[derive(Clone, Debug)]
pub struct Fold {
    /// The largest result (in elements) that is folded.
    pub max_elements: usize,
}

impl Fold {
    /// The default cap on folded results, in elements.
    pub const DEFAULT_MAX_ELEMENTS: usize = 4096;
}

impl Default for Fold {
    fn default() -> Self {
        Fold {
            max_elements: Fold::DEFAULT_MAX_ELEMENTS,
        }
    }
}

impl Pass for Fold {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let (mut added, mut removed) = (0, Vec::new());
        run_nested(g, Order::BottomUp, |h| {
            let (a, r) = fold_constants(h, self.max_elements)?;
            let changed = a > 0 || !r.is_empty();
            added += a;
            removed.extend(r);
            Ok(changed)
        })?;
        Ok(PassStats::removing(added, &removed))
    }
}

impl PassType for Fold {
    const NAME: &'static str = "fold";
    const SUMMARY: &'static str =
        "constant folding through the interpreter (results up to `max` elements, default 4096), in bodies too";
    const OPTIONS: &'static [OptionSpec] = &[OptionSpec {
        name: "max",
        help: "largest folded result, in elements (default 4096)",
    }];
    fn from_options(o: &PassOptions) -> Result<Self> {
        Ok(Fold {
            max_elements: o
                .get_usize("fold", "max")?
                .unwrap_or(Fold::DEFAULT_MAX_ELEMENTS),
        })
    }
}
