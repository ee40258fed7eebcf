//! The Jacobian-chain pass: `jacobian{wrt=x,..., of=K, mode=auto|fwd|rev}`
//! appends the full Jacobian of one output with respect to each `wrt`
//! parameter, computed in the cheapest multiplication order.
//!
//! It follows the transform contract ([`crate::contract`]): without `wrt`,
//! every float parameter in declaration order; `of=K` names the output when
//! there are several; the existing parameters and outputs are untouched and
//! one output per `wrt` parameter is appended, named `<param>_jac`, of shape
//! `out.shape ++ param.shape` (row-major) and the output's dtype. An
//! identically zero Jacobian is an explicit zero tensor.
//!
//! **Modes.** All three are single graphs (no loops of calls): the
//! derivative rules ([`crate::rules`]) push a whole batch of directions at
//! once, the batch being a leading axis of the (co)tangents.
//! - `fwd` pushes the `n = numel(param)` columns of an identity seed through
//!   a batched JVP ([`crate::forward::push_forward`]);
//! - `rev` pulls the `m = numel(out)` rows of an identity cotangent through a
//!   batched VJP ([`crate::reverse::backpropagate`]);
//! - `auto` (the default) splits the program at its cut points
//!   ([`crate::cut_points`]) into a chain `F_q ∘ … ∘ F_1`, solves the
//!   bracketing problem ([`crate::bracketing::solve`]) and emits exactly the
//!   chosen schedule: preaccumulated stages (forward when `n_i ≤ m_i`,
//!   reverse otherwise, one direction of ones for a diagonal stage), batched
//!   tangent pushes and adjoint pulls through ranges of stages, and dense
//!   `matmul`s of preaccumulated pieces. Where no cut point splits the
//!   program it uses the cheaper of `fwd` and `rev`. When a pure mode is
//!   within 1% of the optimum it is used instead (a near tie: the pure
//!   schedule has fewer pieces, products and transposes, fixed costs the
//!   FMA count does not see), and the note says so.
//!
//! **Loops.** A `scan`, `while` or `cond` is an opaque piece of one stage
//! (never split, never a cut point itself), costed by its trip count times
//! the cost of one trip through its body ([`crate::cut_points`]); tangents
//! and adjoints go through it by the loop transforms of forward and
//! reverse mode, batched. Reverse mode cannot go through an unbounded
//! `while` through which a nonzero tangent flows (rule 5 of the loop
//! clarifications): `mode=rev` is then an error naming the while and
//! `max_trips`, and `mode=auto` goes forward through that stage (the
//! solver never pulls adjoints through it, nor takes pure reverse mode).
//!
//! Each parameter gets its own chain (the cut points depend on where the
//! parameter enters), solved and emitted independently.
//!
//! The pass explains its choice in [`PassStats::notes`], which dumps print
//! as `#` comments:
//!
//! ```text
//! # jacobian auto d%y/d%x: (F4·F3)·(F2·F1) [adjoint|dense|tangent] cost 1.3e6 fma; fwd 8.1e6; rev 4.0e6
//! ```
//!
//! Batched matrix-vector products in the emitted derivative are rewritten
//! as one matrix-matrix product each ([`crate::batched_matvec`]).
//!
//! **Identity seeds** are built without an `n × n` constant: a constant
//! index ramp `[0, 1, …, n-1]` compared for equality with its own transpose
//! (`eq` of two broadcasts) and cast to the float dtype, so the IR holds `n`
//! constants, not `n²`.
//!
//! ```
//! use adjoint_ir::{GraphBuilder, Tensor, TensorType};
//! use adjoint_passes::PassManager;
//! let b = GraphBuilder::new("f");
//! let x = b.param("x", TensorType::f64([2]));
//! let mut g = b.build(&[x.sin()]).unwrap();
//! PassManager::parse("jacobian").unwrap().run(&mut g).unwrap();
//! let x0 = Tensor::from_f64([2], vec![0.0, 1.0]).unwrap();
//! let out = adjoint_interp::eval(&g, &[x0]).unwrap();
//! assert_eq!(out[1].shape().dims(), &[2, 2]);
//! assert_eq!(out[1].to_f64_vec(), vec![1.0, 0.0, 0.0, 1.0f64.cos()]);
//! ```

