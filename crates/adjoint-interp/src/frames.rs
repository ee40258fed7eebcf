//! Evaluation on an explicit stack of call frames.
//!
//! A `call` does not recurse: it pushes a frame for the custom op's body
//! onto a stack on the heap, and the body's output goes back to the caller
//! when the frame is done. So the nesting of custom ops is bounded by
//! [`crate::EvalOptions::max_call_depth`] (checked up front) and memory,
//! never by the thread's stack. Values are shared between frames without
//! copying (a computed value is reference counted; inputs and constants are
//! borrowed), and each is freed after its last use.

use crate::memory::try_clone;
use crate::schedule::{self, Schedule, Schedules};
use adjoint_ir::{CustomRef, Error, Graph, NodeId, Op, Result, Tensor};
use std::rc::Rc;

/// How many frames at each end of the stack an error message names (the
/// ones between are counted, not listed).
const CONTEXT_FRAMES: usize = 4;

/// A value during evaluation.
#[derive(Clone)]
pub(crate) enum Val<'a> {
    /// An input of the evaluation or a constant of the program.
    Borrowed(&'a Tensor),
    /// A computed value, shared between frames.
    Owned(Rc<Tensor>),
}

impl Val<'_> {
    /// The tensor.
    pub(crate) fn get(&self) -> &Tensor {
        match self {
            Val::Borrowed(t) => t,
            Val::Owned(t) => t,
        }
    }

    /// The tensor by value: moved out if nothing else holds it, else copied
    /// (fallibly; `what` names the copy in the error).
    pub(crate) fn into_tensor(self, what: &str) -> Result<Tensor> {
        match self {
            Val::Borrowed(t) => try_clone(t, what),
            Val::Owned(t) => Rc::try_unwrap(t).or_else(|t| try_clone(&t, what)),
        }
    }
}

/// One graph being evaluated: the root or a custom op's body.
struct Frame<'a, 's> {
    g: &'a Graph,
    /// The custom op whose body this is (`None` for the root).
    call: Option<&'a CustomRef>,
    s: &'s Schedule,
    /// The position in `s.order` of the node to evaluate next.
    pos: usize,
    /// Uses of each value still to come.
    uses: Vec<usize>,
    values: Vec<Option<Val<'a>>>,
    inputs: Vec<Val<'a>>,
}

impl<'a, 's> Frame<'a, 's> {
    fn new(
        g: &'a Graph,
        call: Option<&'a CustomRef>,
        s: &'s Schedule,
        inputs: Vec<Val<'a>>,
    ) -> Self {
        Frame {
            g,
            call,
            s,
            pos: 0,
            uses: s.uses.clone(),
            values: vec![None; s.is_output.len()],
            inputs,
        }
    }

    /// `@f: %v = op` for the node being evaluated, or `@f` when done.
    fn here(&self) -> String {
        match self.s.order.get(self.pos) {
            Some(&id) => format!(
                "@{}: {} = {}",
                self.g.name(),
                self.g.display_name(id),
                self.g[id].op.name()
            ),
            None => format!("@{}", self.g.name()),
        }
    }

    /// The value of operand `o`.
    fn value(&self, o: NodeId) -> Result<&Val<'a>> {
        self.values
            .get(o.index())
            .and_then(Option::as_ref)
            .ok_or_else(|| Error::eval(format!("operand {o} has no value")))
    }

    /// The operands of node `id`.
    fn args(&self, id: NodeId) -> Result<Vec<Val<'a>>> {
        self.s.operands[id.index()]
            .iter()
            .map(|&o| self.value(o).cloned())
            .collect()
    }

    /// Stores `v` as the current node's value, frees the operands used for
    /// the last time, and moves on.
    fn finish(&mut self, v: Val<'a>) {
        let id = self.s.order[self.pos];
        for &o in &self.s.operands[id.index()] {
            self.uses[o.index()] -= 1;
            if self.uses[o.index()] == 0 && !self.s.is_output[o.index()] {
                self.values[o.index()] = None;
            }
        }
        self.values[id.index()] = Some(v);
        self.pos += 1;
    }

    /// The outputs, in order (a repeated one shares the value).
    fn outputs(&mut self) -> Result<Vec<Val<'a>>> {
        let outs = self.g.outputs();
        let mut result = Vec::with_capacity(outs.len());
        for (i, &o) in outs.iter().enumerate() {
            let slot = self.values.get_mut(o.index());
            let v = if outs[i + 1..].contains(&o) {
                slot.and_then(|s| s.clone())
            } else {
                slot.and_then(Option::take)
            };
            result.push(v.ok_or_else(|| {
                Error::eval(format!("@{}: output {o} has no value", self.g.name()))
            })?);
        }
        Ok(result)
    }
}

