//! Which engine runs an example's programs: the JIT when it compiles the
//! program, else the reference interpreter (saying so).

// Each example uses a part of this module.
#![allow(dead_code)]

use adjoint::ir::{Graph, Result};
use adjoint::{Engine, Prepared};

/// Prepares `g` on the JIT, or on the interpreter when the JIT refuses it;
/// prints which engine `what` runs on.
pub fn prepare(what: &str, g: &Graph) -> Result<(Prepared, Engine)> {
    match Engine::Jit.prepare(g) {
        Ok(p) => {
            println!("{what}: compiled by the JIT");
            Ok((p, Engine::Jit))
        }
        Err(e) => {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("");
            println!("{what}: the JIT cannot compile it ({first}); running on the interpreter");
            Ok((Engine::Interp.prepare(g)?, Engine::Interp))
        }
    }
}
