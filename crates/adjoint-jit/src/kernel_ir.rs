//! The kernel IR: what the planner produces and the code generator
//! lowers. A [`Plan`] is buffers ([`Buf`], by [`BufId`]) and ordered
//! [`Step`]s: loop [`Kernel`]s (accesses by [`AccessId`], expressions by
//! [`ExprId`]) and GEMM calls. `Step` is an enum so that new kinds of step
//! (a native loop whose body is a sub-plan, compiled once) have a place.
//!
//! Every id displays in the printer's syntax (`b3`, `a1`, `e7`), and
//! [`print_plan`] gives the readable listing of a plan
//! ([`crate::CompiledFn::plan`]).

use crate::runtime::MatMulDesc;
use adjoint_ir::{BinaryOp, CompareOp, DType, NodeId, TensorData, UnaryOp};

/// Index of a buffer in [`Plan::bufs`].
pub(crate) type BufId = usize;

/// Where a buffer lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BufKind {
    /// The caller's `i`-th input.
    Input(usize),
    /// The caller's `i`-th output.
    Output(usize),
    /// The `i`-th constant owned by the compiled function.
    Const(usize),
    /// Bytes of the per-call arena, at `offset` (set by the allocator).
    Arena { offset: usize },
}

/// A buffer: its place, dtype and size in elements.
#[derive(Clone, Debug)]
pub(crate) struct Buf {
    pub kind: BufKind,
    pub dtype: DType,
    pub numel: usize,
    /// The node whose value (or scratch) the buffer holds, for messages.
    pub owner: NodeId,
}

/// A memory access of a kernel: a buffer, an element offset and strides over
/// the kernel's outer and inner loop dimensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Access {
    pub buf: BufId,
    pub dtype: DType,
    pub offset: i64,
    pub outer: Vec<i64>,
    pub inner: Vec<i64>,
    /// Per outer dim, the index range `[lo, lo + len)` where the access is
    /// valid (a padded operand); `None` is the whole dim. Outside the range
    /// the value is zero and memory is not read.
    pub outer_valid: Vec<Option<(i64, i64)>>,
    /// The same for the inner dims.
    pub inner_valid: Vec<Option<(i64, i64)>>,
}

impl Access {
    /// Whether some inner dim has a validity range.
    pub fn inner_restricted(&self) -> bool {
        self.inner_valid.iter().any(Option::is_some)
    }
}

/// One value computed per loop iteration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum KExpr {
    /// A load through an access.
    Load(usize),
    /// A constant of the expression's dtype.
    Const(f64),
    /// `op(x)`
    Unary(UnaryOp, usize),
    /// `op(a, b)`
    Binary(BinaryOp, usize, usize),
    /// `op(a, b)`, producing bool.
    Compare(CompareOp, usize, usize),
    /// `c ? a : b`
    Select(usize, usize, usize),
    /// Conversion of `x` (of dtype `from`) to the expression's dtype.
    Cast(DType, usize),
    /// `x` where the access (never read) is valid, zero elsewhere.
    Masked(usize, usize),
}

/// Sum or max.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReduceKind {
    /// `reduce_sum`: per block of `adjoint_ir::REDUCE_SUM_BLOCK` elements,
    /// four partial sums combined `(p0+p1)+(p2+p3)`; blocks left to right.
    Sum,
    /// `reduce_max`: from `-inf`, NaN-propagating.
    Max,
}

/// A reduction of a kernel: the value reduced over the inner loop, and the
/// access (inner strides zero) where each result is stored.
#[derive(Clone, Debug)]
pub(crate) struct KReduce {
    pub value: usize,
    pub kind: ReduceKind,
    pub dest: usize,
    /// For a kernel without outer loops reducing more than one block
    /// (`adjoint_ir::REDUCE_SUM_BLOCK`): one slot per block, where threads
    /// that each reduce some of the blocks leave the block results for the
    /// caller to fold in order.
    pub scratch: Option<BufId>,
}

