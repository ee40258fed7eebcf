//! Planning of `revolve` (run by the host driver,
//! `crate::control_flow::revolve`): its operands passed by pointer as for
//! the other loops (`control.rs`), and the buffers the driver works in,
//! all in the caller's arena under the memory budget: two buffers per
//! carry, two work buffers per state, one buffer of `min(S, N) − 1`
//! snapshot slots, the stacked outputs and the bodies' arenas.

use super::{jit_err, Builder};
use crate::control_flow::revolve::RevolveDesc;
use crate::control_flow::{Carry, ControlKind, ControlStep, RevolveBufs, Stacked};
use crate::kernel_ir::BufKind;
use adjoint_ir::{DType, NodeId, Op, Result};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Snapshot slots hold each state at a multiple of this many bytes (the
/// arena's alignment).
const SLOT_ALIGN: usize = 64;

impl Builder<'_> {
    /// Plans a `revolve` node and its projections.
    pub(super) fn revolve_node(&mut self, id: NodeId, pos: usize) -> Result<()> {
        let g = self.g;
        let Op::Revolve {
            body,
            step,
            state,
            carry,
            xs,
            length,
            snapshots,
            masked,
        } = g[id].op.clone()
        else {
            return Err(jit_err(g, id, "internal: not a revolve"));
        };
        let ops = g.operands(id);
        let results = g.result_types(id)?;
        let mut deps = BTreeSet::new();
        let p0 = usize::from(masked);
        let (k, c, m) = (state, carry, xs);
        let mask = if masked {
            Some(self.ports(&ops[..1], false, pos, &mut deps)?[0].port)
        } else {
            None
        };
        let states: Vec<_> = self
            .ports(&ops[p0..p0 + k], false, pos, &mut deps)?
            .into_iter()
            .map(|s| s.port)
            .collect();
        let too_large = |what: String| jit_err(g, id, format!("{what} is too large"));
        // The carries: the init goes into the result buffer; the driver
        // copies the final value there when it ends in the other one.
        let mut carries = Vec::new();
        let mut inits = Vec::new();
        for (j, &init) in ops[p0 + k..p0 + k + c].iter().enumerate() {
            let ty = results[j].clone();
            let result = self.arena_buf(id, &ty);
            let other = self.arena_buf(id, &ty);
            let bytes = ty
                .numel()
                .checked_mul(ty.dtype.size_bytes())
                .ok_or_else(|| too_large(format!("carry {j} ({ty})")))?;
            carries.push(Carry {
                start: result,
                other,
                result,
                bytes,
            });
            inits.push((init, result));
            deps.extend(self.deps_of(init));
        }
        let xs_ports = self.ports(&ops[p0 + k + c..p0 + k + c + m], true, pos, &mut deps)?;
        let args: Vec<_> = self
            .ports(&ops[p0 + k + c + m..], false, pos, &mut deps)?
            .into_iter()
            .map(|s| s.port)
            .collect();
        let mut x_strides = Vec::new();
        for (j, s) in xs_ports.iter().enumerate() {
            let bytes = s
                .stride
                .checked_mul(s.port.dtype.size_bytes() as i64)
                .and_then(|b| isize::try_from(b).ok())
                .ok_or_else(|| too_large(format!("the slice stride of scanned input {j}")))?;
            x_strides.push(bytes);
        }
        let mut result_bufs: Vec<_> = carries.iter().map(|c| c.result).collect();
        let mut ys = Vec::new();
        let mut y_rows = Vec::new();
        for ty in &results[c..] {
            let slice = ty.shape.dims()[1..].iter().product::<usize>();
            let row = slice
                .checked_mul(ty.dtype.size_bytes())
                .filter(|r| r.checked_mul(length).is_some())
                .ok_or_else(|| too_large(format!("stacked output {ty}")))?;
            let buf = self.arena_buf(id, ty);
            result_bufs.push(buf);
            ys.push(Stacked {
                port: crate::control_flow::Port {
                    buf,
                    offset: 0,
                    dtype: ty.dtype,
                },
                stride: slice as i64,
            });
            y_rows.push(row);
        }
        // The states: two work buffers each, and their place in a slot.
        let mut work = Vec::new();
        let mut state_bytes = Vec::new();
        let mut slot_offsets = Vec::new();
        let mut slot_bytes = 0usize;
        for (s, &o) in ops[p0..p0 + k].iter().enumerate() {
            let ty = g[o].ty.clone();
            let bytes = ty
                .numel()
                .checked_mul(ty.dtype.size_bytes())
                .ok_or_else(|| too_large(format!("state {s} ({ty})")))?;
            work.push((self.arena_buf(id, &ty), self.arena_buf(id, &ty)));
            slot_offsets.push(slot_bytes);
            slot_bytes = bytes
                .checked_next_multiple_of(SLOT_ALIGN)
                .and_then(|b| b.checked_add(slot_bytes))
                .ok_or_else(|| too_large(format!("state {s} ({ty})")))?;
            state_bytes.push(bytes);
        }
        let slots = snapshots.min(length).saturating_sub(1);
        let snaps = if slots > 0 && slot_bytes > 0 {
            let total = slots.checked_mul(slot_bytes).ok_or_else(|| {
                too_large(format!(
                    "the snapshot buffer ({slots} snapshots of {slot_bytes} bytes)"
                ))
            })?;
            Some(self.new_buf(id, BufKind::Arena { offset: 0 }, DType::Bool, total))
        } else {
            None
        };
        let step_fn = self.control.bodies.get(&step)?;
        let body_fn = self.control.bodies.get(&body)?;
        let step_callee = self.callee(id, &step)?;
        let body_callee = self.callee(id, &body)?;
        let label = format!("revolve {}", g.display_name(id));
        let desc = RevolveDesc {
            length,
            snapshots,
            masked,
            state_bytes,
            slot_offsets,
            slot_bytes,
            carry_bytes: carries.iter().map(|c| c.bytes).collect(),
            x_strides,
            y_rows,
            invariants: args.len(),
            step: step_fn.entry,
            body: body_fn.entry,
            step_counter: step_callee.counter,
            body_counter: body_callee.counter,
        };
        let bufs = RevolveBufs {
            mask,
            states,
            xs: xs_ports,
            ys,
            work,
            snaps,
            step: step_callee,
            body: body_callee,
        };
        let step = ControlStep {
            label,
            kind: ControlKind::Revolve {
                desc: Arc::new(desc),
                bufs,
            },
            carries,
            args,
        };
        self.finish_control(id, pos, deps, inits, step, &result_bufs)
    }
}
