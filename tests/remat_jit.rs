//! `grad{remat=true}` on the JIT: on an MLP with a wide elementwise
//! activation tail the arena of intermediates shrinks, and the JIT's
//! results with and without remat are the same bits (NaN and infinities
//! included), as are the interpreter's.

use adjoint::interp::eval;
use adjoint::ir::{DType, Graph, GraphBuilder, Tensor, TensorType, Value};
use adjoint::jit::{compile, JitOptions};
use adjoint::passes::PassManager;

fn act(z: Value<'_>) -> Value<'_> {
    z.tanh() * z.sigmoid() + 0.125 * z
}

/// A W4-shaped MLP (`in-h-h-10`, softmax cross-entropy) whose activation
/// is the wide elementwise tail `tanh(z)·sigmoid(z) + z/8`.
fn wide_mlp(dt: DType, batch: usize, dims: [usize; 4]) -> Graph {
    let b = GraphBuilder::new("wide_mlp");
    let t = |d: &[usize]| TensorType::new(dt, d.to_vec());
    let x = b.param("x", t(&[batch, dims[0]]));
    let labels = b.param("labels", t(&[batch, dims[3]]));
    let w1 = b.param("w1", t(&[dims[0], dims[1]]));
    let b1 = b.param("b1", t(&[dims[1]]));
    let w2 = b.param("w2", t(&[dims[1], dims[2]]));
    let b2 = b.param("b2", t(&[dims[2]]));
    let w3 = b.param("w3", t(&[dims[2], dims[3]]));
    let h1 = act(x.matmul(w1) + b1);
    let h2 = act(h1.matmul(w2) + b2);
    let logits = h2.matmul(w3);
    b.build(&[logits.cross_entropy(labels)]).unwrap()
}

fn derive(g: &Graph, remat: bool) -> Graph {
    let mut h = g.clone();
    PassManager::parse(&format!(
        "grad{{wrt=w1,b1,w2,b2,w3,remat={remat}}},simplify,cse,dce"
    ))
    .unwrap()
    .run(&mut h)
    .unwrap();
    h
}

fn inputs(g: &Graph, specials: bool) -> Vec<Tensor> {
    let odd = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e30];
    g.param_types()
        .iter()
        .enumerate()
        .map(|(k, ty)| {
            let v: Vec<f64> = (0..ty.numel())
                .map(|i| {
                    if specials && (i * 7 + k) % 11 == 0 {
                        odd[(i + k) % odd.len()]
                    } else {
                        (((i * 37 + k * 101) % 97) as f64 / 48.5 - 1.0) * 0.3
                    }
                })
                .collect();
            Tensor::from_f64_as(ty, &v).unwrap()
        })
        .collect()
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u64>> {
    ts.iter()
        .map(|t| t.to_f64_vec().iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn the_arena_shrinks_and_the_bits_stay() {
    for dt in [DType::F32, DType::F64] {
        let g = wide_mlp(dt, 16, [24, 64, 64, 10]);
        let (plain, remat) = (derive(&g, false), derive(&g, true));
        let opts = JitOptions::default();
        let (fp, fr) = (
            compile(&plain, &opts).unwrap(),
            compile(&remat, &opts).unwrap(),
        );
        assert!(
            fr.arena_bytes() < fp.arena_bytes(),
            "{dt}: arena {} with remat, {} without",
            fr.arena_bytes(),
            fp.arena_bytes()
        );
        for specials in [false, true] {
            let ins = inputs(&g, specials);
            let jp = fp.run(&ins).unwrap();
            let jr = fr.run(&ins).unwrap();
            assert_eq!(bits(&jp), bits(&jr), "{dt} JIT, specials {specials}");
            let ip = eval(&plain, &ins).unwrap();
            let ir = eval(&remat, &ins).unwrap();
            assert_eq!(
                bits(&ip),
                bits(&ir),
                "{dt} interpreter, specials {specials}"
            );
        }
    }
}