use crate::bracketing::{self, Plan, Solution};
use crate::budget::{self, Budget};
use crate::contract::{self, Rule};
use crate::cut_points::{self, Chain, Stage};
use crate::forward::{push_forward, push_forward_in_order};
use crate::registry::{OptionSpec, PassType};
use crate::reverse::{backpropagate, backpropagate_in_order};
use crate::{batched_matvec, emit, Pass, PassOptions, PassStats};
use adjoint_ir::{CompareOp, DType, Error, Graph, NodeId, Op, Result, Shape, Tensor, TensorType};
use std::collections::HashSet;

/// How the Jacobian is accumulated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The cheapest bracketing of the chain of cut points (the default).
    #[default]
    Auto,
    /// Forward mode: one tangent column per parameter element.
    Fwd,
    /// Reverse mode: one adjoint row per output element.
    Rev,
}

impl Mode {
    /// Parses `auto`, `fwd` or `rev`.
    pub fn parse(s: &str) -> Result<Mode> {
        match s {
            "auto" => Ok(Mode::Auto),
            "fwd" => Ok(Mode::Fwd),
            "rev" => Ok(Mode::Rev),
            other => Err(Error::input(format!(
                "jacobian: unknown mode `{other}`; valid modes: auto, fwd, rev"
            ))),
        }
    }

    /// The mode's name in pipelines.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Fwd => "fwd",
            Mode::Rev => "rev",
        }
    }
}

/// `jacobian{wrt=..., of=K, mode=auto|fwd|rev}` (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Jacobian {
    /// Parameter names; `None` means every float parameter.
    pub wrt: Option<Vec<String>>,
    /// The output to differentiate; needed when there are several.
    pub of: Option<usize>,
    /// How to accumulate.
    pub mode: Mode,
    /// Reverse loops in the reverse sweeps under this memory budget
    /// ([`crate::budget`]).
    pub budget: Budget,
}

/// A preaccumulated piece of the Jacobian: the matrix of a sub-chain.
#[derive(Clone, Copy, Debug)]
enum Piece {
    /// A dense `[m, n]` matrix.
    Dense(NodeId),
    /// A structurally diagonal matrix, as its diagonal `[m]`.
    Diag(NodeId),
}

/// The emitter: appends the nodes of one Jacobian to the graph.
struct Emitter<'g> {
    g: &'g mut Graph,
    /// The dtype of the pieces (the output's dtype).
    dtype: DType,
    /// The chain's stages, whose node lists are the regions tangents and
    /// adjoints flow through (so each push or pull costs time in its
    /// region, not in the whole graph).
    stages: Vec<Stage>,
}

fn numel(g: &Graph, n: NodeId) -> usize {
    g.ty(n).numel()
}

