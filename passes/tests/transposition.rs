//! Forward and reverse mode agree on random graphs: for random `u`, `v`,
//! `<u, J v> = <J^T u, v>` to 1e-10 relative, with `J v` from `jvp` and
//! `J^T u` from `vjp` (all parameters, all outputs at once).
mod common;

use adjoint_ir::{Graph, GraphBuilder, Tensor, TensorType, Value};
use common::{eval, run, Rng};

/// A random program over `[3,4]` values built from every kind of op.
fn random_graph(seed: u64, steps: usize) -> Graph {
    let mut r = Rng(seed);
    let b = GraphBuilder::new(format!("rand{seed}"));
    let x = b.param("x", TensorType::f64([3, 4]));
    let y = b.param("y", TensorType::f64([3, 4]));
    let w = b.param("w", TensorType::f64([4]));
    let s = b.param("s", TensorType::f64([]));
    let mut pool: Vec<Value<'_>> = vec![x, y, w.broadcast_to([3, 4]), x * s];
    let pick = |r: &mut Rng, n: usize| (r.next_f64() * n as f64) as usize % n;
    for _ in 0..steps {
        let a = pool[pick(&mut r, pool.len())];
        let c = pool[pick(&mut r, pool.len())];
        let v = match pick(&mut r, 20) {
            0 => a.sin(),
            1 => a.tanh(),
            2 => a.sigmoid(),
            3 => (a * 0.3).exp(),
            4 => a * c,
            5 => a + c,
            6 => a - c,
            7 => a / (1.0 + c * c),
            8 => a.maximum(c),
            9 => a.minimum(c).abs(),
            10 => a.gt(c).select(a, c * 2.0),
            11 => (a.sigmoid() + 0.5).pow(c.cos()),
            12 => a.matmul(c.t()).matmul(a) * 0.1,
            13 => a.sum_axes(&[1]).reshape([3, 1]).broadcast_to([3, 4]),
            14 => a.max_axes(&[0]).broadcast_to([3, 4]) + c,
            15 => a.reshape([2, 6]).transpose(&[1, 0]).reshape([3, 4]),
            16 => a.slice(&[0, 1], &[3, 4]).pad(&[0, 1], &[0, 0]) + c,
            17 => b.concat(&[a.slice(&[0, 0], &[3, 2]), c.slice(&[0, 2], &[3, 4])], 1),
            18 => a
                .try_slice(&[0, 0], &[3, 4], &[2, 3])
                .unwrap()
                .pad(&[1, 1], &[0, 1]),
            _ => (a * w).relu() + s * c,
        };
        pool.push(v);
    }
    let n = pool.len();
    let o1 = pool[n - 1];
    let o2 = pool[n - 2].sum_axes(&[0]);
    b.build(&[o1, o2]).unwrap()
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| x * y)
        .sum()
}

#[test]
fn forward_and_reverse_are_transposes() {
    let mut worst: f64 = 0.0;
    for seed in 0..40u64 {
        let g = random_graph(seed, 14);
        let mut r = Rng(1000 + seed);
        let xs: Vec<Tensor> = g
            .param_types()
            .iter()
            .map(|t| r.tensor(t, -1.0, 1.0))
            .collect();
        let vs: Vec<Tensor> = g
            .param_types()
            .iter()
            .map(|t| r.tensor(t, -1.0, 1.0))
            .collect();
        let us: Vec<Tensor> = g
            .output_types()
            .iter()
            .map(|t| r.tensor(t, -1.0, 1.0))
            .collect();
        let fwd = run(&g, "jvp");
        let mut fargs = xs.clone();
        fargs.extend(vs.iter().cloned());
        let jv = eval(&fwd, &fargs);
        let rev = run(&g, "vjp");
        let mut rargs = xs.clone();
        rargs.extend(us.iter().cloned());
        let jtu = eval(&rev, &rargs);
        let no = g.outputs().len();
        let lhs: f64 = (0..no).map(|i| dot(&us[i], &jv[no + i])).sum();
        let rhs: f64 = (0..vs.len()).map(|i| dot(&jtu[no + i], &vs[i])).sum();
        let scale = lhs.abs().max(rhs.abs()).max(1e-300);
        let e = (lhs - rhs).abs() / scale;
        assert!(e <= 1e-10, "seed {seed}: <u,Jv> = {lhs}, <J^T u,v> = {rhs}");
        // The cleaned-up versions compute the same numbers.
        let fwd2 = run(&g, "jvp,simplify,fold,cse,dce");
        let jv2 = eval(&fwd2, &fargs);
        for (a, b) in jv.iter().zip(&jv2) {
            let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0), "seed {seed}");
            }
        }
        worst = worst.max(e);
    }
    println!("transposition identity: worst rel err {worst:.2e} over 40 random graphs");
}
