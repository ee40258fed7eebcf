//! Planning of `scan`, `while`, `cond`, their projections, and `iota`
//! (see `crate::control_flow` for the design).
//!
//! A loop node is one unit of the schedule. Its operands are passed to the
//! bodies by pointer, so each must be contiguous in memory (a scanned input
//! contiguous per slice, at any stride between slices): views that are get
//! their buffer passed in place, others (splats of several elements,
//! strided views) are copied once before the loop. Each carry gets two
//! arena buffers that swap every trip; the init is copied into the one
//! where the final value must end. Each stacked output is one buffer of
//! `N` slices; a projection of the loop is its result buffer, so a loop
//! result that is a graph output is written straight into the caller's
//! output.

use super::{contiguous, jit_err, row_major, Builder, KernelBuilder, Unit, Val};
use crate::compiled::CompiledFn;
use crate::control_flow::{Bodies, Callee, Carry, ControlKind, ControlStep, Port, Stacked};
use crate::kernel_ir::{BufId, BufKind, ConstData, Step};
use adjoint_ir::{BodyRef, DType, NodeId, Op, Result, TensorType};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The control-flow state of a plan under construction.
pub(crate) struct State<'b> {
    pub bodies: &'b mut Bodies,
    /// Loop steps planned, with the init copies they need first
    /// (`(init node, destination buffer)`), by node.
    pending: HashMap<NodeId, (Vec<(NodeId, BufId)>, ControlStep)>,
    /// The bodies the plan's steps call (kept alive by the plan).
    pub fns: Vec<Arc<CompiledFn>>,
}

impl<'b> State<'b> {
    /// A fresh state compiling bodies into `bodies`.
    pub fn new(bodies: &'b mut Bodies) -> Self {
        State {
            bodies,
            pending: HashMap::new(),
            fns: Vec::new(),
        }
    }
}

