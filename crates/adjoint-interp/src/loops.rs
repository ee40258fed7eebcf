//! The state machines of `scan`, `while` and `cond` (and of `revolve`,
//! in `revolve.rs`).
//!
//! A loop or conditional never runs its body by recursion: it is a state
//! kept in the frame of the function that contains it (see `frames.rs`).
//! [`Loop::start`] and [`Loop::resume`] say what to run next: a body (a
//! function, its inputs, and which attribute and trip it is), which the
//! frame machine pushes as a new frame, or the op's results when it is
//! done. Each body run hands its outputs back to [`Loop::resume`].
//!
//! - `scan`: `c = init`; for `t` in `0..N` (`N-1 … 0` with `reverse`),
//!   `(c, y) = f(c, xs[t], k)` and `ys[t] = y`. The stacked outputs are
//!   allocated once, before the first iteration, and filled slice by slice.
//! - `while`: `c = init`; while fewer than `max_trips` trips have run (when
//!   the bound is given) and `p(c, k)` is true, `c = f(c, k)`. Once the
//!   bound is reached the predicate is not evaluated again. Without a bound
//!   a predicate that never becomes false runs forever, as in JAX.
//! - `cond`: only the chosen branch runs.
//! - `revolve`: the checkpointed reverse scan, see `revolve.rs`.

use crate::elems;
use crate::frames::Val;
use crate::memory::{try_filled, try_vec, type_bytes};
use crate::meter::Ticket;
use crate::revolve::Revolve;
use adjoint_ir::{infer_types, Error, Graph, Op, Result, Shape, Tensor, TensorData, TensorType};

/// Which of the op's functions a body frame runs, and on which trip.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Role {
    /// The op: `scan`, `while`, `revolve` or `cond`.
    pub op: &'static str,
    /// The attribute naming the function: `body`, `cond`, `step`, `then`
    /// or `else`.
    pub attr: &'static str,
    /// For `scan`, the index `t` of the iteration (for `revolve`, of the
    /// step or reverse step: the one reading `xs[t]`); for `while`, the number
    /// of body runs before this one; `None` for `cond`.
    pub trip: Option<usize>,
}

impl Role {
    /// `body=@f (iteration t=3)`, `cond=@p (after 2 trips)`, `then=@t`.
    pub(crate) fn describe(&self, f: &Graph) -> String {
        match (self.op, self.trip) {
            ("scan" | "revolve", Some(t)) => {
                format!("{}=@{} (iteration t={t})", self.attr, f.name())
            }
            (_, Some(t)) => format!("{}=@{} (after {t} trips)", self.attr, f.name()),
            (_, None) => format!("{}=@{}", self.attr, f.name()),
        }
    }
}

/// What to do after starting or resuming a loop.
pub(crate) enum Next<'a> {
    /// Run `f` on `inputs`, then resume with its outputs.
    Run {
        f: &'a Graph,
        role: Role,
        inputs: Vec<Val<'a>>,
    },
    /// The op is done: its results, in order.
    Done(Vec<Val<'a>>),
}

