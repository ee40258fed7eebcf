//! The execution plan: which values live in memory and where, and the
//! ordered steps (loop kernels and GEMM calls) that compute them.
//!
//! Every node of the (inlined, region-annotated) graph gets a [`Val`]:
//! - values computed inside a fusion region's loop stay in registers unless
//!   they leave the region (graph outputs, users outside the region), in
//!   which case the region stores them;
//! - shape ops (`broadcast`, `transpose`, `slice`, `reshape`) are [`View`]s:
//!   an affine map from the value's index to an element of a stored buffer,
//!   so consumers do index arithmetic instead of copying;
//! - splat constants are immediates in the code;
//! - a `pad` of zeros and a one-part `concat` are their operand's value;
//! - a `pad` read only by loops, pads and concats is a zero-padded view
//!   (chains of pads compose into one);
//! - other `pad`, `concat` and `matmul` results, and reshapes of
//!   non-contiguous views, are materialised into their own buffers.
//!
//! Intermediate buffers share one arena, assigned by liveness over the step
//! order (`arena.rs`): a buffer's bytes are reused once its last reader has
//! run.
//!
//! Every walk here is iterative or bounded (a recomputed value has at most
//! `MAX_RECOMPUTE_NODES` nodes; a fusion region at most 256), and every
//! table is a hash map or B-tree, so planning is `O(n log n)` in the nodes.

use crate::arena::ArenaError;
use crate::runtime::{BatchOffsets, MatMulDesc};
use adjoint_ir::{
    BinaryOp, CompareOp, DType, Error, Graph, NodeId, Op, Result, Shape, TensorData, UnaryOp,
    REDUCE_SUM_BLOCK,
};
use adjoint_passes::fuse::{is_reduction, is_view_op};
use std::collections::{BTreeSet, HashMap};

// Loops and conditionals (`scan`, `while`, `cond`, projections, `iota`).
mod control;

/// Products with at least this many multiply-adds are split across
/// threads. An `800×800` matrix-vector product (640k) is: it streams 5 MB
/// of matrix, and two cores stream it in about half the time.
pub(crate) const PARALLEL_GEMM_MACS: usize = 1 << 18;

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

/// An affine view of a buffer: element `idx` of the value is element
/// `offset + sum(strides[d] * idx[d])` of the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub buf: BufId,
    pub offset: i64,
    pub strides: Vec<i64>,
}

/// How a node's value is available to its consumers.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    /// In memory, through an affine view.
    View(View),
    /// Every element equals this value (of the node's dtype; bools are 0/1).
    Splat(f64),
    /// Computed inside a region's loop (read directly by members of that
    /// region only).
    InRegion,
    /// A zero-padded view: element `idx` is the view's element where every
    /// `valid[d].0 <= idx[d] < valid[d].0 + valid[d].1`, and zero elsewhere.
    /// Consumers in loops read it with a bounds test (`pad` as index
    /// arithmetic).
    Padded {
        view: View,
        valid: Vec<(usize, usize)>,
    },
    /// A zero-padded value of a fusion region that is never stored:
    /// consumers recompute `node` (and its in-region operands) at their
    /// index minus `lo`, inside `valid`, and use zero outside.
    PadExpr {
        node: NodeId,
        lo: Vec<usize>,
        valid: Vec<(usize, usize)>,
    },
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
    fn from_tensor_data(d: &TensorData) -> ConstData {
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

/// Row-major strides of `dims`, as `i64`.
pub(crate) fn row_major(dims: &[usize]) -> Vec<i64> {
    Shape::new(dims.to_vec())
        .strides()
        .into_iter()
        .map(|s| s as i64)
        .collect()
}

fn contiguous(buf: BufId, dims: &[usize]) -> View {
    View {
        buf,
        offset: 0,
        strides: row_major(dims),
    }
}

fn is_contiguous(v: &View, dims: &[usize]) -> bool {
    let rm = row_major(dims);
    v.offset == 0
        && dims
            .iter()
            .zip(v.strides.iter().zip(&rm))
            .all(|(&d, (s, r))| d <= 1 || s == r)
}

/// A unit of scheduling: a region's loop, or one materialising node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Unit {
    Region(u32),
    Node(NodeId),
    /// A contiguous copy of a node's value (for a reshape of a strided view).
    Copy(NodeId),
}

struct Builder<'g> {
    g: &'g Graph,
    /// Loops and conditionals (`plan/control.rs`).
    control: control::State<'g>,
    bufs: Vec<Buf>,
    consts: Vec<ConstData>,
    matmuls: Vec<MatMulDesc>,
    vals: HashMap<NodeId, Val>,
    /// The units a node's value needs to have run.
    deps: HashMap<NodeId, BTreeSet<Unit>>,
    /// The stored buffer of a node computed by a unit (region members that
    /// leave their region, and materialised nodes).
    stored: HashMap<NodeId, BufId>,
    unit_deps: HashMap<Unit, BTreeSet<Unit>>,
    unit_first: HashMap<Unit, usize>,
    region_members: HashMap<u32, Vec<NodeId>>,
    copies: HashMap<NodeId, (View, BufId)>,
    threads: usize,
    /// Pads whose operand is recomputed by their consumers.
    recompute: BTreeSet<NodeId>,
}

fn jit_err(g: &Graph, id: NodeId, msg: impl std::fmt::Display) -> Error {
    Error::jit(format!("@{}: {}: {msg}", g.name(), op_desc(g, id)))
}

/// A node for messages: `%y = broadcast (f64[8])`.
pub(crate) fn op_desc(g: &Graph, id: NodeId) -> String {
    format!(
        "{} = {} ({})",
        g.display_name(id),
        g[id].op.name(),
        g[id].ty
    )
}

/// The op of the plan's largest arena buffer (for messages), or `none`.
pub(crate) fn largest_arena_op(g: &Graph, p: &Plan) -> String {
    p.bufs
        .iter()
        .filter(|b| matches!(b.kind, BufKind::Arena { .. }))
        .max_by_key(|b| crate::arena::buf_bytes(b))
        .map_or_else(|| "none".to_string(), |b| op_desc(g, b.owner))
}

