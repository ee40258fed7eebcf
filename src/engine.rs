//! Choosing how to execute a graph: the reference interpreter or the JIT.
//!
//! **Loops before the JIT compiles them.** When the JIT refuses a graph
//! because it holds an op it does not compile yet (its error says "not
//! supported by the JIT yet": the control-flow ops `scan`, `while`,
//! `cond` and their companions `iota`, `and`/`or`/`not` in a JIT without
//! loop support), [`Engine::Jit`] still runs the graph, on the reference
//! interpreter, and [`Prepared::note`] says so. The outputs are the
//! interpreter's, which the JIT agrees with by contract; any other JIT
//! error is still an error.

use adjoint_ir::{Error, ErrorKind, Graph, Result, Tensor};
use adjoint_jit::{CompiledFn, JitOptions};
use std::fmt;
use std::str::FromStr;

/// An execution engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// The reference interpreter ([`adjoint_interp::eval`]).
    Interp,
    /// Native code compiled by Cranelift.
    #[default]
    Jit,
}

impl Engine {
    /// Every engine, in a fixed order.
    pub const ALL: [Engine; 2] = [Engine::Interp, Engine::Jit];

    /// The engine's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::Jit => "jit",
        }
    }

    /// Evaluates `g` on `inputs` with this engine (compiling first, for
    /// the JIT; use [`Engine::prepare`] to compile once and call often).
    pub fn run(self, g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.prepare(g)?.run(inputs)
    }

    /// Prepares `g` for repeated calls: verifies it (interpreter) or
    /// compiles it to native code (JIT).
    pub fn prepare(self, g: &Graph) -> Result<Prepared> {
        self.prepare_with(g, &JitOptions::default())
    }

    /// [`Engine::prepare`] with explicit JIT options.
    pub fn prepare_with(self, g: &Graph, opts: &JitOptions) -> Result<Prepared> {
        match self {
            Engine::Interp => {
                adjoint_ir::verify(g)?;
                Ok(Prepared::Interp(g.clone()))
            }
            Engine::Jit => match adjoint_jit::compile(g, opts) {
                Ok(f) => Ok(Prepared::Jit(Box::new(f))),
                Err(e) if unsupported_by_jit(&e) => {
                    adjoint_ir::verify(g)?;
                    Ok(Prepared::Fallback {
                        graph: g.clone(),
                        reason: e,
                    })
                }
                Err(e) => Err(e),
            },
        }
    }
}

/// Whether `e` is the JIT's refusal of an op it does not compile yet (see
/// the module docs), as opposed to a failure to compile a supported op.
fn unsupported_by_jit(e: &Error) -> bool {
    e.kind == ErrorKind::Jit && e.message.contains("not supported by the JIT yet")
}

/// A graph ready to be called repeatedly on one engine.
pub enum Prepared {
    /// Evaluated by the reference interpreter.
    Interp(Graph),
    /// Compiled to native code.
    Jit(Box<CompiledFn>),
    /// Asked for the JIT, which does not compile one of the graph's ops
    /// yet: evaluated by the reference interpreter (see the module docs).
    Fallback {
        /// The graph, run by the interpreter.
        graph: Graph,
        /// The JIT's refusal.
        reason: Error,
    },
}

impl Prepared {
    /// Runs on `inputs` (one per parameter) and returns the outputs.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        match self {
            Prepared::Interp(g) | Prepared::Fallback { graph: g, .. } => {
                adjoint_interp::eval(g, inputs)
            }
            Prepared::Jit(f) => f.run(inputs),
        }
    }

    /// A note for the user when the JIT was asked for but the interpreter
    /// runs the graph ([`Prepared::Fallback`]).
    pub fn note(&self) -> Option<String> {
        match self {
            Prepared::Fallback { reason, .. } => Some(format!(
                "note: running on the interpreter: the JIT cannot compile this program yet ({})",
                reason.message
            )),
            Prepared::Interp(_) | Prepared::Jit(_) => None,
        }
    }

    /// The compiled function, for the JIT.
    pub fn compiled(&self) -> Option<&CompiledFn> {
        match self {
            Prepared::Interp(_) | Prepared::Fallback { .. } => None,
            Prepared::Jit(f) => Some(f),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = Error;
    fn from_str(s: &str) -> Result<Engine> {
        Engine::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                Error::input(format!("unknown engine '{s}'; valid engines: interp, jit"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adjoint_ir::parse_module;

    #[test]
    fn both_engines_run_loop_programs() {
        let m = parse_module(
            "func @step(%c: f64, %x: f64) -> (f64, f64) {
               %n = mul %c, %x
               %s = sin %c
               return %n, %s
             }
             func @main(%c0: f64, %xs: f64[3]) -> (f64, f64[3]) {
               %c, %ys = scan %c0, %xs body=@step carry=1 xs=1
               return %c, %ys
             }",
        )
        .unwrap();
        let g = m.main_func().unwrap();
        let c0 = Tensor::from_f64(Vec::<usize>::new(), vec![1.5]).unwrap();
        let xs = Tensor::from_f64([3], vec![2.0, -1.0, 0.5]).unwrap();
        let want_ys: Vec<f64> = [1.5f64, 3.0, -3.0].iter().map(|c| c.sin()).collect();
        for engine in Engine::ALL {
            let p = engine.prepare(g).unwrap();
            // The JIT runs it natively or, before it compiles loops, hands
            // it to the interpreter and says so.
            assert_eq!(
                p.note().is_some(),
                matches!(p, Prepared::Fallback { .. }),
                "{engine}"
            );
            let out = p.run(&[c0.clone(), xs.clone()]).unwrap();
            assert_eq!(out[0].to_f64_vec(), vec![-1.5], "{engine}");
            assert_eq!(out[1].to_f64_vec(), want_ys, "{engine}");
        }
    }

    #[test]
    fn other_jit_errors_are_not_hidden_by_the_fallback() {
        let e = Error::new(ErrorKind::Jit, "scan: not supported by the JIT yet");
        assert!(unsupported_by_jit(&e));
        let e = Error::new(ErrorKind::Jit, "cranelift: verifier failed");
        assert!(!unsupported_by_jit(&e));
        let e = Error::new(ErrorKind::Eval, "not supported by the JIT yet");
        assert!(!unsupported_by_jit(&e));
    }
}
