//! The state machine of `revolve`, the checkpointed reverse scan
//! (docs/ir.md, "#### `revolve`").
//!
//! With `n` trips (the length, or the leading `true`s of the mask), the
//! states are `s_{t+1} = step(s_t, x_t, k)`, and from `b = b0`, for
//! `t = n-1` down to `0`, `(b, y_t) = body(b, s_t, x_t, k)`. The machine
//! follows [`adjoint_ir::revolve::Schedule`] action by action, which is
//! what bounds its memory and fixes the number of `step` runs at
//! `forward_steps(n, snapshots)`:
//!
//! - a stack of snapshots, `s_0` (the operand states, shared, not copied)
//!   at the bottom, and a current state with its position;
//! - `Restore` makes the top snapshot current (shared); `Advance` runs
//!   `step` once per position (each a body frame); `Save` pushes the
//!   current state (shared); `Drop` pops the top snapshot;
//! - `Reverse { t }` runs `body` on the carries, `s_t` (the current state
//!   or the top snapshot) and `x_t`, and writes `y_t` into the stacked
//!   outputs, which are allocated once, zero-filled, so rows `t >= n` stay
//!   zero.
//!
//! It holds at most `snapshots` states besides the running body's own
//! values: the snapshots above `s_0` and the current state (see
//! `schedule::loop_cost`).

use crate::frames::Val;
use crate::loops::{slice_leading, Next, Role, Stacked};
use adjoint_ir::revolve::{Action, Schedule};
use adjoint_ir::{Error, Graph, Op, Result, TensorType};

/// A state of the recurrence: its position `t` and its `K` tensors `s_t`.
type State<'a> = (usize, Vec<Val<'a>>);

/// What the running frame computes.
#[derive(Clone, Copy)]
enum Wait {
    /// `step` from position `at`, on the way to `to`.
    Step { at: usize, to: usize },
    /// `body` for trip `t`.
    Body { t: usize },
}

/// A running `revolve`.
pub(crate) struct Revolve<'a> {
    step: &'a Graph,
    body: &'a Graph,
    /// The number of states.
    state: usize,
    /// The number of carries.
    carry: usize,
    xs: Vec<Val<'a>>,
    invariants: Vec<Val<'a>>,
    carries: Vec<Val<'a>>,
    ys: Vec<Stacked>,
    schedule: Schedule,
    /// The snapshots, `s_0` at the bottom.
    snaps: Vec<State<'a>>,
    /// The current state, if one was restored or computed.
    current: Option<State<'a>>,
    wait: Wait,
}

/// The error for a schedule action the machine's state does not allow
/// (the schedule is checked against its own preconditions, so this is a
/// bug).
fn internal(what: impl std::fmt::Display) -> Error {
    Error::eval(format!("revolve: {what} (internal)"))
}

impl<'a> Revolve<'a> {
    /// Starts `op` (a `revolve` whose operand types gave `results`) on its
    /// operand values `args`.
    pub(crate) fn start(
        op: &'a Op,
        results: &[TensorType],
        args: Vec<Val<'a>>,
    ) -> Result<(Revolve<'a>, Next<'a>)> {
        let Op::Revolve {
            body,
            step,
            state,
            carry,
            xs,
            length,
            snapshots,
            masked,
        } = op
        else {
            return Err(internal(format!("{} is not a revolve", op.name())));
        };
        let mut rest = args;
        let n = if *masked {
            let after = rest.split_off(1);
            let mask = rest
                .first()
                .and_then(|m| m.get().as_bool())
                .ok_or_else(|| internal("the mask is not bool"))?;
            let n = mask.iter().take_while(|&&b| b).count();
            rest = after;
            n
        } else {
            *length
        };
        let mut carries = rest.split_off(*state);
        let mut xs_vals = carries.split_off(*carry);
        let invariants = xs_vals.split_off(*xs);
        let ys = results[*carry..]
            .iter()
            .map(|t| Stacked::new(t.clone(), "revolve"))
            .collect::<Result<Vec<_>>>()?;
        let mut r = Revolve {
            step,
            body,
            state: *state,
            carry: *carry,
            xs: xs_vals,
            invariants,
            carries,
            ys,
            schedule: Schedule::new(n, *snapshots),
            snaps: vec![(0, rest)],
            current: None,
            wait: Wait::Body { t: 0 },
        };
        let next = r.next()?;
        Ok((r, next))
    }

