//! Choosing how to execute a graph: the reference interpreter or the JIT.

use adjoint_ir::{Error, Graph, Result, Tensor};
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
