//! A kernel under construction: loads (deduplicated), expressions, stores
//! and reductions over a loop shape, then loop normalisation into outer
//! and inner dims ([`KernelBuilder::finish`]).

use super::{Val, View};
use crate::kernel_ir::{Access, AccessId, BufId, ExprId, KExpr, KReduce, Kernel};
use adjoint_ir::DType;
use std::collections::HashMap;

/// A raw access before loop normalisation: strides over the loop shape.
pub(super) struct RawAccess {
    pub(super) buf: BufId,
    pub(super) dtype: DType,
    pub(super) offset: i64,
    pub(super) strides: Vec<i64>,
    pub(super) valid: Vec<Option<(usize, usize)>>,
}

/// What makes two loads the same: buffer, offset, strides and validity.
pub(super) type LoadKey = (BufId, i64, Vec<i64>, Vec<Option<(usize, usize)>>);

/// A kernel under construction over a loop shape.
pub(super) struct KernelBuilder {
    pub(super) dims: Vec<usize>,
    pub(super) axes: Option<Vec<usize>>,
    pub(super) accesses: Vec<RawAccess>,
    pub(super) exprs: Vec<KExpr>,
    pub(super) tys: Vec<DType>,
    pub(super) stores: Vec<(ExprId, AccessId)>,
    pub(super) reductions: Vec<KReduce>,
    pub(super) loads: HashMap<LoadKey, ExprId>,
}

impl KernelBuilder {
    pub(super) fn new(dims: Vec<usize>, axes: Option<Vec<usize>>) -> Self {
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

    pub(super) fn push(&mut self, e: KExpr, ty: DType) -> ExprId {
        self.exprs.push(e);
        self.tys.push(ty);
        ExprId::new(self.exprs.len() - 1)
    }

    pub(super) fn access(&mut self, buf: BufId, dtype: DType, v: &View) -> AccessId {
        self.accesses.push(RawAccess {
            buf,
            dtype,
            offset: v.offset,
            strides: v.strides.clone(),
            valid: vec![None; v.strides.len()],
        });
        AccessId::new(self.accesses.len() - 1)
    }

    pub(super) fn load(
        &mut self,
        v: &View,
        dtype: DType,
        valid: Vec<Option<(usize, usize)>>,
    ) -> ExprId {
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

    pub(super) fn leaf(&mut self, val: &Val, dtype: DType) -> Option<ExprId> {
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

    pub(super) fn store(&mut self, value: ExprId, v: &View, dtype: DType) {
        let a = self.access(v.buf, dtype, v);
        self.stores.push((value, a));
    }

    /// Orders the loop dims (kept, then reduced), drops unit dims, merges
    /// dims that every access walks contiguously, and splits outer/inner.
    pub(super) fn finish(self, label: String) -> Kernel {
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
