//! Choosing how to execute a graph: the reference interpreter or the JIT.

use adjoint_ir::{Error, Graph, Result, Tensor};
use adjoint_jit::{bind_by_name, CompiledFn, JitOptions, Named};
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
            Engine::Jit => Ok(Prepared::Jit(Box::new(adjoint_jit::compile(g, opts)?))),
        }
    }
}

/// A graph ready to be called repeatedly on one engine.
pub enum Prepared {
    /// Evaluated by the reference interpreter.
    Interp(Graph),
    /// Compiled to native code.
    Jit(Box<CompiledFn>),
}

impl Prepared {
    /// Runs on `inputs` (one per parameter) and returns the outputs.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        match self {
            Prepared::Interp(g) => adjoint_interp::eval(g, inputs),
            Prepared::Jit(f) => f.run(inputs),
        }
    }

    /// [`Prepared::run`] with the inputs bound by name (in any order; a
    /// missing, unknown or repeated name is an error listing the inputs)
    /// and the outputs returned by name, on either engine.
    ///
    /// ```
    /// use adjoint::ir::{parse_module, Tensor};
    /// use adjoint::Engine;
    /// let m = parse_module("func @f(%x: f64, %w: f64) -> f64 {
    ///     %y = sub %x, %w
    ///     return %y
    ///   }")?;
    /// let (x, w) = (Tensor::scalar_f64(5.0), Tensor::scalar_f64(2.0));
    /// for engine in Engine::ALL {
    ///     let p = engine.prepare(m.func("f").unwrap())?;
    ///     let out = p.run_named(&[("w", &w), ("x", &x)])?;
    ///     assert_eq!(out["y"].to_f64_vec(), [3.0]);
    /// }
    /// # Ok::<(), adjoint::ir::Error>(())
    /// ```
    pub fn run_named(&self, inputs: &[(&str, &Tensor)]) -> Result<Named<Tensor>> {
        match self {
            Prepared::Interp(g) => {
                let ins: Vec<Tensor> = bind_by_name(g.name(), &g.input_names(), inputs)?
                    .into_iter()
                    .cloned()
                    .collect();
                Named::new(g.output_names(), adjoint_interp::eval(g, &ins)?)
            }
            Prepared::Jit(f) => f.run_named(inputs),
        }
    }

    /// The compiled function, for the JIT.
    pub fn compiled(&self) -> Option<&CompiledFn> {
        match self {
            Prepared::Interp(_) => None,
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
            assert_eq!(p.compiled().is_some(), engine == Engine::Jit, "{engine}");
            let out = p.run(&[c0.clone(), xs.clone()]).unwrap();
            assert_eq!(out[0].to_f64_vec(), vec![-1.5], "{engine}");
            assert_eq!(out[1].to_f64_vec(), want_ys, "{engine}");
        }
    }
}