/// Whether `user` reads `operand` inside `operand`'s region loop.
fn reads_in_region(g: &Graph, operand: NodeId, user: NodeId) -> bool {
    let (ro, ru) = (g[operand].region, g[user].region);
    ro.is_some()
        && ro == ru
        && is_region_member(&g[operand].op)
        && is_region_member(&g[user].op)
        && !is_reduction(&g[operand].op)
}

/// Ops computed in region loops.
fn is_region_member(op: &Op) -> bool {
    op.is_elementwise() || is_reduction(op)
}

impl<'g> Builder<'g> {
    fn new_buf(&mut self, owner: NodeId, kind: BufKind, dtype: DType, numel: usize) -> BufId {
        self.bufs.push(Buf {
            kind,
            dtype,
            numel,
            owner,
        });
        self.bufs.len() - 1
    }

    fn deps_of(&self, id: NodeId) -> BTreeSet<Unit> {
        self.deps.get(&id).cloned().unwrap_or_default()
    }

    fn add_unit_deps(&mut self, u: &Unit, deps: BTreeSet<Unit>, pos: usize) {
        let e = self.unit_deps.entry(u.clone()).or_default();
        for d in deps {
            if &d != u {
                e.insert(d);
            }
        }
        self.unit_first.entry(u.clone()).or_insert(pos);
    }

    /// The view of a node's value in memory, materialising splats into
    /// constants when a buffer is required.
    fn view_of(&mut self, id: NodeId) -> Result<View> {
        match self.vals.get(&id).cloned() {
            Some(Val::View(v)) => Ok(v),
            Some(Val::Splat(x)) => {
                // One element, read through zero strides: a splat costs no
                // memory whatever its shape.
                let ty = self.g[id].ty.clone();
                let one = adjoint_ir::TensorType::new(ty.dtype, Shape::new(vec![]));
                let t = adjoint_ir::Tensor::full(&one, x);
                self.consts.push(ConstData::from_tensor_data(t.data()));
                let b = self.new_buf(id, BufKind::Const(self.consts.len() - 1), ty.dtype, 1);
                Ok(View {
                    buf: b,
                    offset: 0,
                    strides: vec![0; ty.shape.rank()],
                })
            }
            Some(Val::InRegion) | Some(Val::Padded { .. }) | Some(Val::PadExpr { .. }) | None => {
                Err(jit_err(
                    self.g,
                    id,
                    "internal: value read from memory but not stored",
                ))
            }
        }
    }

    fn run(&mut self, order: &[NodeId]) -> Result<()> {
        let g = self.g;
        let outputs: BTreeSet<NodeId> = g.outputs().iter().copied().collect();
        for (pos, &id) in order.iter().enumerate() {
            let node = &g[id];
            let operands = g.operands(id);
            let dims = node.ty.shape.dims().to_vec();
            match &node.op {
                Op::Param { index } => {
                    let b =
                        self.new_buf(id, BufKind::Input(*index), node.ty.dtype, node.ty.numel());
                    self.vals.insert(id, Val::View(contiguous(b, &dims)));
                }
                Op::Const(t) => {
                    let splat = if t.is_empty() {
                        Some(0.0)
                    } else {
                        t.splat_value()
                    };
                    match splat {
                        Some(v) => {
                            self.vals.insert(id, Val::Splat(v));
                        }
                        None => {
                            self.consts.push(ConstData::from_tensor_data(t.data()));
                            let b = self.new_buf(
                                id,
                                BufKind::Const(self.consts.len() - 1),
                                node.ty.dtype,
                                node.ty.numel(),
                            );
                            self.vals.insert(id, Val::View(contiguous(b, &dims)));
                        }
                    }
                }
                op if is_region_member(op) => {
                    let r = node.region.ok_or_else(|| {
                        jit_err(g, id, "internal: compute node without a fusion region")
                    })?;
                    let unit = Unit::Region(r);
                    self.region_members.entry(r).or_default().push(id);
                    let mut d = BTreeSet::new();
                    for &o in &operands {
                        if !reads_in_region(g, o, id) {
                            d.extend(self.deps_of(o));
                        }
                    }
                    self.add_unit_deps(&unit, d, pos);
                    let leaves = is_reduction(op)
                        || outputs.contains(&id)
                        || g.users(id)
                            .iter()
                            .any(|&u| !reads_in_region(g, id, u) && !self.recompute.contains(&u));
                    if leaves {
                        let b = self.new_buf(
                            id,
                            BufKind::Arena { offset: 0 },
                            node.ty.dtype,
                            node.ty.numel(),
                        );
                        self.stored.insert(id, b);
                        self.vals.insert(id, Val::View(contiguous(b, &dims)));
                    } else {
                        self.vals.insert(id, Val::InRegion);
                    }
                    self.deps.insert(id, BTreeSet::from([unit]));
                }
                op if is_view_op(op) => {
                    let o = operands[0];
                    let mut deps = self.deps_of(o);
                    let val = match self.vals.get(&o).cloned() {
                        Some(Val::Splat(x)) => Val::Splat(x),
                        Some(Val::View(v)) => {
                            let src_dims = g[o].ty.shape.dims().to_vec();
                            match self.view_op(id, op, v, &src_dims, &dims, pos)? {
                                (v, Some(u)) => {
                                    deps = BTreeSet::from([u]);
                                    Val::View(v)
                                }
                                (v, None) => Val::View(v),
                            }
                        }
                        _ => {
                            return Err(jit_err(
                                g,
                                id,
                                "internal: operand of a shape op is not in memory",
                            ))
                        }
                    };
                    self.vals.insert(id, val);
                    self.deps.insert(id, deps);
                }
                _ if self.is_identity(id) => {
                    // A `pad` of zeros or a one-part `concat`: its operand's
                    // value, with no step of its own.
                    let o = operands[0];
                    let val = self.vals[&o].clone();
                    let deps = self.deps_of(o);
                    self.vals.insert(id, val);
                    self.deps.insert(id, deps);
                }
                Op::Pad { lo, .. } if self.recompute.contains(&id) => {
                    let o = operands[0];
                    let src = g[o].ty.shape.dims().to_vec();
                    let valid = src.iter().zip(lo).map(|(&d, &l)| (l, d)).collect();
                    // The value needs whatever the recomputed nodes read.
                    let mut deps = BTreeSet::new();
                    for leaf in in_region_leaves(g, o) {
                        deps.extend(self.deps_of(leaf));
                    }
                    self.vals.insert(
                        id,
                        Val::PadExpr {
                            node: o,
                            lo: lo.clone(),
                            valid,
                        },
                    );
                    self.deps.insert(id, deps);
                }
                Op::Pad { lo, .. } if self.pad_in_consumers(id) => {
                    let o = operands[0];
                    let src = g[o].ty.shape.dims().to_vec();
                    let (view, valid) = match self.vals.get(&o).cloned() {
                        Some(Val::View(v)) => {
                            let valid: Vec<(usize, usize)> = src.iter().map(|&d| (0, d)).collect();
                            (v, valid)
                        }
                        Some(Val::Padded { view, valid }) => (view, valid),
                        _ => return Err(jit_err(g, id, "internal: pad operand not in memory")),
                    };
                    let mut offset = view.offset;
                    for (d, &l) in lo.iter().enumerate() {
                        offset -= l as i64 * view.strides[d];
                    }
                    let valid = valid
                        .iter()
                        .zip(lo)
                        .map(|(&(s, n), &l)| (s + l, n))
                        .collect();
                    let deps = self.deps_of(o);
                    self.vals.insert(
                        id,
                        Val::Padded {
                            view: View {
                                buf: view.buf,
                                offset,
                                strides: view.strides,
                            },
                            valid,
                        },
                    );
                    self.deps.insert(id, deps);
                }
                Op::Pad { .. } | Op::Concat { .. } | Op::MatMul => {
                    let unit = Unit::Node(id);
                    let mut d = BTreeSet::new();
                    for &o in &operands {
                        d.extend(self.deps_of(o));
                    }
                    self.add_unit_deps(&unit, d, pos);
                    let b = self.new_buf(
                        id,
                        BufKind::Arena { offset: 0 },
                        node.ty.dtype,
                        node.ty.numel(),
                    );
                    self.stored.insert(id, b);
                    self.vals.insert(id, Val::View(contiguous(b, &dims)));
                    self.deps.insert(id, BTreeSet::from([unit]));
                }
                Op::Call(c) => {
                    return Err(jit_err(
                        g,
                        id,
                        format!("internal: call @{} was not inlined", c.name),
                    ))
                }
                Op::Iota { axis, .. } => self.iota_node(id, *axis),
                Op::Scan { .. } | Op::While { .. } | Op::Cond { .. } => {
                    self.control_node(id, pos)?
                }
                // Planned with its loop node (the loop's result buffer).
                Op::Project { .. } => {}
                Op::Logical(_) => unreachable!("an elementwise op, handled above"),
                Op::Unary(_)
                | Op::Binary(_)
                | Op::Compare(_)
                | Op::Select
                | Op::Cast { .. }
                | Op::ReduceSum { .. }
                | Op::ReduceMax { .. }
                | Op::Broadcast { .. }
                | Op::Reshape { .. }
                | Op::Transpose { .. }
                | Op::Slice { .. } => unreachable!("handled by the guarded arms above"),
            }
        }
        Ok(())
    }

