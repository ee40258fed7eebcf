//! The batched rules (the Jacobian pass's building blocks): pushing an
//! identity seed through `push_forward` with a batch prefix, and pulling
//! one back through `backpropagate`, give the full Jacobian in one graph,
//! equal to column-by-column `jvp`.
mod common;

use adjoint_ir::{Graph, NodeId, Shape, Tensor, TensorType};
use adjoint_passes::contract::{prepare_calls, Rule};
use adjoint_passes::forward::push_forward;
use adjoint_passes::reverse::backpropagate;
use adjoint_passes::Lin;
use common::{eval, random_graph, run, Rng};

fn identity(n: usize, shape: &Shape) -> Tensor {
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let mut d = vec![n];
    d.extend_from_slice(shape.dims());
    Tensor::from_f64(d, v).unwrap()
}

fn materialize(g: &mut Graph, l: Lin, ty: &TensorType) -> NodeId {
    l.materialize(g, ty).unwrap()
}

#[test]
fn batched_forward_and_reverse_give_the_jacobian() {
    for seed in 0..25u64 {
        let g = random_graph(seed, 12);
        let x = g.params()[0];
        let xs = g.ty(x).shape.clone();
        let n = xs.numel();
        let y = g.outputs()[0];
        let ys = g.ty(y).shape.clone();
        let m = ys.numel();
        let mut r = Rng(77 + seed);
        let args: Vec<Tensor> = g
            .param_types()
            .iter()
            .map(|t| r.tensor(t, -1.0, 1.0))
            .collect();

        // Forward: tangent seed I_n reshaped to [n] ++ shape(x).
        let mut f = g.clone();
        prepare_calls(&mut f, Rule::None).unwrap();
        let seed_t = f.constant(identity(n, &xs));
        let outs = f.outputs().to_vec();
        let t = push_forward(&mut f, &[(x, seed_t)], &outs[..1], &[n]).unwrap();
        let ty = TensorType::new(adjoint_ir::DType::F64, {
            let mut d = vec![n];
            d.extend_from_slice(ys.dims());
            d
        });
        let jf = materialize(&mut f, t[0], &ty);
        f.set_outputs(vec![jf]);
        adjoint_ir::verify(&f).unwrap();
        let jfwd = eval(&f, &args)[0].to_f64_vec(); // [n][m]

        // Reverse: cotangent seed I_m reshaped to [m] ++ shape(y).
        let mut b = g.clone();
        let seed_c = b.constant(identity(m, &ys));
        let c = backpropagate(&mut b, &[(y, seed_c)], &[x], &[m]).unwrap();
        let ty = TensorType::new(adjoint_ir::DType::F64, {
            let mut d = vec![m];
            d.extend_from_slice(xs.dims());
            d
        });
        let jr = materialize(&mut b, c[0], &ty);
        b.set_outputs(vec![jr]);
        adjoint_ir::verify(&b).unwrap();
        let jrev = eval(&b, &args)[0].to_f64_vec(); // [m][n]

        // Column j of the Jacobian by an unbatched jvp.
        let one = run(&g, "jvp{wrt=x}");
        for j in 0..n {
            let mut e = vec![0.0; n];
            e[j] = 1.0;
            let mut a = args.clone();
            a.push(Tensor::from_f64(xs.clone(), e).unwrap());
            let col = eval(&one, &a)[g.outputs().len()].to_f64_vec();
            for i in 0..m {
                let (want, fw, rv) = (col[i], jfwd[j * m + i], jrev[i * n + j]);
                let tol = 1e-12 * want.abs().max(1.0);
                assert!(
                    (fw - want).abs() <= tol,
                    "seed {seed} fwd J[{i},{j}] {fw} vs {want}"
                );
                assert!(
                    (rv - want).abs() <= tol,
                    "seed {seed} rev J[{i},{j}] {rv} vs {want}"
                );
            }
        }
    }
}

#[test]
fn interior_seeds_and_stops_act_as_cut_points() {
    // y = sin(x) * x with h = sin(x) as a cut point.
    let b = adjoint_ir::GraphBuilder::new("cut");
    let x = b.param("x", TensorType::f64([]));
    let h = x.sin();
    let g = b.build(&[h * x]).unwrap();
    let (xn, hn, y) = (x.id(), h.id(), g.outputs()[0]);
    let xv = 0.8f64;
    // Reverse, stopping at h: d/dx holds h fixed (= h), d/dh = x.
    let mut r = g.clone();
    let one = r.constant(Tensor::scalar_f64(1.0));
    let c = backpropagate(&mut r, &[(y, one)], &[xn, hn], &[]).unwrap();
    let (cx, ch) = (c[0].node().unwrap(), c[1].node().unwrap());
    r.set_outputs(vec![cx, ch]);
    let out = eval(&r, &[Tensor::scalar_f64(xv)]);
    assert_eq!(out[0].scalar_value().unwrap(), xv.sin());
    assert_eq!(out[1].scalar_value().unwrap(), xv);
    // Forward, seeded at h only: dy = x * dh.
    let mut f = g.clone();
    let th = f.constant(Tensor::scalar_f64(2.0));
    let t = push_forward(&mut f, &[(hn, th)], &[y], &[]).unwrap();
    f.set_outputs(vec![t[0].node().unwrap()]);
    let out = eval(&f, &[Tensor::scalar_f64(xv)]);
    assert_eq!(out[0].scalar_value().unwrap(), 2.0 * xv);
}