/// A loop nest: `outer` loops (outermost first) around one inner loop over
/// `inner` dims (one affine dim, or several walked by a flat counter).
#[derive(Clone, Debug)]
pub(crate) struct Kernel {
    /// A name for dumps (`region 3`, `pad %x`, ...).
    pub label: String,
    pub outer: Vec<usize>,
    pub inner: Vec<usize>,
    pub accesses: Vec<Access>,
    pub exprs: Vec<KExpr>,
    pub tys: Vec<DType>,
    /// `(value, access)`: stored every iteration.
    pub stores: Vec<(usize, usize)>,
    pub reductions: Vec<KReduce>,
}

impl Kernel {
    /// Total iterations of the inner loop per outer iteration.
    pub fn inner_len(&self) -> usize {
        self.inner.iter().product()
    }

    /// Total elements visited.
    pub fn numel(&self) -> usize {
        self.outer.iter().product::<usize>() * self.inner_len()
    }
}

/// One step of the plan.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// A loop nest.
    Kernel(Kernel),
    /// A GEMM call: descriptor index and the buffers of `a`, `b`, `c`.
    MatMul {
        desc: usize,
        a: BufId,
        b: BufId,
        c: BufId,
    },
}

impl Plan {
    /// Whether the plan is straight-line scalar code: every step a kernel of
    /// one element (no loops, no matmul).
    pub(crate) fn is_scalar(&self) -> bool {
        self.steps
            .iter()
            .all(|s| matches!(s, Step::Kernel(k) if k.numel() <= 1))
    }
}

/// A constant's bytes, 16-byte aligned (kept in `u128` words).
#[derive(Clone, Debug)]
pub(crate) struct ConstData {
    pub words: Vec<u128>,
}

impl ConstData {
    pub fn from_tensor_data(d: &TensorData) -> ConstData {
        let bytes: Vec<u8> = match d {
            TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Bool(v) => v.iter().map(|&b| b as u8).collect(),
        };
        let mut words = vec![0u128; bytes.len().div_ceil(16).max(1)];
        for (i, chunk) in bytes.chunks(16).enumerate() {
            let mut w = [0u8; 16];
            w[..chunk.len()].copy_from_slice(chunk);
            words[i] = u128::from_le_bytes(w);
        }
        ConstData { words }
    }

    /// The address of the first byte.
    pub fn ptr(&self) -> *const u8 {
        self.words.as_ptr().cast()
    }
}

/// The whole plan of one function.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub bufs: Vec<Buf>,
    pub consts: Vec<ConstData>,
    pub matmuls: Vec<MatMulDesc>,
    pub steps: Vec<Step>,
    pub arena_bytes: usize,
}

/// A readable listing of the plan, one step a line.
pub(crate) fn describe(p: &Plan) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let buf = |b: BufId| match &p.bufs[b].kind {
        BufKind::Input(i) => format!("in{i}"),
        BufKind::Output(i) => format!("out{i}"),
        BufKind::Const(i) => format!("const{i}"),
        BufKind::Arena { offset } => format!("arena+{offset}"),
    };
    let _ = writeln!(s, "arena: {} bytes", p.arena_bytes);
    for (i, st) in p.steps.iter().enumerate() {
        match st {
            Step::Kernel(k) => {
                let _ = writeln!(
                    s,
                    "step {i}: kernel [{}] outer {:?} inner {:?}, {} exprs, {} stores, {} reductions",
                    k.label,
                    k.outer,
                    k.inner,
                    k.exprs.len(),
                    k.stores.len(),
                    k.reductions.len()
                );
                for a in &k.accesses {
                    let _ = writeln!(
                        s,
                        "    {} {} offset {} outer {:?} inner {:?}",
                        buf(a.buf),
                        a.dtype,
                        a.offset,
                        a.outer,
                        a.inner
                    );
                }
            }
            Step::MatMul { desc, a, b, c } => {
                let d = &p.matmuls[*desc];
                let _ = writeln!(
                    s,
                    "step {i}: matmul {} {}x{}x{} ({} batches) {} @ {} -> {}",
                    d.dtype,
                    d.m,
                    d.k,
                    d.n,
                    d.batches.len(),
                    buf(*a),
                    buf(*b),
                    buf(*c)
                );
            }
        }
    }
    s
}
