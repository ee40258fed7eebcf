//! Random programs: auto, fwd and rev Jacobians agree to 1e-12 (relative to
//! the largest entry) and with central finite differences, on random DAGs
//! mixing chains (width-changing matmuls), fan-out and fan-in (diamonds,
//! values used twice), elementwise ops, reductions, broadcasts, reshapes
//! and transposes. The generator is a fixed xorshift, so failures replay.

use adjoint_interp::eval;
use adjoint_ir::{verify, Graph, GraphBuilder, Tensor, TensorType, Value};
use adjoint_passes::PassManager;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() % 2001) as f64 / 1000.0 - 1.0
    }
}

fn weight(rng: &mut Rng, m: usize, n: usize) -> Tensor {
    let data = (0..m * n).map(|_| rng.unit() / (n as f64).sqrt()).collect();
    Tensor::from_f64([m, n], data).unwrap()
}

/// A random program of vectors `f64[w]` from `x: f64[w0]`.
fn random_program(seed: u64) -> (Graph, usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let b = GraphBuilder::new("rand");
    let w0 = 1 + rng.below(5);
    let x = b.param("x", TensorType::f64([w0]));
    let mut vals: Vec<Value> = vec![x];
    let steps = 4 + rng.below(8);
    for _ in 0..steps {
        // Mostly extend the newest value (a chain), sometimes an older one
        // (fan-out), sometimes combine two (fan-in).
        let cur = if rng.below(4) == 0 {
            vals[rng.below(vals.len())]
        } else {
            *vals.last().unwrap()
        };
        let w = cur.shape().dims()[0];
        let next = match rng.below(9) {
            0 | 1 => {
                let m = 1 + rng.below(6);
                b.constant(weight(&mut rng, m, w)).matmul(cur)
            }
            2 => cur.tanh(),
            3 => (cur * 0.5).sin() + cur,
            4 => {
                // Combine with an older value of the same width, if any.
                let same: Vec<Value> = vals
                    .iter()
                    .copied()
                    .filter(|v| v.shape().dims()[0] == w)
                    .collect();
                let other = same[rng.below(same.len())];
                cur * other.cos() + other
            }
            5 => {
                // outer product with itself, reduced back: [w] -> [w,w] -> [w]
                let o = cur.reshape([w, 1]) * cur.reshape([1, w]).tanh();
                o.sum_axes(&[0])
            }
            6 => {
                // a scalar broadcast back: sum(cur) * cur
                let s = cur.sum();
                s * cur.sigmoid()
            }
            7 => {
                if w % 2 == 0 && w > 1 {
                    cur.reshape([2, w / 2])
                        .transpose(&[1, 0])
                        .reshape([w])
                        .exp()
                        * 0.3
                } else {
                    (cur * cur + 1.0).sqrt()
                }
            }
            _ => cur.maximum(cur * 0.3) - cur.max_all().broadcast_to([w]) * 0.1,
        };
        vals.push(next);
    }
    let y = *vals.last().unwrap();
    (b.build(&[y]).unwrap(), w0)
}

fn jac(g: &Graph, mode: &str, x: &Tensor) -> (Tensor, Vec<String>) {
    let mut h = g.clone();
    let r = PassManager::parse(&format!("jacobian{{mode={mode}}}"))
        .unwrap()
        .run(&mut h)
        .unwrap();
    verify(&h).unwrap();
    let out = eval(&h, std::slice::from_ref(x)).unwrap();
    (out[1].clone(), r.passes[0].stats.notes.clone())
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(1e-300f64, |a, x| a.max(x.abs()))
}

#[test]
fn random_programs_agree_across_modes_and_with_finite_differences() {
    let mut mixed = 0;
    for seed in 1..=60u64 {
        let (g, w0) = random_program(seed);
        // Points away from the kinks of `max` (at 0 here) so that central
        // differences do not straddle one.
        let xs: Vec<f64> = (0..w0)
            .map(|i| 0.35 + 0.17 * i as f64 + 0.013 * seed as f64)
            .collect();
        let x = Tensor::from_f64([w0], xs.clone()).unwrap();
        let (ja, notes) = jac(&g, "auto", &x);
        let (jf, _) = jac(&g, "fwd", &x);
        let (jr, _) = jac(&g, "rev", &x);
        let (a, f, r) = (ja.to_f64_vec(), jf.to_f64_vec(), jr.to_f64_vec());
        let scale = max_abs(&a);
        for (i, ((a, f), r)) in a.iter().zip(&f).zip(&r).enumerate() {
            assert!(
                (a - f).abs() <= 1e-12 * scale && (a - r).abs() <= 1e-12 * scale,
                "seed {seed} entry {i}: auto {a} fwd {f} rev {r}; {notes:?}"
            );
        }
        // Central differences.
        let y0 = eval(&g, std::slice::from_ref(&x)).unwrap()[0].to_f64_vec();
        let m = y0.len();
        for j in 0..w0 {
            let h = 1e-6;
            let at = |d: f64| {
                let mut v = xs.clone();
                v[j] += d;
                eval(&g, &[Tensor::from_f64([w0], v).unwrap()]).unwrap()[0].to_f64_vec()
            };
            let (p, q) = (at(h), at(-h));
            for i in 0..m {
                let fd = (p[i] - q[i]) / (2.0 * h);
                let got = a[i * w0 + j];
                assert!(
                    (fd - got).abs() <= 1e-6 * scale.max(1.0),
                    "seed {seed} J[{i},{j}]: fd {fd} vs {got}; {notes:?}"
                );
            }
        }
        if notes[0].contains('[') && !notes[0].contains("within 1%") {
            mixed += 1;
        }
    }
    // The generator produces programs where auto emits a DP schedule (not a
    // pure-mode fallback) often enough for this test to exercise it.
    eprintln!("{mixed} of 60 programs used a DP schedule");
    assert!(mixed >= 10, "only {mixed} programs used a DP schedule");
}
