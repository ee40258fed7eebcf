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

// Loops and conditionals (`scan`, `while`, `cond`, projections, `iota`).
mod control;
mod kernel_builder;
mod recompute;
// `revolve`, run by the host driver.
mod revolve;
mod steps;
mod values;

use crate::arena::ArenaError;
use crate::kernel_ir::{Buf, BufId, BufKind, ConstData, Plan, Step};
use crate::runtime::MatMulDesc;
use adjoint_ir::fusion::{is_reduction, Regions};
use adjoint_ir::{DType, Error, Graph, NodeId, Op, Result, Shape};
use kernel_builder::KernelBuilder;
use recompute::recompute_pads;
use std::collections::{BTreeSet, HashMap};

/// Products with at least this many multiply-adds are split across
/// threads. An `800×800` matrix-vector product (640k) is: it streams 5 MB
/// of matrix, and two cores stream it in about half the time.
pub(crate) const PARALLEL_GEMM_MACS: usize = 1 << 18;

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

/// Row-major strides of `dims`, as `i64`.
pub(crate) fn row_major(dims: &[usize]) -> Vec<i64> {
    Shape::new(dims.to_vec())
        .strides()
        .into_iter()
        .map(|s| s as i64)
        .collect()
}

pub(super) fn contiguous(buf: BufId, dims: &[usize]) -> View {
    View {
        buf,
        offset: 0,
        strides: row_major(dims),
    }
}

pub(super) fn is_contiguous(v: &View, dims: &[usize]) -> bool {
    let rm = row_major(dims);
    v.offset == 0
        && dims
            .iter()
            .zip(v.strides.iter().zip(&rm))
            .all(|(&d, (s, r))| d <= 1 || s == r)
}

/// A unit of scheduling: a region's loop, or one materialising node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Unit {
    Region(u32),
    Node(NodeId),
    /// A contiguous copy of a node's value (for a reshape of a strided view).
    Copy(NodeId),
}

pub(super) struct Builder<'g> {
    g: &'g Graph,
    /// Loops and conditionals (`control.rs`).
    control: control::State<'g>,
    /// The fusion regions of `g` (a side table).
    regions: &'g Regions,
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

pub(super) fn jit_err(g: &Graph, id: NodeId, msg: impl std::fmt::Display) -> Error {
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
pub(super) fn reads_in_region(g: &Graph, regions: &Regions, operand: NodeId, user: NodeId) -> bool {
    let (ro, ru) = (regions.region(operand), regions.region(user));
    ro.is_some()
        && ro == ru
        && is_region_member(&g[operand].op)
        && is_region_member(&g[user].op)
        && !is_reduction(&g[operand].op)
}

/// Ops computed in region loops.
pub(super) fn is_region_member(op: &Op) -> bool {
    op.is_elementwise() || is_reduction(op)
}

/// Builds the plan of `g` (inlined, verified, regions assigned).
/// The arena may not exceed `budget` bytes.
pub(crate) fn build_plan(
    g: &Graph,
    regions: &Regions,
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
        recompute: recompute_pads(g, regions, cheap_math),
        regions,
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

impl Builder<'_> {
    pub(super) fn new_buf(
        &mut self,
        owner: NodeId,
        kind: BufKind,
        dtype: DType,
        numel: usize,
    ) -> BufId {
        self.bufs.push(Buf {
            kind,
            dtype,
            numel,
            owner,
        });
        BufId::new(self.bufs.len() - 1)
    }

    pub(super) fn deps_of(&self, id: NodeId) -> BTreeSet<Unit> {
        self.deps.get(&id).cloned().unwrap_or_default()
    }

    pub(super) fn add_unit_deps(&mut self, u: &Unit, deps: BTreeSet<Unit>, pos: usize) {
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
    pub(super) fn view_of(&mut self, id: NodeId) -> Result<View> {
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

    /// Orders the units topologically (Kahn), ties broken by first
    /// appearance in the node order.
    pub(super) fn schedule(&self) -> Vec<Unit> {
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
