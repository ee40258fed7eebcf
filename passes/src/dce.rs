//! Dead-code elimination: removes every node that no output depends on.
//! Parameters are never removed (they are part of the signature).
//!
//! Loops and conditionals are pruned too: an unused result of a `scan`,
//! `while` or `cond` is dropped with what computes it inside the body,
//! and so are the operands the body then no longer reads.
//!
//! - A carry is kept when its result is used, or when the body reads its
//!   parameter to compute another kept output (to a fixed point, so a
//!   carry that only feeds itself is dead), or, for a `while`, when the
//!   condition reads it.
//! - A stacked output (ys) of a `scan` or a result of a `cond` is kept
//!   when it is used.
//! - A scanned input or loop invariant (a branch operand of a `cond`) is
//!   kept when a kept output (or a `while`'s condition) reads it.
//! - A `revolve` keeps its carries and ys as a `scan` does, the states its
//!   kept body reads and those its step needs to compute them (at least
//!   one), and the scanned inputs and invariants either function reads.
//!
//! The pass runs in every body too ([`crate::nested`], outermost first).

use crate::body_edit::{loop_nodes, replace_loop, restrict};
use crate::nested::{run_nested, Order};
use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{BodyRef, Graph, NodeId, Op, Result};
use std::collections::{HashMap, HashSet};

/// Restricted bodies, by original body and kept parameters and outputs:
/// two loops that keep the same parts of one body share the new body.
type Memo = HashMap<(*const Graph, Vec<bool>, Vec<bool>), BodyRef>;

fn restricted(memo: &mut Memo, b: &BodyRef, params: &[bool], outs: &[bool]) -> Result<BodyRef> {
    let k = (std::sync::Arc::as_ptr(&b.0), params.to_vec(), outs.to_vec());
    if let Some(r) = memo.get(&k) {
        return Ok(r.clone());
    }
    let r = BodyRef::new(restrict(b, params, outs)?);
    memo.insert(k, r.clone());
    Ok(r)
}

fn reads(g: &Graph, outs: &[bool]) -> HashSet<NodeId> {
    let o: Vec<NodeId> = g
        .outputs()
        .iter()
        .zip(outs)
        .filter(|(_, &k)| k)
        .map(|(&o, _)| o)
        .collect();
    g.ancestors(&o)
}

/// Marks carry `i` kept (`keep[i]`) when `live` reads its parameter, until
/// nothing changes; returns the final `live` set of `body`.
fn carry_fixpoint(body: &Graph, k: usize, keep: &mut [bool]) -> HashSet<NodeId> {
    loop {
        let live = reads(body, keep);
        let mut changed = false;
        for (kept, p) in keep[..k].iter_mut().zip(body.params()) {
            if !*kept && live.contains(p) {
                *kept = true;
                changed = true;
            }
        }
        if !changed {
            return live;
        }
    }
}

fn pick<T: Copy>(v: &[T], keep: &[bool]) -> Vec<T> {
    v.iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(&x, _)| x)
        .collect()
}

/// The new index of each kept position (`None` for dropped ones).
fn renumber(keep: &[bool]) -> Vec<Option<usize>> {
    let mut n = 0;
    keep.iter()
        .map(|&k| {
            k.then(|| {
                n += 1;
                n - 1
            })
        })
        .collect()
}