impl Emitter<'_> {
    /// The nodes from cut point `from` to cut point `to`, in topological
    /// order (`from` first): the input of the stage that starts at `from`
    /// and the nodes of every stage up to the one that ends at `to`. `None`
    /// if they are not cut points of the chain in that order.
    fn region(&self, from: NodeId, to: NodeId) -> Option<Vec<NodeId>> {
        let i = self.stages.iter().position(|s| s.input == from)?;
        let j = i + self.stages[i..].iter().position(|s| s.output == to)?;
        let mut order = vec![from];
        for s in &self.stages[i..=j] {
            order.extend_from_slice(&s.nodes);
        }
        Some(order)
    }

    /// An `n × n` identity of the pieces' dtype, from an index ramp.
    fn identity(&mut self, n: usize) -> Result<NodeId> {
        let ramp: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let r = self.g.constant(Tensor::from_f64([n], ramp)?);
        let sq = Shape::new([n, n]);
        let col = emit::reshape(self.g, r, &Shape::new([n, 1]))?;
        let rows = emit::broadcast(self.g, col, &sq)?;
        let cols = emit::broadcast(self.g, r, &sq)?;
        let eq = self.g.add(Op::Compare(CompareOp::Eq), &[rows, cols])?;
        emit::cast(self.g, eq, self.dtype)
    }

    /// The dense `[m, m]` matrix of a piece.
    fn dense(&mut self, p: Piece) -> Result<NodeId> {
        match p {
            Piece::Dense(n) => Ok(n),
            Piece::Diag(d) => {
                let m = numel(self.g, d);
                let eye = self.identity(m)?;
                let col = emit::reshape(self.g, d, &Shape::new([m, 1]))?;
                emit::mul(self.g, eye, col)
            }
        }
    }

    /// Pushes the rows of `seed` (`[B, numel(from)]`) forward from `from` to
    /// `to` as `B` tangent directions; returns `[B, numel(to)]`.
    fn push(&mut self, from: NodeId, seed: NodeId, to: NodeId) -> Result<NodeId> {
        let b = self.g.ty(seed).shape.dims()[0];
        let fty = self.g.ty(from).clone();
        let s = emit::cast(self.g, seed, fty.dtype)?;
        let s = emit::reshape(self.g, s, &emit::prefixed(&[b], &fty.shape))?;
        let t = match self.region(from, to) {
            Some(order) => push_forward_in_order(self.g, &[(from, s)], &[to], &[b], &order)?[0],
            None => push_forward(self.g, &[(from, s)], &[to], &[b])?[0],
        };
        let tty = self.g.ty(to).clone();
        let bt = TensorType::new(tty.dtype, emit::prefixed(&[b], &tty.shape));
        let t = t.materialize(self.g, &bt)?;
        let t = emit::reshape(self.g, t, &Shape::new([b, tty.numel()]))?;
        emit::cast(self.g, t, self.dtype)
    }

    /// Pulls the rows of `seed` (`[B, numel(to)]`) back from `to` to `from`
    /// as `B` adjoint directions; returns `[B, numel(from)]`.
    fn pull(&mut self, to: NodeId, seed: NodeId, from: NodeId) -> Result<NodeId> {
        let b = self.g.ty(seed).shape.dims()[0];
        let tty = self.g.ty(to).clone();
        let s = emit::cast(self.g, seed, tty.dtype)?;
        let s = emit::reshape(self.g, s, &emit::prefixed(&[b], &tty.shape))?;
        let c = match self.region(from, to) {
            Some(order) => backpropagate_in_order(self.g, &[(to, s)], &[from], &[b], &order)?[0],
            None => backpropagate(self.g, &[(to, s)], &[from], &[b])?[0],
        };
        let fty = self.g.ty(from).clone();
        let bf = TensorType::new(fty.dtype, emit::prefixed(&[b], &fty.shape));
        let c = c.materialize(self.g, &bf)?;
        let c = emit::reshape(self.g, c, &Shape::new([b, fty.numel()]))?;
        emit::cast(self.g, c, self.dtype)
    }

    /// The Jacobian `[numel(to), numel(from)]` by forward mode.
    fn forward(&mut self, from: NodeId, to: NodeId) -> Result<NodeId> {
        let eye = self.identity(numel(self.g, from))?;
        let t = self.push(from, eye, to)?;
        emit::transpose(self.g, t, vec![1, 0])
    }

    /// The Jacobian `[numel(to), numel(from)]` by reverse mode.
    fn reverse(&mut self, from: NodeId, to: NodeId) -> Result<NodeId> {
        let eye = self.identity(numel(self.g, to))?;
        self.pull(to, eye, from)
    }

    /// The diagonal of a structurally diagonal map, by one direction of
    /// ones: `[numel(to)]`.
    fn diagonal(&mut self, from: NodeId, to: NodeId) -> Result<NodeId> {
        let n = numel(self.g, from);
        let ones = emit::full(self.g, &TensorType::new(self.dtype, [1, n]), 1.0)?;
        let t = self.push(from, ones, to)?;
        emit::reshape(self.g, t, &Shape::new([numel(self.g, to)]))
    }

    /// The product of two pieces (`left · right`).
    fn product(&mut self, l: Piece, r: Piece) -> Result<Piece> {
        Ok(match (l, r) {
            (Piece::Dense(a), Piece::Dense(b)) => Piece::Dense(self.g.add(Op::MatMul, &[a, b])?),
            // A · diag(d): scale the columns.
            (Piece::Dense(a), Piece::Diag(d)) => Piece::Dense(emit::mul(self.g, a, d)?),
            // diag(d) · B: scale the rows.
            (Piece::Diag(d), Piece::Dense(b)) => {
                let m = numel(self.g, d);
                let col = emit::reshape(self.g, d, &Shape::new([m, 1]))?;
                Piece::Dense(emit::mul(self.g, col, b)?)
            }
            (Piece::Diag(a), Piece::Diag(b)) => Piece::Diag(emit::mul(self.g, a, b)?),
        })
    }

    /// Emits `plan` for `chain`: the matrix of the sub-chain it covers.
    fn plan(&mut self, chain: &Chain, plan: &Plan) -> Result<Piece> {
        let st = &chain.stages;
        match plan {
            Plan::Leaf(i) => {
                let s = &st[*i];
                let (n, m) = (numel(self.g, s.input), numel(self.g, s.output));
                Ok(if s.diagonal {
                    Piece::Diag(self.diagonal(s.input, s.output)?)
                } else if n <= m || s.forward_only {
                    Piece::Dense(self.forward(s.input, s.output)?)
                } else {
                    Piece::Dense(self.reverse(s.input, s.output)?)
                })
            }
            Plan::Dense { left, right } => {
                let l = self.plan(chain, left)?;
                let r = self.plan(chain, right)?;
                self.product(l, r)
            }
            Plan::Tangent { right, first, last } => {
                let r = self.plan(chain, right)?;
                let r = self.dense(r)?;
                let cols = emit::transpose(self.g, r, vec![1, 0])?;
                let t = self.push(st[*first].input, cols, st[*last].output)?;
                Ok(Piece::Dense(emit::transpose(self.g, t, vec![1, 0])?))
            }
            Plan::Adjoint { left, first, last } => {
                let l = self.plan(chain, left)?;
                let rows = self.dense(l)?;
                Ok(Piece::Dense(self.pull(
                    st[*last].output,
                    rows,
                    st[*first].input,
                )?))
            }
        }
    }
}