    /// The view of a shape op applied to the view `v` of its operand; a
    /// reshape of a strided view first copies the operand (returned unit).
    fn view_op(
        &mut self,
        id: NodeId,
        op: &Op,
        v: View,
        src: &[usize],
        dst: &[usize],
        pos: usize,
    ) -> Result<(View, Option<Unit>)> {
        Ok(match op {
            Op::Broadcast { .. } => {
                let off = dst.len() - src.len();
                let strides = (0..dst.len())
                    .map(|i| {
                        if i < off || src[i - off] == 1 {
                            0
                        } else {
                            v.strides[i - off]
                        }
                    })
                    .collect();
                (
                    View {
                        buf: v.buf,
                        offset: v.offset,
                        strides,
                    },
                    None,
                )
            }
            Op::Transpose { perm } => (
                View {
                    buf: v.buf,
                    offset: v.offset,
                    strides: perm.iter().map(|&p| v.strides[p]).collect(),
                },
                None,
            ),
            Op::Slice { start, stride, .. } => {
                let mut offset = v.offset;
                for d in 0..src.len() {
                    if dst[d] > 0 {
                        offset += start[d] as i64 * v.strides[d];
                    }
                }
                (
                    View {
                        buf: v.buf,
                        offset,
                        strides: (0..src.len())
                            .map(|d| v.strides[d] * stride[d] as i64)
                            .collect(),
                    },
                    None,
                )
            }
            Op::Reshape { .. } => {
                if is_contiguous(&v, src) {
                    (
                        View {
                            buf: v.buf,
                            offset: 0,
                            strides: row_major(dst),
                        },
                        None,
                    )
                } else {
                    let operand = self.g.operands(id)[0];
                    let unit = Unit::Copy(operand);
                    let b = match self.copies.get(&operand) {
                        Some((_, b)) => *b,
                        None => {
                            let ty = &self.g[operand].ty;
                            let b = self.new_buf(
                                operand,
                                BufKind::Arena { offset: 0 },
                                ty.dtype,
                                ty.numel(),
                            );
                            self.copies.insert(operand, (v.clone(), b));
                            let d = self.deps_of(operand);
                            self.add_unit_deps(&unit, d, pos);
                            b
                        }
                    };
                    (contiguous(b, dst), Some(unit))
                }
            }
            _ => unreachable!("view_op is called on shape ops only"),
        })
    }

    /// Whether a `pad` is read through bounds tests by its consumers instead
    /// of being materialised: the operand is in memory, and every user is a
    /// loop (region member) or another `pad` or a `concat` (which read it
    /// the same way, so chains of pads compose into one padded view).
    fn pad_in_consumers(&self, id: NodeId) -> bool {
        let g = self.g;
        let o = g.operands(id)[0];
        let operand_ok = matches!(
            self.vals.get(&o),
            Some(Val::View(_)) | Some(Val::Padded { .. })
        );
        operand_ok
            && g.users(id).iter().all(|&u| {
                (is_region_member(&g[u].op) && g[u].region.is_some())
                    || (matches!(g[u].op, Op::Pad { .. } | Op::Concat { .. })
                        && !self.recompute.contains(&u))
            })
    }

