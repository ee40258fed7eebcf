//! Loop-invariant code motion: a node of a loop body whose value is the
//! same on every trip moves out of the loop. The enclosing function
//! computes it once and passes it in as a new loop invariant, and the body
//! reads a new parameter instead. A bias broadcast in an RNN cell is the
//! typical case.
//!
//! A body node is hoisted when it is not a leaf, depends on at least one
//! loop-invariant parameter, and depends on no carry and no scanned input
//! (nor on an `iota`-free chain of constants only: that is `fold`'s job).
//! Whole inner loops whose operands are invariant move out with their
//! projections. The constants a hoisted node reads are copied out (and
//! stay in the body when something else there reads them).
//!
//! - `scan` and `while` bodies, a `while`'s condition, and a `revolve`'s
//!   body and step are hoisted from. A `scan` or `revolve` of length 0 and
//!   a `while` with `max_trips=0` are left alone (their bodies never run).
//! - `cond` branches are never hoisted from: only the taken branch may
//!   run, and its cost and values must not leak into the other case.
//!
//! **Exactness.** A hoisted node is the same op on the same values, so
//! every result is unchanged, bit for bit. A `while` whose condition fails
//! at once still computes what was hoisted from its body: that costs time,
//! never changes a result (ops are pure).
//!
//! The pass runs in every body too ([`crate::nested`], innermost first),
//! so a value invariant in several nested loops moves all the way out.
//! `simplify` runs it as well.

use crate::nested::{run_nested, with_bodies, Order};
use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{BodyRef, Graph, NodeId, Op, Result, TensorType};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What moves out of one body: the nodes to copy out (topological order,
/// constants included) and the frontier values the body then receives as
/// new parameters.
struct Plan {
    copy: Vec<NodeId>,
    frontier: Vec<NodeId>,
}

/// The hoisting plan for `body`, whose parameters from `first_inv` on are
/// loop invariants; `None` if nothing moves.
fn plan(body: &Graph, first_inv: usize) -> Result<Option<Plan>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Variant,
        Invariant,
        ConstOnly,
    }
    let mut kind: HashMap<NodeId, Kind> = HashMap::new();
    for (i, &p) in body.params().iter().enumerate() {
        let k = if i < first_inv {
            Kind::Variant
        } else {
            Kind::Invariant
        };
        kind.insert(p, k);
    }
    let order = body.topo_order()?;
    let mut hoisted: HashSet<NodeId> = HashSet::new();
    for &n in &order {
        if kind.contains_key(&n) {
            continue;
        }
        let ops = body.operands(n);
        let ks: Vec<Kind> = ops.iter().map(|o| kind[o]).collect();
        let k = if ks.contains(&Kind::Variant) {
            Kind::Variant
        } else if ks.contains(&Kind::Invariant) {
            hoisted.insert(n);
            Kind::Invariant
        } else {
            Kind::ConstOnly
        };
        kind.insert(n, k);
    }
    let outputs: HashSet<NodeId> = body.outputs().iter().copied().collect();
    let frontier: Vec<NodeId> = order
        .iter()
        .copied()
        .filter(|n| {
            hoisted.contains(n)
                && !body[*n].op.is_multi_result()
                && (outputs.contains(n) || body.users(*n).iter().any(|u| !hoisted.contains(u)))
        })
        .collect();
    if frontier.is_empty() {
        return Ok(None);
    }
    let need = body.ancestors(&frontier);
    let copy = order
        .into_iter()
        .filter(|n| need.contains(n) && !matches!(body[*n].op, Op::Param { .. }))
        .collect();
    Ok(Some(Plan { copy, frontier }))
}

