//! Shared by the reverse-mode loop tests (`loop_vjp.rs`,
//! `loop_vjp_second_order.rs`): evaluation and finite-difference helpers,
//! and the loop programs they differentiate, built with the graph API.
#![allow(dead_code)]

use adjoint_ir::{
    verify, BinaryOp, BodyRef, DType, Graph, GraphBuilder, NodeId, Op, Tensor, TensorType, Value,
};
use adjoint_passes::{emit, PassManager};

pub fn f64t(d: &[usize]) -> TensorType {
    TensorType::f64(d.to_vec())
}

pub fn f32t(d: &[usize]) -> TensorType {
    TensorType::f32(d.to_vec())
}

pub fn bool_scalar() -> TensorType {
    TensorType::new(DType::Bool, adjoint_ir::Shape::scalar())
}

/// A body built with the builder from named parameters.
pub fn body(
    name: &str,
    params: &[(&str, TensorType)],
    f: impl for<'b> Fn(&'b GraphBuilder, &[Value<'b>]) -> Vec<Value<'b>>,
) -> BodyRef {
    let b = GraphBuilder::new(name);
    let ps: Vec<Value> = params.iter().map(|(n, t)| b.param(n, t.clone())).collect();
    let outs = f(&b, &ps);
    BodyRef::new(b.build(&outs).unwrap())
}

pub fn scan(body: &BodyRef, carry: usize, xs: usize, length: usize, reverse: bool) -> Op {
    Op::Scan {
        body: body.clone(),
        carry,
        xs,
        length,
        reverse,
    }
}

/// The sum of all elements of `x`.
pub fn total(g: &mut Graph, x: NodeId) -> NodeId {
    let r = g.ty(x).shape.rank();
    emit::reduce_sum(g, x, (0..r).collect()).unwrap()
}

pub fn add(g: &mut Graph, a: NodeId, b: NodeId) -> NodeId {
    emit::add(g, a, b).unwrap()
}

pub fn eval(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    adjoint_interp::eval(g, inputs).unwrap_or_else(|e| panic!("eval of @{}: {e}", g.name()))
}

pub fn run(g: &Graph, pipeline: &str) -> Graph {
    let mut h = g.clone();
    PassManager::parse(pipeline)
        .unwrap()
        .run(&mut h)
        .unwrap_or_else(|e| panic!("{pipeline}: {e}"));
    verify(&h).unwrap_or_else(|e| panic!("verify after {pipeline}: {e}"));
    h
}

/// Central finite differences of scalar output 0 w.r.t. parameter `p`.
pub fn fd(g: &Graph, inputs: &[Tensor], p: usize) -> Vec<f64> {
    let ty = inputs[p].ty();
    let base = inputs[p].to_f64_vec();
    (0..base.len())
        .map(|i| {
            let h = 1e-6 * base[i].abs().max(1.0);
            let at = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                let mut ins = inputs.to_vec();
                ins[p] = Tensor::from_f64_as(&ty, &v).unwrap();
                eval(g, &ins)[0].to_f64_vec()[0]
            };
            (at(h) - at(-h)) / (2.0 * h)
        })
        .collect()
}

pub fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths {a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}: {a:?} vs {b:?}"
        );
    }
}

pub fn t64(d: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(d.to_vec(), v.to_vec()).unwrap()
}

/// `(c, x, k) -> (c*x + k, c)`; `f(c0, xs, k) = c_N + sum(ys)`.
pub fn affine_scan(reverse: bool, n: usize) -> Graph {
    let s = f64t(&[]);
    let step = body(
        "step",
        &[("c", s.clone()), ("x", s.clone()), ("k", s.clone())],
        |_, p| vec![p[0] * p[1] + p[2], p[0]],
    );
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", s.clone()).unwrap();
    let xs = g.add_param("xs", f64t(&[n])).unwrap();
    let k = g.add_param("k", s).unwrap();
    let r = g
        .add_multi(scan(&step, 1, 1, n, reverse), &[c0, xs, k])
        .unwrap();
    let ys = total(&mut g, r[1]);
    let l = add(&mut g, r[0], ys);
    g.set_outputs(vec![l]);
    verify(&g).unwrap();
    g
}

