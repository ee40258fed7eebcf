//! [`BodyAdjoint`]: the body of a `scan` differentiated, and the pieces
//! of a backward loop built from it that the stored-residual backward scan
//! ([`crate::loop_vjp`]) and the checkpointed `revolve`
//! ([`crate::loop_vjp_budget`]) share: the backward body's carry
//! parameters and outputs, the backward loop's initial carries and `ys`
//! cotangent stacks, and the operands' cotangents from its results.

use crate::emit;
use crate::lin::Lin;
use crate::loop_vjp::{add_param_named, base_name, batched, copy_into};
use adjoint_ir::{BodyRef, Graph, NodeId, Result};
use std::collections::HashMap;

/// The body of a scan differentiated: its VJP graph and what the backward
/// body reads and returns, shared by the stored-residual backward scan
/// ([`scan_vjp`]) and the checkpointed one ([`crate::loop_vjp_budget`]).
pub(crate) struct BodyAdjoint {
    /// The primal body.
    pub body: BodyRef,
    /// Its carries, scanned inputs, length and direction.
    pub k: usize,
    /// The number of scanned inputs.
    pub m: usize,
    /// The trip count.
    pub length: usize,
    /// Whether the primal scan runs backwards.
    pub reverse: bool,
    /// The body's VJP graph: the body (calls prepared) plus cotangent
    /// parameters and adjoint nodes.
    pub gv: Graph,
    /// The body's parameters (also `gv`'s first parameters).
    pub bparams: Vec<NodeId>,
    /// `(carry index, cotangent parameter)` of the carried cotangents.
    pub ct_c: Vec<(usize, NodeId)>,
    /// `(y index, cotangent parameter)` of the nonzero `ys` cotangents.
    pub ct_y: Vec<(usize, NodeId)>,
    /// Operand indices of the invariants that get a cotangent.
    pub inv_idx: Vec<usize>,
    /// Operand indices of the scanned inputs that get a cotangent.
    pub xs_idx: Vec<usize>,
    /// Per step, the cotangents of the carries in `ct_c`, of the
    /// invariants in `inv_idx` and of the slices in `xs_idx`.
    pub carry_outs: Vec<Lin>,
    /// See `carry_outs`.
    pub inv_outs: Vec<Lin>,
    /// See `carry_outs`.
    pub xs_outs: Vec<Lin>,
    /// The adjoint values the backward body returns.
    pub roots: Vec<NodeId>,
}

impl BodyAdjoint {
    /// Adds the backward body's carry parameters (the carry cotangents,
    /// then the invariant accumulators); returns the accumulators.
    pub fn add_carry_params(
        &self,
        bwd: &mut Graph,
        map: &mut HashMap<NodeId, NodeId>,
        batch: &[usize],
    ) -> Result<Vec<NodeId>> {
        let gv = &self.gv;
        for &(_, c) in &self.ct_c {
            let p = add_param_named(bwd, &base_name(gv, c, "ct"), gv.ty(c).clone())?;
            map.insert(c, p);
        }
        let mut accs = Vec::with_capacity(self.inv_idx.len());
        for &i in &self.inv_idx {
            let base = format!("{}_acc", base_name(gv, self.bparams[i], "k"));
            let ty = batched(batch, gv.ty(self.bparams[i]));
            accs.push(add_param_named(bwd, &base, ty)?);
        }
        Ok(accs)
    }

    /// Adds the backward body's parameters for the `ys` cotangent slices.
    pub fn add_ct_y_params(
        &self,
        bwd: &mut Graph,
        map: &mut HashMap<NodeId, NodeId>,
    ) -> Result<()> {
        for &(_, c) in &self.ct_y {
            let p = add_param_named(bwd, &base_name(&self.gv, c, "ct"), self.gv.ty(c).clone())?;
            map.insert(c, p);
        }
        Ok(())
    }

