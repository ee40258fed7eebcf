//! Binomial checkpointing (Griewank and Walther's Revolve, ACM TOMS 2000):
//! the schedule of [`crate::Op::Revolve`], which reverses `l` steps of a
//! recurrence while holding at most `c` states at once.
//!
//! A reversal of steps `a..b` starts with the state `s_a` stored as a
//! snapshot. One step (`b = a + 1`) is reversed directly from it. With
//! more steps and one snapshot, each step `j` (from `b - 1` down to `a`) is
//! reached by advancing from `s_a` again. With `c >= 2` snapshots the
//! reversal advances `m` steps from `s_a`, stores `s_{a+m}`, reverses
//! `a+m..b` with `c - 1` snapshots, drops `s_{a+m}` and reverses `a..a+m`
//! with `c`. The number of forward steps is then
//! `t(l, c) = min over m of m + t(l - m, c - 1) + t(m, c)`, with
//! `t(1, c) = 0`; Griewank's closed form is `t(l, c) = r·l − C(c+r, c+1)`
//! where `r` is the smallest integer with `C(c+r, c) ≥ l`
//! ([`forward_steps`]). [`split`] picks an optimal `m` in O(r), and
//! [`Schedule`] lists the actions lazily, in O(c + r) memory.
//!
//! ```
//! use adjoint_ir::revolve::{forward_steps, Action, Schedule};
//! assert_eq!(forward_steps(10_000, 10), 57_624);
//! assert_eq!(forward_steps(10_000, 100), 24_747);
//! // Counting the advances of the schedule gives the same number.
//! let advanced: u64 = Schedule::new(10_000, 10)
//!     .map(|a| match a {
//!         Action::Advance { from, to } => (to - from) as u64,
//!         _ => 0,
//!     })
//!     .sum();
//! assert_eq!(advanced, 57_624);
//! ```

/// One action of a reversal. The engine holds a stack of snapshots (the
/// initial state `s_0` at the bottom, pushed by the engine before the
/// first action) and a current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Copy the top snapshot, the state at position `at`, into the current
    /// state.
    Restore {
        /// The position of the top snapshot.
        at: usize,
    },
    /// Step the current state from position `from` to position `to`
    /// (`to - from` evaluations of the forward step, with `x_from` up to
    /// `x_{to-1}`).
    Advance {
        /// The current state's position before.
        from: usize,
        /// Its position after.
        to: usize,
    },
    /// Push the current state, at position `at`, as a snapshot.
    Save {
        /// The current state's position.
        at: usize,
    },
    /// Pop the top snapshot.
    Drop,
    /// Reverse step `t` from the state `s_t`: the current state, or the
    /// top snapshot when `from_snapshot`.
    Reverse {
        /// The step.
        t: usize,
        /// Whether `s_t` is the top snapshot (no current state was
        /// computed for it).
        from_snapshot: bool,
    },
}

/// `C(c + r, c)`, saturating at `u64::MAX`.
pub fn beta(c: u64, r: u64) -> u64 {
    // C(c+r, c) = prod_{i=1..r} (c + i) / i, exact at every step.
    let mut acc: u128 = 1;
    for i in 1..=r as u128 {
        acc = acc * (c as u128 + i) / i;
        if acc >= u64::MAX as u128 {
            return u64::MAX;
        }
    }
    acc as u64
}

/// The smallest `r` with `C(c + r, c) >= l` (for `c >= 1`).
pub fn repetitions(l: u64, c: u64) -> u64 {
    let (mut r, mut b): (u64, u128) = (0, 1);
    while b < l as u128 {
        r += 1;
        b = b * (c as u128 + r as u128) / r as u128;
    }
    r
}

/// The fewest forward steps that reverse `l` steps holding at most `c`
/// states (`s_0` included): `r·l − C(c+r, c+1)`, or `l − 1` when `c >= l`.
/// `c = 0` with `l >= 2` is impossible; it returns `u64::MAX`.
pub fn forward_steps(l: u64, c: u64) -> u64 {
    if l <= 1 {
        return 0;
    }
    if c == 0 {
        return u64::MAX;
    }
    let c = c.min(l);
    if c == 1 {
        return l * (l - 1) / 2;
    }
    let r = repetitions(l, c);
    // C(c+r, c+1) = C(c+r, r-1) = beta(c+1, r-1).
    let b = beta(c + 1, r.saturating_sub(1)) as u128;
    (r as u128 * l as u128 - b) as u64
}