/// A scan nested in a scan body.
pub fn nested_scan_graph() -> Graph {
    let s = f64t(&[]);
    let inner = body("inner", &[("a", s.clone()), ("x", s.clone())], |_, p| {
        vec![(p[0] * p[1]).sin() + p[0]]
    });
    let b = GraphBuilder::new("outer");
    let c = b.param("c", s.clone());
    let row = b.param("row", f64t(&[3]));
    let mut og = b.graph();
    let (c, row) = (c.id(), row.id());
    let r = og
        .add_multi(scan(&inner, 1, 1, 3, false), &[c, row])
        .unwrap();
    let y = emit::mul(&mut og, r[0], c).unwrap();
    og.set_outputs(vec![r[0], y]);
    let outer = BodyRef::new(og);
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", s).unwrap();
    let xs = g.add_param("xs", f64t(&[2, 3])).unwrap();
    let r = g.add_multi(scan(&outer, 1, 1, 2, true), &[c0, xs]).unwrap();
    let ys = total(&mut g, r[1]);
    let l = add(&mut g, r[0], ys);
    g.set_outputs(vec![l]);
    g
}

pub fn nested_inputs() -> [Tensor; 2] {
    [
        Tensor::scalar_f64(0.7),
        t64(&[2, 3], &[0.1, 0.5, -0.2, 0.9, 0.3, -0.6]),
    ]
}

/// `while c < limit: c = c * w + x` as `(c, w, x, limit)`.
pub fn growth_while(max_trips: Option<usize>) -> Graph {
    let s = f64t(&[]);
    let params = [
        ("c", s.clone()),
        ("w", s.clone()),
        ("x", s.clone()),
        ("lim", s.clone()),
    ];
    let p = body("below", &params, |_, p| vec![p[0].lt(p[3])]);
    let f = body("grow", &params, |_, p| vec![p[0] * p[1] + p[2]]);
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", s.clone()).unwrap();
    let w = g.add_param("w", s.clone()).unwrap();
    let x = g.add_param("x", s.clone()).unwrap();
    let lim = g.add_param("lim", s).unwrap();
    let r = g
        .add_multi(
            Op::While {
                cond: p,
                body: f,
                carry: 1,
                max_trips,
            },
            &[c0, w, x, lim],
        )
        .unwrap();
    g[r[0]].name = Some("cN".into());
    g.set_outputs(vec![r[0]]);
    g
}

/// A bounded while inside a scan body.
pub fn while_in_scan_graph() -> Graph {
    let s = f64t(&[]);
    let params = [("c", s.clone()), ("x", s.clone())];
    let p = body("small", &params, |_, p| vec![p[0].lt(p[1] * p[1].lit(3.0))]);
    let f = body("double", &params, |_, p| vec![p[0] * p[0].lit(1.5) + p[1]]);
    let b = GraphBuilder::new("outer");
    let c = b.param("c", s.clone());
    let x = b.param("x", s.clone());
    let mut og = b.graph();
    let r = og
        .add_multi(
            Op::While {
                cond: p,
                body: f,
                carry: 1,
                max_trips: Some(5),
            },
            &[c.id(), x.id()],
        )
        .unwrap();
    let y = emit::mul(&mut og, r[0], x.id()).unwrap();
    og.set_outputs(vec![r[0], y]);
    let outer = BodyRef::new(og);
    let mut g = Graph::new("f");
    let c0 = g.add_param("c0", s).unwrap();
    let xs = g.add_param("xs", f64t(&[3])).unwrap();
    let r = g
        .add_multi(scan(&outer, 1, 1, 3, false), &[c0, xs])
        .unwrap();
    let ys = total(&mut g, r[1]);
    let l = add(&mut g, r[0], ys);
    g.set_outputs(vec![l]);
    g
}

