//! The `jacobian` pass on programs with loops: `mode=fwd`, `rev` and `auto`
//! agree with each other and with central finite differences through
//! `scan`, bounded and unbounded `while`, `cond` and nested loops; the
//! DP's cost of a loop stage is the trip count times the body's cost; the
//! Hessian `grad,jacobian{of=1}` through loops against finite differences
//! of the gradient; rule 5 (an unbounded while: `rev` fails naming
//! `max_trips`, `auto` goes forward).

use adjoint_ir::{parse_module, verify, Graph, NodeId, Op, Tensor};
use adjoint_passes::cut_points::{node_cost, node_cost_full, UNBOUNDED_WHILE_TRIPS};
use adjoint_passes::jacobian::predict;
use adjoint_passes::PassManager;

fn func(src: &str) -> Graph {
    let m = parse_module(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    m.main_func().expect("a function").clone()
}

/// Runs `pipeline` on a copy of `g`; the copy and the passes' notes.
fn run(g: &Graph, pipeline: &str) -> (Graph, Vec<String>) {
    let mut h = g.clone();
    let report = PassManager::parse(pipeline)
        .unwrap()
        .run(&mut h)
        .unwrap_or_else(|e| panic!("{pipeline}: {e}"));
    verify(&h).unwrap_or_else(|e| panic!("verify after {pipeline}: {e}"));
    let notes = report
        .passes
        .into_iter()
        .flat_map(|r| r.stats.notes)
        .collect();
    (h, notes)
}

fn eval(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    adjoint_interp::eval(g, inputs).unwrap_or_else(|e| panic!("eval of @{}: {e}", g.name()))
}

fn t64(d: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(d.to_vec(), v.to_vec()).unwrap()
}

/// The Jacobian of output `of` w.r.t. parameter `p` by central finite
/// differences, row-major `[numel(out), numel(p)]`.
fn fd_jacobian(g: &Graph, inputs: &[Tensor], of: usize, p: usize) -> Vec<f64> {
    let base = inputs[p].to_f64_vec();
    if base.is_empty() {
        return Vec::new();
    }
    let ty = inputs[p].ty();
    let cols: Vec<Vec<f64>> = (0..base.len())
        .map(|j| {
            let h = 1e-6 * base[j].abs().max(1.0);
            let at = |d: f64| {
                let mut v = base.clone();
                v[j] += d;
                let mut ins = inputs.to_vec();
                ins[p] = Tensor::from_f64_as(&ty, &v).unwrap();
                eval(g, &ins)[of].to_f64_vec()
            };
            let (a, b) = (at(h), at(-h));
            a.iter().zip(&b).map(|(a, b)| (a - b) / (2.0 * h)).collect()
        })
        .collect();
    let m = cols[0].len();
    let mut out = vec![0.0; m * base.len()];
    for (j, c) in cols.iter().enumerate() {
        for i in 0..m {
            out[i * base.len() + j] = c[i];
        }
    }
    out
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths {a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}: {a:?} vs {b:?}"
        );
    }
}

/// Runs `jacobian{mode=M,of=of}` for each mode on `g` and checks that the
/// three agree (to rounding) and match finite differences, for every
/// float parameter. Returns the auto mode's notes.
fn check_modes(g: &Graph, inputs: &[Tensor], of: usize) -> Vec<String> {
    let np = g.params().len();
    let mut per_mode: Vec<Vec<Vec<f64>>> = Vec::new();
    let mut notes = Vec::new();
    for mode in ["fwd", "rev", "auto"] {
        let (h, stats) = run(g, &format!("jacobian{{mode={mode},of={of}}}"));
        let out = eval(&h, inputs);
        let base = g.outputs().len();
        assert_eq!(out.len(), base + np, "{mode}: one Jacobian per parameter");
        per_mode.push((0..np).map(|p| out[base + p].to_f64_vec()).collect());
        if mode == "auto" {
            notes = stats;
        }
    }
    for p in 0..np {
        let fd = fd_jacobian(g, inputs, of, p);
        for (mode, jac) in ["fwd", "rev", "auto"].iter().zip(&per_mode) {
            close(&jac[p], &fd, 1e-6, &format!("{mode} vs fd, param {p}"));
        }
        close(&per_mode[1][p], &per_mode[0][p], 1e-12, "rev vs fwd");
        close(&per_mode[2][p], &per_mode[0][p], 1e-12, "auto vs fwd");
    }
    notes
}