/// The predicted costs (FMAs) of one parameter's Jacobian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// The chain of cut points, if any derivative flows.
    pub chain: Option<Chain>,
    /// The DP solution for the chain (when it has at least one stage).
    pub solution: Option<Solution>,
    /// `n·Σ|E|`.
    pub fwd: u128,
    /// `m·Σ|E|`.
    pub rev: u128,
}

/// Decomposes and solves the Jacobian of `y` with respect to `x` without
/// changing the graph: the chain, the DP's plan and the predicted costs of
/// auto, fwd and rev.
pub fn predict(g: &Graph, x: NodeId, y: NodeId) -> Result<Prediction> {
    let mut chain = cut_points::decompose(g, x, y)?;
    if let Some(c) = chain.as_mut() {
        c.coarsen(g, MAX_STAGES);
    }
    let (n, m) = (numel(g, x) as u128, numel(g, y) as u128);
    let total = chain.as_ref().map_or(0, |c| c.total_cost() as u128);
    let solution = match &chain {
        Some(c) if !c.stages.is_empty() => Some(bracketing::solve(&c.factors(g))?),
        _ => None,
    };
    Ok(Prediction {
        chain,
        solution,
        fwd: n * total,
        rev: m * total,
    })
}

/// Chains longer than this are coarsened at their widest cut points before
/// the O(q³) solver runs ([`Chain::coarsen`]).
pub const MAX_STAGES: usize = 128;

/// Auto mode uses a pure mode when it costs at most `1 + 1/TIE_DEN` times
/// the DP's optimum (a 1% tie band).
const TIE_DEN: u128 = 100;

fn sci(v: u128) -> String {
    format!("{:.1e}", v as f64)
}

