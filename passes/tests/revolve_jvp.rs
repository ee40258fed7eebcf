//! Derivatives of `revolve`: its JVP rule against the JVP of the
//! semantically equal pair of scans (every state stored, then the reverse
//! scan) and against central differences, masked and batched; DCE of
//! revolve; and second order through budgeted loops.
mod common;

use adjoint_ir::{parse_module, verify, Graph, Op, Tensor};
use common::{eval, run, Rng};

/// `s' = sin(s·x)·w + 0.1·s`; the body `(b, s, x, w) -> (b·cos(s) + x·w,
/// b·s, s·s·x)`: two carries' worth of nonlinearity in both functions.
const FNS: &str = "\
func @fwd(%s: f64[2], %x: f64[2], %w: f64) -> f64[2] {
  %a = mul %s, %x : f64[2]
  %b = sin %a : f64[2]
  %c = mul %b, %w : f64[2]
  %k = const 0.1 : f64
  %d = mul %s, %k : f64[2]
  %y = add %c, %d : f64[2]
  return %y
}

func @bwd(%b: f64[2], %s: f64[2], %x: f64[2], %w: f64) -> (f64[2], f64[2], f64[2]) {
  %c = cos %s : f64[2]
  %p = mul %b, %c : f64[2]
  %q = mul %x, %w : f64[2]
  %nb = add %p, %q : f64[2]
  %y = mul %b, %s : f64[2]
  %ss = mul %s, %s : f64[2]
  %z = mul %ss, %x : f64[2]
  return %nb, %y, %z
}

func @fwd_all(%s: f64[2], %x: f64[2], %w: f64) -> (f64[2], f64[2]) {
  %a = mul %s, %x : f64[2]
  %b = sin %a : f64[2]
  %c = mul %b, %w : f64[2]
  %k = const 0.1 : f64
  %d = mul %s, %k : f64[2]
  %y = add %c, %d : f64[2]
  return %y, %s
}
";

fn revolve_prog(snapshots: usize) -> Graph {
    let text = format!(
        "{FNS}
func @main(%s0: f64[2], %b0: f64[2], %xs: f64[7,2], %w: f64) -> (f64[2], f64[7,2], f64[7,2]) {{
  %b, %ys, %zs = revolve %s0, %b0, %xs, %w body=@bwd step=@fwd state=1 carry=1 xs=1 snapshots={snapshots} : (f64[2], f64[7,2], f64[7,2])
  return %b, %ys, %zs
}}
"
    );
    parse_module(&text).unwrap().func("main").unwrap().clone()
}

/// The same function as two scans: every state stored, then the reverse
/// sweep.
fn scan_pair() -> Graph {
    let text = format!(
        "{FNS}
func @main(%s0: f64[2], %b0: f64[2], %xs: f64[7,2], %w: f64) -> (f64[2], f64[7,2], f64[7,2]) {{
  %sT, %ss = scan %s0, %xs, %w body=@fwd_all carry=1 xs=1 : (f64[2], f64[7,2])
  %b, %ys, %zs = scan %b0, %ss, %xs, %w body=@bwd carry=1 xs=2 reverse=true : (f64[2], f64[7,2], f64[7,2])
  return %b, %ys, %zs
}}
"
    );
    parse_module(&text).unwrap().func("main").unwrap().clone()
}