    /// Copies the adjoint nodes into `bwd` (up to the nodes in `map`) and
    /// sets its outputs: the new carry cotangents, the accumulators plus
    /// this step's invariant cotangents, and the slices' cotangents.
    pub fn finish_bwd(
        &self,
        bwd: &mut Graph,
        map: &mut HashMap<NodeId, NodeId>,
        accs: &[NodeId],
        batch: &[usize],
    ) -> Result<()> {
        copy_into(&self.gv, bwd, map, &self.roots, false)?;
        let body = &self.body;
        let mut bouts_b = Vec::new();
        for (&(j, _), l) in self.ct_c.iter().zip(&self.carry_outs) {
            let ty = batched(batch, body.ty(self.bparams[j]));
            let v = match l {
                Lin::Val(v) => map[v],
                Lin::Zero => emit::zeros(bwd, &ty)?,
            };
            bouts_b.push(v);
        }
        for (&acc, l) in accs.iter().zip(&self.inv_outs) {
            let c = l.map(|v| Ok(map[&v]))?;
            let s = Lin::Val(acc).add(bwd, c)?;
            bouts_b.push(s.node().expect("nonzero"));
        }
        for (&i, l) in self.xs_idx.iter().zip(&self.xs_outs) {
            let ty = batched(batch, body.ty(self.bparams[i]));
            let v = match l {
                Lin::Val(v) => map[v],
                Lin::Zero => emit::zeros(bwd, &ty)?,
            };
            bouts_b.push(v);
        }
        bwd.set_outputs(bouts_b);
        Ok(())
    }

    /// The initial backward carries (the carry cotangents, zero
    /// accumulators) and the `ys` cotangent stacks, `[N] ++ batch ++ S`.
    pub fn init_operands(
        &self,
        g: &mut Graph,
        ops: &[NodeId],
        cts: &[Lin],
        batch: &[usize],
    ) -> Result<(Vec<NodeId>, Vec<NodeId>)> {
        let kb = batch.len();
        let mut carries = Vec::new();
        for &(j, _) in &self.ct_c {
            let ty = batched(batch, g.ty(ops[j]));
            carries.push(cts[j].materialize(g, &ty)?);
        }
        for &i in &self.inv_idx {
            let ty = batched(batch, g.ty(ops[i]));
            carries.push(emit::zeros(g, &ty)?);
        }
        let mut stacks = Vec::new();
        for &(i, _) in &self.ct_y {
            let c = cts[self.k + i].node().expect("nonzero y cotangent");
            // batch ++ [N] ++ S  ->  [N] ++ batch ++ S
            let r = g.ty(c).shape.rank();
            let perm: Vec<usize> = std::iter::once(kb).chain(0..kb).chain(kb + 1..r).collect();
            stacks.push(emit::transpose(g, c, perm)?);
        }
        Ok((carries, stacks))
    }

    /// The operands' cotangents from the backward loop's results (its
    /// carries, then the `xs` cotangent stacks `[N] ++ batch ++ S`, each
    /// first passed through `fix`).
    pub fn operand_cotangents(
        &self,
        g: &mut Graph,
        results: &[NodeId],
        needs: &[bool],
        np: usize,
        batch: &[usize],
        mut fix: impl FnMut(&mut Graph, NodeId) -> Result<NodeId>,
    ) -> Result<Vec<Lin>> {
        let kb = batch.len();
        let carry_b = self.ct_c.len() + self.inv_idx.len();
        let mut out = vec![Lin::Zero; np];
        for (r, &(j, _)) in self.ct_c.iter().enumerate() {
            if needs[j] {
                out[j] = Lin::Val(results[r]);
            }
        }
        for (r, &i) in self.inv_idx.iter().enumerate() {
            out[i] = Lin::Val(results[self.ct_c.len() + r]);
        }
        for (r, &i) in self.xs_idx.iter().enumerate() {
            let s = fix(g, results[carry_b + r])?;
            // [N] ++ batch ++ S  ->  batch ++ [N] ++ S
            let rank = g.ty(s).shape.rank();
            let perm: Vec<usize> = (1..=kb)
                .chain(std::iter::once(0))
                .chain(kb + 1..rank)
                .collect();
            out[i] = Lin::Val(emit::transpose(g, s, perm)?);
        }
        Ok(out)
    }
}
