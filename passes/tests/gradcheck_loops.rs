//! Gradient checking programs with loops: `promote_f64` promotes loop
//! bodies, conditions and branches (nested, shared, deep), and `gradcheck`
//! passes through them.

use adjoint_ir::{parse_module, verify, BodyRef, DType, Graph, Op, Tensor, TensorType};
use adjoint_passes::gradcheck::{gradcheck, promote_f64, GradCheckOptions};
use std::collections::HashSet;
use std::sync::Arc;

/// f32 everywhere: a scan whose body runs a bounded while (whose body
/// holds an iota) and two conds sharing their branches (rule 15).
const F32: &str = "
func @small(%a: f32[2], %x: f32) -> bool {
  %s = reduce_sum %a axes=[0]
  %l = const 3 : f32
  %p = lt %s, %l
  return %p
}

func @inc(%a: f32[2], %x: f32) -> f32[2] {
  %s = sin %a
  %xb = broadcast %x shape=[2]
  %m = mul %s, %xb
  %b = add %a, %m
  %i = iota shape=[2] axis=0 : f32[2]
  %h = const 0.25 : f32
  %hb = broadcast %h shape=[2]
  %ih = mul %i, %hb
  %c = add %b, %ih
  return %c
}

func @sq(%a: f32[2]) -> f32[2] {
  %m = mul %a, %a
  return %m
}

func @id(%a: f32[2]) -> f32[2] {
  %c = cast %a to=f32
  return %c
}

func @step(%c: f32[2], %x: f32) -> (f32[2], f32) {
  %w = while %c, %x cond=@small body=@inc carry=1 max_trips=3
  %z = const 1 : f32
  %p = gt %x, %z
  %r = cond %p, %w then=@sq else=@id
  %r2 = cond %p, %r then=@id else=@sq
  %y = reduce_sum %r2 axes=[0]
  return %r2, %y
}

func @main(%c0: f32[2], %xs: f32[3]) -> f32 {
  %c, %ys = scan %c0, %xs body=@step carry=1 xs=1
  %w = while %c, %xs cond=@small2 body=@inc2 carry=1 max_trips=2
  %t = reduce_sum %ys axes=[0]
  %u = reduce_sum %w axes=[0]
  %f = add %t, %u
  return %f
}
";

fn program() -> Graph {
    // A second while, at the top level, with the xs vector as its
    // invariant.
    let src = F32.replace(
        "func @sq(",
        "func @small2(%a: f32[2], %x: f32[3]) -> bool {
  %s = reduce_sum %a axes=[0]
  %l = const 30 : f32
  %p = lt %s, %l
  return %p
}

func @inc2(%a: f32[2], %x: f32[3]) -> f32[2] {
  %e = exp %a
  %h = const 0.5 : f32
  %hb = broadcast %h shape=[2]
  %m = mul %e, %hb
  %b = add %a, %m
  return %b
}

func @sq(",
    );
    let m = parse_module(&src).unwrap_or_else(|e| panic!("{e}"));
    m.func("main").unwrap().clone()
}

/// Every graph reachable from `g` through loop bodies, each once.
fn all_graphs(g: &Graph) -> Vec<Graph> {
    let mut out = vec![g.clone()];
    let mut seen: HashSet<*const Graph> = HashSet::new();
    let mut work: Vec<BodyRef> = Vec::new();
    let push = |g: &Graph, work: &mut Vec<BodyRef>| {
        for n in g.node_ids() {
            work.extend(g[n].op.bodies().into_iter().cloned());
        }
    };
    push(g, &mut work);
    while let Some(b) = work.pop() {
        if seen.insert(Arc::as_ptr(&b.0)) {
            push(&b, &mut work);
            out.push(b.graph().clone());
        }
    }
    out
}

#[test]
fn promote_f64_promotes_every_body_once() {
    let g = program();
    let p = promote_f64(&g).unwrap();
    verify(&p).unwrap();
    let graphs = all_graphs(&p);
    // main, @step, @small, @inc, @sq, @id, @small2, @inc2: each shared
    // branch promoted once.
    assert_eq!(graphs.len(), 8);
    for h in &graphs {
        for n in h.node_ids() {
            if matches!(
                h[n].op,
                Op::Scan { .. } | Op::While { .. } | Op::Cond { .. }
            ) {
                continue; // a placeholder type; its projections are checked
            }
            let d = h.ty(n).dtype;
            assert!(d == DType::F64 || d == DType::Bool, "@{}: {d}", h.name());
        }
    }
    // The same values, up to f32 rounding.
    let c0 = Tensor::from_f64_as(&TensorType::f32([2]), &[0.3, 0.5]).unwrap();
    let xs = Tensor::from_f64_as(&TensorType::f32([3]), &[0.5, 1.5, 0.8]).unwrap();
    let a = adjoint_interp::eval(&g, &[c0.clone(), xs.clone()]).unwrap()[0].to_f64_vec()[0];
    let c64 = Tensor::from_f64([2], c0.to_f64_vec()).unwrap();
    let x64 = Tensor::from_f64([3], xs.to_f64_vec()).unwrap();
    let b = adjoint_interp::eval(&p, &[c64, x64]).unwrap()[0].to_f64_vec()[0];
    assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
}

#[test]
fn gradcheck_passes_through_f32_loops() {
    let g = program();
    let c0 = Tensor::from_f64_as(&TensorType::f32([2]), &[0.3, 0.5]).unwrap();
    for xs in [[0.5, 1.5, 0.8], [1.2, 0.4, 2.0]] {
        let xs = Tensor::from_f64_as(&TensorType::f32([3]), &xs).unwrap();
        let r = gradcheck(&g, &[c0.clone(), xs], &GradCheckOptions::default()).unwrap();
        assert!(r.pass, "{r}");
        assert!(r.inputs.iter().all(|i| i.fd_max > 0.0), "{r}");
    }
}

#[test]
fn promote_f64_handles_deeply_nested_bodies() {
    // 2,000 scans, each the body of the next: promoted without recursion.
    let s = TensorType::f32(Vec::<usize>::new());
    let mut inner = Graph::new("b0");
    let c = inner.add_param("c", s.clone()).unwrap();
    let y = inner
        .add(Op::Unary(adjoint_ir::UnaryOp::Sin), &[c])
        .unwrap();
    inner.set_outputs(vec![y]);
    for i in 1..2000 {
        let mut g = Graph::new(format!("b{i}"));
        let c = g.add_param("c", s.clone()).unwrap();
        let r = g
            .add_multi(
                Op::Scan {
                    body: BodyRef::new(inner),
                    carry: 1,
                    xs: 0,
                    length: 1,
                    reverse: false,
                },
                &[c],
            )
            .unwrap();
        g.set_outputs(vec![r[0]]);
        inner = g;
    }
    let p = promote_f64(&inner).unwrap();
    assert_eq!(p.ty(p.outputs()[0]).dtype, DType::F64);
    assert_eq!(all_graphs(&p).len(), 2000);
}
