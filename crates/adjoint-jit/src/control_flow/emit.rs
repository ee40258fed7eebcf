//! Cranelift code of a [`ControlStep`]: the loop (or branch) around calls
//! of the compiled bodies.

use super::{Callee, Carry, ControlKind, ControlStep, Port, Ptr, Stacked};
use crate::kernel_ir::BufId;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I64, I8};
use cranelift_codegen::ir::{
    AbiParam, FuncRef, InstBuilder, MemFlagsData, SigRef, Signature, StackSlotData, StackSlotKind,
    Value,
};
use cranelift_frontend::{FunctionBuilder, Variable};
use std::sync::Arc;

fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// A pointer table of `n` entries on the stack; returns its address.
fn table(b: &mut FunctionBuilder, n: usize) -> Value {
    let bytes = (8 * n.max(1)) as u32;
    let slot = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 3));
    b.ins().stack_addr(I64, slot, 0)
}

/// Stores `p` into entry `i` of the table at `t`.
fn put(b: &mut FunctionBuilder, t: Value, i: usize, p: Value) {
    b.ins().store(flags(), p, t, (8 * i) as i32);
}

/// The address of a port's first element.
fn port_addr(
    b: &mut FunctionBuilder,
    base: &mut dyn FnMut(&mut FunctionBuilder, BufId) -> Value,
    p: &Port,
) -> Value {
    let v = base(b, p.buf);
    b.ins()
        .iadd_imm_s(v, p.offset * p.dtype.size_bytes() as i64)
}

/// The entry signature `main(ins, outs, arena)`.
fn entry_sig(b: &mut FunctionBuilder) -> SigRef {
    let mut sig = Signature::new(b.func.signature.call_conv);
    for _ in 0..3 {
        sig.params.push(AbiParam::new(I64));
    }
    b.import_signature(sig)
}

/// Everything a call of a callee needs: its signature, address and arena,
/// and where to count it.
struct Call {
    sig: SigRef,
    entry: Value,
    arena: Value,
    /// The address of its evaluation counter.
    counter: Option<Value>,
}

impl Call {
    fn new(
        b: &mut FunctionBuilder,
        base: &mut dyn FnMut(&mut FunctionBuilder, BufId) -> Value,
        c: &Callee,
        counters: Option<Value>,
    ) -> Call {
        let sig = entry_sig(b);
        let entry = b.ins().iconst(I64, c.entry as i64);
        let arena = match c.arena {
            Some(buf) => base(b, buf),
            None => b.ins().iconst(I64, 0),
        };
        let counter = match (c.counter, counters) {
            (Some(i), Some(t)) => Some(b.ins().iadd_imm_s(t, 8 * i as i64)),
            _ => None,
        };
        Call {
            sig,
            entry,
            arena,
            counter,
        }
    }

    /// Calls the callee, then counts the call.
    fn emit(&self, b: &mut FunctionBuilder, ins: Value, outs: Value) {
        b.ins()
            .call_indirect(self.sig, self.entry, &[ins, outs, self.arena]);
        if let Some(p) = self.counter {
            let n = b.ins().load(I64, flags(), p, 0);
            let n = b.ins().iadd_imm_s(n, 1);
            b.ins().store(flags(), n, p, 0);
        }
    }
}

/// The carries' two buffers as variables `(current, next)`.
fn carry_vars(
    b: &mut FunctionBuilder,
    base: &mut dyn FnMut(&mut FunctionBuilder, BufId) -> Value,
    carries: &[Carry],
) -> Vec<(Variable, Variable)> {
    carries
        .iter()
        .map(|c| {
            let (cur, nxt) = (b.declare_var(I64), b.declare_var(I64));
            let s = base(b, c.start);
            let o = base(b, c.other);
            b.def_var(cur, s);
            b.def_var(nxt, o);
            (cur, nxt)
        })
        .collect()
}

/// Swaps every carry's current and next buffer.
fn swap(b: &mut FunctionBuilder, vars: &[(Variable, Variable)]) {
    for &(cur, nxt) in vars {
        let (c, n) = (b.use_var(cur), b.use_var(nxt));
        b.def_var(cur, n);
        b.def_var(nxt, c);
    }
}

/// Copies `bytes` bytes from `src` to `dst` (eight at a time, then the
/// rest one by one).
fn copy_bytes(b: &mut FunctionBuilder, dst: Value, src: Value, bytes: usize) {
    let words = bytes / 8;
    if words > 0 {
        let i = b.declare_var(I64);
        let zero = b.ins().iconst(I64, 0);
        b.def_var(i, zero);
        let (head, body, exit) = (b.create_block(), b.create_block(), b.create_block());
        b.ins().jump(head, &[]);
        b.switch_to_block(head);
        let iv = b.use_var(i);
        let more = b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, iv, (words * 8) as i64);
        b.ins().brif(more, body, &[], exit, &[]);
        b.switch_to_block(body);
        let iv = b.use_var(i);
        let s = b.ins().iadd(src, iv);
        let d = b.ins().iadd(dst, iv);
        let x = b.ins().load(I64, flags(), s, 0);
        b.ins().store(flags(), x, d, 0);
        let next = b.ins().iadd_imm_s(iv, 8);
        b.def_var(i, next);
        b.ins().jump(head, &[]);
        b.switch_to_block(exit);
    }
    for k in words * 8..bytes {
        let x = b.ins().load(I8, flags(), src, k as i32);
        b.ins().store(flags(), x, dst, k as i32);
    }
}

