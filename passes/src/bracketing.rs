//! Naumann's generalised Jacobian chain bracketing problem, solved by
//! dynamic programming.
//!
//! A chain `F = F_q ∘ … ∘ F_1` has factors `F_i` with Jacobians of size
//! `m_i × n_i` (`n_{i+1} = m_i`) and a cost `|E_i|`: the FMA count of pushing
//! one tangent or pulling one adjoint direction through `F_i`. A *plan*
//! computes the whole Jacobian `F'` and is a tree of choices:
//!
//! - preaccumulate one factor: `min(n_i, m_i)·|E_i|` (fewer if its Jacobian
//!   is structurally diagonal: then `|E_i|`, one direction);
//! - dense product of two preaccumulated pieces `F_{j..k+1}` and
//!   `F_{k..i}`: their costs plus `m_j·m_k·n_i`;
//! - matrix-free tangent: preaccumulate `F_{k..i}` and push its `n_i`
//!   columns through `F_{k+1} … F_j`: plus `n_i·Σ_{l=k+1..j} |E_l|`;
//! - matrix-free adjoint: preaccumulate `F_{j..k+1}` and pull its `m_j` rows
//!   back through `F_k … F_i`: plus `m_j·Σ_{l=i..k} |E_l|`.
//!
//! A [`Factor::forward_only`] factor (reverse mode cannot go through it)
//! is preaccumulated by its `n_i` columns and never pulled through.
//!
//! [`solve`] finds the cheapest plan in O(q³) time and O(q²) memory, for
//! at most [`MAX_FACTORS`] factors, with exact costs (see [`solve`]); pure forward mode costs
//! `n_1·Σ|E|` and pure reverse mode `m_q·Σ|E|`, and the optimum is never
//! worse than either.
//!
//! ```
//! use adjoint_passes::bracketing::{solve, Factor};
//! let chain = [Factor::new(1, 100, 200), Factor::new(100, 1, 200)];
//! let s = solve(&chain).unwrap();
//! assert_eq!((s.optimal, s.tangent, s.adjoint), (10400, 40000, 40000));
//! assert_eq!(s.bracketing(), "F2·F1 [dense]");
//! ```

use adjoint_ir::{Error, Result};
use std::fmt;

/// One factor `F_i` of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Factor {
    /// Rows of the Jacobian (output size).
    pub m: u64,
    /// Columns of the Jacobian (input size).
    pub n: u64,
    /// FMAs to push one direction through the factor.
    pub cost: u64,
    /// Whether the Jacobian is structurally diagonal (elementwise), so one
    /// direction preaccumulates it.
    pub diagonal: bool,
    /// Whether only tangents go through the factor (reverse mode cannot:
    /// an unbounded `while`, rule 5): no plan pulls adjoints through it,
    /// and it is preaccumulated by its `n` columns.
    pub forward_only: bool,
}

impl Factor {
    /// A dense factor with an `m × n` Jacobian and cost `cost` per direction.
    pub fn new(m: u64, n: u64, cost: u64) -> Factor {
        Factor {
            m,
            n,
            cost,
            diagonal: false,
            forward_only: false,
        }
    }

    /// The cost of preaccumulating this factor's Jacobian on its own.
    pub fn preaccumulation_cost(&self) -> u128 {
        if self.diagonal {
            self.cost as u128
        } else if self.forward_only {
            self.n as u128 * self.cost as u128
        } else {
            self.m.min(self.n) as u128 * self.cost as u128
        }
    }
}

/// How a sub-chain `F_j … F_i` is computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Preaccumulate factor `i` (0-based) on its own.
    Leaf(usize),
    /// Dense product of the two preaccumulated halves.
    Dense {
        /// The later factors `F_j … F_{k+1}`.
        left: Box<Plan>,
        /// The earlier factors `F_k … F_i`.
        right: Box<Plan>,
    },
    /// Preaccumulate `right`, then push its columns through the factors
    /// `first..=last` (0-based, applied in increasing order).
    Tangent {
        /// The preaccumulated earlier part.
        right: Box<Plan>,
        /// First factor pushed through.
        first: usize,
        /// Last factor pushed through.
        last: usize,
    },
    /// Preaccumulate `left`, then pull its rows back through the factors
    /// `first..=last` (0-based, applied in decreasing order).
    Adjoint {
        /// The preaccumulated later part.
        left: Box<Plan>,
        /// First (earliest) factor pulled through.
        first: usize,
        /// Last (latest) factor pulled through.
        last: usize,
    },
}

