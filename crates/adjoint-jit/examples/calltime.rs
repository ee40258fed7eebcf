//! Times one call of small compiled functions (W1, W2 and a trivial one) in
//! a tight loop: the per-call cost of the checked `call_f64` path.
use adjoint_ir::{Graph, GraphBuilder, TensorType};
use adjoint_jit::{compile, JitOptions};
use adjoint_passes::PassManager;
use std::hint::black_box;
use std::time::Instant;

fn derive(mut g: Graph, keep: &[usize]) -> Graph {
    PassManager::parse("grad").unwrap().run(&mut g).unwrap();
    let outs: Vec<_> = keep.iter().map(|&k| g.outputs()[k]).collect();
    g.set_outputs(outs);
    PassManager::parse("simplify,cse,dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    g
}

fn time(name: &str, g: &Graph, ins: &[&[f64]], n_out: usize) {
    let f = compile(g, &JitOptions::default()).unwrap();
    let mut outs = vec![[0.0f64; 1]; n_out];
    let n = 20_000;
    let mut best = f64::MAX;
    for _ in 0..300 {
        let t = Instant::now();
        for _ in 0..n {
            let mut o: Vec<&mut [f64]> = Vec::new();
            let _ = &mut o;
            let mut refs: [&mut [f64]; 2] = {
                let (a, b) = outs.split_at_mut(1.min(n_out));
                [
                    &mut a[0][..],
                    if n_out > 1 {
                        &mut b[0][..]
                    } else {
                        &mut [][..]
                    },
                ]
            };
            f.call_f64(black_box(ins), &mut refs[..n_out]).unwrap();
        }
        best = best.min(t.elapsed().as_secs_f64() / n as f64);
    }
    println!("{name}: {:.1} ns/call -> {:?}", best * 1e9, outs);
}

fn main() {
    let b = GraphBuilder::new("id");
    let x = b.param("x", TensorType::f64([]));
    let g = b.build(&[x.neg_()]).unwrap();
    time("neg", &g, &[&[2.0]], 1);
    let b = GraphBuilder::new("w1");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([]));
    let g = derive(b.build(&[x1 * x2 + x1.sin()]).unwrap(), &[1, 2]);
    time("W1", &g, &[&[2.0], &[7.0]], 2);
    let b = GraphBuilder::new("w2");
    let x = b.param("x", TensorType::f64([]));
    let g = derive(b.build(&[x.sigmoid().sigmoid().sigmoid()]).unwrap(), &[1]);
    time("W2", &g, &[&[100.0]], 1);
}
