//! Passes inside bodies (as MLIR's nested pass managers do): a clean-up pass
//! applied to a function also applies to every body the function runs,
//! directly or through other bodies, to any depth.
//!
//! [`run_nested`] is the one place that does this. Each distinct body (by
//! `Arc` address) is transformed once per run, however many loops share
//! it, so a shared body stays shared: every op that ran the old body runs
//! the same new one. A body the pass leaves unchanged (and whose own
//! bodies are unchanged) keeps its original `Arc`.
//!
//! Bodies are visited on worklists, never by Rust recursion, so nesting
//! depth is bounded only by memory. The old bodies are dropped outermost
//! first, so that dropping them does not recurse either.

use adjoint_ir::{BodyRef, Graph, Op, Result};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

/// When the pass runs on a function relative to the bodies it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The function first, then its bodies (as the pass left them): for
    /// `dce`, where pruning a loop's results leaves less to keep inside.
    TopDown,
    /// The bodies first (innermost first), then the function, which then
    /// sees its bodies already transformed: for loop-invariant code motion,
    /// where what an inner loop hoists may be hoisted further out.
    BottomUp,
}

/// `op` with each body `b` replaced by `f(b)` (the op itself for an op
/// without bodies).
pub fn with_bodies(op: &Op, mut f: impl FnMut(&BodyRef) -> BodyRef) -> Op {
    match try_with_bodies(op, |b| Ok::<_, Infallible>(f(b))) {
        Ok(op) => op,
        Err(never) => match never {},
    }
}

/// `op` with each body `b` replaced by `f(b)`, stopping at the first error
/// (the op itself for an op without bodies).
pub fn try_with_bodies<E>(
    op: &Op,
    mut f: impl FnMut(&BodyRef) -> std::result::Result<BodyRef, E>,
) -> std::result::Result<Op, E> {
    Ok(match op {
        Op::Scan {
            body,
            carry,
            xs,
            length,
            reverse,
        } => Op::Scan {
            body: f(body)?,
            carry: *carry,
            xs: *xs,
            length: *length,
            reverse: *reverse,
        },
        Op::While {
            cond,
            body,
            carry,
            max_trips,
        } => Op::While {
            cond: f(cond)?,
            body: f(body)?,
            carry: *carry,
            max_trips: *max_trips,
        },
        Op::Cond { then, els } => Op::Cond {
            then: f(then)?,
            els: f(els)?,
        },
        Op::Revolve {
            body,
            step,
            state,
            carry,
            xs,
            length,
            snapshots,
            masked,
        } => Op::Revolve {
            body: f(body)?,
            step: f(step)?,
            state: *state,
            carry: *carry,
            xs: *xs,
            length: *length,
            snapshots: *snapshots,
            masked: *masked,
        },
        other => other.clone(),
    })
}

fn key(b: &BodyRef) -> *const Graph {
    Arc::as_ptr(&b.0)
}

/// One function of the run: its working copy, whether the pass changed
/// it, the bodies it runs (as item indices), and the original reference.
struct Item {
    graph: Graph,
    changed: bool,
    children: Vec<usize>,
    orig: Option<BodyRef>,
}

/// Runs `f` on `g` and on every body `g` runs (transitively), each
/// distinct body once, in the given [`Order`]; `f` returns whether it
/// changed the graph it was given. `f` must keep a body's signature (its
/// parameter and output types): the ops that run it are not changed.
///
/// On an error `g` holds the function as `f` left it, with its original
/// bodies.
pub fn run_nested(
    g: &mut Graph,
    order: Order,
    mut f: impl FnMut(&mut Graph) -> Result<bool>,
) -> Result<()> {
    let mut items = vec![Item {
        graph: std::mem::take(g),
        changed: false,
        children: Vec::new(),
        orig: None,
    }];
    let res = run_items(&mut items, order, &mut f);
    *g = std::mem::take(&mut items[0].graph);
    // Items are in discovery order (each body after a function that runs
    // it), so dropping the originals in order never drops a long chain of
    // nested bodies at once.
    for it in items.iter_mut() {
        drop(it.orig.take());
        drop(std::mem::take(&mut it.graph));
    }
    res
}

fn run_items(
    items: &mut Vec<Item>,
    order: Order,
    f: &mut impl FnMut(&mut Graph) -> Result<bool>,
) -> Result<()> {
    // Discovery (and the pass, top-down).
    let mut index: HashMap<*const Graph, usize> = HashMap::new();
    let mut i = 0;
    while i < items.len() {
        if order == Order::TopDown {
            items[i].changed |= f(&mut items[i].graph)?;
        }
        let mut children = Vec::new();
        let mut found = Vec::new();
        for id in items[i].graph.node_ids() {
            for b in items[i].graph[id].op.bodies() {
                let next = items.len() + found.len();
                let c = *index.entry(key(b)).or_insert_with(|| {
                    found.push(b.clone());
                    next
                });
                if !children.contains(&c) {
                    children.push(c);
                }
            }
        }
        for b in found {
            items.push(Item {
                graph: (*b.0).clone(),
                changed: false,
                children: Vec::new(),
                orig: Some(b),
            });
        }
        items[i].children = children;
        i += 1;
    }
    // Post-order over the body DAG (bodies cannot run themselves), on an
    // explicit stack.
    let n = items.len();
    let mut post = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    let mut stack = vec![(0usize, 0usize)];
    seen[0] = true;
    while let Some(top) = stack.last_mut() {
        let (it, next) = *top;
        if let Some(&c) = items[it].children.get(next) {
            top.1 += 1;
            if !seen[c] {
                seen[c] = true;
                stack.push((c, 0));
            }
        } else {
            post.push(it);
            stack.pop();
        }
    }
    // Rebuild innermost first (and the pass, bottom-up).
    let mut finals: Vec<Option<BodyRef>> = vec![None; n];
    let mut renewed = vec![false; n];
    for it in post {
        let child_new = items[it].children.iter().any(|&c| renewed[c]);
        if child_new {
            let h = &mut items[it].graph;
            for id in h.node_ids() {
                if h[id].op.has_bodies() {
                    let op = with_bodies(&h[id].op, |b| {
                        finals[index[&key(b)]].clone().unwrap_or_else(|| b.clone())
                    });
                    h[id].op = op;
                }
            }
        }
        if order == Order::BottomUp {
            items[it].changed |= f(&mut items[it].graph)?;
        }
        if it == 0 {
            continue;
        }
        if items[it].changed || child_new {
            renewed[it] = true;
            finals[it] = Some(BodyRef::new(std::mem::take(&mut items[it].graph)));
        } else {
            finals[it] = items[it].orig.clone();
        }
    }
    // `finals` holds new bodies that the rebuilt functions also hold; they
    // are dropped innermost-last as a vector.
    drop(finals);
    Ok(())
}