/// The mode of one multiplication in a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A dense matrix-matrix product.
    Dense,
    /// A batched tangent (forward) push through one factor.
    Tangent,
    /// A batched adjoint (reverse) pull through one factor.
    Adjoint,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Dense => "dense",
            Mode::Tangent => "tangent",
            Mode::Adjoint => "adjoint",
        })
    }
}

impl Plan {
    /// The plan as a fully bracketed product (`·` between factors, `F1`
    /// applied first and written last) and the mode of each `·`, left to
    /// right.
    pub fn render(&self) -> (String, Vec<Mode>) {
        let mut modes = Vec::new();
        let s = self.render_into(&mut modes, true);
        (s, modes)
    }

    fn render_into(&self, modes: &mut Vec<Mode>, top: bool) -> String {
        let wrap = |s: String| if top { s } else { format!("({s})") };
        match self {
            Plan::Leaf(i) => format!("F{}", i + 1),
            Plan::Dense { left, right } => {
                let l = left.render_into(modes, false);
                modes.push(Mode::Dense);
                let r = right.render_into(modes, false);
                wrap(format!("{l}·{r}"))
            }
            Plan::Tangent { right, first, last } => {
                // F_last·(F_{last-1}·(…(F_first·R)))
                let mut s = String::new();
                let count = last - first + 1;
                for l in (*first..=*last).rev() {
                    s.push_str(&format!("F{}·", l + 1));
                    modes.push(Mode::Tangent);
                    if l != *first {
                        s.push('(');
                    }
                }
                s.push_str(&right.render_into(modes, false));
                s.push_str(&")".repeat(count - 1));
                wrap(s)
            }
            Plan::Adjoint { left, first, last } => {
                // ((L·F_last)·F_{last-1})·…·F_first
                let count = last - first + 1;
                let mut s = "(".repeat(count - 1);
                s.push_str(&left.render_into(modes, false));
                for l in (*first..=*last).rev() {
                    modes.push(Mode::Adjoint);
                    s.push_str(&format!("·F{}", l + 1));
                    if l != *first {
                        s.push(')');
                    }
                }
                wrap(s)
            }
        }
    }
}

/// The solution of a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solution {
    /// The optimal cost (FMAs).
    pub optimal: u128,
    /// The cost of pure tangent (forward) accumulation, `n_1·Σ|E|`.
    pub tangent: u128,
    /// The cost of pure adjoint (reverse) accumulation, `m_q·Σ|E|` (the
    /// FMA count, even when a [`Factor::forward_only`] factor rules pure
    /// reverse mode out).
    pub adjoint: u128,
    /// The optimal plan.
    pub plan: Plan,
}

impl Solution {
    /// The bracketing and its modes, e.g. `(F4·F3)·(F2·F1) [adjoint|dense|tangent]`.
    pub fn bracketing(&self) -> String {
        let (s, modes) = self.plan.render();
        let m: Vec<String> = modes.iter().map(|m| m.to_string()).collect();
        format!("{s} [{}]", m.join("|"))
    }

    /// The JSON object printed by `adjoint chain`, written with
    /// `serde_json` in the contract's layout (a space after each `:` and
    /// `,`): `{"optimal": 10400, "tangent": 40000, "adjoint": 40000,
    /// "bracketing": "F2·F1 [dense]"}`. Costs are exact integers.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Json {
            optimal: u128,
            tangent: u128,
            adjoint: u128,
            bracketing: String,
        }
        let v = Json {
            optimal: self.optimal,
            tangent: self.tangent,
            adjoint: self.adjoint,
            bracketing: self.bracketing(),
        };
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, Spaced);
        // A struct of integers and a string always serializes, as UTF-8.
        match serde::Serialize::serialize(&v, &mut ser) {
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

/// serde_json's compact layout with a space after every `:` and `,`, the
/// layout of `adjoint chain`'s output.
struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
}