/// A scan with a vector carry, a scanned input and an invariant, between
/// work before and after it (so the chain has several stages).
const SCAN: &str = "
func @step(%c: f64[3], %x: f64[3], %k: f64[3]) -> (f64[3], f64) {
  %a = mul %c, %x
  %b = sin %a
  %n = add %b, %k
  %s = reduce_sum %n axes=[0]
  return %n, %s
}

func @main(%x: f64[3], %xs: f64[4,3]) -> f64[2] {
  %e = exp %x
  %c, %ys = scan %e, %xs, %x body=@step carry=1 xs=1
  %t = tanh %c
  %u = reduce_sum %t axes=[0]
  %v = reduce_sum %ys axes=[0]
  %ur = reshape %u shape=[1]
  %vr = reshape %v shape=[1]
  %o = concat %ur, %vr axis=0
  return %o
}
";

fn scan_inputs() -> Vec<Tensor> {
    vec![
        t64(&[3], &[0.1, -0.4, 0.3]),
        t64(
            &[4, 3],
            &[
                0.5, 0.2, -0.3, 0.9, 1.1, 0.4, -0.6, 0.3, 0.8, 0.25, -0.15, 0.7,
            ],
        ),
    ]
}

#[test]
fn scan_fwd_rev_auto_agree_with_finite_differences() {
    let g = func(SCAN);
    check_modes(&g, &scan_inputs(), 0);
    // reverse=true too.
    let g = func(&SCAN.replace("xs=1\n", "xs=1 reverse=true\n"));
    check_modes(&g, &scan_inputs(), 0);
    // Zero trips: the carry is the init (d/dx = diag(exp x) through tanh),
    // the Jacobian w.r.t. the empty xs is empty.
    let g = func(&SCAN.replace("f64[4,3]", "f64[0,3]"));
    let inputs = [scan_inputs()[0].clone(), t64(&[0, 3], &[])];
    check_modes(&g, &inputs, 0);
    let (h, _) = run(&g, "jacobian{mode=auto}");
    let out = eval(&h, &inputs);
    assert_eq!(out[2].shape().dims(), &[2, 0, 3]);
    let x = inputs[0].to_f64_vec();
    let want: Vec<f64> = x
        .iter()
        .map(|v| (1.0 - v.exp().tanh().powi(2)) * v.exp())
        .collect();
    close(
        &out[1].to_f64_vec()[..3],
        &want,
        1e-12,
        "d sum(tanh(exp x))/dx",
    );
}

/// A bounded while (the bound is hit for one input, not for the other)
/// followed by a cond whose branches both use the loop's result.
const WHILE_COND: &str = "
func @more(%x: f64[2], %k: f64[2]) -> bool {
  %s = reduce_sum %x axes=[0]
  %lim = const 6 : f64
  %p = lt %s, %lim
  return %p
}

func @grow(%x: f64[2], %k: f64[2]) -> f64[2] {
  %a = sin %x
  %b = mul %a, %k
  %c = add %x, %b
  %h = const 1.25 : f64[2]
  %d = mul %c, %h
  return %d
}

func @pos(%w: f64[2], %k: f64[2]) -> f64[2] {
  %m = mul %w, %k
  %s = sin %m
  return %s
}

func @neg(%w: f64[2], %k: f64[2]) -> f64[2] {
  %e = exp %w
  %m = mul %e, %k
  return %m
}

func @main(%x: f64[2], %k: f64[2]) -> f64[2] {
  %w = while %x, %k cond=@more body=@grow carry=1 max_trips=4
  %s = reduce_sum %k axes=[0]
  %z = const 0 : f64
  %p = gt %s, %z
  %r = cond %p, %w, %k then=@pos else=@neg
  return %r
}
";