/// Evaluates `g` on `inputs` (already checked against its parameters)
/// with the schedules in `all`, and returns its outputs.
pub(crate) fn run<'a>(g: &'a Graph, inputs: Vec<Val<'a>>, all: &Schedules) -> Result<Vec<Val<'a>>> {
    let mut stack = vec![Frame::new(g, None, schedule::of(all, g)?, inputs)];
    loop {
        match step(&mut stack, all) {
            Ok(Some(outs)) => return Ok(outs),
            Ok(None) => {}
            Err(e) => return Err(with_frames(e, &stack)),
        }
    }
}

/// Evaluates the next node of the innermost frame, enters a call, or
/// returns from a finished frame; the root's outputs when it is done.
fn step<'a, 's>(
    stack: &mut Vec<Frame<'a, 's>>,
    all: &'s Schedules,
) -> Result<Option<Vec<Val<'a>>>> {
    let Some(top) = stack.last_mut() else {
        return Err(Error::eval("no frame to evaluate (internal)"));
    };
    let Some(&id) = top.s.order.get(top.pos) else {
        let mut outs = top.outputs()?;
        let call = top.call;
        stack.pop();
        let Some(caller) = stack.last_mut() else {
            return Ok(Some(outs));
        };
        let name = call.map_or("", |c| c.name.as_str());
        match (outs.pop(), outs.is_empty()) {
            (Some(y), true) => caller.finish(y),
            _ => {
                return Err(Error::eval(format!(
                    "call @{name}: the body must have exactly one output"
                )))
            }
        }
        return Ok(None);
    };
    let g: &'a Graph = top.g;
    let node = &g[id];
    let v = match &node.op {
        Op::Param { index } => {
            let t = top
                .inputs
                .get(*index)
                .ok_or_else(|| Error::eval(format!("no input for parameter index {index}")))?;
            if t.get().ty() != node.ty {
                return Err(Error::eval(format!(
                    "expects {}, got {}",
                    node.ty,
                    t.get().ty()
                )));
            }
            t.clone()
        }
        Op::Const(t) => {
            if t.ty() != node.ty {
                return Err(Error::eval(format!(
                    "the constant has type {}, but the node says {}",
                    t.ty(),
                    node.ty
                )));
            }
            Val::Borrowed(t)
        }
        Op::Call(c) => {
            let args = top.args(id)?;
            let refs: Vec<&Tensor> = args.iter().map(Val::get).collect();
            crate::check_node_types(&node.op, &node.ty, &refs)?;
            crate::check_inputs(&c.body, &refs)?;
            let s = schedule::of(all, &c.body)?;
            stack.push(Frame::new(&c.body, Some(c), s, args));
            return Ok(None);
        }
        op => {
            let args = top.args(id)?;
            let refs: Vec<&Tensor> = args.iter().map(Val::get).collect();
            crate::check_node_types(op, &node.ty, &refs)?;
            Val::Owned(Rc::new(crate::eval_op(op, &node.ty, &refs)?))
        }
    };
    top.finish(v);
    Ok(None)
}

/// `e` with the place of each frame put before it, innermost last: for a
/// body, `@f: %y = call: call @c: @body: %z = sin: message`. Deep stacks
/// name their outermost and innermost [`CONTEXT_FRAMES`] frames.
fn with_frames(mut e: Error, stack: &[Frame<'_, '_>]) -> Error {
    let n = stack.len();
    let elided = n.saturating_sub(2 * CONTEXT_FRAMES);
    for (i, f) in stack.iter().enumerate().rev() {
        if elided > 0 && (CONTEXT_FRAMES..n - CONTEXT_FRAMES).contains(&i) {
            if i == CONTEXT_FRAMES {
                e = e.context(format!("({elided} more nested calls)"));
            }
            continue;
        }
        e = e.context(f.here());
        if let Some(c) = f.call {
            e = e.context(format!("call @{}", c.name));
        }
    }
    e
}