/// The most factors [`solve`] and [`parse_chain`] accept. The dynamic
/// program is O(q³) in time and O(q²) in memory (two `u128` tables and one
/// `u32` table of q² entries: 36 MB at the limit); 1,024 factors solve in
/// about a second in a release build. Longer chains are an error, reported
/// while reading the chain, before anything is allocated (the Jacobian pass
/// coarsens its chains to [`crate::jacobian::MAX_STAGES`] first).
pub const MAX_FACTORS: usize = 1024;

fn check_chain(chain: &[Factor]) -> Result<()> {
    if chain.is_empty() {
        return Err(Error::input("a chain needs at least one factor"));
    }
    if chain.len() > MAX_FACTORS {
        return Err(too_many(chain.len()));
    }
    for i in 1..chain.len() {
        if chain[i].n != chain[i - 1].m {
            return Err(Error::input(format!(
                "factor F{} takes {} inputs but F{} gives {} outputs",
                i + 1,
                chain[i].n,
                i,
                chain[i - 1].m
            )));
        }
    }
    Ok(())
}

fn too_many(q: usize) -> Error {
    Error::input(format!(
        "a chain of {q} factors is longer than the limit of {MAX_FACTORS} (the solver is O(q³) in time and O(q²) in memory)"
    ))
}

/// The DP's choice for one sub-chain, packed in a `u32`: the kind in the
/// top two bits, the split point `k` below (`k < MAX_FACTORS < 2^30`).
#[derive(Clone, Copy)]
enum Choice {
    Leaf,
    Dense(usize),
    Tangent(usize),
    Adjoint(usize),
}

impl Choice {
    const SHIFT: u32 = 30;

    fn pack(self) -> u32 {
        let (tag, k) = match self {
            Choice::Leaf => (0, 0),
            Choice::Dense(k) => (1, k),
            Choice::Tangent(k) => (2, k),
            Choice::Adjoint(k) => (3, k),
        };
        (tag << Self::SHIFT) | k as u32
    }

    fn unpack(v: u32) -> Choice {
        let k = (v & ((1 << Self::SHIFT) - 1)) as usize;
        match v >> Self::SHIFT {
            0 => Choice::Leaf,
            1 => Choice::Dense(k),
            2 => Choice::Tangent(k),
            _ => Choice::Adjoint(k),
        }
    }
}

/// `a + b`, saturating at `u128::MAX`.
fn add(a: u128, b: u128) -> u128 {
    a.saturating_add(b)
}

/// `a · b`, saturating at `u128::MAX`.
fn mul(a: u128, b: u128) -> u128 {
    a.saturating_mul(b)
}