#[test]
fn bounded_while_and_both_branches_of_cond_agree_with_finite_differences() {
    let g = func(WHILE_COND);
    // Bound not hit (the sum passes 6 first) / hit (4 trips, still < 6);
    // k positive takes @pos, negative @neg.
    for (x, k) in [
        ([2.0, 2.5], [0.3, 0.2]),
        ([0.1, 0.2], [0.3, 0.2]),
        ([2.0, 2.5], [-0.3, 0.1]),
        ([0.1, 0.2], [-0.3, 0.1]),
    ] {
        check_modes(&g, &[t64(&[2], &x), t64(&[2], &k)], 0);
    }
}

/// An unbounded while: `sqrt` iterated until below a limit (Newton-like
/// convergence), then scaled.
const UNBOUNDED: &str = "
func @big(%x: f64[2], %k: f64[2]) -> bool {
  %s = reduce_sum %x axes=[0]
  %lim = const 2.5 : f64
  %p = gt %s, %lim
  return %p
}

func @shrink(%x: f64[2], %k: f64[2]) -> f64[2] {
  %r = sqrt %x
  %m = mul %r, %k
  return %m
}

func @main(%x: f64[2], %k: f64[2]) -> f64[3] {
  %e = exp %x
  %w = while %e, %k cond=@big body=@shrink carry=1
  %t = sin %w
  %s = reduce_sum %t axes=[0]
  %sr = reshape %s shape=[1]
  %o = concat %t, %sr axis=0
  return %o
}
";

#[test]
fn unbounded_while_rev_fails_naming_max_trips_and_auto_goes_forward() {
    let g = func(UNBOUNDED);
    let inputs = [t64(&[2], &[1.5, 2.0]), t64(&[2], &[1.1, 0.9])];
    // rev: the error names the while by its result and mentions max_trips.
    let mut h = g.clone();
    let e = PassManager::parse("jacobian{mode=rev}")
        .unwrap()
        .run(&mut h)
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_trips") && e.contains("%w"), "{e}");
    // auto: forward through the while's stage; the note says so; equal to
    // fwd (bit for bit: the same pushes) and to finite differences.
    let (fwd, _) = run(&g, "jacobian{mode=fwd}");
    let (auto, notes) = run(&g, "jacobian{mode=auto}");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes.iter().all(|n| n.contains("forward only")),
        "{notes:?}"
    );
    let (a, f) = (eval(&auto, &inputs), eval(&fwd, &inputs));
    for p in 0..2 {
        close(
            &a[1 + p].to_f64_vec(),
            &f[1 + p].to_f64_vec(),
            1e-12,
            "auto vs fwd",
        );
        let fd = fd_jacobian(&g, &inputs, 0, p);
        close(&a[1 + p].to_f64_vec(), &fd, 1e-6, "auto vs fd");
    }
    // The chain marks the while's stage forward only, and the plan never
    // pulls adjoints through it.
    let x = g.params()[0];
    let y = g.outputs()[0];
    let pred = predict(&g, x, y).unwrap();
    let chain = pred.chain.unwrap();
    assert!(chain.forward_only());
    let fo: Vec<bool> = chain.stages.iter().map(|s| s.forward_only).collect();
    assert_eq!(fo.iter().filter(|&&f| f).count(), 1, "{fo:?}");
}

#[test]
fn unbounded_while_without_a_tangent_does_not_stop_reverse_mode() {
    // The while reads only k; its result enters through a product with x,
    // so no tangent of x flows through it: rev works for x (rule 5).
    let src = UNBOUNDED.replace(
        "%w = while %e, %k cond=@big body=@shrink carry=1\n  %t = sin %w",
        "%kk = exp %k\n  %w0 = while %kk, %k cond=@big body=@shrink carry=1\n  %w = mul %w0, %e\n  %t = sin %w",
    );
    let g = func(&src);
    let inputs = [t64(&[2], &[1.5, 2.0]), t64(&[2], &[1.1, 0.9])];
    let (h, _) = run(&g, "jacobian{mode=rev,wrt=x}");
    let out = eval(&h, &inputs);
    close(
        &out[1].to_f64_vec(),
        &fd_jacobian(&g, &inputs, 0, 0),
        1e-6,
        "rev wrt x",
    );
    let x = g.params()[0];
    let pred = predict(&g, x, g.outputs()[0]).unwrap();
    assert!(!pred.chain.unwrap().forward_only());
}