impl Jacobian {
    /// Emits the Jacobian of `y` with respect to `x` as a `[m, n]` matrix
    /// (`m = numel(y)`, `n = numel(x)`) and explains the choice.
    fn emit_one(&self, g: &mut Graph, x: NodeId, y: NodeId) -> Result<(NodeId, String)> {
        let dtype = g.ty(y).dtype;
        let (n, m) = (numel(g, x), numel(g, y));
        let what = format!("d{}/d{}", g.display_name(y), g.display_name(x));
        let pred = predict(g, x, y)?;
        let stages = pred
            .chain
            .as_ref()
            .map(|c| c.stages.clone())
            .unwrap_or_default();
        let mut e = Emitter { g, dtype, stages };
        let Some(chain) = pred.chain.as_ref().filter(|_| n > 0 && m > 0) else {
            let z = emit::zeros(e.g, &TensorType::new(dtype, [m, n]))?;
            return Ok((
                z,
                format!(
                    "jacobian {} {what}: identically zero (no derivative reaches the output)",
                    self.mode.name()
                ),
            ));
        };
        if chain.stages.is_empty() {
            let eye = e.identity(n)?;
            return Ok((
                eye,
                format!(
                    "jacobian {} {what}: the output is the parameter (identity)",
                    self.mode.name()
                ),
            ));
        }
        let costs = format!("fwd {}; rev {}", sci(pred.fwd), sci(pred.rev));
        let mode = self.mode;
        match mode {
            Mode::Fwd => Ok((
                e.forward(x, y)?,
                format!(
                    "jacobian fwd {what}: {n} tangent direction(s) through {} stage(s); {costs} fma",
                    chain.stages.len()
                ),
            )),
            Mode::Rev => Ok((
                e.reverse(x, y)?,
                format!(
                    "jacobian rev {what}: {m} adjoint direction(s) through {} stage(s); {costs} fma",
                    chain.stages.len()
                ),
            )),
            Mode::Auto => {
                let sol = pred
                    .solution
                    .clone()
                    .ok_or_else(|| Error::pass("jacobian: internal: chain without a solution"))?;
                // Pure reverse mode is out when a stage only goes forward
                // (an unbounded while, rule 5).
                let rev_ok = !chain.forward_only();
                let fo_note = if rev_ok {
                    String::new()
                } else {
                    let fo: Vec<String> = (0..chain.stages.len())
                        .filter(|&i| chain.stages[i].forward_only)
                        .map(|i| format!("F{}", i + 1))
                        .collect();
                    format!("; forward only through {} (an unbounded while)", fo.join(", "))
                };
                let pure = if rev_ok {
                    pred.fwd.min(pred.rev)
                } else {
                    pred.fwd
                };
                if chain.stages.len() > 1 && pure * TIE_DEN <= sol.optimal * (TIE_DEN + 1) {
                    // A near tie: the pure mode has fewer pieces and
                    // products, so it wins on the fixed costs the FMA
                    // count does not see.
                    let (j, name) = if rev_ok && pred.rev <= pred.fwd {
                        (e.reverse(x, y)?, "rev")
                    } else {
                        (e.forward(x, y)?, "fwd")
                    };
                    let note = format!(
                        "jacobian auto {what}: {} cost {} fma is within 1% of pure {name}: using {name}, the simpler schedule; {costs}{fo_note}",
                        sol.bracketing(),
                        sci(sol.optimal)
                    );
                    return Ok((j, note));
                }
                let piece = e.plan(chain, &sol.plan)?;
                let j = e.dense(piece)?;
                let note = if chain.stages.len() == 1 {
                    let how = if chain.stages[0].diagonal {
                        "the diagonal from one direction"
                    } else if chain.stages[0].forward_only {
                        "fwd (reverse mode cannot go through an unbounded while)"
                    } else if n <= m {
                        "fwd, the cheaper pure mode"
                    } else {
                        "rev, the cheaper pure mode"
                    };
                    format!(
                        "jacobian auto {what}: no cut point splits the program; using {how}: cost {} fma; {costs}",
                        sci(sol.optimal)
                    )
                } else {
                    format!(
                        "jacobian auto {what}: {} cost {} fma; {costs}",
                        sol.bracketing(),
                        sci(sol.optimal)
                    )
                };
                Ok((j, note + &fo_note))
            }
        }
    }
}

