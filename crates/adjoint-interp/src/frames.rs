//! Evaluation on an explicit stack of frames.
//!
//! A `call` does not recurse: it pushes a frame for the custom op's body
//! onto a stack on the heap, and the body's output goes back to the caller
//! when the frame is done. A `scan`, `while` or `cond` does the same for
//! each run of its bodies: the loop's state (`loops.rs`) waits in the
//! frame of the function that contains it, and each body run is a frame
//! whose outputs go back to that state. So the nesting of calls and bodies
//! is bounded by [`crate::EvalOptions::max_call_depth`] (checked up front)
//! and memory, never by the thread's stack. Values are shared between
//! frames without copying (a computed value is reference counted; inputs
//! and constants are borrowed), and each is freed after its last use.
//!
//! The results of a multi-result node are held together (a tuple of
//! shared values) until its last projection has read its result.

use crate::loops::{Loop, Next, Role};
use crate::memory::{try_clone, type_bytes};
use crate::meter::{Held, Ticket};
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
    /// A computed value, shared between frames (and counted by the meter
    /// while it lives).
    Owned(Rc<Held>),
}

impl Val<'_> {
    /// The tensor.
    pub(crate) fn get(&self) -> &Tensor {
        match self {
            Val::Borrowed(t) => t,
            Val::Owned(t) => t.get(),
        }
    }

    /// A computed tensor, counted by the meter while it lives.
    pub(crate) fn owned(t: Tensor) -> Self {
        Val::Owned(Rc::new(Held::new(t)))
    }

    /// Whether [`Val::into_tensor`] copies the tensor (it is borrowed, or
    /// shared with another value).
    pub(crate) fn copies(&self) -> bool {
        match self {
            Val::Borrowed(_) => true,
            Val::Owned(t) => Rc::strong_count(t) > 1,
        }
    }

    /// The tensor by value: moved out if nothing else holds it, else copied
    /// (fallibly; `what` names the copy in the error).
    pub(crate) fn into_tensor(self, what: &str) -> Result<Tensor> {
        match self {
            Val::Borrowed(t) => try_clone(t, what),
            Val::Owned(t) => match Rc::try_unwrap(t) {
                Ok(h) => Ok(h.into_inner()),
                Err(t) => try_clone(t.get(), what),
            },
        }
    }
}

