//! What one call of a program cost, as measured by the engine that ran it
//! (`adjoint run --stats`): its peak working memory and how often each
//! body ran. Both engines fill the same type.

use std::collections::BTreeMap;

/// Measurements of one call, reported by the engine that ran it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// The peak working memory of the call in bytes: the engine's
    /// intermediate values, arena, loop state, stacked outputs and
    /// snapshots. The caller's inputs are not included (see each engine's
    /// documentation for exactly what is counted).
    pub working_bytes: u64,
    /// For each body run by a loop, conditional or `revolve` (by function
    /// name), the number of times it was evaluated, recomputations
    /// included.
    pub body_evals: BTreeMap<String, u64>,
}

impl RunStats {
    /// Adds `n` evaluations of the body named `name`.
    pub fn count(&mut self, name: &str, n: u64) {
        if n > 0 {
            *self.body_evals.entry(name.to_string()).or_insert(0) += n;
        }
    }
}
