//! Bodies: functions that loops and conditionals run.
//!
//! A `scan`, `while` or `cond` names the functions it runs with attributes
//! (`body=@f`, `cond=@p`, `then=@t`, `else=@e`). In a [`crate::Graph`] such
//! an attribute holds a [`BodyRef`], a shared reference to the function's
//! graph, so that one function may serve any number of loops and branches.
//! Because the text names only functions defined earlier in the file, a body
//! can never (directly or indirectly) contain the loop that runs it.

use crate::{Graph, Op};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A shared reference to a function used as a loop body, a loop condition or
/// a branch. Two references are equal (and hash equal) only when they point
/// at the same function, as for [`crate::CustomRef`].
#[derive(Clone)]
pub struct BodyRef(pub Arc<Graph>);

impl BodyRef {
    /// Wraps a function.
    pub fn new(g: Graph) -> BodyRef {
        BodyRef(Arc::new(g))
    }

    /// The function's name (without the `@`).
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// The function.
    pub fn graph(&self) -> &Graph {
        &self.0
    }

    /// The function by value: moved out when this is the last reference,
    /// else cloned.
    pub fn into_graph(mut self) -> Graph {
        match Arc::get_mut(&mut self.0) {
            Some(g) => std::mem::take(g),
            None => (*self.0).clone(),
        }
    }
}

/// `BodyRef(@name)`: the name only, as bodies nest.
impl std::fmt::Debug for BodyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BodyRef(@{})", self.0.name())
    }
}

impl PartialEq for BodyRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BodyRef {}

impl Hash for BodyRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state);
    }
}

impl std::ops::Deref for BodyRef {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        &self.0
    }
}

/// Drops the last reference to a chain of bodies (each running the next)
/// without recursing once per level.
impl Drop for BodyRef {
    fn drop(&mut self) {
        if let Some(g) = Arc::get_mut(&mut self.0) {
            drop_iteratively(vec![std::mem::take(g)]);
        }
    }
}

/// Drops `work`'s functions, and every body and custom op that only they
/// hold, from a work list instead of by recursion: each op that holds a
/// function gives it up to the list before the op itself is dropped.
pub(crate) fn drop_iteratively(mut work: Vec<Graph>) {
    while let Some(mut g) = work.pop() {
        for id in g.node_ids() {
            if !matches!(
                g[id].op,
                Op::Call(_)
                    | Op::Scan { .. }
                    | Op::While { .. }
                    | Op::Revolve { .. }
                    | Op::Cond { .. }
            ) {
                continue;
            }
            match std::mem::replace(&mut g[id].op, Op::Select) {
                Op::Call(crate::CustomRef(c)) => {
                    if let Ok(mut inner) = Arc::try_unwrap(c) {
                        work.push(std::mem::take(&mut inner.body));
                        work.extend(inner.vjp.take());
                        work.extend(inner.jvp.take());
                    }
                }
                op => {
                    for mut b in into_bodies(op) {
                        if let Some(inner) = Arc::get_mut(&mut b.0) {
                            work.push(std::mem::take(inner));
                        }
                    }
                }
            }
        }
    }
}

fn into_bodies(op: Op) -> Vec<BodyRef> {
    match op {
        Op::Scan { body, .. } => vec![body],
        Op::While { cond, body, .. } => vec![body, cond],
        Op::Revolve { body, step, .. } => vec![body, step],
        Op::Cond { then, els } => vec![then, els],
        _ => Vec::new(),
    }
}
