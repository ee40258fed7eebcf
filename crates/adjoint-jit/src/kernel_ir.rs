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
use std::fmt;

/// Declares an index newtype: `new`/`index` conversions, `Display` as
/// `prefix` and the number (the printer's syntax), and indexing of vectors
/// and slices by it.
macro_rules! index_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) struct $name(usize);

        impl $name {
            /// The id of position `i`.
            pub fn new(i: usize) -> $name {
                $name(i)
            }

            /// The position.
            pub fn index(self) -> usize {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl<T> std::ops::Index<$name> for [T] {
            type Output = T;
            fn index(&self, i: $name) -> &T {
                &self[i.index()]
            }
        }

        impl<T> std::ops::IndexMut<$name> for [T] {
            fn index_mut(&mut self, i: $name) -> &mut T {
                &mut self[i.index()]
            }
        }

        impl<T> std::ops::Index<$name> for Vec<T> {
            type Output = T;
            fn index(&self, i: $name) -> &T {
                &self[i.index()]
            }
        }

        impl<T> std::ops::IndexMut<$name> for Vec<T> {
            fn index_mut(&mut self, i: $name) -> &mut T {
                &mut self[i.index()]
            }
        }
    };
}

index_id!(
    /// A buffer: its position in [`Plan::bufs`]. Prints as `b3`.
    BufId,
    "b"
);
index_id!(
    /// A memory access of a kernel: its position in [`Kernel::accesses`].
    /// Prints as `a1`.
    AccessId,
    "a"
);
index_id!(
    /// An expression of a kernel: its position in [`Kernel::exprs`] (and
    /// [`Kernel::tys`]). Prints as `e7`.
    ExprId,
    "e"
);
index_id!(
    /// A GEMM descriptor: its position in [`Plan::matmuls`]. Prints as
    /// `mm0`.
    MatMulId,
    "mm"
);

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
    Load(AccessId),
    /// A constant of the expression's dtype.
    Const(f64),
    /// `op(x)`
    Unary(UnaryOp, ExprId),
    /// `op(a, b)`
    Binary(BinaryOp, ExprId, ExprId),
    /// `op(a, b)`, producing bool.
    Compare(CompareOp, ExprId, ExprId),
    /// `c ? a : b`
    Select(ExprId, ExprId, ExprId),
    /// Conversion of `x` (of dtype `from`) to the expression's dtype.
    Cast(DType, ExprId),
    /// `x` where the access (never read) is valid, zero elsewhere.
    Masked(ExprId, AccessId),
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
    pub value: ExprId,
    pub kind: ReduceKind,
    pub dest: AccessId,
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
    pub stores: Vec<(ExprId, AccessId)>,
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
        desc: MatMulId,
        a: BufId,
        b: BufId,
        c: BufId,
    },
    /// A `scan`, `while` or `cond`: a native loop (or branch) calling
    /// separately compiled bodies (`crate::control_flow`).
    Control(Box<crate::control_flow::ControlStep>),
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
    /// The compiled bodies the control steps call.
    pub bodies: Vec<std::sync::Arc<crate::compiled::CompiledFn>>,
}

impl fmt::Display for BufKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BufKind::Input(i) => write!(f, "in{i}"),
            BufKind::Output(i) => write!(f, "out{i}"),
            BufKind::Const(i) => write!(f, "const{i}"),
            BufKind::Arena { offset } => write!(f, "arena+{offset}"),
        }
    }
}

impl fmt::Display for KExpr {
    /// The printer's syntax: `load a0`, `const 2`, `mul e0, e1`,
    /// `lt e0, e1`, `select e0, e1, e2`, `cast f32 e0` (from `f32`),
    /// `masked e3 a2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KExpr::Load(a) => write!(f, "load {a}"),
            KExpr::Const(c) => write!(f, "const {c:?}"),
            KExpr::Unary(u, x) => write!(f, "{} {x}", u.name()),
            KExpr::Binary(op, x, y) => write!(f, "{} {x}, {y}", op.name()),
            KExpr::Compare(op, x, y) => write!(f, "{} {x}, {y}", op.name()),
            KExpr::Select(c, x, y) => write!(f, "select {c}, {x}, {y}"),
            KExpr::Cast(from, x) => write!(f, "cast {from} {x}"),
            KExpr::Masked(x, a) => write!(f, "masked {x} {a}"),
        }
    }
}

