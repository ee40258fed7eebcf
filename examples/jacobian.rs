//! The Jacobian-chain pass on the W5 networks of `workloads.md`:
//! `x -> tanh(W_k … tanh(W_1 x))`, full Jacobian in f64.
//!
//! For each chain it shows the bracketing the dynamic program chose, its
//! predicted cost against pure forward and pure reverse accumulation, and
//! the measured time of all three, JIT-compiled (median of many calls).
//!
//! Run with `cargo run --release --example jacobian`.

use adjoint::ir::{Graph, Result};
use adjoint::jit::{compile, CompiledFn, JitOptions};
use adjoint::passes::jacobian::predict;
use adjoint::passes::PassManager;
use adjoint::workloads::{linspace, tanh_chain, W5_CHAINS};
use std::time::Instant;

fn compiled_jacobian(g: &Graph, mode: &str) -> Result<(CompiledFn, Vec<String>)> {
    let mut h = g.clone();
    let report =
        PassManager::parse(&format!("jacobian{{mode={mode}}},simplify,cse,dce"))?.run(&mut h)?;
    let notes = report.passes[0].stats.notes.clone();
    Ok((compile(&h, &JitOptions::default())?, notes))
}

/// Median wall time of one call, in microseconds, and the Jacobian.
fn time(f: &CompiledFn, x: &[f64], reps: usize) -> Result<(f64, Vec<f64>)> {
    let mut outs: Vec<Vec<f64>> = f
        .output_types()
        .iter()
        .map(|t| vec![0.0; t.numel()])
        .collect();
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let mut o: Vec<&mut [f64]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        let t0 = Instant::now();
        f.call_f64(&[x], &mut o)?;
        samples.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    Ok((samples[reps / 2], outs.pop().unwrap_or_default()))
}

fn main() -> Result<()> {
    println!(
        "Full Jacobians of x -> tanh(W_k … tanh(W_1 x)) (W5), JIT-compiled, median of 200 calls\n"
    );
    for (name, widths) in W5_CHAINS {
        let g = tanh_chain(widths)?;
        let p = predict(&g, g.params()[0], g.outputs()[0])?;
        println!("== {name} {widths:?}");
        if let Some(s) = &p.solution {
            println!("   DP bracketing: {}", s.bracketing());
            println!(
                "   predicted FMAs: auto {:.3e}   fwd {:.3e}   rev {:.3e}",
                s.optimal as f64, p.fwd as f64, p.rev as f64
            );
        }
        let x = linspace(widths[0]);
        let mut reference: Option<Vec<f64>> = None;
        let mut line = String::from("   measured:");
        for mode in ["auto", "fwd", "rev"] {
            let (f, notes) = compiled_jacobian(&g, mode)?;
            if mode == "auto" {
                for n in notes {
                    println!("   # {n}");
                }
            }
            let (us, jac) = time(&f, &x, 200)?;
            match &reference {
                None => reference = Some(jac),
                Some(r) => {
                    let scale = r.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
                    let err = r
                        .iter()
                        .zip(&jac)
                        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                    assert!(
                        err <= 1e-12 * scale,
                        "{name}: {mode} differs from auto by {err:e}"
                    );
                }
            }
            line.push_str(&format!("   {mode} {us:.0} µs"));
        }
        println!("{line}\n");
    }
    println!("(auto, fwd and rev agree to 1e-12 relative on every chain.)");
    Ok(())
}
