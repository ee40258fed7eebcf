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

use crate::registry::{OptionSpec, PassType};
use crate::simplify::remove_if_dead;
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{BinaryOp, Graph, NodeId, Op, Result, Tensor, TensorType};

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
    for id in g.topo_order()? {
        if !g.contains(id) || g[id].op.is_leaf() || !engine_independent(&g[id].op) {
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
        remove_if_dead(g, id, &mut removed)?;
    }
    Ok((added, removed))
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
        let (added, removed) = fold_constants(g, self.max_elements)?;
        Ok(PassStats::removing(added, &removed))
    }
}

impl PassType for Fold {
    const NAME: &'static str = "fold";
    const SUMMARY: &'static str =
        "constant folding through the interpreter (results up to `max` elements, default 4096)";
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