/// The state of a `scan`, `while` or `cond` whose bodies are running.
pub(crate) enum Loop<'a> {
    Scan(Scan<'a>),
    Revolve(Box<Revolve<'a>>),
    While(While<'a>),
    /// A `cond`: the branch's outputs are the results.
    Cond,
}

/// A stacked output `[N, …]`, allocated once (zero-filled) and filled
/// slice by slice; counted by the meter from its allocation on.
pub(crate) struct Stacked {
    /// The type of the whole stack.
    ty: TensorType,
    /// The type of one slice (the body's output).
    elem: TensorType,
    data: TensorData,
    ticket: Ticket,
}

impl Stacked {
    /// A zero stack of type `ty`; `what` names the op in an allocation
    /// error.
    pub(crate) fn new(ty: TensorType, what: &str) -> Result<Stacked> {
        let n = ty.shape.numel();
        let data = with_elem!(ty.dtype, T => {
            <T as crate::scalar::Elem>::wrap(try_filled(n, <T as crate::scalar::Elem>::ZERO, what)?)
        });
        let ticket = Ticket::new(type_bytes(&ty));
        let elem = TensorType::new(ty.dtype, Shape::from(ty.shape.dims()[1..].to_vec()));
        Ok(Stacked {
            ty,
            elem,
            data,
            ticket,
        })
    }

    /// Copies `y` into slice `t`.
    pub(crate) fn put(&mut self, t: usize, y: &Tensor, what: &str) -> Result<()> {
        if y.ty() != self.elem {
            return Err(Error::eval(format!(
                "{what}: the body returned {}, but the stacked output {} needs {}",
                y.ty(),
                self.ty,
                self.elem
            )));
        }
        let m = self.elem.shape.numel();
        fn copy<T: Copy>(dst: &mut [T], src: &[T], at: usize) {
            dst[at..at + src.len()].copy_from_slice(src);
        }
        match (&mut self.data, y.data()) {
            (TensorData::F32(d), TensorData::F32(s)) => copy(d, s, t * m),
            (TensorData::F64(d), TensorData::F64(s)) => copy(d, s, t * m),
            (TensorData::Bool(d), TensorData::Bool(s)) => copy(d, s, t * m),
            _ => return Err(Error::eval(format!("{what}: dtype mismatch (internal)"))),
        }
        Ok(())
    }

    /// The whole stack, as a value.
    pub(crate) fn finish(self) -> Result<Val<'static>> {
        let Stacked {
            ty, data, ticket, ..
        } = self;
        // The value counts the bytes from here on.
        drop(ticket);
        Ok(Val::owned(Tensor::new(ty.shape, data)?))
    }
}

/// Slice `t` along the leading axis of `x` (a copy, fallibly allocated).
pub(crate) fn slice_leading(x: &Tensor, t: usize, what: &str) -> Result<Tensor> {
    let dims = x.shape().dims();
    let shape = Shape::from(dims[1..].to_vec());
    let m = shape.numel();
    let data = with_elem!(x.dtype(), T => {
        let src = elems::<T>(x)?;
        let part = src.get(t * m..(t + 1) * m).ok_or_else(|| {
            Error::eval(format!("{what}: slice {t} of {} is out of range (internal)", x.ty()))
        })?;
        let mut v = try_vec::<T>(m, what)?;
        v.extend_from_slice(part);
        <T as crate::scalar::Elem>::wrap(v)
    });
    Tensor::new(shape, data)
}

/// A running `scan`.
pub(crate) struct Scan<'a> {
    body: &'a Graph,
    carry: usize,
    length: usize,
    reverse: bool,
    /// The scanned inputs.
    xs: Vec<Val<'a>>,
    invariants: Vec<Val<'a>>,
    carries: Vec<Val<'a>>,
    ys: Vec<Stacked>,
    /// Iterations done.
    done: usize,
}

impl<'a> Scan<'a> {
    /// The xs index of iteration `i` (the `i`-th body run).
    fn index(&self, i: usize) -> usize {
        if self.reverse {
            self.length - 1 - i
        } else {
            i
        }
    }

    /// The next body run, or the results.
    fn next(&mut self) -> Result<Next<'a>> {
        if self.done == self.length {
            let mut out = std::mem::take(&mut self.carries);
            for y in std::mem::take(&mut self.ys) {
                out.push(y.finish()?);
            }
            return Ok(Next::Done(out));
        }
        let t = self.index(self.done);
        let mut inputs = self.carries.clone();
        for x in &self.xs {
            inputs.push(Val::owned(slice_leading(x.get(), t, "scan")?));
        }
        inputs.extend(self.invariants.iter().cloned());
        Ok(Next::Run {
            f: self.body,
            role: Role {
                op: "scan",
                attr: "body",
                trip: Some(t),
            },
            inputs,
        })
    }

    fn resume(&mut self, mut outs: Vec<Val<'a>>) -> Result<Next<'a>> {
        let want = self.carry + self.ys.len();
        if outs.len() != want {
            return Err(Error::eval(format!(
                "scan: body=@{} returned {} values, expected {want}",
                self.body.name(),
                outs.len()
            )));
        }
        let t = self.index(self.done);
        let ys = outs.split_off(self.carry);
        for (j, y) in ys.iter().enumerate() {
            self.ys[j].put(t, y.get(), "scan")?;
        }
        self.carries = outs;
        self.done += 1;
        self.next()
    }
}

/// What a running `while` waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Predicate,
    Body,
}

/// A running `while`.
pub(crate) struct While<'a> {
    cond: &'a Graph,
    body: &'a Graph,
    max_trips: Option<usize>,
    invariants: Vec<Val<'a>>,
    carries: Vec<Val<'a>>,
    /// Body runs done.
    trips: usize,
    phase: Phase,
}