impl fmt::Display for ReduceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReduceKind::Sum => "reduce_sum",
            ReduceKind::Max => "reduce_max",
        })
    }
}

/// The validity ranges of an access's dims (`[lo+len]`, `*` for a whole
/// dim), or nothing when every dim is whole.
fn valid_text(v: &[Option<(i64, i64)>]) -> String {
    if v.iter().all(Option::is_none) {
        return String::new();
    }
    let parts: Vec<String> = v
        .iter()
        .map(|r| r.map_or_else(|| "*".to_string(), |(lo, n)| format!("{lo}+{n}")))
        .collect();
    format!(" valid [{}]", parts.join(", "))
}

/// A readable listing of a plan: the arena size, the buffers, and every
/// step with its loops, accesses, expressions, stores and reductions (ids
/// as `b3`, `a1`, `e7`, `mm0`). The plan comes taken apart (buffers, steps,
/// GEMM descriptors, arena size): [`crate::CompiledFn`] keeps these after
/// lowering and prints them on the first call of its `plan()`. For
/// example, `(x * x).exp().sum()` over `f64[8]`:
///
/// ```text
/// arena: 0 bytes
/// buffers:
///     b0 = in0 f64 x8 (%0)
///     b1 = out0 f64 x1 (%3)
/// step 0: kernel [region 0: %1 %2 %3] outer [] inner [8], 3 exprs, 0 stores, 1 reductions
///     a0 = b0 f64 offset 0 outer [] inner [1]
///     a1 = b1 f64 offset 0 outer [] inner [0]
///     e0: f64 = load a0
///     e1: f64 = mul e0, e0
///     e2: f64 = exp e1
///     reduce_sum e2 -> a1
/// ```
pub(crate) fn print_plan(
    bufs: &[Buf],
    steps: &[Step],
    matmuls: &[MatMulDesc],
    arena_bytes: usize,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "arena: {arena_bytes} bytes");
    let _ = writeln!(s, "buffers:");
    for (i, b) in bufs.iter().enumerate() {
        let _ = writeln!(
            s,
            "    {} = {} {} x{} ({})",
            BufId::new(i),
            b.kind,
            b.dtype,
            b.numel,
            b.owner
        );
    }
    for (i, st) in steps.iter().enumerate() {
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
                for (j, a) in k.accesses.iter().enumerate() {
                    let _ = writeln!(
                        s,
                        "    {} = {} {} offset {} outer {:?} inner {:?}{}{}",
                        AccessId::new(j),
                        a.buf,
                        a.dtype,
                        a.offset,
                        a.outer,
                        a.inner,
                        valid_text(&a.outer_valid),
                        valid_text(&a.inner_valid)
                    );
                }
                for (j, (e, t)) in k.exprs.iter().zip(&k.tys).enumerate() {
                    let _ = writeln!(s, "    {}: {t} = {e}", ExprId::new(j));
                }
                for (e, a) in &k.stores {
                    let _ = writeln!(s, "    store {e} -> {a}");
                }
                for r in &k.reductions {
                    let scratch = r
                        .scratch
                        .map_or_else(String::new, |b| format!(" (block scratch {b})"));
                    let _ = writeln!(s, "    {} {} -> {}{scratch}", r.kind, r.value, r.dest);
                }
            }
            Step::Control(c) => {
                let _ = writeln!(s, "step {i}: {}", c.describe());
            }
            Step::MatMul { desc, a, b, c } => {
                let d = &matmuls[*desc];
                let _ = writeln!(
                    s,
                    "step {i}: matmul {desc} {} {}x{}x{} ({} batches) {a} @ {b} -> {c}",
                    d.dtype,
                    d.m,
                    d.k,
                    d.n,
                    d.batches.len(),
                );
            }
        }
    }
    s
}