/// The value of a node: one tensor, or the results of a multi-result node.
#[derive(Clone)]
enum Slot<'a> {
    One(Val<'a>),
    Tuple(Rc<Vec<Val<'a>>>),
}

/// How a frame was entered.
#[derive(Clone, Copy)]
enum Entry<'a> {
    /// The function being evaluated.
    Root,
    /// A custom op's body.
    Call(&'a CustomRef),
    /// A loop's or conditional's function.
    Body(Role),
}

/// What the current node of a frame waits for.
enum Active<'a> {
    /// A custom op's body (its one output is the node's value).
    Call,
    /// A loop's or conditional's next body run.
    Loop(Loop<'a>),
}

/// One graph being evaluated: the root, a custom op's body, or a run of a
/// loop's body.
struct Frame<'a, 's> {
    g: &'a Graph,
    entry: Entry<'a>,
    s: &'s Schedule,
    /// The bytes held outside this frame (by the frames below it), as the
    /// schedules count them.
    base: u64,
    /// The position in `s.order` of the node to evaluate next.
    pos: usize,
    /// Uses of each value still to come.
    uses: Vec<usize>,
    values: Vec<Option<Slot<'a>>>,
    inputs: Vec<Val<'a>>,
    /// The state of the current node while a frame above runs for it.
    active: Option<Active<'a>>,
}

impl<'a, 's> Frame<'a, 's> {
    fn new(
        g: &'a Graph,
        entry: Entry<'a>,
        s: &'s Schedule,
        base: u64,
        inputs: Vec<Val<'a>>,
    ) -> Self {
        Frame {
            g,
            entry,
            s,
            base,
            pos: 0,
            uses: s.uses.clone(),
            values: vec![None; s.is_output.len()],
            inputs,
            active: None,
        }
    }

    /// `@f: %v = op` for the node being evaluated, or `@f` when done.
    fn here(&self) -> String {
        match self.s.order.get(self.pos) {
            Some(&id) if self.g[id].op.is_multi_result() => crate::limits::describe(self.g, id),
            Some(&id) => format!(
                "@{}: {} = {}",
                self.g.name(),
                self.g.display_name(id),
                self.g[id].op.name()
            ),
            None => format!("@{}", self.g.name()),
        }
    }

    /// The value of operand `o`, a single tensor.
    fn value(&self, o: NodeId) -> Result<&Val<'a>> {
        match self.values.get(o.index()).and_then(Option::as_ref) {
            Some(Slot::One(v)) => Ok(v),
            Some(Slot::Tuple(_)) => Err(Error::eval(format!(
                "operand {o} has several results ({}): it is read through projections only",
                self.g[o].op.name()
            ))),
            None => Err(Error::eval(format!("operand {o} has no value"))),
        }
    }

    /// The operands of node `id`.
    fn args(&self, id: NodeId) -> Result<Vec<Val<'a>>> {
        self.s.operands[id.index()]
            .iter()
            .map(|&o| self.value(o).cloned())
            .collect()
    }

    /// Result `index` of the multi-result operand of projection `id`.
    fn project(&self, id: NodeId, index: usize) -> Result<Val<'a>> {
        let ops = &self.s.operands[id.index()];
        let [p] = ops.as_slice() else {
            return Err(Error::eval(format!(
                "project: expects 1 operand, got {}",
                ops.len()
            )));
        };
        let v = match self.values.get(p.index()).and_then(Option::as_ref) {
            Some(Slot::Tuple(vs)) => vs.get(index).cloned().ok_or_else(|| {
                Error::eval(format!(
                    "project: result {index} of {p}, which has {} results",
                    vs.len()
                ))
            })?,
            Some(Slot::One(_)) => {
                return Err(Error::eval(format!(
                    "project: operand {p} ({}) has a single result",
                    self.g[*p].op.name()
                )))
            }
            None => return Err(Error::eval(format!("operand {p} has no value"))),
        };
        let ty = &self.g[id].ty;
        if v.get().ty() != *ty {
            return Err(Error::eval(format!(
                "project: result {index} of {p} is {}, but the node says {ty}",
                v.get().ty()
            )));
        }
        Ok(v)
    }

    /// Stores `v` as the current node's value, frees the operands used for
    /// the last time, and moves on.
    fn finish(&mut self, v: Slot<'a>) {
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
            match v {
                Some(Slot::One(v)) => result.push(v),
                Some(Slot::Tuple(_)) => {
                    return Err(Error::eval(format!(
                        "@{}: output {o} is a node with several results; outputs are its \
                         projections",
                        self.g.name()
                    )))
                }
                None => {
                    return Err(Error::eval(format!(
                        "@{}: output {o} has no value",
                        self.g.name()
                    )))
                }
            }
        }
        Ok(result)
    }

    /// The frame for `f` on `inputs`, run for the current node, after
    /// checking the inputs against `f`'s parameters and `f`'s peak working
    /// memory against the budget (for a `cond` branch this is the only
    /// check: the branch is chosen at run time).
    fn child(
        &self,
        f: &'a Graph,
        entry: Entry<'a>,
        inputs: Vec<Val<'a>>,
        all: &'s Schedules,
        budget: u64,
    ) -> Result<Frame<'a, 's>> {
        let refs: Vec<&Tensor> = inputs.iter().map(Val::get).collect();
        crate::check_inputs(f, &refs)?;
        let s = schedule::of(all, f)?;
        let id = self.s.order[self.pos];
        let base = self
            .base
            .saturating_add(self.s.before[id.index()])
            .saturating_add(self.s.extra[id.index()]);
        if base.saturating_add(s.peak) > budget {
            let what = match entry {
                Entry::Body(r) => format!("{}=@{}", r.attr, f.name()),
                _ => format!("@{}", f.name()),
            };
            return Err(crate::limits::over_budget_at(what, s.peak, base, budget));
        }
        if let Entry::Body(_) = entry {
            crate::meter::body_run(f.name());
        }
        Ok(Frame::new(f, entry, s, base, inputs))
    }

    /// Acts on what a loop says to do next: a frame to push, or its
    /// results (stored as the current node's value).
    fn follow(
        &mut self,
        lp: Loop<'a>,
        next: Next<'a>,
        all: &'s Schedules,
        budget: u64,
    ) -> Result<Option<Frame<'a, 's>>> {
        match next {
            Next::Run { f, role, inputs } => {
                let frame = self.child(f, Entry::Body(role), inputs, all, budget)?;
                self.active = Some(Active::Loop(lp));
                Ok(Some(frame))
            }
            Next::Done(results) => {
                self.finish(Slot::Tuple(Rc::new(results)));
                Ok(None)
            }
        }
    }
}

