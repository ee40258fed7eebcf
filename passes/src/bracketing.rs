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
//! [`solve`] finds the cheapest plan in O(q³); pure forward mode costs
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
}

impl Factor {
    /// A dense factor with an `m × n` Jacobian and cost `cost` per direction.
    pub fn new(m: u64, n: u64, cost: u64) -> Factor {
        Factor {
            m,
            n,
            cost,
            diagonal: false,
        }
    }

    /// The cost of preaccumulating this factor's Jacobian on its own.
    pub fn preaccumulation_cost(&self) -> u128 {
        if self.diagonal {
            self.cost as u128
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
    /// The cost of pure adjoint (reverse) accumulation, `m_q·Σ|E|`.
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

    /// The JSON object printed by `adjoint chain`.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"optimal\": {}, \"tangent\": {}, \"adjoint\": {}, \"bracketing\": \"{}\"}}",
            self.optimal,
            self.tangent,
            self.adjoint,
            self.bracketing()
        )
    }
}

fn check_chain(chain: &[Factor]) -> Result<()> {
    if chain.is_empty() {
        return Err(Error::input("a chain needs at least one factor"));
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

/// Solves the bracketing problem by dynamic programming over sub-chains.
pub fn solve(chain: &[Factor]) -> Result<Solution> {
    check_chain(chain)?;
    let q = chain.len();
    let e: Vec<u128> = chain.iter().map(|f| f.cost as u128).collect();
    // prefix[i] = Σ_{l<i} |E_l|
    let mut prefix = vec![0u128; q + 1];
    for i in 0..q {
        prefix[i + 1] = prefix[i] + e[i];
    }
    let sum = |a: usize, b: usize| prefix[b + 1] - prefix[a];
    // cost[i][j], choice[i][j] for the sub-chain F_j ∘ … ∘ F_i (i <= j).
    #[derive(Clone, Copy)]
    enum Choice {
        Leaf,
        Dense(usize),
        Tangent(usize),
        Adjoint(usize),
    }
    let mut cost = vec![vec![u128::MAX; q]; q];
    let mut choice = vec![vec![Choice::Leaf; q]; q];
    for i in 0..q {
        cost[i][i] = chain[i].preaccumulation_cost();
    }
    for len in 2..=q {
        for i in 0..=q - len {
            let j = i + len - 1;
            let (m_j, n_i) = (chain[j].m as u128, chain[i].n as u128);
            for k in i..j {
                let m_k = chain[k].m as u128;
                let dense = cost[k + 1][j] + cost[i][k] + m_j * m_k * n_i;
                let tangent = cost[i][k] + n_i * sum(k + 1, j);
                let adjoint = cost[k + 1][j] + m_j * sum(i, k);
                for (c, ch) in [
                    (dense, Choice::Dense(k)),
                    (tangent, Choice::Tangent(k)),
                    (adjoint, Choice::Adjoint(k)),
                ] {
                    if c < cost[i][j] {
                        cost[i][j] = c;
                        choice[i][j] = ch;
                    }
                }
            }
        }
    }
    fn build(choice: &[Vec<Choice>], i: usize, j: usize) -> Plan {
        match choice[i][j] {
            Choice::Leaf => Plan::Leaf(i),
            Choice::Dense(k) => Plan::Dense {
                left: Box::new(build(choice, k + 1, j)),
                right: Box::new(build(choice, i, k)),
            },
            Choice::Tangent(k) => Plan::Tangent {
                right: Box::new(build(choice, i, k)),
                first: k + 1,
                last: j,
            },
            Choice::Adjoint(k) => Plan::Adjoint {
                left: Box::new(build(choice, k + 1, j)),
                first: i,
                last: k,
            },
        }
    }
    Ok(Solution {
        optimal: cost[0][q - 1],
        tangent: chain[0].n as u128 * sum(0, q - 1),
        adjoint: chain[q - 1].m as u128 * sum(0, q - 1),
        plan: build(&choice, 0, q - 1),
    })
}

/// The cost of carrying out `plan` on `chain`, computed directly from the
/// plan tree (independently of the dynamic program).
pub fn plan_cost(chain: &[Factor], plan: &Plan) -> u128 {
    fn span(p: &Plan) -> (usize, usize) {
        match p {
            Plan::Leaf(i) => (*i, *i),
            Plan::Dense { left, right } => (span(right).0, span(left).1),
            Plan::Tangent { right, last, .. } => (span(right).0, *last),
            Plan::Adjoint { left, first, .. } => (*first, span(left).1),
        }
    }
    let e = |a: usize, b: usize| (a..=b).map(|l| chain[l].cost as u128).sum::<u128>();
    match plan {
        Plan::Leaf(i) => chain[*i].preaccumulation_cost(),
        Plan::Dense { left, right } => {
            let (i, k) = span(right);
            let (_, j) = span(left);
            plan_cost(chain, left)
                + plan_cost(chain, right)
                + chain[j].m as u128 * chain[k].m as u128 * chain[i].n as u128
        }
        Plan::Tangent { right, first, last } => {
            let (i, _) = span(right);
            plan_cost(chain, right) + chain[i].n as u128 * e(*first, *last)
        }
        Plan::Adjoint { left, first, last } => {
            let (_, j) = span(left);
            plan_cost(chain, left) + chain[j].m as u128 * e(*first, *last)
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
    let q: usize = first.parse().map_err(|_| {
        Error::input(format!(
            "line {ln}: expected the number of factors q, found '{first}'"
        ))
    })?;
    if q == 0 {
        return Err(Error::input(format!("line {ln}: q must be at least 1")));
    }
    let mut chain = Vec::with_capacity(q.min(1 << 16));
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
        assert_eq!(s.optimal, plan_cost(&c, &s.plan));
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
                .map(|p| plan_cost(&c, p))
                .min()
                .unwrap();
            assert_eq!(s.optimal, brute, "chain {dims:?} {costs:?}");
            assert_eq!(plan_cost(&c, &s.plan), s.optimal);
            assert!(s.optimal <= s.tangent && s.optimal <= s.adjoint);
        }
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

    #[test]
    fn json_has_integer_costs() {
        let s = solve(&[Factor::new(1, 100, 200), Factor::new(100, 1, 200)]).unwrap();
        assert_eq!(
            s.to_json(),
            "{\"optimal\": 10400, \"tangent\": 40000, \"adjoint\": 40000, \"bracketing\": \"F2·F1 [dense]\"}"
        );
    }
}
