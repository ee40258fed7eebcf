//! `adjoint run --stats`: runs the function while measuring the call, and
//! formats what the engine measured as one JSON line for stderr:
//!
//! ```text
//! {"body_evals":{"bwd":5,"fwd":7},"engine":"interp","working_bytes":16000}
//! ```
//!
//! The keys are sorted, at both levels. `working_bytes` is the peak working
//! memory of the call and `body_evals` maps each function that a loop,
//! conditional or `revolve` ran to the number of runs (see
//! `adjoint_interp::eval_with_stats` for exactly what the interpreter
//! counts).

use adjoint::interp::{eval_with_stats, EvalOptions};
use adjoint::ir::{Error, Result, RunStats, Tensor};
use adjoint::Prepared;

/// Runs `prepared` on `inputs` as `Prepared::run` does, measuring the
/// call: its outputs and the stats line (newline included).
pub fn run_measured(prepared: &Prepared, inputs: &[Tensor]) -> Result<(Vec<Tensor>, String)> {
    let (outs, stats, engine) = match prepared {
        Prepared::Interp(g) => {
            let (outs, stats) = eval_with_stats(g, inputs, &EvalOptions::default())?;
            (outs, stats, "interp")
        }
        Prepared::Jit(_) => {
            return Err(Error::input(
                "--stats: the JIT engine does not report its measurements yet; use --engine \
                 interp",
            ))
        }
    };
    Ok((outs, line(engine, &stats)))
}

/// `s` as a JSON string.
fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The stats line of a call run by `engine`.
pub fn line(engine: &str, stats: &RunStats) -> String {
    let evals: Vec<String> = stats
        .body_evals
        .iter()
        .map(|(name, n)| format!("{}:{n}", string(name)))
        .collect();
    format!(
        "{{\"body_evals\":{{{}}},\"engine\":{},\"working_bytes\":{}}}\n",
        evals.join(","),
        string(engine),
        stats.working_bytes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_one_json_object_with_sorted_keys() {
        let mut s = RunStats {
            working_bytes: 42,
            ..RunStats::default()
        };
        s.count("step", 3);
        s.count("a\"b", 1);
        assert_eq!(
            line("interp", &s),
            "{\"body_evals\":{\"a\\\"b\":1,\"step\":3},\"engine\":\"interp\",\"working_bytes\":42}\n"
        );
        assert_eq!(
            line("jit", &RunStats::default()),
            "{\"body_evals\":{},\"engine\":\"jit\",\"working_bytes\":0}\n"
        );
    }
}