    /// Whether `id` is an identity whose value is its operand's: a `pad`
    /// with no padding or a `concat` of one part, of an operand in memory
    /// (a view or a splat).
    fn is_identity(&self, id: NodeId) -> bool {
        let g = self.g;
        let identity = match &g[id].op {
            Op::Pad { lo, hi } => lo.iter().chain(hi).all(|&n| n == 0),
            Op::Concat { .. } => g.operands(id).len() == 1,
            _ => false,
        };
        identity
            && matches!(
                self.vals.get(&g.operands(id)[0]),
                Some(Val::View(_)) | Some(Val::Splat(_))
            )
    }

    /// Orders the units topologically (Kahn), ties broken by first
    /// appearance in the node order.
    fn schedule(&self) -> Vec<Unit> {
        let mut indeg: HashMap<&Unit, usize> = HashMap::new();
        let mut users: HashMap<&Unit, Vec<&Unit>> = HashMap::new();
        for (u, ds) in &self.unit_deps {
            indeg.entry(u).or_insert(0);
            for d in ds {
                *indeg.entry(u).or_insert(0) += 1;
                users.entry(d).or_default().push(u);
            }
        }
        let key = |u: &Unit| self.unit_first.get(u).copied().unwrap_or(0);
        let mut ready: BTreeSet<(usize, &Unit)> = indeg
            .iter()
            .filter(|(_, &d)| d == 0)
            .map(|(&u, _)| (key(u), u))
            .collect();
        let mut out = Vec::new();
        while let Some(first) = ready.iter().next().cloned() {
            ready.remove(&first);
            let u = first.1;
            out.push(u.clone());
            if let Some(us) = users.get(u) {
                for &v in us {
                    let d = indeg.get_mut(v).expect("unit known");
                    *d -= 1;
                    if *d == 0 {
                        ready.insert((key(v), v));
                    }
                }
            }
        }
        out
    }
}

/// A raw access before loop normalisation: strides over the loop shape.
struct RawAccess {
    buf: BufId,
    dtype: DType,
    offset: i64,
    strides: Vec<i64>,
    valid: Vec<Option<(usize, usize)>>,
}

/// What makes two loads the same: buffer, offset, strides and validity.
type LoadKey = (BufId, i64, Vec<i64>, Vec<Option<(usize, usize)>>);

/// A kernel under construction over a loop shape.
struct KernelBuilder {
    dims: Vec<usize>,
    axes: Option<Vec<usize>>,
    accesses: Vec<RawAccess>,
    exprs: Vec<KExpr>,
    tys: Vec<DType>,
    stores: Vec<(usize, usize)>,
    reductions: Vec<KReduce>,
    loads: HashMap<LoadKey, usize>,
}

impl KernelBuilder {
    fn new(dims: Vec<usize>, axes: Option<Vec<usize>>) -> Self {
        KernelBuilder {
            dims,
            axes,
            accesses: Vec::new(),
            exprs: Vec::new(),
            tys: Vec::new(),
            stores: Vec::new(),
            reductions: Vec::new(),
            loads: HashMap::new(),
        }
    }

    fn push(&mut self, e: KExpr, ty: DType) -> usize {
        self.exprs.push(e);
        self.tys.push(ty);
        self.exprs.len() - 1
    }

    fn access(&mut self, buf: BufId, dtype: DType, v: &View) -> usize {
        self.accesses.push(RawAccess {
            buf,
            dtype,
            offset: v.offset,
            strides: v.strides.clone(),
            valid: vec![None; v.strides.len()],
        });
        self.accesses.len() - 1
    }

    fn load(&mut self, v: &View, dtype: DType, valid: Vec<Option<(usize, usize)>>) -> usize {
        let key = (v.buf, v.offset, v.strides.clone(), valid.clone());
        if let Some(&e) = self.loads.get(&key) {
            return e;
        }
        let a = self.access(v.buf, dtype, v);
        self.accesses[a].valid = valid;
        let e = self.push(KExpr::Load(a), dtype);
        self.loads.insert(key, e);
        e
    }

    fn leaf(&mut self, val: &Val, dtype: DType) -> Option<usize> {
        match val {
            Val::View(v) => Some(self.load(v, dtype, vec![None; v.strides.len()])),
            Val::Splat(x) => Some(self.push(KExpr::Const(*x), dtype)),
            Val::InRegion | Val::PadExpr { .. } => None,
            Val::Padded { view, valid } => {
                if valid.iter().any(|&(_, n)| n == 0) {
                    return Some(self.push(KExpr::Const(0.0), dtype));
                }
                let v: Vec<Option<(usize, usize)>> = valid
                    .iter()
                    .zip(&self.dims)
                    .map(|(&(s, n), &d)| (s > 0 || s + n < d).then_some((s, n)))
                    .collect();
                Some(self.load(view, dtype, v))
            }
        }
    }

    fn store(&mut self, value: usize, v: &View, dtype: DType) {
        let a = self.access(v.buf, dtype, v);
        self.stores.push((value, a));
    }