/// Solves the bracketing problem by dynamic programming over sub-chains.
///
/// Costs are exact. Every cost is computed as `min(true cost, u128::MAX)`
/// (saturating addition and multiplication of non-negative integers
/// compose to exactly that), so any plan that costs less than
/// `u128::MAX = 2^128 − 1` FMAs is compared exactly with every other plan,
/// and the minimum is exact whenever it is below that bound. A chain whose
/// optimum, pure tangent cost or pure adjoint cost reaches `2^128 − 1` is an
/// error rather than a wrapped or rounded number. A chain of more than
/// [`MAX_FACTORS`] factors is an error.
pub fn solve(chain: &[Factor]) -> Result<Solution> {
    check_chain(chain)?;
    let q = chain.len();
    // prefix[i] = Σ_{l<i} |E_l|: at most q·(2^64 − 1), exact in u128.
    let mut prefix = vec![0u128; q + 1];
    for i in 0..q {
        prefix[i + 1] = prefix[i] + chain[i].cost as u128;
    }
    let sum = |a: usize, b: usize| prefix[b + 1] - prefix[a];
    // fwd_only[i] = number of forward-only factors before i.
    let mut fwd_only = vec![0usize; q + 1];
    for i in 0..q {
        fwd_only[i + 1] = fwd_only[i] + usize::from(chain[i].forward_only);
    }
    let pullable = |a: usize, b: usize| fwd_only[b + 1] == fwd_only[a];
    // The cost of the sub-chain F_j ∘ … ∘ F_i (i <= j) is kept twice, so the
    // inner loop over the split k reads both tables contiguously:
    // by_start[i·q + j] and by_end[j·q + i]. choice[i·q + j] is packed.
    let mut by_start = vec![0u128; q * q];
    let mut by_end = vec![0u128; q * q];
    let mut choice = vec![Choice::Leaf.pack(); q * q];
    for i in 0..q {
        let c = chain[i].preaccumulation_cost();
        by_start[i * q + i] = c;
        by_end[i * q + i] = c;
    }
    for len in 2..=q {
        for i in 0..=q - len {
            let j = i + len - 1;
            let (m_j, n_i) = (chain[j].m as u128, chain[i].n as u128);
            // Both factors are below 2^64, so the product is exact.
            let outer = m_j * n_i;
            let mut best = (u128::MAX, Choice::Dense(i));
            for k in i..j {
                let left = by_end[j * q + k + 1]; // F_j … F_{k+1}
                let right = by_start[i * q + k]; // F_k … F_i
                let dense = add(add(left, right), mul(outer, chain[k].m as u128));
                let tangent = add(right, mul(n_i, sum(k + 1, j)));
                let adjoint = if pullable(i, k) {
                    add(left, mul(m_j, sum(i, k)))
                } else {
                    u128::MAX
                };
                for (c, ch) in [
                    (dense, Choice::Dense(k)),
                    (tangent, Choice::Tangent(k)),
                    (adjoint, Choice::Adjoint(k)),
                ] {
                    if c < best.0 {
                        best = (c, ch);
                    }
                }
            }
            by_start[i * q + j] = best.0;
            by_end[j * q + i] = best.0;
            choice[i * q + j] = best.1.pack();
        }
    }
    fn build(choice: &[u32], q: usize, i: usize, j: usize) -> Plan {
        match Choice::unpack(choice[i * q + j]) {
            Choice::Leaf => Plan::Leaf(i),
            Choice::Dense(k) => Plan::Dense {
                left: Box::new(build(choice, q, k + 1, j)),
                right: Box::new(build(choice, q, i, k)),
            },
            Choice::Tangent(k) => Plan::Tangent {
                right: Box::new(build(choice, q, i, k)),
                first: k + 1,
                last: j,
            },
            Choice::Adjoint(k) => Plan::Adjoint {
                left: Box::new(build(choice, q, k + 1, j)),
                first: i,
                last: k,
            },
        }
    }
    let total = sum(0, q - 1);
    let solution = Solution {
        optimal: by_start[q - 1],
        tangent: mul(chain[0].n as u128, total),
        adjoint: mul(chain[q - 1].m as u128, total),
        plan: build(&choice, q, 0, q - 1),
    };
    for (what, v) in [
        ("optimal", solution.optimal),
        ("pure tangent (n_1·Σ|E|)", solution.tangent),
        ("pure adjoint (m_q·Σ|E|)", solution.adjoint),
    ] {
        if v == u128::MAX {
            return Err(Error::input(format!(
                "the chain's {what} cost is at least 2^128 − 1 FMAs, too large to represent exactly"
            )));
        }
    }
    Ok(solution)
}

