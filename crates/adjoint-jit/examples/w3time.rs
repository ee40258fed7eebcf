//! Times the Rosenbrock gradient and value (W3) at n = 1e3 and 1e6 with one
//! and two threads (best of many short batches, robust to a loaded machine).
use adjoint_ir::{Graph, GraphBuilder, TensorType};
use adjoint_jit::{compile, JitOptions};
use adjoint_passes::PassManager;
use std::time::Instant;

fn rosenbrock(n: usize) -> Graph {
    let b = GraphBuilder::new("rosenbrock");
    let x = b.param("x", TensorType::f64([n]));
    let a = x.slice(&[1], &[n]);
    let c = x.slice(&[0], &[n - 1]);
    let t1 = a - c * c;
    let t2 = c.lit(1.0) - c;
    let f = (t1.lit(100.0) * t1 * t1 + t2 * t2).sum();
    b.build(&[f]).unwrap()
}

fn best(mut f: impl FnMut(), reps: usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    // W6: Hessian-vector product, forward over reverse, n = 1e4.
    let n = 10_000;
    let mut g = rosenbrock(n);
    PassManager::parse("grad{wrt=x},jvp{wrt=x}")
        .unwrap()
        .run(&mut g)
        .unwrap();
    let o = g.outputs()[3];
    g.set_outputs(vec![o]);
    PassManager::parse("simplify,cse,dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    let x: Vec<f64> = (0..n)
        .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
        .collect();
    let v = vec![1.0; n];
    let f = compile(&g, &JitOptions::default()).unwrap();
    let mut hv = vec![0.0; n];
    let t = best(|| f.call_f64(&[&x, &v], &mut [&mut hv]).unwrap(), 5000);
    println!(
        "W6 hvp n={n}: {:.2} us, arena {} B, {} kernels",
        t * 1e6,
        f.arena_bytes(),
        f.stats().kernels
    );
    for n in [1000usize, 1_000_000] {
        let x: Vec<f64> = (0..n)
            .map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64)
            .collect();
        let mut g = rosenbrock(n);
        let fv = compile(&g, &JitOptions::default()).unwrap();
        PassManager::parse("grad").unwrap().run(&mut g).unwrap();
        let o = g.outputs()[1];
        g.set_outputs(vec![o]);
        PassManager::parse("simplify,cse,dce")
            .unwrap()
            .run(&mut g)
            .unwrap();
        let reps = if n > 10_000 { 200 } else { 20_000 };
        let mut v = [0.0];
        let tv = best(|| fv.call_f64(&[&x], &mut [&mut v]).unwrap(), reps);
        for threads in [1usize, 2] {
            let f = compile(
                &g,
                &JitOptions {
                    threads,
                    ..Default::default()
                },
            )
            .unwrap();
            let mut d = vec![0.0; n];
            let tg = best(|| f.call_f64(&[&x], &mut [&mut d]).unwrap(), reps);
            println!(
                "n={n} threads={threads}: grad {:.2} us, value {:.2} us, ratio {:.2}, arena {} B, {:.2} GB/s",
                tg * 1e6,
                tv * 1e6,
                tg / tv,
                f.arena_bytes(),
                16.0 * n as f64 / tg / 1e9
            );
        }
    }
}