    /// Orders the loop dims (kept, then reduced), drops unit dims, merges
    /// dims that every access walks contiguously, and splits outer/inner.
    fn finish(self, label: String) -> Kernel {
        let rank = self.dims.len();
        let (perm, n_red): (Vec<usize>, usize) = match &self.axes {
            Some(axes) => {
                let mut p: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
                p.extend(axes.iter().copied());
                (p, axes.len())
            }
            None => ((0..rank).collect(), 0),
        };
        // Groups: 0 = kept, 1 = reduced.
        let mut dims: Vec<(usize, u8)> = perm
            .iter()
            .enumerate()
            .map(|(j, &d)| (self.dims[d], u8::from(j >= rank - n_red)))
            .collect();
        let mut strides: Vec<Vec<i64>> = self
            .accesses
            .iter()
            .map(|a| perm.iter().map(|&d| a.strides[d]).collect())
            .collect();
        let mut valid: Vec<Vec<Option<(usize, usize)>>> = self
            .accesses
            .iter()
            .map(|a| perm.iter().map(|&d| a.valid[d]).collect())
            .collect();
        // Drop unit dims, except where an access is valid only on part of
        // the dim (its one element may lie outside a padded operand).
        let keep: Vec<bool> = dims
            .iter()
            .enumerate()
            .map(|(d, &(n, _))| n != 1 || valid.iter().any(|v| v[d].is_some()))
            .collect();
        let filter = |v: &mut Vec<i64>| {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        };
        strides.iter_mut().for_each(filter);
        for v in &mut valid {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        let mut i = 0;
        dims.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        // Merge adjacent dims of one group walked contiguously by everyone.
        let mut j = dims.len();
        while j >= 2 {
            let (a, b) = (j - 2, j - 1);
            let mergeable = dims[a].1 == dims[b].1
                && strides
                    .iter()
                    .all(|s| s[a] == s[b].wrapping_mul(dims[b].0 as i64))
                && valid.iter().all(|v| v[a].is_none() && v[b].is_none());
            if mergeable {
                dims[a].0 *= dims[b].0;
                dims.remove(b);
                for s in &mut strides {
                    s[a] = s[b];
                    s.remove(b);
                }
                for v in &mut valid {
                    v.remove(b);
                }
            }
            j -= 1;
        }
        let n_inner = if self.axes.is_some() {
            dims.iter().filter(|d| d.1 == 1).count()
        } else {
            usize::from(!dims.is_empty())
        };
        let n_outer = dims.len() - n_inner;
        let outer: Vec<usize> = dims[..n_outer].iter().map(|d| d.0).collect();
        let mut inner: Vec<usize> = dims[n_outer..].iter().map(|d| d.0).collect();
        let empty_inner = inner.is_empty();
        if empty_inner {
            inner.push(1);
        }
        let accesses = self
            .accesses
            .iter()
            .zip(strides)
            .zip(valid)
            .map(|((a, s), v)| {
                let conv = |x: &Option<(usize, usize)>| x.map(|(l, n)| (l as i64, n as i64));
                Access {
                    buf: a.buf,
                    dtype: a.dtype,
                    offset: a.offset,
                    outer: s[..n_outer].to_vec(),
                    inner: if empty_inner {
                        vec![0]
                    } else {
                        s[n_outer..].to_vec()
                    },
                    outer_valid: v[..n_outer].iter().map(conv).collect(),
                    inner_valid: if empty_inner {
                        vec![None]
                    } else {
                        v[n_outer..].iter().map(conv).collect()
                    },
                }
            })
            .collect();
        Kernel {
            label,
            outer,
            inner,
            accesses,
            exprs: self.exprs,
            tys: self.tys,
            stores: self.stores,
            reductions: self.reductions,
        }
    }
}

/// Builds the plan of `g` (inlined, verified, regions assigned).
/// The arena may not exceed `budget` bytes.
pub(crate) fn build_plan(
    g: &Graph,
    threads: usize,
    cheap_math: bool,
    budget: usize,
    bodies: &mut crate::control_flow::Bodies,
) -> Result<Plan> {
    let order = g.topo_order()?;
    let mut b = Builder {
        g,
        control: control::State::new(bodies),
        bufs: Vec::new(),
        consts: Vec::new(),
        matmuls: Vec::new(),
        vals: HashMap::new(),
        deps: HashMap::new(),
        stored: HashMap::new(),
        unit_deps: HashMap::new(),
        unit_first: HashMap::new(),
        region_members: HashMap::new(),
        copies: HashMap::new(),
        threads,
        recompute: recompute_pads(g, cheap_math),
    };
    b.run(&order)?;
    // Outputs: the first occurrence of a stored node writes the caller's
    // buffer directly; the rest are copied at the end.
    let mut output_copies: Vec<(usize, NodeId)> = Vec::new();
    let mut direct: HashMap<NodeId, usize> = HashMap::new();
    for (i, &o) in g.outputs().iter().enumerate() {
        match b.stored.get(&o) {
            Some(&buf) if !direct.contains_key(&o) => {
                b.bufs[buf].kind = BufKind::Output(i);
                direct.insert(o, i);
            }
            _ => output_copies.push((i, o)),
        }
    }
    let units = b.schedule();
    let mut steps: Vec<Step> = Vec::new();
    for u in &units {
        match u {
            Unit::Region(r) => {
                let k = b.region_kernel(*r)?;
                // A region whose values are all recomputed by consumers
                // stores nothing: it has no work left.
                if !k.stores.is_empty() || !k.reductions.is_empty() {
                    steps.push(Step::Kernel(k));
                }
            }
            Unit::Node(id) if b.is_control(*id) => b.control_steps(*id, &mut steps)?,
            Unit::Node(id) => b.node_steps(*id, &mut steps)?,
            Unit::Copy(id) => {
                let (v, buf) = b.copies[id].clone();
                let ty = g[*id].ty.clone();
                let mut k = KernelBuilder::new(ty.shape.dims().to_vec(), None);
                let e = k.load(&v, ty.dtype, vec![None; ty.shape.rank()]);
                k.store(e, &contiguous(buf, ty.shape.dims()), ty.dtype);
                steps.push(Step::Kernel(
                    k.finish(format!("copy {}", g.display_name(*id))),
                ));
            }
        }
    }
    for (i, o) in output_copies {
        let ty = g[o].ty.clone();
        let out = b.new_buf(o, BufKind::Output(i), ty.dtype, ty.numel());
        let mut k = KernelBuilder::new(ty.shape.dims().to_vec(), None);
        let val = b.vals[&o].clone();
        let e = k
            .leaf(&val, ty.dtype)
            .ok_or_else(|| jit_err(g, o, "internal: output value is not available in memory"))?;
        k.store(e, &contiguous(out, ty.shape.dims()), ty.dtype);
        steps.push(Step::Kernel(k.finish(format!("output {i}"))));
    }
    let arena_bytes = match crate::arena::allocate(&mut b.bufs, &steps, budget) {
        Ok(n) => n,
        Err(ArenaError::Overflow { buf }) => {
            let bf = &b.bufs[buf];
            return Err(jit_err(
                g,
                bf.owner,
                format!(
                    "a working buffer of {} elements of {} does not fit in the address space",
                    bf.numel, bf.dtype
                ),
            ));
        }
        Err(ArenaError::OverBudget { buf, bytes }) => {
            let bf = &b.bufs[buf];
            return Err(jit_err(
                g,
                bf.owner,
                format!(
                    "the arena of intermediates needs {bytes} bytes with this value's {} \
                     bytes, over the JIT's working-memory budget of {budget} bytes \
                     (JitOptions::memory_budget)",
                    crate::arena::buf_bytes(bf).unwrap_or(usize::MAX)
                ),
            ));
        }
    };
    Ok(Plan {
        bufs: b.bufs,
        consts: b.consts,
        matmuls: b.matmuls,
        steps,
        arena_bytes,
        bodies: b.control.fns,
    })
}

/// The operands read from memory by `node` and the members of its region
/// it reads in registers (transitively).
fn in_region_leaves(g: &Graph, node: NodeId) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        for o in g.operands(n) {
            if reads_in_region(g, o, n) {
                stack.push(o);
            } else {
                out.push(o);
            }
        }
    }
    out
}

