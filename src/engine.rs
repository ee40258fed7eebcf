//! Choosing how to execute a graph: the reference interpreter or the JIT.

use adjoint_ir::{Error, Graph, Result, Tensor};
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

    /// Evaluates `g` on `inputs` with this engine.
    pub fn run(self, g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        match self {
            Engine::Interp => adjoint_interp::eval(g, inputs),
            Engine::Jit => Err(Error::jit("the JIT engine is not built yet")),
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
