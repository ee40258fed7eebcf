//! W5_jacobian_{hourglass,diamond,wide_in} (../shared/workloads.md): the full
//! Jacobian of `x -> tanh(W_k … tanh(W_1 x))` in f64, by the `jacobian` pass
//! in auto, fwd and rev mode, JIT-compiled. Before measuring, each variant
//! prints the cost model's prediction (FMAs) and the DP's bracketing, and the
//! three modes are checked to agree.
//!
//! `cargo bench --bench jacobian`

use adjoint::ir::{Graph, GraphBuilder, TensorType};
use adjoint::jit::{compile, CompiledFn, JitOptions};
use adjoint::passes::jacobian::predict;
use adjoint::passes::PassManager;
use adjoint::workloads::{chain_weight, linspace, tanh_chain, W5_CHAINS};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Interleaved timing rounds per chain before the criterion groups.
const ROUNDS: usize = 100;

struct Variant {
    f: CompiledFn,
    x: Vec<f64>,
    outs: Vec<Vec<f64>>,
}

impl Variant {
    fn new(g: &Graph, mode: &str) -> Variant {
        let mut h = g.clone();
        let report = PassManager::parse(&format!("jacobian{{mode={mode}}},simplify,cse,dce"))
            .expect("pipeline")
            .run(&mut h)
            .expect("jacobian");
        println!("  {mode}: {}", report.passes[0].stats.notes.join("; "));
        let f = compile(&h, &JitOptions::default()).expect("compile");
        let outs = h
            .output_types()
            .iter()
            .map(|t| vec![0.0; t.numel()])
            .collect();
        Variant {
            f,
            x: linspace(g.ty(g.params()[0]).numel()),
            outs,
        }
    }

    fn call(&mut self) {
        let mut o: Vec<&mut [f64]> = self.outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        self.f.call_f64(&[&self.x], &mut o).expect("call");
    }
}

/// The JIT's dense GEMM rate on the shapes the W5 plans use, best of 30:
/// `[1,800]·[800,800]` (one direction, as in the primal matrix-vector
/// product), `[8,800]·[800,800]` (a batch of 8 directions through an 800×800
/// layer), `[800,8]·[8,800]` (an outer-product-shaped dense product) and
/// `[10,1000]·[1000,500]` (wide_in's first layer in reverse).
fn gemm_rate() {
    for (m, k, n) in [(1, 800, 800), (8, 800, 800), (800, 8, 800), (10, 1000, 500)] {
        let b = GraphBuilder::new("gemm");
        let a = b.param("a", TensorType::f64([m, k]));
        let w = b.constant(chain_weight(k, n).expect("weight"));
        let g = b.build(&[a.matmul(w)]).expect("gemm graph");
        let f = compile(&g, &JitOptions::default()).expect("compile");
        let x = linspace(m * k);
        let mut out = vec![0.0; m * n];
        let mut best = f64::INFINITY;
        for _ in 0..30 {
            let t0 = Instant::now();
            f.call_f64(&[&x], &mut [&mut out]).expect("call");
            best = best.min(t0.elapsed().as_secs_f64());
        }
        println!(
            "calibration: JIT dgemm {m}x{k}x{n}: {:.0} µs, {:.2} GFMA/s",
            best * 1e6,
            (m * k * n) as f64 / best * 1e-9
        );
    }
}

fn bench(c: &mut Criterion) {
    gemm_rate();
    for (name, widths) in W5_CHAINS {
        let g = tanh_chain(widths).expect("W5 chain");
        let p = predict(&g, g.params()[0], g.outputs()[0]).expect("predict");
        let s = p.solution.clone().expect("a chain");
        println!(
            "W5_jacobian_{name}: predicted fma auto {} ({}), fwd {}, rev {}",
            s.optimal,
            s.bracketing(),
            p.fwd,
            p.rev
        );
        let mut variants: Vec<(&str, Variant)> = ["auto", "fwd", "rev"]
            .into_iter()
            .map(|m| (m, Variant::new(&g, m)))
            .collect();
        for (_, v) in variants.iter_mut() {
            v.call();
        }
        let reference = variants[0].1.outs[1].clone();
        let scale = reference.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
        for (mode, v) in &variants {
            let err = v.outs[1]
                .iter()
                .zip(&reference)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= 1e-12 * scale,
                "{name}/{mode} differs from auto by {err:e}"
            );
        }
        // Interleaved rounds, best and median of each: robust to other load
        // on the machine (a slow moment hits all three modes alike), and
        // the figures the docs compare with the prediction.
        let mut times = [vec![], vec![], vec![]];
        for _ in 0..ROUNDS {
            for (i, (_, v)) in variants.iter_mut().enumerate() {
                let t0 = Instant::now();
                v.call();
                times[i].push(t0.elapsed().as_secs_f64());
            }
        }
        for t in times.iter_mut() {
            t.sort_by(f64::total_cmp);
        }
        let best = times.clone().map(|t| t[0]);
        let median = times.map(|t| t[t.len() / 2]);
        println!(
            "W5_jacobian_{name}: interleaved, µs: auto {:.0} (median {:.0}), fwd {:.0} ({:.0}), rev {:.0} ({:.0}); predicted/best GFMA/s: auto {:.2}, fwd {:.2}, rev {:.2}",
            best[0] * 1e6,
            median[0] * 1e6,
            best[1] * 1e6,
            median[1] * 1e6,
            best[2] * 1e6,
            median[2] * 1e6,
            s.optimal as f64 / best[0] * 1e-9,
            p.fwd as f64 / best[1] * 1e-9,
            p.rev as f64 / best[2] * 1e-9,
        );
        let mut group = c.benchmark_group(format!("W5_jacobian_{name}"));
        group.sample_size(20);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for (mode, v) in variants.iter_mut() {
            group.bench_function(*mode, |b| {
                b.iter(|| {
                    v.call();
                    black_box(&v.outs);
                })
            });
        }
        group.finish();
    }
}

// No plots: plotters' `ab_glyph` feature (the examples' bundled font)
// leaves criterion's charts without a system font.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
