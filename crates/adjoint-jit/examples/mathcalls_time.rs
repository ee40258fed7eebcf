//! Run time of W7's compiled gradient (calls of sin/cos) and of a
//! small loop with many transcendentals (the call path, out-of-line
//! polynomial functions by default), best of 200:
//! `cargo run --release -p adjoint-jit --example mathcalls_time`.
use adjoint_ir::{GraphBuilder, TensorType};
use adjoint_jit::{compile, JitOptions};
use adjoint_passes::PassManager;
use std::time::Instant;

fn best(f: &mut dyn FnMut()) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..200 {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b
}

fn main() {
    let b = GraphBuilder::new("w7");
    let mut x = b.param("x", TensorType::f64([16]));
    for _ in 0..250 {
        x = x.sin() * x.lit(1.01) + x.cos() * x.lit(0.5);
    }
    let mut g = b.build(&[x.sum()]).unwrap();
    PassManager::parse("grad,simplify,cse,dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    let f = compile(&g, &JitOptions::default()).unwrap();
    let xs: Vec<f64> = (0..16).map(|i| 0.1 * i as f64).collect();
    let mut outs: Vec<Vec<f64>> = g
        .output_types()
        .iter()
        .map(|t| vec![0.0; t.numel()])
        .collect();
    let t = best(&mut || {
        let mut o: Vec<&mut [f64]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        f.call_f64(&[&xs], &mut o).unwrap();
    });
    println!("W7 gradient call: {:.1} us", t * 1e6);
    for name in ["exp", "tanh", "sin"] {
        let b = GraphBuilder::new("many");
        let x = b.param("x", TensorType::f64([512]));
        let mut ys = vec![];
        for i in 0..20 {
            let xi = x * x.lit(1.0 + 0.01 * i as f64);
            ys.push(match name {
                "exp" => xi.exp(),
                "tanh" => xi.tanh(),
                _ => xi.sin(),
            });
        }
        let mut s = ys[0];
        for y in &ys[1..] {
            s = s + *y;
        }
        let g = b.build(&[s]).unwrap();
        let f = compile(&g, &JitOptions::default()).unwrap();
        let xs: Vec<f64> = (0..512).map(|i| -2.0 + 4.0 * i as f64 / 512.0).collect();
        let mut o = vec![0.0; 512];
        let t = best(&mut || f.call_f64(&[&xs], &mut [&mut o]).unwrap());
        println!(
            "20 x {name} on 512 f64 (call path): {:.1} us = {:.1} ns/elem-op",
            t * 1e6,
            t * 1e9 / (20.0 * 512.0)
        );
    }
}