fn inputs(rng: &mut Rng, g: &Graph) -> Vec<Tensor> {
    g.param_types()
        .iter()
        .map(|t| rng.tensor(t, -1.0, 1.0))
        .collect()
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u64>> {
    ts.iter()
        .map(|t| t.to_f64_vec().iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn revolve_equals_the_scan_pair() {
    let mut rng = Rng(7);
    let pair = scan_pair();
    for _ in 0..3 {
        let x = inputs(&mut rng, &pair);
        let want = bits(&eval(&pair, &x));
        for s in [1, 2, 3, 7, 9] {
            assert_eq!(bits(&eval(&revolve_prog(s), &x)), want, "snapshots={s}");
        }
    }
}

/// The JVP of the revolve (in the direction of every input) equals the
/// JVP of the scan pair bit for bit, and central differences.
#[test]
fn jvp_of_revolve_matches_the_scan_pair_and_differences() {
    let mut rng = Rng(11);
    let pair = scan_pair();
    let pipeline = "jvp{wrt=s0,b0,xs,w}";
    let jp = run(&pair, pipeline);
    for s in [1, 3, 7] {
        let g = revolve_prog(s);
        let j = run(&g, pipeline);
        verify(&j).unwrap();
        // Still one revolve, now carrying tangents.
        let revs: Vec<_> = j
            .node_ids()
            .into_iter()
            .filter(|&n| matches!(j[n].op, Op::Revolve { .. }))
            .collect();
        assert_eq!(revs.len(), 1, "{}", adjoint_ir::print_graph(&j));
        let Op::Revolve {
            state,
            carry,
            xs,
            snapshots,
            ..
        } = j[revs[0]].op.clone()
        else {
            unreachable!()
        };
        assert_eq!((state, carry, xs, snapshots), (2, 2, 2, s));
        for _ in 0..2 {
            let mut x = inputs(&mut rng, &g);
            let dirs = inputs(&mut rng, &g);
            x.extend(dirs.iter().cloned());
            let got = eval(&j, &x);
            assert_eq!(bits(&got), bits(&eval(&jp, &x)), "snapshots={s}");
            // Central differences of the primal along the direction.
            let h = 1e-6;
            let shifted = |sign: f64| -> Vec<Tensor> {
                x[..4]
                    .iter()
                    .zip(&dirs)
                    .map(|(a, d)| {
                        let v: Vec<f64> = a
                            .to_f64_vec()
                            .iter()
                            .zip(d.to_f64_vec())
                            .map(|(a, d)| a + sign * h * d)
                            .collect();
                        Tensor::from_f64_as(&a.ty(), &v).unwrap()
                    })
                    .collect()
            };
            let (p, m) = (eval(&g, &shifted(1.0)), eval(&g, &shifted(-1.0)));
            for o in 0..3 {
                let t = got[3 + o].to_f64_vec();
                let (pv, mv) = (p[o].to_f64_vec(), m[o].to_f64_vec());
                for i in 0..t.len() {
                    let fd = (pv[i] - mv[i]) / (2.0 * h);
                    assert!(
                        (fd - t[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                        "output {o}[{i}]: jvp {} vs fd {fd}",
                        t[i]
                    );
                }
            }
        }
    }
}

/// A masked revolve: the mask has no tangent and the JVP keeps it.
#[test]
fn jvp_of_a_masked_revolve() {
    let text = format!(
        "{FNS}
func @main(%m: bool[7], %s0: f64[2], %b0: f64[2], %xs: f64[7,2], %w: f64) -> (f64[2], f64[7,2], f64[7,2]) {{
  %b, %ys, %zs = revolve %m, %s0, %b0, %xs, %w body=@bwd step=@fwd state=1 carry=1 xs=1 snapshots=2 masked=true : (f64[2], f64[7,2], f64[7,2])
  return %b, %ys, %zs
}}
"
    );
    let g = parse_module(&text).unwrap().func("main").unwrap().clone();
    let j = run(&g, "jvp{wrt=s0,w}");
    verify(&j).unwrap();
    let mut rng = Rng(3);
    let mask = Tensor::from_bool([7], vec![true, true, true, true, false, true, false]).unwrap();
    let s0 = rng.tensor(&adjoint_ir::TensorType::f64([2]), -1.0, 1.0);
    let b0 = rng.tensor(&adjoint_ir::TensorType::f64([2]), -1.0, 1.0);
    let xs = rng.tensor(&adjoint_ir::TensorType::f64([7, 2]), -1.0, 1.0);
    let w = Tensor::scalar_f64(0.7);
    let ds0 = Tensor::from_f64([2], vec![1.0, -0.5]).unwrap();
    let dw = Tensor::scalar_f64(0.25);
    let out = eval(
        &j,
        &[
            mask.clone(),
            s0.clone(),
            b0.clone(),
            xs.clone(),
            w.clone(),
            ds0.clone(),
            dw.clone(),
        ],
    );
    let h = 1e-6;
    let at = |sg: f64| {
        let s: Vec<f64> = s0
            .to_f64_vec()
            .iter()
            .zip(ds0.to_f64_vec())
            .map(|(a, d)| a + sg * h * d)
            .collect();
        eval(
            &g,
            &[
                mask.clone(),
                Tensor::from_f64([2], s).unwrap(),
                b0.clone(),
                xs.clone(),
                Tensor::scalar_f64(0.7 + sg * h * 0.25),
            ],
        )
    };
    let (p, m) = (at(1.0), at(-1.0));
    for o in 0..3 {
        let t = out[3 + o].to_f64_vec();
        let (pv, mv) = (p[o].to_f64_vec(), m[o].to_f64_vec());
        for i in 0..t.len() {
            let fd = (pv[i] - mv[i]) / (2.0 * h);
            assert!(
                (fd - t[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                "output {o}[{i}]: {} vs {fd}",
                t[i]
            );
        }
        // Rows past the trip count (4 leading trues) are zero, tangents too.
        if o > 0 {
            assert!(t[8..].iter().all(|&v| v == 0.0), "{t:?}");
        }
    }
}

/// DCE drops an unused stacked output of a revolve (and its computation
/// in the body), keeping the state the step needs.
#[test]
fn dce_prunes_unused_revolve_outputs() {
    let text = format!(
        "{FNS}
func @main(%s0: f64[2], %b0: f64[2], %xs: f64[7,2], %w: f64) -> (f64[2], f64[7,2]) {{
  %b, %ys, %zs = revolve %s0, %b0, %xs, %w body=@bwd step=@fwd state=1 carry=1 xs=1 snapshots=3 : (f64[2], f64[7,2], f64[7,2])
  return %b, %ys
}}
"
    );
    let g = parse_module(&text).unwrap().func("main").unwrap().clone();
    let d = run(&g, "dce");
    verify(&d).unwrap();
    let n = d
        .node_ids()
        .into_iter()
        .find(|&n| matches!(d[n].op, Op::Revolve { .. }))
        .unwrap();
    let Op::Revolve { body, state, .. } = d[n].op.clone() else {
        unreachable!()
    };
    assert_eq!(state, 1);
    assert_eq!(body.outputs().len(), 2, "{}", adjoint_ir::print_graph(&d));
    let mut rng = Rng(5);
    let x = inputs(&mut rng, &g);
    assert_eq!(bits(&eval(&d, &x)), bits(&eval(&g, &x)));
}

/// LICM moves invariant-only values out of a revolve's body and step (both
/// get the new invariants), masked or not; results are bit for bit the
/// same.
#[test]
fn licm_hoists_out_of_revolve_bodies() {
    for masked in [false, true] {
        let (mask_param, mask_arg, attr) = if masked {
            ("%m: bool[7], ", "%m, ", " masked=true")
        } else {
            ("", "", "")
        };
        let text = format!(
            "func @f(%s: f64[2], %x: f64[2], %w: f64) -> f64[2] {{
  %w2 = mul %w, %w : f64
  %e = exp %w2 : f64
  %a = mul %s, %x : f64[2]
  %y = mul %a, %e : f64[2]
  return %y
}}

func @g(%b: f64[2], %s: f64[2], %x: f64[2], %w: f64) -> (f64[2], f64[2]) {{
  %c = cos %w : f64
  %p = mul %b, %c : f64[2]
  %q = add %p, %s : f64[2]
  %y = mul %q, %x : f64[2]
  return %q, %y
}}

func @main({mask_param}%s0: f64[2], %b0: f64[2], %xs: f64[7,2], %w: f64) -> (f64[2], f64[7,2]) {{
  %b, %ys = revolve {mask_arg}%s0, %b0, %xs, %w body=@g step=@f state=1 carry=1 xs=1 snapshots=3{attr} : (f64[2], f64[7,2])
  return %b, %ys
}}
"
        );
        let g = parse_module(&text).unwrap().func("main").unwrap().clone();
        let h = run(&g, "licm");
        verify(&h).unwrap();
        let n = h
            .node_ids()
            .into_iter()
            .find(|&n| matches!(h[n].op, Op::Revolve { .. }))
            .unwrap();
        let Op::Revolve { body, step, .. } = h[n].op.clone() else {
            unreachable!()
        };
        let ops = |f: &Graph| -> Vec<&'static str> {
            f.node_ids()
                .into_iter()
                .map(|i| f[i].op.name())
                .filter(|&o| o != "param")
                .collect()
        };
        // exp(w·w) and cos(w) moved out; the per-step work stayed.
        assert!(
            !ops(step.graph()).contains(&"exp"),
            "{}",
            adjoint_ir::print_graph(&h)
        );
        assert!(
            !ops(body.graph()).contains(&"cos"),
            "{}",
            adjoint_ir::print_graph(&h)
        );
        assert!(ops(step.graph()).contains(&"mul"));
        assert_eq!(step.params().len(), body.params().len() - 1);
        let mut rng = Rng(9);
        let mut x = Vec::new();
        if masked {
            x.push(
                Tensor::from_bool([7], vec![true, true, true, false, true, true, true]).unwrap(),
            );
        }
        for t in g.param_types().iter().skip(usize::from(masked)) {
            x.push(rng.tensor(t, -1.0, 1.0));
        }
        assert_eq!(bits(&eval(&h, &x)), bits(&eval(&g, &x)));
    }
}
