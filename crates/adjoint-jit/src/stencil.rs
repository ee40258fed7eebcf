//! Reuse of shifted subexpressions across the steps of a vector loop.
//!
//! A consumer of a recomputed `pad` (`planner::Val::PadExpr`) evaluates a
//! region's value at its own index minus the pad's low edge: the Rosenbrock
//! gradient computes `t(i) = 200 (x[i+1] - x[i]²)` for its first term and
//! `t(i-1)` for its second. When the loop evaluates the unshifted
//! expression anyway, the shifted one holds the same values one to four
//! lanes later: a vector step assembles it from its own vectors and the
//! previous step's with lane shuffles instead of recomputing it. The
//! arithmetic of every element is unchanged, so results stay bit for bit
//! equal to the interpreter's.
//!
//! [`analyse`] finds, for one vector loop, which expressions are shifted
//! copies of earlier ones and which expressions still need computing;
//! [`window`] builds a shifted vector from the lanes of two steps.

use crate::kernel_ir::{AccessId, BufId, ExprId, KExpr, Kernel};
use adjoint_ir::{BinaryOp, CompareOp, DType, UnaryOp};
use cranelift_codegen::ir::types::I8X16;
use cranelift_codegen::ir::{ConstantData, Endianness, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::FunctionBuilder;
use std::collections::HashMap;

/// The largest shift reused: at most the elements of one vector step (four
/// or eight), so only the previous step's vectors are needed.
pub(crate) const STEP: usize = 4;

/// Expression `src` evaluated `shift` elements earlier along the inner loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Share {
    pub src: usize,
    pub shift: usize,
}

/// The reuse plan of one vector loop.
#[derive(Clone, Debug)]
pub(crate) struct Reuse {
    /// Per expression: a shifted copy of an earlier expression.
    pub shares: Vec<Option<Share>>,
    /// Per expression: whether the loop body evaluates it.
    pub needed: Vec<bool>,
    /// The expressions whose previous-step vectors are carried.
    pub carried: Vec<Carry>,
}

/// An expression whose vectors of the previous step are kept for the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Carry {
    /// The carried expression.
    pub src: usize,
    /// Its sharer of the largest shift: evaluated at the first `shift`
    /// indices of the loop, it gives the lanes the first step reads.
    pub seed: usize,
    /// That largest shift.
    pub shift: usize,
}

/// What makes two expressions compute the same function of the inner
/// index up to a shift: the operation, the operands' classes, and the
/// operands' positions relative to each other.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// Never equal to anything else.
    Unique(usize),
    /// A constant (bits and dtype).
    Const(u64, DType),
    /// A load that does not move along the inner loop.
    Invariant(BufId, DType, i64, Vec<i64>),
    /// A load walking the inner loop with stride 1 (buffer, dtype, outer
    /// strides); its position is its offset.
    Stream(BufId, DType, Vec<i64>),
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize, Option<i64>),
    Compare(CompareOp, usize, usize, Option<i64>),
    Select(usize, usize, usize, Option<i64>, Option<i64>),
}

impl Key {
    fn computes(&self) -> bool {
        matches!(
            self,
            Key::Unary(..) | Key::Binary(..) | Key::Compare(..) | Key::Select(..)
        )
    }
}

