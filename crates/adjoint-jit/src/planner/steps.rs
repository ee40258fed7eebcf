//! The steps of scheduled units: a fusion region's kernel, the kernels of
//! a materialised `pad` or `concat`, and GEMM calls with their
//! descriptors.

use super::kernel_builder::KernelBuilder;
use super::{
    contiguous, jit_err, reads_in_region, row_major, Builder, Val, View, PARALLEL_GEMM_MACS,
};
use crate::kernel_ir::{BufKind, ExprId, KExpr, KReduce, Kernel, MatMulId, ReduceKind, Step};
use crate::runtime::{BatchOffsets, MatMulDesc};
use adjoint_ir::{DType, NodeId, Op, Result, Shape, REDUCE_SUM_BLOCK};
use std::collections::HashMap;

/// A matrix (or batch of matrices) operand of shape `s` (rank 2 or more)
/// read through `v`: its rows, columns, row and column strides, batch
/// dimensions and batch strides.
fn matrix_layout(s: &[usize], v: &View) -> (usize, usize, i64, i64, Vec<usize>, Vec<i64>) {
    let r = s.len();
    (
        s[r - 2],
        s[r - 1],
        v.strides[r - 2],
        v.strides[r - 1],
        s[..r - 2].to_vec(),
        v.strides[..r - 2].to_vec(),
    )
}

pub(super) fn matmul_desc(
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
        matrix_layout(sa, va)
    };
    let (k2, n, rsb, csb, batch_b, bsb) = if sb.len() == 1 {
        (sb[0], 1, vb.strides[0], 0, vec![], vec![])
    } else {
        matrix_layout(sb, vb)
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

impl Builder<'_> {
    pub(super) fn region_kernel(&mut self, r: u32) -> Result<Kernel> {
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
        let mut ex: HashMap<NodeId, ExprId> = HashMap::new();
        let mut labels = Vec::new();
        let mut reducers = Vec::new();
        for &id in &members {
            labels.push(g.display_name(id));
            let node = &g[id];
            let ops = g.operands(id);
            let mut args = Vec::with_capacity(ops.len());
            for &o in &ops {
                let e = if reads_in_region(g, self.regions, o, id) {
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

    /// A kernel copying operand `o` of node `id` (of `id`'s dtype) into
    /// `dst`, element for element over `o`'s shape.
    fn copy_kernel(&self, id: NodeId, o: NodeId, dst: &View, label: String) -> Result<Kernel> {
        let g = self.g;
        let dt = g[id].ty.dtype;
        let mut k = KernelBuilder::new(g[o].ty.shape.dims().to_vec(), None);
        let e = k
            .leaf(&self.vals[&o], dt)
            .ok_or_else(|| jit_err(g, id, "internal: operand not in memory"))?;
        k.store(e, dst, dt);
        Ok(k.finish(label))
    }

    pub(super) fn node_steps(&mut self, id: NodeId, steps: &mut Vec<Step>) -> Result<()> {
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
                let offset = lo
                    .iter()
                    .zip(&out_strides)
                    .map(|(&l, &s)| l as i64 * s)
                    .sum();
                let dst = View {
                    buf: out,
                    offset,
                    strides: out_strides,
                };
                let label = format!("pad {} (interior)", g.display_name(id));
                steps.push(Step::Kernel(self.copy_kernel(id, ops[0], &dst, label)?));
            }
            Op::Concat { axis } => {
                let mut at = 0usize;
                for &o in &ops {
                    let src_dims = g[o].ty.shape.dims().to_vec();
                    let dst = View {
                        buf: out,
                        offset: at as i64 * out_strides[*axis],
                        strides: out_strides.clone(),
                    };
                    let label = format!("concat {} part", g.display_name(id));
                    steps.push(Step::Kernel(self.copy_kernel(id, o, &dst, label)?));
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
                    desc: MatMulId::new(self.matmuls.len() - 1),
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