impl Builder<'_> {
    /// `iota shape=S axis=k`: a row `0, 1, …` of `S[k]` elements read
    /// through a broadcast view (stride 1 along `k`, 0 elsewhere).
    pub(super) fn iota_node(&mut self, id: NodeId, axis: usize) {
        let ty = &self.g[id].ty;
        let dims = ty.shape.dims().to_vec();
        let row = crate::control_flow::iota_row(ty.dtype, dims[axis]);
        self.consts.push(ConstData::from_tensor_data(&row));
        let b = self.new_buf(
            id,
            BufKind::Const(self.consts.len() - 1),
            ty.dtype,
            dims[axis],
        );
        let mut strides = vec![0i64; dims.len()];
        strides[axis] = 1;
        self.vals.insert(
            id,
            Val::View(super::View {
                buf: b,
                offset: 0,
                strides,
            }),
        );
    }

    /// A value passed to a body by pointer: its buffer when the view is
    /// contiguous (per slice along the leading axis with `stacked`), else a
    /// copy made once. Returns the port, the slice stride and the units
    /// the value needs.
    fn port(
        &mut self,
        o: NodeId,
        stacked: bool,
        pos: usize,
    ) -> Result<(Port, i64, BTreeSet<Unit>)> {
        let g = self.g;
        let ty = g[o].ty.clone();
        let dims = ty.shape.dims().to_vec();
        let v = self.view_of(o)?;
        let skip = usize::from(stacked);
        let rm = row_major(&dims[skip.min(dims.len())..]);
        let ok = dims[skip.min(dims.len())..]
            .iter()
            .zip(v.strides[skip.min(dims.len())..].iter().zip(&rm))
            .all(|(&d, (s, r))| d <= 1 || s == r);
        let slice = |dims: &[usize]| dims[skip.min(dims.len())..].iter().product::<usize>() as i64;
        if ok {
            let stride = if stacked && !v.strides.is_empty() {
                v.strides[0]
            } else {
                slice(&dims)
            };
            let port = Port {
                buf: v.buf,
                offset: v.offset,
                dtype: ty.dtype,
            };
            return Ok((port, stride, self.deps_of(o)));
        }
        let unit = Unit::Copy(o);
        let buf = match self.copies.get(&o) {
            Some((_, b)) => *b,
            None => {
                let b = self.new_buf(o, BufKind::Arena { offset: 0 }, ty.dtype, ty.numel());
                self.copies.insert(o, (v, b));
                let d = self.deps_of(o);
                self.add_unit_deps(&unit, d, pos);
                b
            }
        };
        let port = Port {
            buf,
            offset: 0,
            dtype: ty.dtype,
        };
        Ok((port, slice(&dims), BTreeSet::from([unit])))
    }

    /// [`Self::port`] of each of `range`, adding the units they need to
    /// `deps`.
    pub(super) fn ports(
        &mut self,
        range: &[NodeId],
        stacked: bool,
        pos: usize,
        deps: &mut BTreeSet<Unit>,
    ) -> Result<Vec<Stacked>> {
        let mut out = Vec::new();
        for &o in range {
            let (port, stride, d) = self.port(o, stacked, pos)?;
            deps.extend(d);
            out.push(Stacked { port, stride });
        }
        Ok(out)
    }

    /// The compiled function of a body, compiled on first use.
    pub(super) fn callee(&mut self, id: NodeId, body: &BodyRef) -> Result<Callee> {
        let f = self.control.bodies.get(body)?;
        let arena = if f.heap_arena {
            Some(self.new_buf(id, BufKind::Arena { offset: 0 }, DType::Bool, f.arena_bytes))
        } else {
            None
        };
        let c = Callee {
            entry: f.entry as usize,
            name: body.name().to_string(),
            arena,
            counter: self.control.bodies.counter(body.name()),
        };
        if !self.control.fns.iter().any(|x| Arc::ptr_eq(x, &f)) {
            self.control.fns.push(f);
        }
        Ok(c)
    }

    /// A constant holding `n` as an `i64` (a trip count the code loads).
    fn count_const(&mut self, id: NodeId, n: usize) -> BufId {
        self.consts.push(ConstData {
            words: vec![u128::from(n as u64)],
        });
        self.new_buf(id, BufKind::Const(self.consts.len() - 1), DType::F64, 1)
    }

    pub(super) fn arena_buf(&mut self, id: NodeId, ty: &TensorType) -> BufId {
        self.new_buf(id, BufKind::Arena { offset: 0 }, ty.dtype, ty.numel())
    }

    /// Records a planned loop step of node `id`, run after copying each
    /// `(init, buffer)` of `inits`, and binds the node's projections to
    /// `result_bufs` (result `r` to buffer `r`).
    pub(super) fn finish_control(
        &mut self,
        id: NodeId,
        pos: usize,
        deps: BTreeSet<Unit>,
        inits: Vec<(NodeId, BufId)>,
        step: ControlStep,
        result_bufs: &[BufId],
    ) -> Result<()> {
        let g = self.g;
        let results = g.result_types(id)?;
        let unit = Unit::Node(id);
        self.add_unit_deps(&unit, deps, pos);
        self.control.pending.insert(id, (inits, step));
        for (r, p) in g.projections(id).into_iter().enumerate() {
            let Some(p) = p else { continue };
            let buf = result_bufs[r];
            self.vals
                .insert(p, Val::View(contiguous(buf, results[r].shape.dims())));
            self.stored.insert(p, buf);
            self.deps.insert(p, BTreeSet::from([unit.clone()]));
        }
        Ok(())
    }

    /// Plans a `scan`, `while` or `cond` node and its projections.
    pub(super) fn control_node(&mut self, id: NodeId, pos: usize) -> Result<()> {
        let g = self.g;
        let ops = g.operands(id);
        let results = g.result_types(id)?;
        let mut deps = BTreeSet::new();
        let n_carry = match &g[id].op {
            Op::Scan { carry, .. } | Op::While { carry, .. } => *carry,
            _ => 0,
        };
        // The carries: two buffers each; the init goes where the final value
        // must end (a scan's trip count is known: after an odd count the
        // value is in the other buffer).
        let odd = matches!(&g[id].op, Op::Scan { length, .. } if length % 2 == 1);
        let mut carries = Vec::new();
        let mut inits = Vec::new();
        for (c, &init) in ops[..n_carry].iter().enumerate() {
            let ty = results[c].clone();
            let result = self.arena_buf(id, &ty);
            let other = self.arena_buf(id, &ty);
            let start = if odd { other } else { result };
            let bytes = ty
                .numel()
                .checked_mul(ty.dtype.size_bytes())
                .ok_or_else(|| jit_err(g, id, format!("carry {c} ({ty}) is too large")))?;
            carries.push(Carry {
                start,
                other: if odd { result } else { other },
                result,
                bytes,
            });
            inits.push((init, start));
            deps.extend(self.deps_of(init));
        }
        let mut result_bufs: Vec<BufId> = carries.iter().map(|c| c.result).collect();
        let label = format!("{} {}", g[id].op.name(), g.display_name(id));
        let (kind, args) = match &g[id].op {
            Op::Scan {
                body,
                xs,
                length,
                reverse,
                ..
            } => {
                let xs_ports = self.ports(&ops[n_carry..n_carry + xs], true, pos, &mut deps)?;
                let args = self.ports(&ops[n_carry + xs..], false, pos, &mut deps)?;
                let mut ys = Vec::new();
                for ty in &results[n_carry..] {
                    let slice = ty.shape.dims()[1..].iter().product::<usize>();
                    slice.checked_mul(*length).ok_or_else(|| {
                        jit_err(g, id, format!("stacked output {ty} is too large"))
                    })?;
                    let buf = self.arena_buf(id, ty);
                    result_bufs.push(buf);
                    ys.push(Stacked {
                        port: Port {
                            buf,
                            offset: 0,
                            dtype: ty.dtype,
                        },
                        stride: slice as i64,
                    });
                }
                let body = self.callee(id, body)?;
                let kind = ControlKind::Scan {
                    length: *length,
                    count: self.count_const(id, *length),
                    reverse: *reverse,
                    body,
                    xs: xs_ports,
                    ys,
                };
                (kind, args)
            }
            Op::While {
                cond,
                body,
                max_trips,
                ..
            } => {
                let args = self.ports(&ops[n_carry..], false, pos, &mut deps)?;
                let cond = self.callee(id, cond)?;
                let body = self.callee(id, body)?;
                let kind = ControlKind::While {
                    max_trips: *max_trips,
                    count: self.count_const(id, max_trips.unwrap_or(0)),
                    cond,
                    body,
                };
                (kind, args)
            }
            Op::Cond { then, els } => {
                let pred = self.ports(&ops[..1], false, pos, &mut deps)?[0].port;
                let args = self.ports(&ops[1..], false, pos, &mut deps)?;
                let results: Vec<BufId> = results.iter().map(|ty| self.arena_buf(id, ty)).collect();
                result_bufs = results.clone();
                let then = self.callee(id, then)?;
                let els = self.callee(id, els)?;
                let kind = ControlKind::Cond {
                    pred,
                    then,
                    els,
                    results,
                };
                (kind, args)
            }
            _ => return Err(jit_err(g, id, "internal: not a control-flow op")),
        };
        let step = ControlStep {
            label,
            kind,
            carries,
            args: args.into_iter().map(|s| s.port).collect(),
        };
        self.finish_control(id, pos, deps, inits, step, &result_bufs)
    }

    /// Whether `id` is a planned control-flow node.
    pub(super) fn is_control(&self, id: NodeId) -> bool {
        self.control.pending.contains_key(&id)
    }

    /// The steps of a planned control-flow node: the copies of the carry
    /// inits, then the loop.
    pub(super) fn control_steps(&mut self, id: NodeId, steps: &mut Vec<Step>) -> Result<()> {
        let g = self.g;
        let (inits, step) = self
            .control
            .pending
            .remove(&id)
            .ok_or_else(|| jit_err(g, id, "internal: control step planned twice"))?;
        for (init, dst) in inits {
            let ty = g[init].ty.clone();
            let mut k = KernelBuilder::new(ty.shape.dims().to_vec(), None);
            let val = self.vals[&init].clone();
            let e = k
                .leaf(&val, ty.dtype)
                .ok_or_else(|| jit_err(g, id, "internal: carry init not in memory"))?;
            k.store(e, &contiguous(dst, ty.shape.dims()), ty.dtype);
            steps.push(Step::Kernel(k.finish(format!(
                "init {} of {}",
                g.display_name(init),
                step.label
            ))));
        }
        steps.push(Step::Control(Box::new(step)));
        Ok(())
    }
}