/// `body` with new invariant parameters of types `before` (unused), then
/// one per frontier value (which it replaces), then `after` (unused); the
/// hoisted nodes are removed.
fn edit(
    body: &Graph,
    plan: Option<&Plan>,
    before: &[TensorType],
    after: &[TensorType],
) -> Result<Graph> {
    let mut h = body.clone();
    let fresh = |h: &mut Graph, base: &str, ty: &TensorType| -> Result<NodeId> {
        let name = h.fresh_name(base);
        h.add_param(name, ty.clone())
    };
    for ty in before {
        fresh(&mut h, "inv", ty)?;
    }
    if let Some(p) = plan {
        for &f in &p.frontier {
            let base = h[f].name.take().unwrap_or_else(|| "inv".to_string());
            let ty = body.ty(f).clone();
            let np = fresh(&mut h, &base, &ty)?;
            h.replace_all_uses(f, np);
        }
        let live = h.ancestors(h.outputs());
        let dead: Vec<NodeId> = p
            .copy
            .iter()
            .copied()
            .filter(|n| !live.contains(n))
            .collect();
        h.remove_nodes(&dead)?;
    }
    for ty in after {
        fresh(&mut h, "inv", ty)?;
    }
    Ok(h)
}

/// Copies the plan's nodes out of `body` into `g`, binding the body's
/// parameters to the loop's operands (aligned at the end, where the
/// invariants are); returns the frontier's values in `g`.
fn copy_out(g: &mut Graph, body: &Graph, plan: &Plan, operands: &[NodeId]) -> Vec<NodeId> {
    // The invariants are the last operands and the last parameters of
    // every body (a `revolve`'s functions take fewer parameters than it has
    // operands, in another order, but end with the same invariants), and a
    // plan reads no other parameter: align from the end.
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    let skip = operands.len().saturating_sub(body.params().len());
    for (&p, &o) in body.params().iter().zip(&operands[skip..]) {
        map.insert(p, o);
    }
    for &n in &plan.copy {
        let ops: Vec<NodeId> = body.operands(n).iter().map(|o| map[o]).collect();
        let c = g.add_unchecked(body[n].op.clone(), body[n].ty.clone(), &ops);
        map.insert(n, c);
    }
    plan.frontier.iter().map(|f| map[f]).collect()
}

/// What hoisting does to the bodies of one loop: the new body (and, for a
/// `while`, condition) and their plans. It depends only on the bodies and
/// the number of loop-variant parameters, so loops that share bodies share
/// the new ones.
struct Hoist {
    body: BodyRef,
    cond: Option<BodyRef>,
    body_plan: Option<Plan>,
    cond_plan: Option<Plan>,
}

/// The bodies of a hoistable loop op: the body and its number of
/// loop-variant parameters, and a second function with its own (a
/// `while`'s condition, a `revolve`'s step); `None` for ops that are not
/// hoisted from (a `cond`, a loop whose body never runs).
#[allow(clippy::type_complexity)]
fn loop_parts(op: &Op) -> Option<(&BodyRef, usize, Option<(&BodyRef, usize)>)> {
    match op {
        Op::Scan {
            body,
            carry,
            xs,
            length,
            ..
        } if *length > 0 => Some((body, carry + xs, None)),
        Op::While {
            cond,
            body,
            carry,
            max_trips,
        } if *max_trips != Some(0) => Some((body, *carry, Some((cond, *carry)))),
        Op::Revolve {
            body,
            step,
            state,
            carry,
            xs,
            length,
            ..
        } if *length > 0 => Some((body, carry + state + xs, Some((step, state + xs)))),
        _ => None,
    }
}

fn hoist_bodies(
    body: &BodyRef,
    first_inv: usize,
    cond: Option<(&BodyRef, usize)>,
) -> Result<Option<Hoist>> {
    let pb = plan(body, first_inv)?;
    let pc = match cond {
        Some((c, f)) => plan(c, f)?,
        None => None,
    };
    if pb.is_none() && pc.is_none() {
        return Ok(None);
    }
    let tys = |g: &Graph, p: &Option<Plan>| -> Vec<TensorType> {
        p.iter()
            .flat_map(|p| p.frontier.iter().map(|&f| g.ty(f).clone()))
            .collect()
    };
    let tb = tys(body, &pb);
    let (nc, tc) = match cond {
        Some((c, _)) => {
            let tc = tys(c, &pc);
            (Some(BodyRef::new(edit(c, pc.as_ref(), &tb, &[])?)), tc)
        }
        None => (None, Vec::new()),
    };
    let nb = BodyRef::new(edit(body, pb.as_ref(), &[], &tc)?);
    Ok(Some(Hoist {
        body: nb,
        cond: nc,
        body_plan: pb,
        cond_plan: pc,
    }))
}