/// Evaluates `g` on `inputs` (already checked against its parameters)
/// with the schedules in `all`, and returns its outputs. `budget` is the
/// working-memory limit, checked before a `cond` branch runs.
pub(crate) fn run<'a>(
    g: &'a Graph,
    inputs: Vec<Val<'a>>,
    all: &Schedules,
    budget: u64,
) -> Result<Vec<Val<'a>>> {
    let mut stack = vec![Frame::new(g, Entry::Root, schedule::of(all, g)?, 0, inputs)];
    loop {
        match step(&mut stack, all, budget) {
            Ok(Some(outs)) => return Ok(outs),
            Ok(None) => {}
            Err(e) => return Err(with_frames(e, &stack)),
        }
    }
}

/// Evaluates the next node of the innermost frame, enters a call or a
/// body, or returns from a finished frame; the root's outputs when it is
/// done.
fn step<'a, 's>(
    stack: &mut Vec<Frame<'a, 's>>,
    all: &'s Schedules,
    budget: u64,
) -> Result<Option<Vec<Val<'a>>>> {
    let Some(top) = stack.last_mut() else {
        return Err(Error::eval("no frame to evaluate (internal)"));
    };
    let Some(&id) = top.s.order.get(top.pos) else {
        let outs = top.outputs()?;
        stack.pop();
        let Some(caller) = stack.last_mut() else {
            return Ok(Some(outs));
        };
        let pushed = resume(caller, outs, all, budget)?;
        stack.extend(pushed);
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
        Op::Project { index } => top.project(id, *index)?,
        Op::Call(c) => {
            let args = top.args(id)?;
            let refs: Vec<&Tensor> = args.iter().map(Val::get).collect();
            crate::check_node_types(&node.op, &node.ty, &refs)?;
            let frame = top.child(&c.body, Entry::Call(c), args, all, budget)?;
            top.active = Some(Active::Call);
            stack.push(frame);
            return Ok(None);
        }
        op if op.is_multi_result() => {
            let args = top.args(id)?;
            let (lp, next) = Loop::start(op, &node.ty, args)?;
            let pushed = top.follow(lp, next, all, budget)?;
            stack.extend(pushed);
            return Ok(None);
        }
        op => {
            let args = top.args(id)?;
            let refs: Vec<&Tensor> = args.iter().map(Val::get).collect();
            crate::check_node_types(op, &node.ty, &refs)?;
            // The result counts from the moment its kernel allocates it.
            let t = {
                let _building = Ticket::new(type_bytes(&node.ty));
                crate::eval_op(op, &node.ty, &refs)?
            };
            Val::owned(t)
        }
    };
    top.finish(Slot::One(v));
    Ok(None)
}

/// Hands the outputs of a finished frame to the node of `caller` that ran
/// it: a call's value, or the next step of a loop (maybe another frame).
fn resume<'a, 's>(
    caller: &mut Frame<'a, 's>,
    mut outs: Vec<Val<'a>>,
    all: &'s Schedules,
    budget: u64,
) -> Result<Option<Frame<'a, 's>>> {
    match caller.active.take() {
        Some(Active::Call) => match (outs.pop(), outs.is_empty()) {
            (Some(y), true) => {
                caller.finish(Slot::One(y));
                Ok(None)
            }
            _ => Err(Error::eval(
                "the custom op's body must have exactly one output",
            )),
        },
        Some(Active::Loop(mut lp)) => {
            let next = lp.resume(outs)?;
            caller.follow(lp, next, all, budget)
        }
        None => Err(Error::eval("a frame returned to no caller (internal)")),
    }
}

/// `e` with the place of each frame put before it, innermost last: for a
/// body, `@f: %y = call: call @c: @body: %z = sin: message`, and for a
/// loop, `@f: %c, %ys = scan: body=@step (iteration t=3): @step: %z = log:
/// message`.
/// Deep stacks name their outermost and innermost [`CONTEXT_FRAMES`]
/// frames.
fn with_frames(mut e: Error, stack: &[Frame<'_, '_>]) -> Error {
    let n = stack.len();
    let elided = n.saturating_sub(2 * CONTEXT_FRAMES);
    for (i, f) in stack.iter().enumerate().rev() {
        if elided > 0 && (CONTEXT_FRAMES..n - CONTEXT_FRAMES).contains(&i) {
            if i == CONTEXT_FRAMES {
                e = e.context(format!("({elided} more nested calls and bodies)"));
            }
            continue;
        }
        e = e.context(f.here());
        match f.entry {
            Entry::Root => {}
            Entry::Call(c) => e = e.context(format!("call @{}", c.name)),
            Entry::Body(r) => e = e.context(r.describe(f.g)),
        }
    }
    e
}