/// The cost of carrying out `plan` on `chain`, computed directly from the
/// plan tree (independently of the dynamic program), or `None` if it does
/// not fit in a `u128`.
pub fn plan_cost(chain: &[Factor], plan: &Plan) -> Option<u128> {
    fn span(p: &Plan) -> (usize, usize) {
        match p {
            Plan::Leaf(i) => (*i, *i),
            Plan::Dense { left, right } => (span(right).0, span(left).1),
            Plan::Tangent { right, last, .. } => (span(right).0, *last),
            Plan::Adjoint { left, first, .. } => (*first, span(left).1),
        }
    }
    let e =
        |a: usize, b: usize| (a..=b).try_fold(0u128, |s, l| s.checked_add(chain[l].cost as u128));
    match plan {
        Plan::Leaf(i) => Some(chain[*i].preaccumulation_cost()),
        Plan::Dense { left, right } => {
            let (i, k) = span(right);
            let (_, j) = span(left);
            let product = (chain[j].m as u128)
                .checked_mul(chain[k].m as u128)?
                .checked_mul(chain[i].n as u128)?;
            plan_cost(chain, left)?
                .checked_add(plan_cost(chain, right)?)?
                .checked_add(product)
        }
        Plan::Tangent { right, first, last } => {
            let (i, _) = span(right);
            let push = (chain[i].n as u128).checked_mul(e(*first, *last)?)?;
            plan_cost(chain, right)?.checked_add(push)
        }
        Plan::Adjoint { left, first, last } => {
            let (_, j) = span(left);
            let pull = (chain[j].m as u128).checked_mul(e(*first, *last)?)?;
            plan_cost(chain, left)?.checked_add(pull)
        }
    }
}