/// Prunes the loop `id` given which of its results are used; returns the
/// replacement node, or `None` when everything is kept.
fn prune_loop(g: &mut Graph, id: NodeId, used: &[bool], memo: &mut Memo) -> Result<Option<NodeId>> {
    let operands = g.operands(id);
    match g[id].op.clone() {
        Op::Scan {
            body,
            carry,
            xs,
            length,
            reverse,
        } => {
            let mut keep_out = used.to_vec();
            let live = carry_fixpoint(&body, carry, &mut keep_out);
            let keep_par: Vec<bool> = body
                .params()
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if i < carry {
                        keep_out[i]
                    } else {
                        live.contains(p)
                    }
                })
                .collect();
            if keep_out.iter().all(|&k| k) && keep_par.iter().all(|&k| k) {
                return Ok(None);
            }
            let op = Op::Scan {
                body: restricted(memo, &body, &keep_par, &keep_out)?,
                carry: keep_out[..carry].iter().filter(|&&k| k).count(),
                xs: keep_par[carry..carry + xs].iter().filter(|&&k| k).count(),
                length,
                reverse,
            };
            let ops = pick(&operands, &keep_par);
            replace_loop(g, id, op, &ops, &renumber(&keep_out)).map(Some)
        }
        Op::While {
            cond,
            body,
            carry,
            max_trips,
        } => {
            let mut keep_out = used.to_vec();
            let cond_live = cond.ancestors(cond.outputs());
            for (kept, p) in keep_out[..carry].iter_mut().zip(cond.params()) {
                *kept |= cond_live.contains(p);
            }
            let live = carry_fixpoint(&body, carry, &mut keep_out);
            let keep_par: Vec<bool> = (0..body.params().len())
                .map(|i| {
                    if i < carry {
                        keep_out[i]
                    } else {
                        live.contains(&body.params()[i]) || cond_live.contains(&cond.params()[i])
                    }
                })
                .collect();
            if keep_out.iter().all(|&k| k) && keep_par.iter().all(|&k| k) {
                return Ok(None);
            }
            let op = Op::While {
                cond: restricted(memo, &cond, &keep_par, &[true])?,
                body: restricted(memo, &body, &keep_par, &keep_out)?,
                carry: keep_out.iter().filter(|&&k| k).count(),
                max_trips,
            };
            let ops = pick(&operands, &keep_par);
            replace_loop(g, id, op, &ops, &renumber(&keep_out)).map(Some)
        }
        Op::Cond { then, els } => {
            let (lt, le) = (reads(&then, used), reads(&els, used));
            let keep_par: Vec<bool> = (0..then.params().len())
                .map(|i| lt.contains(&then.params()[i]) || le.contains(&els.params()[i]))
                .collect();
            if used.iter().all(|&k| k) && keep_par.iter().all(|&k| k) {
                return Ok(None);
            }
            let op = Op::Cond {
                then: restricted(memo, &then, &keep_par, used)?,
                els: restricted(memo, &els, &keep_par, used)?,
            };
            let mut ops = vec![operands[0]];
            ops.extend(pick(&operands[1..], &keep_par));
            replace_loop(g, id, op, &ops, &renumber(used)).map(Some)
        }
        Op::Revolve {
            body,
            step,
            state,
            carry,
            xs,
            length,
            snapshots,
            masked,
        } => {
            let (k, c) = (state, carry);
            let mut keep_out = used.to_vec();
            let live = carry_fixpoint(&body, c, &mut keep_out);
            // The states the kept body reads, and those the step needs to
            // compute them (at least one: a revolve has a state).
            let mut keep_state: Vec<bool> = body.params()[c..c + k]
                .iter()
                .map(|p| live.contains(p))
                .collect();
            if !keep_state.iter().any(|&b| b) {
                keep_state[0] = true;
            }
            let live_step = carry_fixpoint(&step, k, &mut keep_state);
            let rest = body.params().len() - c - k;
            let keep_rest: Vec<bool> = (0..rest)
                .map(|j| {
                    live.contains(&body.params()[c + k + j])
                        || live_step.contains(&step.params()[k + j])
                })
                .collect();
            if keep_out.iter().all(|&b| b)
                && keep_state.iter().all(|&b| b)
                && keep_rest.iter().all(|&b| b)
            {
                return Ok(None);
            }
            let step_par: Vec<bool> = keep_state.iter().chain(&keep_rest).copied().collect();
            let body_par: Vec<bool> = keep_out[..c]
                .iter()
                .chain(&keep_state)
                .chain(&keep_rest)
                .copied()
                .collect();
            let op = Op::Revolve {
                body: restricted(memo, &body, &body_par, &keep_out)?,
                step: restricted(memo, &step, &step_par, &keep_state)?,
                state: keep_state.iter().filter(|&&b| b).count(),
                carry: keep_out[..c].iter().filter(|&&b| b).count(),
                xs: keep_rest[..xs].iter().filter(|&&b| b).count(),
                length,
                snapshots,
                masked,
            };
            // Operands: [mask], states, carries, then xs and invariants.
            let pm = usize::from(masked);
            let mut ops = operands[..pm].to_vec();
            ops.extend(pick(&operands[pm..pm + k], &keep_state));
            ops.extend(pick(&operands[pm + k..pm + k + c], &keep_out[..c]));
            ops.extend(pick(&operands[pm + k + c..], &keep_rest));
            replace_loop(g, id, op, &ops, &renumber(&keep_out)).map(Some)
        }
        _ => Ok(None),
    }
}