type Key = (*const Graph, *const Graph, usize, usize);

/// Hoists the invariant nodes out of the loops of `g` (not out of loops in
/// its bodies); returns the nodes added to `g` and the number of loops
/// changed.
pub fn hoist_here(g: &mut Graph) -> Result<(usize, usize)> {
    if !crate::body_edit::has_loops(g) {
        return Ok((0, 0));
    }
    let mut memo: HashMap<Key, Option<Arc<Hoist>>> = HashMap::new();
    let (mut added, mut loops) = (0, 0);
    for id in g.topo_order()? {
        let op = g[id].op.clone();
        let Some((body, first_inv, cond)) = loop_parts(&op) else {
            continue;
        };
        let key = (
            Arc::as_ptr(&body.0),
            cond.map_or(std::ptr::null(), |(c, _)| Arc::as_ptr(&c.0)),
            first_inv,
            cond.map_or(0, |(_, f)| f),
        );
        let h = match memo.get(&key) {
            Some(h) => h.clone(),
            None => {
                let h = hoist_bodies(body, first_inv, cond)?.map(Arc::new);
                memo.insert(key, h.clone());
                h
            }
        };
        let Some(h) = h else { continue };
        let operands = g.operands(id);
        let before = g.len();
        let mut vals = Vec::new();
        if let Some(p) = &h.body_plan {
            vals.extend(copy_out(g, body, p, &operands));
        }
        if let (Some(p), Some((c, _))) = (&h.cond_plan, cond) {
            vals.extend(copy_out(g, c, p, &operands));
        }
        added += g.len() - before;
        g[id].op = match op.clone() {
            Op::While {
                carry, max_trips, ..
            } => Op::While {
                cond: h.cond.clone().unwrap_or_else(|| h.body.clone()),
                body: h.body.clone(),
                carry,
                max_trips,
            },
            Op::Revolve {
                state,
                carry,
                xs,
                length,
                snapshots,
                masked,
                ..
            } => Op::Revolve {
                body: h.body.clone(),
                step: h.cond.clone().unwrap_or_else(|| h.body.clone()),
                state,
                carry,
                xs,
                length,
                snapshots,
                masked,
            },
            other => with_bodies(&other, |_| h.body.clone()),
        };
        for (j, v) in vals.into_iter().enumerate() {
            g.set_operand(id, operands.len() + j, v);
        }
        loops += 1;
    }
    Ok((added, loops))
}

/// Hoists invariant nodes out of every loop of `g` and of the bodies it
/// runs, innermost first; returns the nodes added and the loops changed.
pub fn hoist_invariants(g: &mut Graph) -> Result<(usize, usize)> {
    let (mut added, mut loops) = (0, 0);
    run_nested(g, Order::BottomUp, |h| {
        let (a, l) = hoist_here(h)?;
        added += a;
        loops += l;
        Ok(l > 0)
    })?;
    Ok((added, loops))
}

/// The `licm` pass.
#[derive(Clone, Debug, Default)]
pub struct Licm;

impl Pass for Licm {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let (added, loops) = hoist_invariants(g)?;
        Ok(PassStats {
            added,
            removed: 0,
            changed: loops > 0,
            notes: if loops > 0 {
                vec![format!(
                    "licm: hoisted {added} node(s) out of {loops} loop(s)"
                )]
            } else {
                vec![]
            },
        })
    }
}

impl PassType for Licm {
    const NAME: &'static str = "licm";
    const SUMMARY: &'static str =
        "loop-invariant code motion: body nodes that depend only on invariants move out of scan/while/revolve loops (exact)";
    const OPTIONS: &'static [OptionSpec] = &[];
    fn from_options(_: &PassOptions) -> Result<Self> {
        Ok(Licm)
    }
}