/// The reuse plan of the vector loop of `k` over a range where access `a`
/// is valid iff `seg[a]` (all of them without `seg`), or `None` when no
/// expression is worth sharing.
pub(crate) fn analyse(k: &Kernel, seg: Option<&[bool]>) -> Option<Reuse> {
    if k.inner.len() != 1 {
        return None;
    }
    let n = k.exprs.len();
    let mut keys: HashMap<Key, usize> = HashMap::new();
    let mut class: Vec<(usize, Option<i64>)> = Vec::with_capacity(n);
    let mut computes: Vec<bool> = Vec::with_capacity(n);
    let valid = |a: AccessId| {
        let acc = &k.accesses[a];
        if acc.outer_valid.iter().any(Option::is_some) {
            return None;
        }
        match seg {
            Some(s) => Some(s[a]),
            None => (!acc.inner_restricted()).then_some(true),
        }
    };
    for (i, e) in k.exprs.iter().enumerate() {
        let rel = |x: Option<i64>, y: Option<i64>| x.zip(y).map(|(a, b)| b - a);
        let zero = (Key::Const(0f64.to_bits(), k.tys[i]), None);
        let (key, pos) = match e {
            KExpr::Load(a) => {
                let acc = &k.accesses[*a];
                match valid(*a) {
                    Some(false) => zero,
                    Some(true) if acc.inner[0] == 0 => (
                        Key::Invariant(acc.buf, acc.dtype, acc.offset, acc.outer.clone()),
                        None,
                    ),
                    Some(true) if acc.inner[0] == 1 => (
                        Key::Stream(acc.buf, acc.dtype, acc.outer.clone()),
                        Some(acc.offset),
                    ),
                    _ => (Key::Unique(i), None),
                }
            }
            KExpr::Const(c) => (Key::Const(c.to_bits(), k.tys[i]), None),
            KExpr::Unary(u, x) => (Key::Unary(*u, class[*x].0), class[*x].1),
            KExpr::Binary(op, x, y) => {
                let (cx, px) = class[*x];
                let (cy, py) = class[*y];
                (Key::Binary(*op, cx, cy, rel(px, py)), px.or(py))
            }
            KExpr::Compare(op, x, y) => {
                let (cx, px) = class[*x];
                let (cy, py) = class[*y];
                (Key::Compare(*op, cx, cy, rel(px, py)), px.or(py))
            }
            KExpr::Select(c, x, y) => {
                let (cc, pc) = class[*c];
                let (cx, px) = class[*x];
                let (cy, py) = class[*y];
                let p = pc.or(px).or(py);
                (Key::Select(cc, cx, cy, rel(p, px), rel(p, py)), p)
            }
            KExpr::Cast(..) => (Key::Unique(i), None),
            KExpr::Masked(x, a) => match valid(*a) {
                Some(true) => {
                    class.push(class[*x]);
                    computes.push(computes[*x]);
                    continue;
                }
                Some(false) => zero,
                None => (Key::Unique(i), None),
            },
        };
        computes.push(key.computes());
        let next = keys.len();
        let id = *keys.entry(key).or_insert(next);
        class.push((id, pos));
    }
    // Shifted copies of earlier expressions (the smallest shift wins).
    let mut seen: HashMap<(usize, i64), usize> = HashMap::new();
    let mut shares: Vec<Option<Share>> = vec![None; n];
    for j in 0..n {
        let (c, Some(p)) = class[j] else { continue };
        if computes[j] && k.tys[j] != DType::Bool {
            shares[j] = (1..=STEP).find_map(|s| {
                seen.get(&(c, p + s as i64))
                    .map(|&src| Share { src, shift: s })
            });
        }
        if shares[j].is_none() {
            seen.entry((c, p)).or_insert(j);
        }
    }
    if shares.iter().all(Option::is_none) {
        return None;
    }
    // What the body evaluates: the stored and reduced values and their
    // operands, where a shared expression needs its source instead.
    let mut needed = vec![false; n];
    let mut stack: Vec<ExprId> = k.stores.iter().map(|&(v, _)| v).collect();
    stack.extend(k.reductions.iter().map(|r| r.value));
    while let Some(e) = stack.pop() {
        if std::mem::replace(&mut needed[e], true) {
            continue;
        }
        if let Some(s) = shares[e] {
            stack.push(ExprId::new(s.src));
            continue;
        }
        match &k.exprs[e] {
            KExpr::Load(_) | KExpr::Const(_) => {}
            KExpr::Unary(_, x) | KExpr::Cast(_, x) => stack.push(*x),
            KExpr::Binary(_, x, y) | KExpr::Compare(_, x, y) => stack.extend([*x, *y]),
            KExpr::Select(c, x, y) => stack.extend([*c, *x, *y]),
            KExpr::Masked(x, a) => {
                if valid(*a) != Some(false) {
                    stack.push(*x);
                }
            }
        }
    }
    let mut carried: Vec<Carry> = Vec::new();
    for (j, s) in shares.iter().enumerate() {
        let Some(s) = *s else { continue };
        if !needed[j] {
            continue;
        }
        let c = Carry {
            src: s.src,
            seed: j,
            shift: s.shift,
        };
        match carried.iter_mut().find(|c| c.src == s.src) {
            Some(best) if best.shift < s.shift => *best = c,
            Some(_) => {}
            None => carried.push(c),
        }
    }
    if carried.is_empty() {
        return None;
    }
    Some(Reuse {
        shares,
        needed,
        carried,
    })
}

/// The expressions `root` depends on, itself included.
pub(crate) fn cone(k: &Kernel, root: usize) -> Vec<bool> {
    let mut want = vec![false; k.exprs.len()];
    let mut stack = vec![ExprId::new(root)];
    while let Some(e) = stack.pop() {
        if std::mem::replace(&mut want[e], true) {
            continue;
        }
        match &k.exprs[e] {
            KExpr::Load(_) | KExpr::Const(_) => {}
            KExpr::Unary(_, x) | KExpr::Cast(_, x) | KExpr::Masked(x, _) => stack.push(*x),
            KExpr::Binary(_, x, y) | KExpr::Compare(_, x, y) => stack.extend([*x, *y]),
            KExpr::Select(c, x, y) => stack.extend([*c, *x, *y]),
        }
    }
    want
}

/// The vectors of an expression `shift` elements (`1..=STEP`) behind
/// `cur`, given the same expression's vectors of the previous step `prev`
/// (as many vectors, each `lanes` wide).
pub(crate) fn window(
    b: &mut FunctionBuilder,
    prev: &[Value],
    cur: &[Value],
    shift: usize,
    lanes: usize,
) -> Vec<Value> {
    let stream: Vec<Value> = prev.iter().chain(cur).copied().collect();
    let lane_bytes = 16 / lanes;
    (0..cur.len())
        .map(|v| {
            let start = (cur.len() + v) * lanes - shift;
            let (q, r) = (start / lanes, start % lanes);
            if r == 0 {
                return stream[q];
            }
            let ty = b.func.dfg.value_type(stream[q]);
            let le = MemFlagsData::new().with_endianness(Endianness::Little);
            let lo = b.ins().bitcast(I8X16, le, stream[q]);
            let hi = b.ins().bitcast(I8X16, le, stream[q + 1]);
            // Bytes r*w .. r*w + 16 of the 32-byte concatenation `lo ++ hi`.
            let mask: Vec<u8> = (0..16).map(|i| (r * lane_bytes + i) as u8).collect();
            let imm = b.func.dfg.immediates.push(ConstantData::from(mask));
            let s = b.ins().shuffle(lo, hi, imm);
            b.ins().bitcast(ty, le, s)
        })
        .collect()
}