/// The nodes the outputs of `g` need, pruning the loops of `g` on the way
/// (outputs first, so a loop is pruned once all its users are known);
/// returns the number of nodes added (the rebuilt loops) and the set.
fn needed_pruning_loops(g: &mut Graph) -> Result<(usize, HashSet<NodeId>)> {
    let mut memo = Memo::new();
    let mut needed: HashSet<NodeId> = g.outputs().iter().copied().collect();
    let mut added = 0;
    let order = g.topo_order()?;
    for &id in order.iter().rev() {
        if !needed.contains(&id) {
            continue;
        }
        if g[id].op.is_multi_result() {
            let used: Vec<bool> = g
                .projections(id)
                .iter()
                .map(|p| p.is_some_and(|p| needed.contains(&p)))
                .collect();
            if let Some(new) = prune_loop(g, id, &used, &mut memo)? {
                for n in loop_nodes(g, id) {
                    needed.remove(&n);
                }
                added += 1 + g.users(new).len();
                needed.extend(g.users(new));
                needed.insert(new);
                needed.extend(g.operands(new));
                continue;
            }
        }
        needed.extend(g.operands(id));
    }
    Ok((added, needed))
}

/// Removes the nodes no output depends on, except parameters, and prunes
/// the loops of `g` (not of its bodies); returns the number of nodes added
/// (the rebuilt loops) and the ops of the removed nodes.
pub fn remove_dead_here(g: &mut Graph) -> Result<(usize, Vec<&'static str>)> {
    let (added, needed) = if crate::body_edit::has_loops(g) {
        needed_pruning_loops(g)?
    } else {
        (0, g.ancestors(g.outputs()))
    };
    let params: HashSet<NodeId> = g.params().iter().copied().collect();
    let dead: Vec<NodeId> = g
        .node_ids()
        .into_iter()
        .filter(|id| !needed.contains(id) && !params.contains(id))
        .collect();
    // One batch: removing the dead users of a widely used value one by one
    // would cost time quadratic in its use count.
    let removed = g.remove_nodes(&dead)?.into_iter().map(|n| n.op.name());
    Ok((added, removed.collect()))
}

/// Removes the nodes no output depends on, except parameters, in `g` and
/// in every body it runs, pruning loops; returns the ops of the removed
/// nodes.
pub fn remove_dead(g: &mut Graph) -> Result<Vec<&'static str>> {
    Ok(remove_dead_counting(g)?.1)
}

fn remove_dead_counting(g: &mut Graph) -> Result<(usize, Vec<&'static str>)> {
    let (mut added, mut removed) = (0, Vec::new());
    run_nested(g, Order::TopDown, |h| {
        let (a, r) = remove_dead_here(h)?;
        let changed = a > 0 || !r.is_empty();
        added += a;
        removed.extend(r);
        Ok(changed)
    })?;
    Ok((added, removed))
}

/// The `dce` pass.
#[derive(Clone, Debug, Default)]
pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let (added, removed) = remove_dead_counting(g)?;
        Ok(PassStats::removing(added, &removed))
    }
}

impl PassType for Dce {
    const NAME: &'static str = "dce";
    const SUMMARY: &'static str = "remove nodes no output depends on (never parameters), in bodies too; drop unused loop carries, stacked outputs, scanned inputs and invariants";
    const OPTIONS: &'static [OptionSpec] = &[];
    fn from_options(_: &PassOptions) -> Result<Self> {
        Ok(Dce)
    }
}