/// If `n` is a chain of `reshape`s (emitted by this pass) of a value that
/// already has `n`'s shape, that value; the unused reshapes are removed.
fn collapse_reshapes(g: &mut Graph, n: NodeId, existing: &HashSet<NodeId>) -> Result<NodeId> {
    let mut src = n;
    let mut chain = Vec::new();
    while matches!(g[src].op, Op::Reshape { .. }) && !existing.contains(&src) {
        chain.push(src);
        src = g.operands(src)[0];
    }
    if chain.is_empty() || g.ty(src) != g.ty(n) || existing.contains(&src) {
        return Ok(n);
    }
    let mut outs = g.outputs().to_vec();
    for o in outs.iter_mut().filter(|o| **o == n) {
        *o = src;
    }
    g.set_outputs(outs);
    for r in chain {
        if g.use_count(r) == 0 {
            g.remove_node(r)?;
        } else {
            break;
        }
    }
    Ok(src)
}

impl Pass for Jacobian {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let before = g.len();
        contract::prepare_calls(g, Rule::None)?;
        let k = contract::select_output("jacobian", g, self.of)?;
        let wrt = contract::resolve_wrt("jacobian", g, self.wrt.as_deref())?;
        let y = g.outputs()[k];
        let yty = g.ty(y).clone();
        if !yty.dtype.is_float() {
            return Err(Error::pass(format!(
                "jacobian: output {k} of @{} is {yty}; only float outputs have a Jacobian",
                g.name()
            )));
        }
        let existing: HashSet<NodeId> = g.node_ids().into_iter().collect();
        let mut notes = Vec::with_capacity(wrt.len());
        for &p in &wrt {
            let ((j, note), schedules) =
                budget::with_budget(&self.budget, || self.emit_one(g, p, y))?;
            let mut shape = yty.shape.dims().to_vec();
            shape.extend_from_slice(g.ty(p).shape.dims());
            let j = emit::reshape(g, j, &Shape(shape))?;
            let j = emit::cast(g, j, yty.dtype)?;
            g.push_output(j);
            notes.push(note);
            notes.extend(schedules);
        }
        let added: Vec<NodeId> = g
            .node_ids()
            .into_iter()
            .filter(|n| !existing.contains(n))
            .collect();
        batched_matvec::to_gemm(g, &added)?;
        // Name each Jacobian on the node that computes it (not on a chain
        // of reshapes that clean-up would fold away, taking the name along).
        let first = g.outputs().len() - wrt.len();
        for (i, &p) in wrt.iter().enumerate() {
            let j = g.outputs()[first + i];
            let j = collapse_reshapes(g, j, &existing)?;
            let mut outs = g.outputs().to_vec();
            outs[first + i] = j;
            g.set_outputs(outs);
            let base = format!("{}_jac", g[p].name.clone().unwrap_or_default());
            contract::name_appended_output(g, first + i, &base);
        }
        Ok(PassStats {
            added: g.len().saturating_sub(before),
            removed: before.saturating_sub(g.len()),
            changed: true,
            notes,
        })
    }
}

impl PassType for Jacobian {
    const NAME: &'static str = "jacobian";
    const SUMMARY: &'static str =
        "append the full Jacobian of one output w.r.t. each wrt parameter, in the cheapest bracketing of its chain";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec {
            name: "wrt",
            help: "parameters to differentiate, in output order (default: all float parameters)",
        },
        OptionSpec {
            name: "of",
            help: "0-based index of the output to differentiate (required with several outputs)",
        },
        OptionSpec {
            name: "mode",
            help: "auto (cheapest bracketing of the chain of cut points, the default), fwd or rev",
        },
        budget::SNAPSHOTS_OPTION,
        budget::MEMORY_OPTION,
    ];
    fn from_options(o: &PassOptions) -> Result<Self> {
        let mode = match o.get_one("jacobian", "mode")? {
            None => Mode::Auto,
            Some(s) => Mode::parse(s)?,
        };
        Ok(Jacobian {
            wrt: contract::wrt_option("jacobian", o)?,
            of: o.get_usize("jacobian", "of")?,
            mode,
            budget: Budget::from_options("jacobian", o)?,
        })
    }
}