/// A scan whose body holds a bounded while and a cond.
const NESTED: &str = "
func @small(%a: f64, %x: f64) -> bool {
  %l = const 3 : f64
  %p = lt %a, %l
  return %p
}

func @inc(%a: f64, %x: f64) -> f64 {
  %s = sin %a
  %m = mul %s, %x
  %b = add %a, %m
  %h = const 0.5 : f64
  %c = add %b, %h
  return %c
}

func @id(%a: f64) -> f64 {
  return %a
}

func @sq(%a: f64) -> f64 {
  %m = mul %a, %a
  return %m
}

func @step(%c: f64, %x: f64) -> (f64, f64) {
  %w = while %c, %x cond=@small body=@inc carry=1 max_trips=3
  %z = const 1 : f64
  %p = gt %x, %z
  %r = cond %p, %w then=@sq else=@id
  %y = mul %r, %x
  return %r, %y
}

func @main(%c0: f64, %xs: f64[3]) -> f64[4] {
  %c, %ys = scan %c0, %xs body=@step carry=1 xs=1
  %cr = reshape %c shape=[1]
  %o = concat %cr, %ys axis=0
  return %o
}
";

#[test]
fn nested_loops_agree_with_finite_differences() {
    let g = func(NESTED);
    for xs in [[0.3, 1.5, 0.2], [1.2, 0.4, 0.9]] {
        let inputs = [t64(&[], &[0.4]), t64(&[3], &xs)];
        check_modes(&g, &inputs, 0);
    }
}

fn find(g: &Graph, pred: impl Fn(&Op) -> bool) -> NodeId {
    g.node_ids()
        .into_iter()
        .find(|&n| pred(&g[n].op))
        .expect("the node")
}

#[test]
fn loop_cost_is_trips_times_body_cost() {
    // @step per trip, everything live: mul 3·2 (c and x live) + sin 3 +
    // add 3·2 (b and k live) + reduce_sum 3 = 18; four trips.
    let g = func(SCAN);
    let scan = find(&g, |op| matches!(op, Op::Scan { .. }));
    assert_eq!(node_cost(&g, scan, &[true, true, true]), 4 * 18);
    // Only the init live: the carry stays live (fixpoint), x and k do not:
    // mul 3 + sin 3 + add 3 + reduce_sum 3.
    assert_eq!(node_cost(&g, scan, &[true, false, false]), 4 * 12);
    // Only the invariant live: the carry becomes live through the add
    // (fixpoint over the body): everything but xs, mul 3 + sin 3 + add
    // 3·2 + reduce_sum 3.
    assert_eq!(node_cost(&g, scan, &[false, false, true]), 4 * 15);
    assert_eq!(node_cost(&g, scan, &[false, false, false]), 0);
    // The DP prices the loop stage the same way. %x reaches the output
    // through the init (via exp) and the invariant, and the ys bypass %c,
    // so the scan's node is the only inner dominator, which is never a cut
    // point: one stage, costing exp 3 + the scan with init and invariant
    // live (4 × 15) + tanh 3 + reduce_sum 3 + reduce_sum of ys 4 +
    // concat 2 (reshapes and projections are free).
    let x = g.params()[0];
    let pred = predict(&g, x, g.outputs()[0]).unwrap();
    let chain = pred.chain.unwrap();
    assert_eq!(chain.stages.len(), 1, "{chain:?}");
    assert_eq!(chain.stages[0].cost, 3 + 4 * 15 + 3 + 3 + 4 + 2);
    assert!(!chain.stages[0].forward_only);

    // A bounded while: max_trips × body. @grow: sin 2 + mul 2·2 (a, k) +
    // add 2·2 + mul 2 (by a constant) = 12.
    let g = func(WHILE_COND);
    let w = find(&g, |op| matches!(op, Op::While { .. }));
    assert_eq!(node_cost(&g, w, &[true, true]), 4 * 12);
    // Only the carry live: sin 2 + mul 2 + add 2·2 + mul 2 = 10.
    assert_eq!(node_cost(&g, w, &[true, false]), 4 * 10);
    // cond: the dearer branch. @pos: mul 2·2 + sin 2 = 6; @neg: exp 2 +
    // mul 2·2 = 6 with both live; with only %k live: @pos mul 2 + sin 2
    // = 4, @neg mul 2.
    let cnd = find(&g, |op| matches!(op, Op::Cond { .. }));
    assert_eq!(node_cost(&g, cnd, &[false, true, true]), 6);
    assert_eq!(node_cost(&g, cnd, &[false, false, true]), 4);

    // An unbounded while: UNBOUNDED_WHILE_TRIPS × body (sqrt 2 + mul 2·2),
    // forward only when a carry is live.
    let g = func(UNBOUNDED);
    let w = find(&g, |op| matches!(op, Op::While { .. }));
    let c = node_cost_full(&g, w, &[true, true]);
    assert_eq!(c.fma, UNBOUNDED_WHILE_TRIPS * 6);
    assert!(c.forward_only);
    // Only k live: the carry becomes live through the body's mul, and
    // then the sqrt carries a derivative too.
    let c = node_cost_full(&g, w, &[false, true]);
    assert_eq!(c.fma, UNBOUNDED_WHILE_TRIPS * 6);
    assert!(c.forward_only);

    // Nested: the scan's trip runs the while (3 × @inc) and the cond.
    // @inc with a and x live: sin 1 + mul 2 + add 2 + add 1 = 6, ×3 = 18;
    // cond: @sq mul 2 (both operands live) vs @id 0 = 2; %y mul 2. Per
    // trip 22, three trips.
    let g = func(NESTED);
    let s = find(&g, |op| matches!(op, Op::Scan { .. }));
    assert_eq!(node_cost(&g, s, &[true, true]), 3 * 22);
}

