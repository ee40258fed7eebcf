//! Forward and reverse mode agree on random graphs: for random `u`, `v`,
//! `<u, J v> = <J^T u, v>` to 1e-10 relative, with `J v` from `jvp` and
//! `J^T u` from `vjp` (all parameters, all outputs at once).
mod common;

use adjoint_ir::Tensor;
use common::{eval, random_graph, run, Rng};

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