pub fn while_in_scan_inputs() -> [Tensor; 2] {
    [Tensor::scalar_f64(0.3), t64(&[3], &[1.0, 2.5, 4.0])]
}

/// `cond(p, x, y) then: (x*y, sqrt(x)) else: (sin(x) + y, y*y)`; both
/// branches, and a NaN in the untaken branch's derivative never leaks in
/// (rule 10).
pub fn cond_graph() -> Graph {
    let s = f64t(&[]);
    let params = [("x", s.clone()), ("y", s.clone())];
    let t = body("t", &params, |_, p| vec![p[0] * p[1], p[0].sqrt()]);
    let e = body("e", &params, |_, p| vec![p[0].sin() + p[1], p[1] * p[1]]);
    let mut g = Graph::new("f");
    let pr = g.add_param("p", bool_scalar()).unwrap();
    let x = g.add_param("x", s.clone()).unwrap();
    let y = g.add_param("y", s).unwrap();
    let r = g
        .add_multi(Op::Cond { then: t, els: e }, &[pr, x, y])
        .unwrap();
    let l = emit::bin(&mut g, BinaryOp::Mul, r[0], r[1]).unwrap();
    g.set_outputs(vec![l]);
    g
}

pub fn cond_inputs(p: bool, x: f64) -> [Tensor; 3] {
    [
        Tensor::from_bool([], vec![p]).unwrap(),
        Tensor::scalar_f64(x),
        Tensor::scalar_f64(1.5),
    ]
}

/// The Lorenz vector field at `u` with parameters `th = [σ, ρ, β]`.
pub fn lorenz_rhs<'b>(b: &'b GraphBuilder, u: Value<'b>, th: Value<'b>) -> Value<'b> {
    let (a, bb, c) = (
        u.slice(&[0], &[1]),
        u.slice(&[1], &[2]),
        u.slice(&[2], &[3]),
    );
    let (s, r, be) = (
        th.slice(&[0], &[1]),
        th.slice(&[1], &[2]),
        th.slice(&[2], &[3]),
    );
    let dx = s * (bb - a);
    let dy = a * (r - c) - bb;
    let dz = a * bb - be * c;
    b.concat(&[dx, dy, dz], 0)
}

/// W8: Lorenz RK4 as a scan, loss = sum(x_T^2), gradient w.r.t. θ and x0.
pub fn lorenz(t: usize) -> Graph {
    let v3 = f64t(&[3]);
    let dt = 1.0 / t as f64;
    let step = body("rk4", &[("x", v3.clone()), ("th", v3.clone())], |b, p| {
        let (x, th) = (p[0], p[1]);
        let f = |u| lorenz_rhs(b, u, th);
        let k1 = f(x);
        let k2 = f(x + k1 * x.lit(dt / 2.0));
        let k3 = f(x + k2 * x.lit(dt / 2.0));
        let k4 = f(x + k3 * x.lit(dt));
        let sum = k1 + k2 * x.lit(2.0) + k3 * x.lit(2.0) + k4;
        vec![x + sum * x.lit(dt / 6.0)]
    });
    let mut g = Graph::new("lorenz");
    let x0 = g.add_param("x0", v3.clone()).unwrap();
    let th = g.add_param("theta", v3).unwrap();
    let r = g.add_multi(scan(&step, 1, 0, t, false), &[x0, th]).unwrap();
    let sq = emit::mul(&mut g, r[0], r[0]).unwrap();
    let l = total(&mut g, sq);
    g.set_outputs(vec![l]);
    g
}

pub fn lorenz_inputs() -> [Tensor; 2] {
    [
        t64(&[3], &[1.0, 1.0, 1.0]),
        t64(&[3], &[10.0, 28.0, 8.0 / 3.0]),
    ]
}