/// `f(x) = sum(ys) + c` through a scan with x as an invariant and the init.
const HESS: &str = "
func @step(%c: f64[2], %x: f64[2], %k: f64[2]) -> (f64[2], f64[2]) {
  %a = mul %c, %k
  %b = sin %a
  %n = add %b, %x
  %y = mul %n, %c
  return %n, %y
}

func @main(%k: f64[2], %xs: f64[3,2]) -> f64 {
  %c, %ys = scan %k, %xs, %k body=@step carry=1 xs=1
  %s = reduce_sum %ys axes=[0,1]
  %t = reduce_sum %c axes=[0]
  %f = add %s, %t
  return %f
}
";

#[test]
fn hessian_through_loops_matches_finite_differences_of_the_gradient() {
    for (src, inputs) in [
        (
            HESS.to_string(),
            vec![
                t64(&[2], &[0.7, -0.4]),
                t64(&[3, 2], &[0.1, 0.2, -0.3, 0.5, 0.4, 0.6]),
            ],
        ),
        (
            // A bounded while and a cond in the same program.
            WHILE_COND
                .replace(
                    "  return %r\n}\n",
                    "  %f = reduce_sum %r axes=[0]\n  return %f\n}\n",
                )
                .replace(") -> f64[2] {\n  %w = while", ") -> f64 {\n  %w = while"),
            vec![t64(&[2], &[0.6, 0.9]), t64(&[2], &[0.3, 0.2])],
        ),
    ] {
        let g = func(&src);
        let (grad, _) = run(&g, "grad{wrt=k}");
        for mode in ["fwd", "rev", "auto"] {
            let (h, _) = run(
                &g,
                &format!("grad{{wrt=k}},jacobian{{of=1,wrt=k,mode={mode}}}"),
            );
            let out = eval(&h, &inputs);
            let hess = out.last().unwrap().to_f64_vec();
            // Finite differences of the gradient (output 1 of `grad`).
            let p = g
                .params()
                .iter()
                .position(|&q| g[q].name.as_deref() == Some("k"))
                .unwrap();
            let fd = fd_jacobian(&grad, &inputs, 1, p);
            close(&hess, &fd, 1e-6, &format!("hessian {mode}"));
            // Symmetric.
            let n = inputs[p].len();
            for i in 0..n {
                for j in 0..n {
                    let (a, b) = (hess[i * n + j], hess[j * n + i]);
                    assert!((a - b).abs() <= 1e-9 * (1.0 + a.abs()), "{mode}: {hess:?}");
                }
            }
        }
    }
}
