//! How each node's value is available to its consumers ([`Val`]): in
//! memory through a view, a splat, inside a region's loop, padded; and the
//! units (region loops, materialising nodes) each value needs.

use super::recompute::in_region_leaves;
use super::{
    contiguous, is_contiguous, is_region_member, jit_err, reads_in_region, row_major, Builder,
    Unit, Val, View,
};
use crate::kernel_ir::{BufKind, ConstData};
use adjoint_ir::fusion::{is_reduction, is_view_op};
use adjoint_ir::{NodeId, Op, Result};
use std::collections::BTreeSet;

impl Builder<'_> {
    pub(super) fn run(&mut self, order: &[NodeId]) -> Result<()> {
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
                    let r = self.regions.region(id).ok_or_else(|| {
                        jit_err(g, id, "internal: compute node without a fusion region")
                    })?;
                    let unit = Unit::Region(r);
                    self.region_members.entry(r).or_default().push(id);
                    let mut d = BTreeSet::new();
                    for &o in &operands {
                        if !reads_in_region(g, self.regions, o, id) {
                            d.extend(self.deps_of(o));
                        }
                    }
                    self.add_unit_deps(&unit, d, pos);
                    let leaves = is_reduction(op)
                        || outputs.contains(&id)
                        || g.users(id).iter().any(|&u| {
                            !reads_in_region(g, self.regions, id, u) && !self.recompute.contains(&u)
                        });
                    if leaves {
                        self.store_in_arena(id, &dims);
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
                    for leaf in in_region_leaves(g, self.regions, o) {
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
                    self.store_in_arena(id, &dims);
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
                Op::Revolve { .. } => self.revolve_node(id, pos)?,
                // Planned with its loop node (the loop's result buffer).
                Op::Project { .. } => {}
                Op::Unary(_)
                | Op::Binary(_)
                | Op::Compare(_)
                | Op::Select
                | Op::Cast { .. }
                | Op::Logical(_)
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
    /// Stores node `id` in a fresh arena buffer of its type, read as a
    /// contiguous view of `dims`.
    fn store_in_arena(&mut self, id: NodeId, dims: &[usize]) {
        let g = self.g;
        let ty = &g[id].ty;
        let b = self.new_buf(id, BufKind::Arena { offset: 0 }, ty.dtype, ty.numel());
        self.stored.insert(id, b);
        self.vals.insert(id, Val::View(contiguous(b, dims)));
    }

    pub(super) fn view_op(
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
    pub(super) fn pad_in_consumers(&self, id: NodeId) -> bool {
        let g = self.g;
        let o = g.operands(id)[0];
        let operand_ok = matches!(
            self.vals.get(&o),
            Some(Val::View(_)) | Some(Val::Padded { .. })
        );
        operand_ok
            && g.users(id).iter().all(|&u| {
                (is_region_member(&g[u].op) && self.regions.region(u).is_some())
                    || (matches!(g[u].op, Op::Pad { .. } | Op::Concat { .. })
                        && !self.recompute.contains(&u))
            })
    }

    /// Whether `id` is an identity whose value is its operand's: a `pad`
    /// with no padding or a `concat` of one part, of an operand in memory
    /// (a view or a splat).
    pub(super) fn is_identity(&self, id: NodeId) -> bool {
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
}