/// The largest in-region computation a consumer recomputes for a pad.
const MAX_RECOMPUTE_NODES: usize = 48;

/// Pads whose consumers recompute the padded value instead of reading it
/// from memory: the operand is an elementwise value of a region without
/// reductions, computed from parameters, constants and their views in at
/// most `MAX_RECOMPUTE_NODES` cheap nodes, and every user of the pad is a
/// loop. One loop then reads the inputs once, instead of one loop storing
/// the value and another reading it back (the Rosenbrock gradients).
fn recompute_pads(g: &Graph, cheap_math: bool) -> BTreeSet<NodeId> {
    let mut reducing = BTreeSet::new();
    for id in g.node_ids() {
        if is_reduction(&g[id].op) {
            if let Some(r) = g[id].region {
                reducing.insert(r);
            }
        }
    }
    let cheap = |op: &Op| match op {
        Op::Unary(u) => match u {
            UnaryOp::Sin | UnaryOp::Cos => false,
            UnaryOp::Exp | UnaryOp::Log | UnaryOp::Tanh | UnaryOp::Sigmoid => cheap_math,
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Relu => true,
        },
        Op::Binary(b) => *b != BinaryOp::Pow,
        Op::Compare(_) | Op::Select | Op::Cast { .. } => true,
        _ => false,
    };
    let outputs: BTreeSet<NodeId> = g.outputs().iter().copied().collect();
    let mut out = BTreeSet::new();
    for id in g.node_ids() {
        if !matches!(g[id].op, Op::Pad { .. }) || outputs.contains(&id) {
            continue;
        }
        let o = g.operands(id)[0];
        let Some(r) = g[o].region else { continue };
        if !g[o].op.is_elementwise() || reducing.contains(&r) || g[o].ty.dtype == DType::Bool {
            continue;
        }
        let users_ok = g
            .users(id)
            .iter()
            .all(|&u| is_region_member(&g[u].op) && g[u].region.is_some());
        if !users_ok {
            continue;
        }
        let mut nodes = BTreeSet::new();
        let mut stack = vec![o];
        let mut ok = true;
        while let Some(n) = stack.pop() {
            if !nodes.insert(n) {
                continue;
            }
            if !cheap(&g[n].op) || nodes.len() > MAX_RECOMPUTE_NODES {
                ok = false;
                break;
            }
            for p in g.operands(n) {
                if reads_in_region(g, p, n) {
                    stack.push(p);
                } else if !leaf_or_view_of_leaves(g, p) {
                    ok = false;
                }
            }
        }
        if ok {
            out.insert(id);
        }
    }
    out
}

/// Whether `n` is a parameter or constant, or shape ops of one.
fn leaf_or_view_of_leaves(g: &Graph, mut n: NodeId) -> bool {
    loop {
        match &g[n].op {
            Op::Param { .. } | Op::Const(_) => return true,
            Op::Broadcast { .. } | Op::Slice { .. } | Op::Transpose { .. } | Op::Reshape { .. } => {
                n = g.operands(n)[0];
            }
            _ => return false,
        }
    }
}

