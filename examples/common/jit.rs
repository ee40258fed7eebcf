//! Compiling an example's programs with the JIT, saying what it made.

// Each example uses a part of this module.
#![allow(dead_code)]

use adjoint::ir::{Graph, Result};
use adjoint::jit::{compile, CompiledFn, JitOptions};

/// Compiles `g` to native code and prints, for `what`, the code size, the
/// loop bodies compiled (each once: loops are not unrolled) and the time.
pub fn compile_reporting(what: &str, g: &Graph) -> Result<CompiledFn> {
    let f = compile(g, &JitOptions::default())?;
    let s = f.stats();
    println!(
        "{what}: compiled by the JIT in {:.1} ms ({} bytes of machine code; loop bodies compiled once each: {})",
        s.seconds * 1e3,
        s.code_bytes,
        s.bodies
    );
    Ok(f)
}