/// An optimal first advance `m` (`1 <= m < l`) for reversing `l >= 2`
/// steps with `c >= 2` snapshots: the smallest minimiser of
/// `m + t(l - m, c - 1) + t(m, c)`, namely
/// `max(1, l − C(c−1+r, c−1), C(c+r−2, c))` with `r` as in
/// [`forward_steps`]. (The cost has nondecreasing differences
/// `1 + r_c(m+1) − r_{c−1}(l−m)`, which change sign there.)
pub fn split(l: u64, c: u64) -> u64 {
    debug_assert!(l >= 2 && c >= 2);
    let c = c.min(l);
    let r = repetitions(l, c);
    let a = l.saturating_sub(beta(c - 1, r));
    let b = if r >= 2 { beta(c, r - 2) } else { 0 };
    a.max(b).clamp(1, l - 1)
}

#[derive(Clone, Copy, Debug)]
enum Task {
    /// Reverse `a..b` with `c` snapshots; `s_a` is the top snapshot.
    Rev { a: usize, b: usize, c: usize },
    /// Pop the snapshot pushed for a split.
    Drop,
}

/// The actions reversing `l` steps with at most `c` snapshots, lazily (see
/// the module documentation). The advances add up to
/// [`forward_steps`]`(l, c)`, and at most `min(c, l)` snapshots are held
/// at once.
#[derive(Clone, Debug)]
pub struct Schedule {
    tasks: Vec<Task>,
    pending: Vec<Action>,
    /// A one-snapshot reversal in progress: `(a, j)`, the next step `j - 1`
    /// is reached from `s_a`.
    single: Option<(usize, usize)>,
}

impl Schedule {
    /// The schedule reversing `l` steps with `c` snapshots (`c` is raised
    /// to 1: the initial state is always held).
    pub fn new(l: usize, c: usize) -> Schedule {
        let tasks = if l == 0 {
            Vec::new()
        } else {
            vec![Task::Rev {
                a: 0,
                b: l,
                c: c.clamp(1, l),
            }]
        };
        Schedule {
            tasks,
            pending: Vec::new(),
            single: None,
        }
    }

    /// The heap bytes the schedule holds now (the capacity of its two
    /// stacks, `O(c + r)` entries), for engines that report the memory a
    /// call used. It never shrinks while the schedule runs.
    pub fn heap_bytes(&self) -> usize {
        self.tasks.capacity() * std::mem::size_of::<Task>()
            + self.pending.capacity() * std::mem::size_of::<Action>()
    }

    fn expand(&mut self, task: Task) {
        match task {
            Task::Drop => self.pending.push(Action::Drop),
            Task::Rev { a, b, .. } if b - a == 1 => self.pending.push(Action::Reverse {
                t: a,
                from_snapshot: true,
            }),
            Task::Rev { a, b, c: 1 } => self.single = Some((a, b)),
            Task::Rev { a, b, c } => {
                let m = split((b - a) as u64, c as u64) as usize;
                // Pushed in reverse: the right part runs first.
                self.tasks.push(Task::Rev { a, b: a + m, c });
                self.tasks.push(Task::Drop);
                self.tasks.push(Task::Rev {
                    a: a + m,
                    b,
                    c: c - 1,
                });
                self.pending.push(Action::Save { at: a + m });
                self.pending.push(Action::Advance { from: a, to: a + m });
                self.pending.push(Action::Restore { at: a });
            }
        }
    }
}

impl Iterator for Schedule {
    type Item = Action;