impl Builder<'_> {
    /// Emits, into a consumer's kernel, the value `node` of another region
    /// at the consumer's index minus `lo`, zero outside `valid`.
    fn recompute_expr(
        &mut self,
        k: &mut KernelBuilder,
        node: NodeId,
        lo: &[usize],
        valid: &[(usize, usize)],
    ) -> Result<usize> {
        let g = self.g;
        fn visit(g: &Graph, n: NodeId, seen: &mut BTreeSet<NodeId>, order: &mut Vec<NodeId>) {
            if !seen.insert(n) {
                return;
            }
            for o in g.operands(n) {
                if reads_in_region(g, o, n) {
                    visit(g, o, seen, order);
                }
            }
            order.push(n);
        }
        let mut order = Vec::new();
        visit(g, node, &mut BTreeSet::new(), &mut order);
        let restrict: Vec<Option<(usize, usize)>> = valid
            .iter()
            .zip(&k.dims)
            .map(|(&(s, n), &d)| (s > 0 || s + n < d).then_some((s, n)))
            .collect();
        let shift = |v: &View| -> View {
            let mut offset = v.offset;
            for (d, &l) in lo.iter().enumerate() {
                offset -= l as i64 * v.strides[d];
            }
            View {
                buf: v.buf,
                offset,
                strides: v.strides.clone(),
            }
        };
        if restrict.iter().any(|r| r.is_some_and(|(_, n)| n == 0)) {
            // Padding only: nothing of `node` is ever read.
            return Ok(k.push(KExpr::Const(0.0), g[node].ty.dtype));
        }
        let mut ex: HashMap<NodeId, usize> = HashMap::new();
        let mut any_buf = None;
        for &n in &order {
            let mut args = Vec::new();
            for o in g.operands(n) {
                let e = if reads_in_region(g, o, n) {
                    ex[&o]
                } else {
                    match self.vals.get(&o).cloned() {
                        Some(Val::View(v)) => {
                            any_buf = Some(v.buf);
                            k.load(&shift(&v), g[o].ty.dtype, restrict.clone())
                        }
                        Some(Val::Splat(x)) => k.push(KExpr::Const(x), g[o].ty.dtype),
                        _ => {
                            return Err(jit_err(g, n, "internal: recomputed operand is not a view"))
                        }
                    }
                };
                args.push(e);
            }
            let dt = g[n].ty.dtype;
            let e = match &g[n].op {
                Op::Unary(u) => k.push(KExpr::Unary(*u, args[0]), dt),
                Op::Binary(b) => k.push(KExpr::Binary(*b, args[0], args[1]), dt),
                Op::Compare(c) => k.push(KExpr::Compare(*c, args[0], args[1]), dt),
                Op::Select => k.push(KExpr::Select(args[0], args[1], args[2]), dt),
                Op::Cast { to } => {
                    let from = g[g.operands(n)[0]].ty.dtype;
                    k.push(KExpr::Cast(from, args[0]), *to)
                }
                _ => return Err(jit_err(g, n, "internal: not an elementwise op")),
            };
            ex.insert(n, e);
        }
        let value = ex[&node];
        if restrict.iter().all(Option::is_none) {
            return Ok(value);
        }
        // The mask: an access that is never read, carrying the validity.
        let dt = g[node].ty.dtype;
        let buf = any_buf.unwrap_or(0);
        let a = k.access(
            buf,
            dt,
            &View {
                buf,
                offset: 0,
                strides: vec![0; k.dims.len()],
            },
        );
        k.accesses[a].valid = restrict;
        Ok(k.push(KExpr::Masked(value, a), dt))
    }

    fn region_kernel(&mut self, r: u32) -> Result<Kernel> {
        let g = self.g;
        let members = self.region_members[&r].clone();
        let first = members[0];
        let (loop_dims, axes) = match &g[first].op {
            Op::ReduceSum { .. } | Op::ReduceMax { .. } => {
                (g.ty(g.operands(first)[0]).shape.dims().to_vec(), None)
            }
            _ => (g[first].ty.shape.dims().to_vec(), None::<Vec<usize>>),
        };
        let axes = axes.or_else(|| {
            members.iter().find_map(|&m| match &g[m].op {
                Op::ReduceSum { axes } | Op::ReduceMax { axes } => {
                    let mut a = axes.clone();
                    a.sort_unstable();
                    Some(a)
                }
                _ => None,
            })
        });
        let mut k = KernelBuilder::new(loop_dims.clone(), axes.clone());
        let mut ex: HashMap<NodeId, usize> = HashMap::new();
        let mut labels = Vec::new();
        let mut reducers = Vec::new();
        for &id in &members {
            labels.push(g.display_name(id));
            let node = &g[id];
            let ops = g.operands(id);
            let mut args = Vec::with_capacity(ops.len());
            for &o in &ops {
                let e = if reads_in_region(g, o, id) {
                    ex[&o]
                } else {
                    let val = self.vals[&o].clone();
                    if let Val::View(v) | Val::Padded { view: v, .. } = &val {
                        if v.strides.len() != loop_dims.len() {
                            return Err(jit_err(
                                g,
                                id,
                                "internal: operand rank differs from the loop rank",
                            ));
                        }
                    }
                    match &val {
                        Val::PadExpr { node, lo, valid } => {
                            self.recompute_expr(&mut k, *node, lo, valid)?
                        }
                        _ => k.leaf(&val, g[o].ty.dtype).ok_or_else(|| {
                            jit_err(g, id, "internal: operand computed in another loop")
                        })?,
                    }
                };
                args.push(e);
            }
            let dt = node.ty.dtype;
            let e = match &node.op {
                Op::Unary(u) => Some(k.push(KExpr::Unary(*u, args[0]), dt)),
                Op::Binary(bop) => Some(k.push(KExpr::Binary(*bop, args[0], args[1]), dt)),
                Op::Compare(c) => Some(k.push(KExpr::Compare(*c, args[0], args[1]), dt)),
                Op::Select => Some(k.push(KExpr::Select(args[0], args[1], args[2]), dt)),
                Op::Cast { to } => Some(k.push(KExpr::Cast(g[ops[0]].ty.dtype, args[0]), *to)),
                Op::Logical(l) => Some(crate::control_flow::logical(*l, &args, |e| {
                    k.push(e, DType::Bool)
                })),
                Op::ReduceSum { .. } | Op::ReduceMax { .. } => {
                    let kind = if matches!(node.op, Op::ReduceSum { .. }) {
                        ReduceKind::Sum
                    } else {
                        ReduceKind::Max
                    };
                    let buf = self.stored[&id];
                    // The result's strides over the loop dims: row-major over
                    // kept dims, zero over reduced ones.
                    let axes = axes.clone().unwrap_or_default();
                    let kept: Vec<usize> =
                        (0..loop_dims.len()).filter(|d| !axes.contains(d)).collect();
                    let kept_dims: Vec<usize> = kept.iter().map(|&d| loop_dims[d]).collect();
                    let rm = row_major(&kept_dims);
                    let mut strides = vec![0i64; loop_dims.len()];
                    for (j, &d) in kept.iter().enumerate() {
                        strides[d] = rm[j];
                    }
                    let dest = k.access(
                        buf,
                        dt,
                        &View {
                            buf,
                            offset: 0,
                            strides,
                        },
                    );
                    reducers.push(id);
                    k.reductions.push(KReduce {
                        value: args[0],
                        kind,
                        dest,
                        scratch: None,
                    });
                    None
                }
                _ => return Err(jit_err(g, id, "internal: not a region op")),
            };
            if let Some(e) = e {
                ex.insert(id, e);
                if let Some(&buf) = self.stored.get(&id) {
                    k.store(e, &contiguous(buf, &loop_dims), dt);
                }
            }
        }
        let label = format!("region {r}: {}", labels.join(" "));
        let mut kernel = k.finish(label);
        if kernel.outer.is_empty() && kernel.inner_len() > REDUCE_SUM_BLOCK {
            let blocks = kernel.inner_len().div_ceil(REDUCE_SUM_BLOCK);
            for (red, &owner) in kernel.reductions.iter_mut().zip(&reducers) {
                let dt = kernel.tys[red.value];
                let buf = self.new_buf(owner, BufKind::Arena { offset: 0 }, dt, blocks);
                red.scratch = Some(buf);
            }
        }
        Ok(kernel)
    }

    fn node_steps(&mut self, id: NodeId, steps: &mut Vec<Step>) -> Result<()> {
        let g = self.g;
        let node = &g[id];
        let out = self.stored[&id];
        let dims = node.ty.shape.dims().to_vec();
        let dt = node.ty.dtype;
        let ops = g.operands(id);
        let out_strides = row_major(&dims);
        match &node.op {
            Op::Pad { lo, .. } => {
                let mut fill = KernelBuilder::new(dims.clone(), None);
                let z = fill.push(KExpr::Const(0.0), dt);
                fill.store(z, &contiguous(out, &dims), dt);
                steps.push(Step::Kernel(
                    fill.finish(format!("pad {} (zeros)", g.display_name(id))),
                ));
                let src_dims = g[ops[0]].ty.shape.dims().to_vec();
                let offset = lo
                    .iter()
                    .zip(&out_strides)
                    .map(|(&l, &s)| l as i64 * s)
                    .sum();
                let mut k = KernelBuilder::new(src_dims, None);
                let val = self.vals[&ops[0]].clone();
                let e = k
                    .leaf(&val, dt)
                    .ok_or_else(|| jit_err(g, id, "internal: operand not in memory"))?;
                k.store(
                    e,
                    &View {
                        buf: out,
                        offset,
                        strides: out_strides,
                    },
                    dt,
                );
                steps.push(Step::Kernel(
                    k.finish(format!("pad {} (interior)", g.display_name(id))),
                ));
            }
            Op::Concat { axis } => {
                let mut at = 0usize;
                for &o in &ops {
                    let src_dims = g[o].ty.shape.dims().to_vec();
                    let mut k = KernelBuilder::new(src_dims.clone(), None);
                    let val = self.vals[&o].clone();
                    let e = k
                        .leaf(&val, dt)
                        .ok_or_else(|| jit_err(g, id, "internal: operand not in memory"))?;
                    k.store(
                        e,
                        &View {
                            buf: out,
                            offset: at as i64 * out_strides[*axis],
                            strides: out_strides.clone(),
                        },
                        dt,
                    );
                    steps.push(Step::Kernel(
                        k.finish(format!("concat {} part", g.display_name(id))),
                    ));
                    at += src_dims[*axis];
                }
            }
            Op::MatMul => {
                let va = self.view_of(ops[0])?;
                let vb = self.view_of(ops[1])?;
                let sa = g[ops[0]].ty.shape.dims().to_vec();
                let sb = g[ops[1]].ty.shape.dims().to_vec();
                let desc = matmul_desc(dt, &sa, &va, &sb, &vb, self.threads)
                    .map_err(|m| jit_err(g, id, m))?;
                self.matmuls.push(desc);
                steps.push(Step::MatMul {
                    desc: self.matmuls.len() - 1,
                    a: va.buf,
                    b: vb.buf,
                    c: out,
                });
            }
            _ => return Err(jit_err(g, id, "internal: not a materialised op")),
        }
        Ok(())
    }
}

