//! Constant folding: a node whose operands are all constants is evaluated
//! by the reference interpreter and replaced by a constant. Results with
//! more than [`Fold::DEFAULT_MAX_ELEMENTS`] elements (option `max`) are left
//! alone, so folding never bloats the IR with large literals (a broadcast
//! scalar stays one scalar).

use crate::registry::{OptionSpec, PassType};
use crate::simplify::remove_if_dead;
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{Graph, NodeId, Op, Result, Tensor};

/// Evaluates `op` on constant operands with the interpreter (through a
/// one-node function, so it uses exactly the interpreter's semantics).
/// `None` if evaluation fails.
fn eval_const(g: &Graph, id: NodeId, args: &[Tensor]) -> Option<Tensor> {
    let mut mini = Graph::new("fold");
    let mut ps = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        ps.push(mini.add_param(format!("a{i}"), a.ty()).ok()?);
    }
    let n = mini.add(g[id].op.clone(), &ps).ok()?;
    mini.set_outputs(vec![n]);
    let mut out = adjoint_interp::eval(&mini, args).ok()?;
    let t = out.pop()?;
    (t.ty() == g[id].ty).then_some(t)
}

/// Folds constants; returns `(added, removed)`.
pub fn fold_constants(g: &mut Graph, max_elements: usize) -> Result<(usize, usize)> {
    let (mut added, mut removed) = (0, 0);
    for id in g.topo_order()? {
        if !g.contains(id) || g[id].op.is_leaf() || g[id].ty.numel() > max_elements {
            continue;
        }
        let ops = g.operands(id);
        let mut args = Vec::with_capacity(ops.len());
        for &o in &ops {
            match &g[o].op {
                Op::Const(t) => args.push(t.clone()),
                _ => break,
            }
        }
        if args.len() != ops.len() {
            continue;
        }
        let Some(t) = eval_const(g, id, &args) else {
            continue;
        };
        let c = g.constant(t);
        added += 1;
        let name = g[id].name.take();
        g.replace_all_uses(id, c);
        g[c].name = name;
        removed += remove_if_dead(g, id)?;
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
        Ok(PassStats {
            added,
            removed,
            changed: added > 0 || removed > 0,
            notes: vec![],
        })
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