impl<'a> While<'a> {
    fn inputs(&self) -> Vec<Val<'a>> {
        let mut v = self.carries.clone();
        v.extend(self.invariants.iter().cloned());
        v
    }

    /// Tests the bound, then runs the predicate, or returns the carries.
    fn next(&mut self) -> Result<Next<'a>> {
        if self.max_trips.is_some_and(|n| self.trips >= n) {
            return Ok(Next::Done(std::mem::take(&mut self.carries)));
        }
        self.phase = Phase::Predicate;
        Ok(Next::Run {
            f: self.cond,
            role: Role {
                op: "while",
                attr: "cond",
                trip: Some(self.trips),
            },
            inputs: self.inputs(),
        })
    }

    fn resume(&mut self, outs: Vec<Val<'a>>) -> Result<Next<'a>> {
        match self.phase {
            Phase::Predicate => {
                if !predicate(&outs, "while", "cond", self.cond)? {
                    return Ok(Next::Done(std::mem::take(&mut self.carries)));
                }
                self.phase = Phase::Body;
                Ok(Next::Run {
                    f: self.body,
                    role: Role {
                        op: "while",
                        attr: "body",
                        trip: Some(self.trips),
                    },
                    inputs: self.inputs(),
                })
            }
            Phase::Body => {
                if outs.len() != self.carries.len() {
                    return Err(Error::eval(format!(
                        "while: body=@{} returned {} values, expected {}",
                        self.body.name(),
                        outs.len(),
                        self.carries.len()
                    )));
                }
                self.carries = outs;
                self.trips += 1;
                self.next()
            }
        }
    }
}

/// The value of a predicate: the one `bool[]` in `outs`.
fn predicate(outs: &[Val<'_>], op: &str, attr: &str, f: &Graph) -> Result<bool> {
    let v = match outs {
        [v] => v.get(),
        _ => {
            return Err(Error::eval(format!(
                "{op}: {attr}=@{} returned {} values, expected one bool[]",
                f.name(),
                outs.len()
            )))
        }
    };
    match (v.as_bool(), v.shape().rank()) {
        (Some([b]), 0) => Ok(*b),
        _ => Err(Error::eval(format!(
            "{op}: the predicate must be bool[], got {}",
            v.ty()
        ))),
    }
}

impl<'a> Loop<'a> {
    /// Starts the multi-result op `op` on `args` (its operand values),
    /// after checking the operand types against its bodies' signatures and
    /// its recorded type `ty` (the type of result 0).
    pub(crate) fn start(
        op: &'a Op,
        ty: &TensorType,
        args: Vec<Val<'a>>,
    ) -> Result<(Loop<'a>, Next<'a>)> {
        let tys: Vec<TensorType> = args.iter().map(|v| v.get().ty()).collect();
        let refs: Vec<&TensorType> = tys.iter().collect();
        let results = infer_types(op, &refs)?;
        if results.first() != Some(ty) {
            return Err(Error::eval(format!(
                "{}: its operands give first result {}, but the node's type is {ty}",
                op.name(),
                results
                    .first()
                    .map_or_else(|| "(none)".to_string(), |t| t.to_string())
            )));
        }
        match op {
            Op::Scan {
                body,
                carry,
                xs,
                length,
                reverse,
            } => {
                let (k, m) = (*carry, *xs);
                let mut rest = args;
                let mut xs_vals = rest.split_off(k);
                let invariants = xs_vals.split_off(m);
                let ys = results[k..]
                    .iter()
                    .map(|t| Stacked::new(t.clone(), "scan"))
                    .collect::<Result<Vec<_>>>()?;
                let mut s = Scan {
                    body,
                    carry: k,
                    length: *length,
                    reverse: *reverse,
                    xs: xs_vals,
                    invariants,
                    carries: rest,
                    ys,
                    done: 0,
                };
                let next = s.next()?;
                Ok((Loop::Scan(s), next))
            }
            Op::Revolve { .. } => {
                let (r, next) = Revolve::start(op, &results, args)?;
                Ok((Loop::Revolve(Box::new(r)), next))
            }
            Op::While {
                cond,
                body,
                carry,
                max_trips,
            } => {
                let mut carries = args;
                let invariants = carries.split_off(*carry);
                let mut w = While {
                    cond,
                    body,
                    max_trips: *max_trips,
                    invariants,
                    carries,
                    trips: 0,
                    phase: Phase::Predicate,
                };
                let next = w.next()?;
                Ok((Loop::While(w), next))
            }
            Op::Cond { then, els } => {
                let mut inputs = args;
                let branch_args = inputs.split_off(1);
                let pred = predicate(&inputs, "cond", "pred", then)?;
                let (f, attr): (&'a Graph, _) = if pred { (then, "then") } else { (els, "else") };
                let role = Role {
                    op: "cond",
                    attr,
                    trip: None,
                };
                Ok((
                    Loop::Cond,
                    Next::Run {
                        f,
                        role,
                        inputs: branch_args,
                    },
                ))
            }
            op => Err(Error::eval(format!(
                "{}: not a loop or conditional (internal)",
                op.name()
            ))),
        }
    }

    /// Hands the outputs of the body that just ran to the loop.
    pub(crate) fn resume(&mut self, outs: Vec<Val<'a>>) -> Result<Next<'a>> {
        match self {
            Loop::Scan(s) => s.resume(outs),
            Loop::Revolve(r) => r.resume(outs),
            Loop::While(w) => w.resume(outs),
            Loop::Cond => Ok(Next::Done(outs)),
        }
    }
}
