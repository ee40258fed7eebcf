//! Algebraic simplification: local rewrites that AD output needs.
//!
//! **Exactness.** By default every rewrite preserves every result bit for
//! bit under IEEE 754 as the interpreter computes it: signed zeros,
//! infinities, overflow, underflow and subnormals included. NaN stays NaN
//! wherever the program gives NaN, but the *sign and payload* of a NaN are
//! not preserved: IEEE 754 (§6.3) leaves the sign of a NaN produced by
//! arithmetic unspecified, hardware disagrees (x86's default NaN is
//! negative, AArch64's positive, RISC-V's canonical), and Rust leaves it
//! unspecified too, so no engine could promise it. The rewrites that can
//! flip a NaN's sign are those that move a negation (`a + (-b) → a - b`,
//! `(-x)·c → x·(-c)`, `(-a)(-b) → ab`, `x·(-1) → -x`). Signaling NaNs are
//! treated as quiet (`x·1 → x` returns an sNaN input unquieted).
//!
//! Rewrites that are not exact run only with `simplify{fast_math=true}`
//! (as `-ffast-math` does for a C compiler); they are marked *fast* below.
//!
//! - `x + (-0)`, `(-0) + x`, `x - 0`, `x·1`, `1·x`, `x/1` → `x`;
//!   `(-0) - x`, `x·(-1)`, `(-1)·x` → `-x`;
//! - `x + 0`, `0 + x`, `x - (-0)`, and `reduce_sum` over no axes → `x` when
//!   `x` is never `-0` (a sum, `exp`, `relu`, a constant without `-0`, …;
//!   *fast* otherwise: `-0 + 0 = +0`);
//! - *fast*: `0 - x` → `-x` (`0 - 0 = +0`); `pow(x, 2)` → `x·x` (glibc's
//!   `pow` is not correctly rounded, so it differs from the square by an
//!   ulp on about one value in 2,000); `pow(x, 1)` → `x` (true of glibc's
//!   `pow`, but a polynomial `pow` promises only an error bound);
//! - `a + (-b)` → `a - b`; `(-a) + b` → `b - a`; `a - (-b)` → `a + b`;
//!   `(-a)·(-b)` → `a·b`; `-(-x)` → `x`; `(-x)·c` and `-(x·c)` → `x·(-c)`
//!   for a splat constant `c`;
//! - `c1·(c2·x)` → `(c1·c2)·x` when `|c1|` and `|c2|` are powers of two of
//!   at least 1 (no rounding, and the inner product overflows exactly when
//!   the folded one does); *fast*: whenever one of them is a power of two;
//! - `broadcast`/`reshape`/`transpose`/`cast` to the operand's own type,
//!   full `slice`, zero `pad`, one-operand `concat`, `reduce_max` over no
//!   axes → the operand;
//! - `broadcast(broadcast x)`, `reshape(reshape x)` → one op;
//!   `transpose(transpose x)` → one transpose with the composed permutation
//!   (or `x` if it is the identity); `cast(cast x)` `f32→f64→f32` → `x`;
//! - `reshape`/`transpose` of a broadcast scalar, and `broadcast` of a
//!   reshaped scalar → a broadcast of the scalar;
//! - `reduce_sum` over broadcast axes of `broadcast x` (`n` copies of each
//!   element summed): zeros if `n = 0`; `x·n` (after `x + 0` if `x` may be
//!   `-0`) for the `n` where the sum order of docs/ir.md §14 rounds once
//!   (1, 2, 3, 4, 6, 8, 12); *fast*: `x·n` for any `n`;
//! - `select(c, x, x)` → `x`.
//!
//! `x·0` is never rewritten (`inf·0` and `NaN·0` are NaN); AD avoids
//! materialising such products through symbolic zeros instead.
//!
//! **Loops.** The pass runs in every body ([`crate::nested`], innermost
//! first). In each function it first rewrites loops ([`rewrite_loops`]: a
//! `cond` on a constant predicate, a `scan` of length 0 or 1, a `while`
//! with `max_trips=0`), then hoists loop invariants
//! ([`crate::licm::hoist_here`]), then walks the nodes. All of that is
//! exact.
//!
//! **Cost.** One walk in topological order: a node is rewritten once its
//! operands are final, the nodes a rewrite creates are simplified at once,
//! and the replaced node's users come later in the walk. So the result is
//! a fixed point after one walk, in O(n log n) for n nodes (the log from
//! the topological sort), with a budget on the number of rewrites as a
//! guard against a rule cycle.

mod loops;
mod rules;

pub use loops::rewrite_loops;