fn matmul_desc(
    dtype: DType,
    sa: &[usize],
    va: &View,
    sb: &[usize],
    vb: &View,
    threads: usize,
) -> std::result::Result<MatMulDesc, String> {
    let (m, k, rsa, csa, batch_a, bsa) = if sa.len() == 1 {
        (1, sa[0], 0, va.strides[0], vec![], vec![])
    } else {
        let r = sa.len();
        (
            sa[r - 2],
            sa[r - 1],
            va.strides[r - 2],
            va.strides[r - 1],
            sa[..r - 2].to_vec(),
            va.strides[..r - 2].to_vec(),
        )
    };
    let (k2, n, rsb, csb, batch_b, bsb) = if sb.len() == 1 {
        (sb[0], 1, vb.strides[0], 0, vec![], vec![])
    } else {
        let r = sb.len();
        (
            sb[r - 2],
            sb[r - 1],
            vb.strides[r - 2],
            vb.strides[r - 1],
            sb[..r - 2].to_vec(),
            vb.strides[..r - 2].to_vec(),
        )
    };
    if k != k2 {
        return Err(format!("contracted dimensions differ ({k} vs {k2})"));
    }
    let batch = Shape::broadcast(&Shape::new(batch_a.clone()), &Shape::new(batch_b.clone()))
        .ok_or("batch dimensions do not broadcast")?;
    let bd = batch.dims().to_vec();
    let nb: usize = bd.iter().product();
    let mut batches = Vec::with_capacity(nb);
    let mut idx = vec![0usize; bd.len()];
    for bi in 0..nb {
        let mut rem = bi;
        for d in (0..bd.len()).rev() {
            idx[d] = rem % bd[d];
            rem /= bd[d];
        }
        let off = |dims: &[usize], strides: &[i64], base: i64| -> isize {
            let shift = bd.len() - dims.len();
            let mut o = base;
            for (j, (&dim, &st)) in dims.iter().zip(strides).enumerate() {
                if dim != 1 {
                    o += idx[shift + j] as i64 * st;
                }
            }
            o as isize
        };
        batches.push(BatchOffsets {
            a: off(&batch_a, &bsa, va.offset),
            b: off(&batch_b, &bsb, vb.offset),
            c: (bi * m * n) as isize,
        });
    }
    Ok(MatMulDesc {
        dtype,
        m,
        k,
        n,
        rsa: rsa as isize,
        csa: csa as isize,
        rsb: rsb as isize,
        csb: csb as isize,
        rsc: n as isize,
        csc: 1,
        threads: if m * n * k >= PARALLEL_GEMM_MACS {
            threads.max(1)
        } else {
            1
        },
        batches,
    })
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
            Step::Control(c) => {
                let _ = writeln!(s, "step {i}: {}", c.describe());
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