/// Parses the chain file format of `adjoint chain`: the first line is `q`,
/// then `q` lines `m n E`, `F_1` first; blank lines and lines starting with
/// `#` are ignored. Errors carry the line number.
///
/// ```
/// use adjoint_passes::bracketing::parse_chain;
/// let c = parse_chain("# hourglass\n2\n1 100 200\n100 1 200\n").unwrap();
/// assert_eq!(c.len(), 2);
/// let e = parse_chain("2\n1 100 200\n100 x 200\n").unwrap_err();
/// assert!(e.to_string().contains("line 3"));
/// ```
pub fn parse_chain(text: &str) -> Result<Vec<Factor>> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (ln, first) = lines.next().ok_or_else(|| {
        Error::input("line 1: expected the number of factors q, found an empty file")
    })?;
    let q: usize = match first.parse() {
        Ok(q) => q,
        // All digits but too big for usize: certainly over the limit.
        Err(_) if first.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(Error::input(format!(
                "line {ln}: q = {first} factors is longer than the limit of {MAX_FACTORS}"
            )))
        }
        Err(_) => {
            return Err(Error::input(format!(
                "line {ln}: expected the number of factors q, found '{first}'"
            )))
        }
    };
    if q == 0 {
        return Err(Error::input(format!("line {ln}: q must be at least 1")));
    }
    if q > MAX_FACTORS {
        return Err(too_many(q).context(format!("line {ln}")));
    }
    let mut chain = Vec::with_capacity(q);
    for (ln, l) in lines.by_ref() {
        if chain.len() == q {
            return Err(Error::input(format!(
                "line {ln}: the file declares q = {q} factors but has more lines"
            )));
        }
        let fields: Vec<&str> = l.split_whitespace().collect();
        if fields.len() != 3 {
            return Err(Error::input(format!(
                "line {ln}: expected three integers `m n E`, found '{l}'"
            )));
        }
        let mut v = [0u64; 3];
        for (slot, (f, what)) in v.iter_mut().zip(fields.iter().zip(["m", "n", "E"])) {
            *slot = f.parse().map_err(|_| {
                Error::input(format!(
                    "line {ln}: expected a non-negative integer for {what}, found '{f}'"
                ))
            })?;
        }
        if let Some(prev) = chain.last() {
            let prev: &Factor = prev;
            if prev.m != v[1] {
                return Err(Error::input(format!(
                    "line {ln}: factor F{} takes n = {} inputs but F{} gives m = {} outputs",
                    chain.len() + 1,
                    v[1],
                    chain.len(),
                    prev.m
                )));
            }
        }
        chain.push(Factor::new(v[0], v[1], v[2]));
    }
    if chain.len() != q {
        return Err(Error::input(format!(
            "the file declares q = {q} factors but has {}",
            chain.len()
        )));
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every plan for the sub-chain i..=j, enumerated explicitly.
    fn all_plans(i: usize, j: usize) -> Vec<Plan> {
        if i == j {
            return vec![Plan::Leaf(i)];
        }
        let mut out = Vec::new();
        for k in i..j {
            let lefts = all_plans(k + 1, j);
            let rights = all_plans(i, k);
            for l in &lefts {
                for r in &rights {
                    out.push(Plan::Dense {
                        left: Box::new(l.clone()),
                        right: Box::new(r.clone()),
                    });
                }
            }
            for r in &rights {
                out.push(Plan::Tangent {
                    right: Box::new(r.clone()),
                    first: k + 1,
                    last: j,
                });
            }
            for l in &lefts {
                out.push(Plan::Adjoint {
                    left: Box::new(l.clone()),
                    first: i,
                    last: k,
                });
            }
        }
        out
    }

    fn chain(dims: &[u64], costs: &[u64]) -> Vec<Factor> {
        (0..costs.len())
            .map(|i| Factor::new(dims[i + 1], dims[i], costs[i]))
            .collect()
    }

    #[test]
    fn issue_examples() {
        let s = solve(&[Factor::new(1, 100, 200), Factor::new(100, 1, 200)]).unwrap();
        assert_eq!((s.optimal, s.tangent, s.adjoint), (10400, 40000, 40000));
        let c = [
            Factor::new(50, 1000, 60000),
            Factor::new(5, 50, 300),
            Factor::new(1, 5, 10),
        ];
        let s = solve(&c).unwrap();
        assert_eq!((s.optimal, s.tangent, s.adjoint), (60310, 60310000, 60310));
        assert_eq!(Some(s.optimal), plan_cost(&c, &s.plan));
        assert_eq!(s.bracketing(), "(F3·F2)·F1 [adjoint|adjoint]");
    }

    #[test]
    fn dp_equals_brute_force_on_random_chains() {
        let mut state: u64 = 0x2545F4914F6CDD1D;
        let mut next = |lo: u64, hi: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            lo + state % (hi - lo + 1)
        };
        for trial in 0..300 {
            let q = 1 + (trial % 7);
            let dims: Vec<u64> = (0..=q).map(|_| next(1, 60)).collect();
            let costs: Vec<u64> = (0..q).map(|_| next(1, 5000)).collect();
            let c = chain(&dims, &costs);
            let s = solve(&c).unwrap();
            let brute = all_plans(0, q - 1)
                .iter()
                .map(|p| plan_cost(&c, p).unwrap())
                .min()
                .unwrap();
            assert_eq!(s.optimal, brute, "chain {dims:?} {costs:?}");
            assert_eq!(plan_cost(&c, &s.plan), Some(s.optimal));
            assert!(s.optimal <= s.tangent && s.optimal <= s.adjoint);
        }
    }

    const BIG: u64 = u64::MAX;

    /// Issue 11 item 3: the dense plan's true cost is exactly 2^128, which
    /// wrapped to 0 in u128 and was reported as the optimum.
    #[test]
    fn costs_past_u128_do_not_wrap() {
        let c = [Factor::new(BIG, BIG, 2), Factor::new(1, BIG, 1)];
        let s = solve(&c).unwrap();
        assert_eq!(s.optimal, 3);
        assert_eq!(s.adjoint, 3);
        assert_eq!(s.tangent, 3 * BIG as u128);
        assert_eq!(s.bracketing(), "F2·F1 [adjoint]");
        assert_eq!(plan_cost(&c, &s.plan), Some(3));
        let dense = Plan::Dense {
            left: Box::new(Plan::Leaf(1)),
            right: Box::new(Plan::Leaf(0)),
        };
        assert_eq!(plan_cost(&c, &dense), None, "2^128 does not fit");
    }

    #[test]
    fn unrepresentable_costs_are_errors() {
        // Every plan costs at least 2·(2^64 − 1)^2 > 2^128.
        let c = [Factor::new(BIG, BIG, BIG), Factor::new(BIG, BIG, BIG)];
        let e = solve(&c).unwrap_err().to_string();
        assert!(e.contains("optimal cost") && e.contains("2^128"), "{e}");
        // The optimum (pure adjoint, 2·(2^64 − 1)) fits, pure tangent does not.
        let c = [Factor::new(1, BIG, BIG), Factor::new(1, 1, BIG)];
        let e = solve(&c).unwrap_err().to_string();
        assert!(e.contains("pure tangent") && e.contains("2^128"), "{e}");
        // The largest single factor fits exactly.
        let s = solve(&[Factor::new(BIG, BIG, BIG)]).unwrap();
        assert_eq!(s.optimal, BIG as u128 * BIG as u128);
    }

    /// Saturated comparisons are exact: with huge dimensions, where many
    /// plans overflow u128, the DP still finds the brute-force optimum.
    #[test]
    fn dp_equals_brute_force_on_huge_chains() {
        let mut state: u64 = 0x9E3779B97F4A7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut solved = 0;
        for trial in 0..400 {
            let q = 1 + (trial % 6);
            // Mix tiny and near-2^64 dimensions and costs.
            let mut pick = || match next() % 4 {
                0 => 1 + next() % 4,
                1 => BIG - next() % 4,
                2 => 1 << (next() % 64),
                _ => next(),
            };
            let dims: Vec<u64> = (0..=q).map(|_| pick()).collect();
            let costs: Vec<u64> = (0..q).map(|_| pick()).collect();
            let c = chain(&dims, &costs);
            let brute = all_plans(0, q - 1)
                .iter()
                .filter_map(|p| plan_cost(&c, p))
                .min();
            match solve(&c) {
                Ok(s) => {
                    assert_eq!(Some(s.optimal), brute, "chain {dims:?} {costs:?}");
                    assert_eq!(plan_cost(&c, &s.plan), Some(s.optimal));
                    assert!(s.optimal <= s.tangent && s.optimal <= s.adjoint);
                    solved += 1;
                }
                Err(e) => {
                    let e = e.to_string();
                    assert!(e.contains("2^128"), "{e}");
                    // Either no plan fits, or a pure mode's cost does not.
                    let total: u128 = costs.iter().map(|&x| x as u128).sum();
                    let fits = |d: u64| {
                        (d as u128)
                            .checked_mul(total)
                            .is_some_and(|v| v < u128::MAX)
                    };
                    let pure_fits = fits(dims[0]) && fits(dims[q]);
                    assert!(
                        brute.is_none_or(|b| b == u128::MAX) || !pure_fits,
                        "chain {dims:?} {costs:?}: {e}"
                    );
                }
            }
        }
        assert!(solved > 100, "only {solved} chains solved");
    }

    #[test]
    fn long_chains_are_refused_before_allocating() {
        let e = parse_chain(&format!("{}\n", MAX_FACTORS + 1)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("line 1") && msg.contains("limit of 1024"),
            "{msg}"
        );
        let e = parse_chain("# huge\n99999999999999999999999999\n").unwrap_err();
        assert!(e.to_string().contains("line 2") && e.to_string().contains("limit"));
        let c = vec![Factor::new(1, 1, 1); MAX_FACTORS + 1];
        let e = solve(&c).unwrap_err();
        assert!(e.to_string().contains("limit of 1024"), "{e}");
        // A chain at a modest length still solves (pure adjoint is optimal
        // for scalar factors: every mode costs Σ|E|).
        let c = vec![Factor::new(1, 1, 1); 200];
        assert_eq!(solve(&c).unwrap().optimal, 200);
    }

    /// Whether `plan` pulls adjoints through factor `f`, or preaccumulates
    /// it on its own (a leaf, which may be by reverse mode).
    fn pulls_through(plan: &Plan, f: usize) -> bool {
        match plan {
            Plan::Leaf(_) => false,
            Plan::Dense { left, right } => pulls_through(left, f) || pulls_through(right, f),
            Plan::Tangent { right, .. } => pulls_through(right, f),
            Plan::Adjoint { left, first, last } => {
                (*first..=*last).contains(&f) || pulls_through(left, f)
            }
        }
    }

    #[test]
    fn forward_only_factors_are_never_pulled_through() {
        // Without the flag, pulling one adjoint row back through everything
        // is optimal (m_q = 1).
        let mut chain = [
            Factor::new(100, 100, 50),
            Factor::new(100, 100, 50),
            Factor::new(1, 100, 50),
        ];
        let free = solve(&chain).unwrap();
        assert_eq!(free.optimal, 150);
        for f in 0..3 {
            let mut c = chain;
            c[f].forward_only = true;
            let s = solve(&c).unwrap();
            assert!(!pulls_through(&s.plan, f), "{f}: {}", s.bracketing());
            assert_eq!(plan_cost(&c, &s.plan), Some(s.optimal));
            assert!(s.optimal > free.optimal && s.optimal <= s.tangent);
        }
        // A forward-only leaf is preaccumulated by its n columns.
        chain[2].forward_only = true;
        assert_eq!(chain[2].preaccumulation_cost(), 100 * 50);
        // The last factor forward only: preaccumulate it by its 100
        // columns, then pull its one row back through F2 and F1.
        let s = solve(&chain).unwrap();
        assert_eq!(s.optimal, 100 * 50 + 2 * 50);
        assert_eq!(s.bracketing(), "(F3·F2)·F1 [adjoint|adjoint]");
    }

    #[test]
    fn rendering_lists_one_mode_per_product() {
        let p = Plan::Dense {
            left: Box::new(Plan::Adjoint {
                left: Box::new(Plan::Leaf(3)),
                first: 2,
                last: 2,
            }),
            right: Box::new(Plan::Tangent {
                right: Box::new(Plan::Leaf(0)),
                first: 1,
                last: 1,
            }),
        };
        let (s, modes) = p.render();
        assert_eq!(s, "(F4·F3)·(F2·F1)");
        assert_eq!(modes, vec![Mode::Adjoint, Mode::Dense, Mode::Tangent]);
        let t = Plan::Tangent {
            right: Box::new(Plan::Leaf(0)),
            first: 1,
            last: 3,
        };
        assert_eq!(t.render().0, "F4·(F3·(F2·F1))");
        let a = Plan::Adjoint {
            left: Box::new(Plan::Leaf(3)),
            first: 0,
            last: 2,
        };
        assert_eq!(a.render().0, "((F4·F3)·F2)·F1");
    }

    #[test]
    fn parse_errors_name_lines() {
        for (text, want) in [
            ("", "line 1"),
            ("x\n", "line 1"),
            ("2\n1 2 3\n", "declares q = 2"),
            ("1\n1 2\n", "line 2"),
            ("2\n1 2 3\n5 6 7\n", "line 3"),
            ("1\n1 2 -3\n", "line 2"),
            ("1\n1 2 3\n4 5 6\n", "line 3"),
        ] {
            let e = parse_chain(text).unwrap_err();
            assert!(e.to_string().contains(want), "{text:?}: {e}");
        }
    }

    /// The JSON is written by serde_json (issue 15): strings are escaped,
    /// costs past 2^64 stay exact integers, the layout is unchanged.
    #[test]
    fn json_escapes_and_keeps_big_costs() {
        let s = Solution {
            optimal: u128::MAX - 1,
            tangent: 1 << 100,
            adjoint: 0,
            plan: Plan::Leaf(0),
        };
        let j = s.to_json();
        assert_eq!(
            j,
            format!(
                "{{\"optimal\": {}, \"tangent\": {}, \"adjoint\": 0, \"bracketing\": \"{}\"}}",
                u128::MAX - 1,
                1u128 << 100,
                s.bracketing()
            )
        );
    }

    #[test]
    fn json_has_integer_costs() {
        let s = solve(&[Factor::new(1, 100, 200), Factor::new(100, 1, 200)]).unwrap();
        assert_eq!(
            s.to_json(),
            "{\"optimal\": 10400, \"tangent\": 40000, \"adjoint\": 40000, \"bracketing\": \"F2·F1 [dense]\"}"
        );
    }
}