use crate::nested::{run_nested, Order};
use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{Error, Graph, NodeId, Result};
use petgraph::graph::NodeIndex;
use petgraph::visit::NodeIndexable;
use petgraph::Direction;

const DONE: u8 = 1;
const NO_NEG_ZERO: u8 = 2;
const COUNTED: u8 = 4;
const DEAD: u8 = 8;
const PARAM: u8 = 16;

/// Removing a node walks the user list of each of its operands; past this
/// many users the removal waits for the end of the walk.
const CHEAP_USES: usize = 32;

/// The walk's state, per node index: whether the node is final (`DONE`),
/// its fact (`NO_NEG_ZERO`), whether its operand uses are counted in
/// `uses` (`COUNTED`), and whether it is dead (`DEAD`: replaced, or left
/// without uses by a replacement). A dead node is removed at once when
/// its operands have few users, else with the others at the end (removing
/// a node costs time in the use count of its operands, quadratic in all
/// for a shared operand). A removed node's index may be reused by a new
/// node, so its entries are cleared.
struct Walk {
    flags: Vec<u8>,
    /// Uses of each node by counted, live nodes, plus output appearances.
    uses: Vec<u32>,
    dead: Vec<NodeId>,
    removed: Vec<&'static str>,
    fast_math: bool,
    budget: usize,
}

impl Walk {
    fn grow(&mut self, n: NodeId) {
        if self.flags.len() <= n.index() {
            self.flags.resize(n.index() + 1, 0);
            self.uses.resize(n.index() + 1, 0);
        }
    }

    fn flag(&self, n: NodeId) -> u8 {
        self.flags.get(n.index()).copied().unwrap_or(0)
    }

    fn has(&self, n: NodeId, f: u8) -> bool {
        self.flag(n) & f != 0
    }

    fn add_flag(&mut self, n: NodeId, f: u8) {
        self.grow(n);
        self.flags[n.index()] |= f;
    }

    /// Counts the operand uses of `n` (once).
    fn count(&mut self, g: &Graph, n: NodeId) {
        if self.has(n, COUNTED) {
            return;
        }
        self.add_flag(n, COUNTED);
        for o in g.operands(n) {
            self.grow(o);
            self.uses[o.index()] += 1;
        }
    }

    /// Counts the operand uses of `r` and of the new nodes it is built
    /// from (before a replacement can leave their operands without uses).
    fn count_new(&mut self, g: &Graph, r: NodeId) {
        let mut stack = vec![r];
        while let Some(n) = stack.pop() {
            if !self.has(n, COUNTED) {
                self.count(g, n);
                stack.extend(g.operands(n));
            }
        }
    }

    fn finish(&mut self, g: &Graph, n: NodeId) {
        let nz = rules::never_neg_zero(g, n, &|o| self.has(o, NO_NEG_ZERO));
        self.add_flag(n, DONE | if nz { NO_NEG_ZERO } else { 0 });
    }

    /// Marks `n` dead, then every counted operand chain left without uses
    /// (never parameters). A dead node whose operands have few users is
    /// removed at once (so its id is reused, as after removing it alone);
    /// the others wait for the end.
    fn kill(&mut self, g: &mut Graph, n: NodeId) -> Result<()> {
        let mut stack = vec![n];
        while let Some(d) = stack.pop() {
            if !g.contains(d) || self.has(d, DEAD | PARAM) {
                continue;
            }
            let ops = g.operands(d);
            if self.has(d, COUNTED) {
                for &o in &ops {
                    self.uses[o.index()] -= 1;
                    if self.uses[o.index()] == 0 {
                        stack.push(o);
                    }
                }
            }
            let cheap = ops.iter().all(|&o| {
                g.petgraph()
                    .neighbors_directed(NodeIndex::new(o.index()), Direction::Outgoing)
                    .take(CHEAP_USES + 1)
                    .count()
                    <= CHEAP_USES
            });
            if cheap {
                self.removed.push(g[d].op.name());
                g.remove_node(d)?;
                // The id may be reused by a new node.
                self.grow(d);
                self.flags[d.index()] = 0;
                self.uses[d.index()] = 0;
            } else {
                self.add_flag(d, DEAD);
                self.dead.push(d);
            }
        }
        Ok(())
    }

