//! Loop emission: counted loops (`begin_loop`/`end_loop`), the row
//! pointers of a kernel's accesses at the outer indices, and element
//! addresses (with bounds tests for padded operands) along the inner loop.

use super::context::Ctx;
use crate::kernel_ir::{Access, BufId, Kernel};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::{FunctionBuilder, Variable};
use std::collections::HashMap;

/// Row pointers of a kernel's accesses at the current outer indices, and
/// for padded accesses whether the row lies inside the operand.
pub(super) struct Rows {
    pub(super) ptrs: Vec<Value>,
    pub(super) flags: Vec<Option<Value>>,
}

/// The row pointers at outer indices `ivs` (padded accesses use the clamped
/// index and get a flag telling whether the row is inside the operand).
pub(super) fn rows_at(
    b: &mut FunctionBuilder,
    k: &Kernel,
    bases: &HashMap<BufId, Value>,
    ivs: &[Value],
) -> Rows {
    let mut rows = Rows {
        ptrs: Vec::with_capacity(k.accesses.len()),
        flags: Vec::with_capacity(k.accesses.len()),
    };
    for a in &k.accesses {
        let es = a.dtype.size_bytes() as i64;
        let mut p = b.ins().iadd_imm_s(bases[&a.buf], a.offset * es);
        let mut flag: Option<Value> = None;
        for ((iv, &st), valid) in ivs.iter().zip(&a.outer).zip(&a.outer_valid) {
            let mut idx = *iv;
            if let Some((lo, n)) = *valid {
                let (c, f) = clamp_index(b, idx, lo, n);
                idx = c;
                flag = Some(match flag {
                    Some(g) => b.ins().band(g, f),
                    None => f,
                });
            }
            if st != 0 {
                let t = b.ins().imul_imm_s(idx, st * es);
                p = b.ins().iadd(p, t);
            }
        }
        rows.ptrs.push(p);
        rows.flags.push(flag);
    }
    rows
}

/// Clamps `idx` into `[lo, lo + n - 1]` (`n >= 1`) and tells whether it was
/// inside.
pub(super) fn clamp_index(b: &mut FunctionBuilder, idx: Value, lo: i64, n: i64) -> (Value, Value) {
    let lo_v = b.ins().iconst(I64, lo);
    let hi_v = b.ins().iconst(I64, lo + n - 1);
    let c = b.ins().smax(idx, lo_v);
    let c = b.ins().smin(c, hi_v);
    let inside = b.ins().icmp(IntCC::Equal, c, idx);
    (c, inside)
}

pub(super) struct Loop {
    pub(super) var: Variable,
    pub(super) header: cranelift_codegen::ir::Block,
    pub(super) exit: cranelift_codegen::ir::Block,
    pub(super) step: i64,
}

/// Starts `for iv = start; iv + step <= end; iv += step` and returns the
/// loop and `iv` inside the body.
pub(super) fn begin_loop(
    b: &mut FunctionBuilder,
    start: Value,
    end: Value,
    step: i64,
) -> (Loop, Value) {
    let var = b.declare_var(I64);
    b.def_var(var, start);
    let last = b.ins().iadd_imm_s(end, -step);
    let header = b.create_block();
    let body = b.create_block();
    let exit = b.create_block();
    b.ins().jump(header, &[]);
    b.switch_to_block(header);
    let iv = b.use_var(var);
    let c = b.ins().icmp(IntCC::SignedLessThanOrEqual, iv, last);
    b.ins().brif(c, body, &[], exit, &[]);
    b.switch_to_block(body);
    let iv = b.use_var(var);
    (
        Loop {
            var,
            header,
            exit,
            step,
        },
        iv,
    )
}

pub(super) fn end_loop(b: &mut FunctionBuilder, l: Loop) {
    let iv = b.use_var(l.var);
    let n = b.ins().iadd_imm_s(iv, l.step);
    b.def_var(l.var, n);
    b.ins().jump(l.header, &[]);
    b.switch_to_block(l.exit);
}

impl Ctx<'_> {
    /// Address of element `kidx` of the inner loop for access `a`. With
    /// `check`, indices of padded dims are clamped into the operand and the
    /// second result tells whether the element is inside it.
    pub(super) fn elem_addr(
        &self,
        b: &mut FunctionBuilder,
        k: &Kernel,
        row: Value,
        a: &Access,
        kidx: Value,
        check: bool,
    ) -> (Value, Option<Value>) {
        let es = a.dtype.size_bytes() as i64;
        let mut flag: Option<Value> = None;
        let mut and = |b: &mut FunctionBuilder, f: Value| {
            flag = Some(match flag {
                Some(g) => b.ins().band(g, f),
                None => f,
            });
        };
        if k.inner.len() == 1 {
            let st = a.inner[0];
            let mut idx = kidx;
            if let (true, Some((lo, n))) = (check, a.inner_valid[0]) {
                let (c, f) = clamp_index(b, idx, lo, n);
                idx = c;
                and(b, f);
            }
            if st == 0 {
                return (row, flag);
            }
            let off = b.ins().imul_imm_s(idx, st * es);
            return (b.ins().iadd(row, off), flag);
        }
        // Several inner dims walked by a flat counter.
        let mut p = row;
        let mut inner_prod = 1i64;
        for d in (0..k.inner.len()).rev() {
            let dim = k.inner[d] as i64;
            let st = a.inner[d];
            let valid = if check { a.inner_valid[d] } else { None };
            if (st != 0 && dim > 1) || valid.is_some() {
                let q = if inner_prod == 1 {
                    kidx
                } else {
                    b.ins().udiv_imm_s(kidx, inner_prod)
                };
                let mut idx = if d == 0 {
                    q
                } else {
                    b.ins().urem_imm_s(q, dim)
                };
                if let Some((lo, n)) = valid {
                    let (c, f) = clamp_index(b, idx, lo, n);
                    idx = c;
                    and(b, f);
                }
                if st != 0 {
                    let off = b.ins().imul_imm_s(idx, st * es);
                    p = b.ins().iadd(p, off);
                }
            }
            inner_prod *= dim;
        }
        (p, flag)
    }
}