/// Loads a trip count (an `i64` constant).
fn load_count(
    b: &mut FunctionBuilder,
    base: &mut dyn FnMut(&mut FunctionBuilder, BufId) -> Value,
    count: BufId,
) -> Value {
    let p = base(b, count);
    b.ins().load(I64, flags().with_readonly(), p, 0)
}

/// The host functions control steps call, declared in the function being
/// emitted.
pub(crate) struct Hosts {
    /// [`crate::libcall::HostFn::BodyCounters`].
    pub counters: FuncRef,
    /// [`crate::libcall::HostFn::Revolve`].
    pub revolve: FuncRef,
}

/// Emits the step into the function `b`; `base` gives the address of a
/// buffer of the plan.
pub(crate) fn emit(
    b: &mut FunctionBuilder,
    step: &ControlStep,
    base: &mut dyn FnMut(&mut FunctionBuilder, BufId) -> Value,
    hosts: &Hosts,
) {
    // The running call's counter table, fetched once per step when its
    // loop counts the calls of its bodies (the driver of `revolve`
    // counts its own).
    let counted = match &step.kind {
        ControlKind::Scan { body, .. } => body.counter.is_some(),
        ControlKind::While { cond, body, .. } => cond.counter.is_some() || body.counter.is_some(),
        ControlKind::Cond { then, els, .. } => then.counter.is_some() || els.counter.is_some(),
        ControlKind::Revolve { .. } => false,
    };
    let counters = counted.then(|| {
        let call = b.ins().call(hosts.counters, &[]);
        b.inst_results(call)[0]
    });
    match &step.kind {
        ControlKind::Scan {
            length,
            count,
            reverse,
            body,
            xs,
            ys,
        } => {
            if *length > 0 {
                let n = load_count(b, base, *count);
                emit_scan(b, step, base, counters, n, *reverse, body, xs, ys)
            }
        }
        ControlKind::While {
            max_trips,
            count,
            cond,
            body,
        } => {
            // With `max_trips=0` the results are the inits (copied into
            // their result buffers).
            if *max_trips != Some(0) {
                let n = max_trips.map(|_| load_count(b, base, *count));
                emit_while(b, step, base, counters, n, cond, body)
            }
        }
        ControlKind::Cond {
            pred,
            then,
            els,
            results,
        } => {
            let ins = table(b, step.args.len());
            for (j, a) in step.args.iter().enumerate() {
                let p = port_addr(b, base, a);
                put(b, ins, j, p);
            }
            let outs = table(b, results.len());
            for (j, &r) in results.iter().enumerate() {
                let p = base(b, r);
                put(b, outs, j, p);
            }
            let pa = port_addr(b, base, pred);
            let pv = b.ins().load(I8, flags(), pa, 0);
            let (bt, be, done) = (b.create_block(), b.create_block(), b.create_block());
            b.ins().brif(pv, bt, &[], be, &[]);
            b.switch_to_block(bt);
            let ct = Call::new(b, base, then, counters);
            ct.emit(b, ins, outs);
            b.ins().jump(done, &[]);
            b.switch_to_block(be);
            let ce = Call::new(b, base, els, counters);
            ce.emit(b, ins, outs);
            b.ins().jump(done, &[]);
            b.switch_to_block(done);
        }
        ControlKind::Revolve { desc, bufs } => {
            let entries = bufs.table(&step.carries, &step.args);
            let t = table(b, entries.len());
            for (j, e) in entries.iter().enumerate() {
                let p = match e {
                    Ptr::Port(p) => port_addr(b, base, p),
                    Ptr::Buf(buf) => base(b, *buf),
                    Ptr::Null => b.ins().iconst(I64, 0),
                };
                put(b, t, j, p);
            }
            let d = b.ins().iconst(I64, Arc::as_ptr(desc) as usize as i64);
            b.ins().call(hosts.revolve, &[d, t]);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn emit_scan(
    b: &mut FunctionBuilder,
    step: &ControlStep,
    base: &mut dyn FnMut(&mut FunctionBuilder, BufId) -> Value,
    counters: Option<Value>,
    length: Value,
    reverse: bool,
    body: &Callee,
    xs: &[Stacked],
    ys: &[Stacked],
) {
    let (k, m) = (step.carries.len(), xs.len());
    let ins = table(b, k + m + step.args.len());
    let outs = table(b, k + ys.len());
    for (j, a) in step.args.iter().enumerate() {
        let p = port_addr(b, base, a);
        put(b, ins, k + m + j, p);
    }
    let vars = carry_vars(b, base, &step.carries);
    let xb: Vec<Value> = xs.iter().map(|s| port_addr(b, base, &s.port)).collect();
    let yb: Vec<Value> = ys.iter().map(|s| port_addr(b, base, &s.port)).collect();
    let call = Call::new(b, base, body, counters);
    let i = b.declare_var(I64);
    let zero = b.ins().iconst(I64, 0);
    b.def_var(i, zero);
    let (head, lbody, exit) = (b.create_block(), b.create_block(), b.create_block());
    b.ins().jump(head, &[]);
    b.switch_to_block(head);
    let iv = b.use_var(i);
    let more = b.ins().icmp(IntCC::UnsignedLessThan, iv, length);
    b.ins().brif(more, lbody, &[], exit, &[]);
    b.switch_to_block(lbody);
    let iv = b.use_var(i);
    let t = if reverse {
        let last = b.ins().iadd_imm_s(length, -1);
        b.ins().isub(last, iv)
    } else {
        iv
    };
    for (c, &(cur, nxt)) in vars.iter().enumerate() {
        let (pc, pn) = (b.use_var(cur), b.use_var(nxt));
        put(b, ins, c, pc);
        put(b, outs, c, pn);
    }
    for (j, (s, &xbase)) in xs.iter().zip(&xb).enumerate() {
        let off = b
            .ins()
            .imul_imm_s(t, s.stride * s.port.dtype.size_bytes() as i64);
        let p = b.ins().iadd(xbase, off);
        put(b, ins, k + j, p);
    }
    for (j, (s, &ybase)) in ys.iter().zip(&yb).enumerate() {
        let off = b
            .ins()
            .imul_imm_s(t, s.stride * s.port.dtype.size_bytes() as i64);
        let p = b.ins().iadd(ybase, off);
        put(b, outs, k + j, p);
    }
    call.emit(b, ins, outs);
    swap(b, &vars);
    let iv = b.use_var(i);
    let next = b.ins().iadd_imm_s(iv, 1);
    b.def_var(i, next);
    b.ins().jump(head, &[]);
    b.switch_to_block(exit);
}

#[allow(clippy::too_many_arguments)]
fn emit_while(
    b: &mut FunctionBuilder,
    step: &ControlStep,
    base: &mut dyn FnMut(&mut FunctionBuilder, BufId) -> Value,
    counters: Option<Value>,
    max_trips: Option<Value>,
    cond: &Callee,
    body: &Callee,
) {
    let k = step.carries.len();
    let ins = table(b, k + step.args.len());
    let outs = table(b, k);
    let flag = table(b, 1);
    let flag_outs = table(b, 1);
    put(b, flag_outs, 0, flag);
    for (j, a) in step.args.iter().enumerate() {
        let p = port_addr(b, base, a);
        put(b, ins, k + j, p);
    }
    let vars = carry_vars(b, base, &step.carries);
    let ccall = Call::new(b, base, cond, counters);
    let bcall = Call::new(b, base, body, counters);
    let trips = b.declare_var(I64);
    let zero = b.ins().iconst(I64, 0);
    b.def_var(trips, zero);
    let (head, test, lbody, exit) = (
        b.create_block(),
        b.create_block(),
        b.create_block(),
        b.create_block(),
    );
    b.ins().jump(head, &[]);
    b.switch_to_block(head);
    match max_trips {
        Some(n) => {
            let tv = b.use_var(trips);
            let more = b.ins().icmp(IntCC::UnsignedLessThan, tv, n);
            b.ins().brif(more, test, &[], exit, &[]);
        }
        None => {
            b.ins().jump(test, &[]);
        }
    }
    b.switch_to_block(test);
    for (c, &(cur, _)) in vars.iter().enumerate() {
        let pc = b.use_var(cur);
        put(b, ins, c, pc);
    }
    ccall.emit(b, ins, flag_outs);
    let go = b.ins().load(I8, flags(), flag, 0);
    b.ins().brif(go, lbody, &[], exit, &[]);
    b.switch_to_block(lbody);
    for (c, &(_, nxt)) in vars.iter().enumerate() {
        let pn = b.use_var(nxt);
        put(b, outs, c, pn);
    }
    bcall.emit(b, ins, outs);
    swap(b, &vars);
    let tv = b.use_var(trips);
    let next = b.ins().iadd_imm_s(tv, 1);
    b.def_var(trips, next);
    b.ins().jump(head, &[]);
    b.switch_to_block(exit);
    // After an odd number of trips the carries are in their other buffers:
    // one copy each into the result buffer (never a copy per trip).
    for (c, &(cur, _)) in step.carries.iter().zip(&vars) {
        let pc = b.use_var(cur);
        let pr = base(b, c.result);
        let moved = b.ins().icmp(IntCC::NotEqual, pc, pr);
        let (copy, done) = (b.create_block(), b.create_block());
        b.ins().brif(moved, copy, &[], done, &[]);
        b.switch_to_block(copy);
        copy_bytes(b, pr, pc, c.bytes);
        b.ins().jump(done, &[]);
        b.switch_to_block(done);
    }
}