    /// Simplifies `root` and every not-yet-final node it depends on
    /// (operands first), to a fixed point.
    fn settle(&mut self, g: &mut Graph, root: NodeId) -> Result<()> {
        let mut stack = vec![(root, false)];
        while let Some((n, expanded)) = stack.pop() {
            if !g.contains(n) || self.has(n, DONE | DEAD) {
                continue;
            }
            if !expanded {
                self.count(g, n);
                stack.push((n, true));
                for o in g.operands(n) {
                    if !self.has(o, DONE) {
                        stack.push((o, false));
                    }
                }
                continue;
            }
            let r = if self.budget > 0 {
                let flags = &self.flags;
                let known =
                    |o: NodeId| flags.get(o.index()).copied().unwrap_or(0) & NO_NEG_ZERO != 0;
                let cx = rules::Ctx {
                    fast_math: self.fast_math,
                    no_neg_zero: &known,
                };
                rules::rewrite(g, n, &cx)?
            } else {
                None
            };
            match r {
                Some(r) if r != n => {
                    self.budget -= 1;
                    self.count_new(g, r);
                    g.replace_all_uses(n, r);
                    self.grow(r.max(n));
                    self.uses[r.index()] += std::mem::take(&mut self.uses[n.index()]);
                    self.kill(g, n)?;
                    // `r` (if new) and the nodes it was built from are
                    // simplified next.
                    stack.push((r, false));
                }
                _ => self.finish(g, n),
            }
        }
        Ok(())
    }
}

/// Applies the exact rewrites (and with `fast_math` the inexact ones too)
/// to a fixed point; returns the number of nodes added and the ops of the
/// nodes removed.
pub fn simplify_graph_with(g: &mut Graph, fast_math: bool) -> Result<(usize, Vec<&'static str>)> {
    let start = g.len();
    let order = g.topo_order()?;
    let bound = g.petgraph().node_bound();
    let mut w = Walk {
        flags: vec![0; bound],
        uses: vec![0; bound],
        dead: Vec::new(),
        removed: Vec::new(),
        fast_math,
        budget: 8 * start + 1024,
    };
    for &id in &order {
        w.count(g, id);
    }
    for &o in g.outputs() {
        w.uses[o.index()] += 1;
    }
    for &p in g.params() {
        w.add_flag(p, PARAM);
    }
    for &id in &order {
        if g.contains(id) && !w.has(id, DONE | DEAD) {
            w.settle(g, id)?;
        }
    }
    // Nodes a rewrite created but did not use are neither final nor dead.
    let mut gone = std::mem::take(&mut w.dead);
    gone.extend(
        g.node_ids()
            .into_iter()
            .filter(|&n| !w.has(n, DONE | DEAD | PARAM)),
    );
    let mut removed = std::mem::take(&mut w.removed);
    removed.extend(g.remove_nodes(&gone)?.iter().map(|n| n.op.name()));
    let added = (g.len() + removed.len()).saturating_sub(start);
    Ok((added, removed))
}

/// [`simplify_graph_with`] without fast math: exact rewrites only.
pub fn simplify_graph(g: &mut Graph) -> Result<(usize, Vec<&'static str>)> {
    simplify_graph_with(g, false)
}

/// The `simplify` pass.
#[derive(Clone, Debug, Default)]
pub struct Simplify {
    /// Also apply the rewrites that are not exact (option `fast_math`).
    pub fast_math: bool,
}

impl Pass for Simplify {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let (mut added, mut removed) = (0, Vec::new());
        run_nested(g, Order::BottomUp, |h| {
            let (a1, r1) = rewrite_loops(h)?;
            let (a2, loops) = crate::licm::hoist_here(h)?;
            let (a3, r3) = simplify_graph_with(h, self.fast_math)?;
            let changed = a1 + a2 + a3 > 0 || loops > 0 || !r1.is_empty() || !r3.is_empty();
            added += a1 + a2 + a3;
            removed.extend(r1);
            removed.extend(r3);
            Ok(changed)
        })?;
        Ok(PassStats::removing(added, &removed))
    }
}

impl PassType for Simplify {
    const NAME: &'static str = "simplify";
    const SUMMARY: &'static str =
        "algebraic simplification, exact in IEEE arithmetic (x*1, x-0, neg(neg x), broadcast/reshape/transpose chains, ...), in bodies too; trivial loops replaced, loop invariants hoisted";
    const OPTIONS: &'static [OptionSpec] = &[OptionSpec {
        name: "fast_math",
        help: "true: also rewrites that may change results (x+0 -> x, 0-x -> -x, pow(x,1|2), sums of copies -> x*n, constant reassociation); default false",
    }];
    fn from_options(o: &PassOptions) -> Result<Self> {
        let fast_math = match o.get_one(Self::NAME, "fast_math")? {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(Error::input(format!(
                    "simplify: option `fast_math` must be `true` or `false`, got `{v}`"
                )))
            }
        };
        Ok(Simplify { fast_math })
    }
}