    /// The top snapshot, which must be at position `at`.
    fn top(&self, at: usize) -> Result<&State<'a>> {
        match self.snaps.last() {
            Some(s) if s.0 == at => Ok(s),
            Some(s) => Err(internal(format!(
                "the top snapshot is s_{}, the schedule wants s_{at}",
                s.0
            ))),
            None => Err(internal("no snapshot")),
        }
    }

    /// The current state, which must be at position `at`.
    fn current(&self, at: usize) -> Result<&State<'a>> {
        match &self.current {
            Some(s) if s.0 == at => Ok(s),
            _ => Err(internal(format!("the current state is not s_{at}"))),
        }
    }

    /// The inputs of a run reading `xs[t]`: `first`, the slices `x_t`, the
    /// invariants.
    fn inputs(&self, mut first: Vec<Val<'a>>, t: usize) -> Result<Vec<Val<'a>>> {
        for x in &self.xs {
            first.push(Val::owned(slice_leading(x.get(), t, "revolve")?));
        }
        first.extend(self.invariants.iter().cloned());
        Ok(first)
    }

    /// Runs `step` on the current state, at position `at`, toward `to`.
    fn run_step(&mut self, at: usize, to: usize) -> Result<Next<'a>> {
        // The frame holds the state it steps from; the machine lets go.
        let (_, states) = match self.current.take() {
            Some(s) if s.0 == at => s,
            _ => return Err(internal(format!("the current state is not s_{at}"))),
        };
        self.wait = Wait::Step { at, to };
        Ok(Next::Run {
            f: self.step,
            role: Role {
                op: "revolve",
                attr: "step",
                trip: Some(at),
            },
            inputs: self.inputs(states, at)?,
        })
    }

    /// Follows the schedule to the next frame to run, or the results.
    fn next(&mut self) -> Result<Next<'a>> {
        loop {
            let Some(action) = self.schedule.next() else {
                let mut out = std::mem::take(&mut self.carries);
                for y in std::mem::take(&mut self.ys) {
                    out.push(y.finish()?);
                }
                return Ok(Next::Done(out));
            };
            match action {
                Action::Restore { at } => self.current = Some(self.top(at)?.clone()),
                Action::Advance { from, to } => return self.run_step(from, to),
                Action::Save { at } => {
                    let s = self.current(at)?.clone();
                    self.snaps.push(s);
                }
                Action::Drop => {
                    if self.snaps.len() < 2 {
                        return Err(internal("dropping s_0"));
                    }
                    self.snaps.pop();
                }
                Action::Reverse { t, from_snapshot } => {
                    let s = if from_snapshot {
                        self.top(t)?
                    } else {
                        self.current(t)?
                    };
                    let mut first = self.carries.clone();
                    first.extend(s.1.iter().cloned());
                    self.wait = Wait::Body { t };
                    return Ok(Next::Run {
                        f: self.body,
                        role: Role {
                            op: "revolve",
                            attr: "body",
                            trip: Some(t),
                        },
                        inputs: self.inputs(first, t)?,
                    });
                }
            }
        }
    }

    /// Takes the outputs of the frame that just ran.
    pub(crate) fn resume(&mut self, mut outs: Vec<Val<'a>>) -> Result<Next<'a>> {
        match self.wait {
            Wait::Step { at, to } => {
                if outs.len() != self.state {
                    return Err(Error::eval(format!(
                        "revolve: step=@{} returned {} values, expected the {} states",
                        self.step.name(),
                        outs.len(),
                        self.state
                    )));
                }
                self.current = Some((at + 1, outs));
                if at + 1 < to {
                    self.run_step(at + 1, to)
                } else {
                    self.next()
                }
            }
            Wait::Body { t } => {
                let want = self.carry + self.ys.len();
                if outs.len() != want {
                    return Err(Error::eval(format!(
                        "revolve: body=@{} returned {} values, expected {want}",
                        self.body.name(),
                        outs.len()
                    )));
                }
                let ys = outs.split_off(self.carry);
                for (j, y) in ys.iter().enumerate() {
                    self.ys[j].put(t, y.get(), "revolve")?;
                }
                self.carries = outs;
                self.next()
            }
        }
    }
}