    fn next(&mut self) -> Option<Action> {
        loop {
            if let Some(act) = self.pending.pop() {
                return Some(act);
            }
            if let Some((a, j)) = self.single {
                let t = j - 1;
                self.single = (t > a).then_some((a, t));
                if t == a {
                    return Some(Action::Reverse {
                        t,
                        from_snapshot: true,
                    });
                }
                self.pending.push(Action::Reverse {
                    t,
                    from_snapshot: false,
                });
                self.pending.push(Action::Advance { from: a, to: t });
                return Some(Action::Restore { at: a });
            }
            let task = self.tasks.pop()?;
            self.expand(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// t(l, c) by the recursion, for l <= n and c <= k.
    fn brute(n: usize, k: usize) -> Vec<Vec<u64>> {
        let inf = u64::MAX / 4;
        let mut t = vec![vec![inf; k + 1]; n + 1];
        for row in t.iter_mut().take(2) {
            row.fill(0);
        }
        for l in 2..=n {
            for c in 1..=k {
                let mut best = inf;
                for m in 1..l {
                    let right = if c >= 2 {
                        t[l - m][c - 1]
                    } else if l - m == 1 {
                        0
                    } else {
                        inf
                    };
                    best = best.min(m as u64 + right + t[m][c]);
                }
                t[l][c] = best;
            }
        }
        t
    }

    /// Replays a schedule: checks every precondition and returns the
    /// number of forward steps, the most snapshots held and the reversed
    /// steps in order.
    fn replay(l: usize, c: usize) -> (u64, usize, Vec<usize>) {
        let mut snaps = vec![0usize];
        let mut cur: Option<usize> = None;
        let (mut steps, mut most, mut rev) = (0u64, 1usize, Vec::new());
        for act in Schedule::new(l, c) {
            match act {
                Action::Restore { at } => {
                    assert_eq!(snaps.last(), Some(&at));
                    cur = Some(at);
                }
                Action::Advance { from, to } => {
                    assert_eq!(cur, Some(from));
                    assert!(to > from && to < l);
                    steps += (to - from) as u64;
                    cur = Some(to);
                }
                Action::Save { at } => {
                    assert_eq!(cur, Some(at));
                    snaps.push(at);
                    most = most.max(snaps.len());
                }
                Action::Drop => {
                    snaps.pop();
                    assert!(!snaps.is_empty());
                }
                Action::Reverse { t, from_snapshot } => {
                    if from_snapshot {
                        assert_eq!(snaps.last(), Some(&t));
                    } else {
                        assert_eq!(cur, Some(t));
                    }
                    rev.push(t);
                }
            }
        }
        (steps, most, rev)
    }

    #[test]
    fn closed_form_and_schedule_match_the_recursion() {
        let (n, k) = (60, 8);
        let t = brute(n, k);
        for l in 1..=n {
            for c in 1..=k {
                assert_eq!(forward_steps(l as u64, c as u64), t[l][c], "t({l}, {c})");
                let (steps, most, rev) = replay(l, c);
                assert_eq!(steps, t[l][c], "schedule({l}, {c})");
                assert!(most <= c.min(l), "schedule({l}, {c}) holds {most}");
                assert_eq!(rev, (0..l).rev().collect::<Vec<_>>());
                if l >= 2 && c >= 2 {
                    let m = split(l as u64, c as u64) as usize;
                    let right = t[l - m][c - 1];
                    assert_eq!(m as u64 + right + t[m][c], t[l][c], "split({l}, {c}) = {m}");
                }
            }
        }
    }

    #[test]
    fn large_cases_follow_the_closed_form() {
        assert_eq!(forward_steps(10_000, 10), 57_624);
        assert_eq!(forward_steps(10_000, 100), 24_747);
        assert_eq!(forward_steps(10_000, 10_000), 9_999);
        assert_eq!(forward_steps(10_000, 1), 10_000 * 9_999 / 2);
        for (l, c) in [
            (10_000, 10),
            (10_000, 100),
            (100_000, 3),
            (1_000, 1),
            (777, 777),
        ] {
            let (steps, most, rev) = replay(l, c);
            assert_eq!(steps, forward_steps(l as u64, c as u64), "({l}, {c})");
            assert!(most <= c);
            assert_eq!(rev.len(), l);
        }
        assert_eq!(forward_steps(0, 0), 0);
        assert_eq!(forward_steps(1, 0), 0);
        assert_eq!(forward_steps(2, 0), u64::MAX);
        assert_eq!(Schedule::new(0, 3).count(), 0);
    }
}
