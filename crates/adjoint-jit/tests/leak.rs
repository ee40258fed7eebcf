//! Dropping a `CompiledFn` frees its code and memory. This test lives in a
//! binary of its own: it reads the process's resident set size, which other
//! tests running in parallel threads would disturb.

mod common;

use adjoint_ir::{GraphBuilder, TensorType};
use adjoint_jit::{compile, JitOptions};
use common::data;

fn rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

#[test]
fn compile_and_drop_in_a_loop_does_not_leak() {
    let b = GraphBuilder::new("big");
    let x = b.param("x", TensorType::f64([64]));
    let y = b.param("y", TensorType::f64([64]));
    let z = (x * y + x.tanh()).exp();
    let s = (z * x).sum();
    let g = b.build(&[z, s]).unwrap();
    let xs = data(64, 46, -1.0, 1.0);
    let run = |k: usize| {
        for _ in 0..k {
            let f = compile(&g, &JitOptions::default()).unwrap();
            let mut z = vec![0.0; 64];
            let mut s = [0.0];
            f.call_f64(&[&xs, &xs], &mut [&mut z, &mut s]).unwrap();
        }
    };
    // Warm up until the allocator reaches a steady state, then compare two
    // equal batches: a leak grows the second as much as the first (each
    // compiled function maps at least a 4 KiB page of code, so 200 leaked
    // ones add at least 800 kB), while without one the second adds ~nothing.
    run(50);
    let Some(r0) = rss_kb() else { return };
    run(200);
    let r1 = rss_kb().unwrap();
    run(200);
    let r2 = rss_kb().unwrap();
    assert!(
        r2 < r1 + 800,
        "RSS keeps growing: {r0} kB, then {r1} kB, then {r2} kB after two batches of 200 compile/drop"
    );
}
