//! Property test: random well-typed graphs survive print -> parse -> print
//! byte for byte, and parse back to a structurally equal graph.
//!
//! A graph is grown from a stream of random choices: each step picks an op
//! (every primitive, implicit broadcasting, custom-op calls, constants of
//! every kind), operands from the values built so far, and attributes that
//! fit their shapes; names and regions are sprinkled in, and the outputs may
//! repeat values or be parameters.

use adjoint_ir::{
    infer_type, infer_types, parse_module, print_graph, verify, AttrValue, BinaryOp, BodyRef,
    CompareOp, CustomOp, CustomRef, DType, Graph, GraphBuilder, LogicalOp, NodeId, Op, Shape,
    Tensor, TensorType, UnaryOp,
};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// A stream of choices; reads past the end give 0 so shrinking works.
struct Choices<'a> {
    v: &'a [u32],
    i: usize,
}

impl Choices<'_> {
    fn next(&mut self) -> u32 {
        let x = self.v.get(self.i).copied().unwrap_or(0);
        self.i += 1;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.next() as usize % n
        }
    }
    fn flip(&mut self) -> bool {
        self.next() % 2 == 1
    }
}

const SPECIAL: [f64; 16] = [
    0.0,
    -0.0,
    1.0,
    -2.5,
    0.1,
    1.0 / 3.0,
    1e300,
    -1e-300,
    5e-324,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    123456789.0,
    1e16,
    1e-5,
    9.5e-6,
];

fn random_f64(c: &mut Choices) -> f64 {
    if c.flip() {
        SPECIAL[c.below(SPECIAL.len())]
    } else {
        let bits = (u64::from(c.next()) << 32) | u64::from(c.next());
        let v = f64::from_bits(bits);
        // NaN payloads are not representable in text: keep the sign only.
        if v.is_nan() {
            if v.is_sign_negative() {
                -f64::NAN
            } else {
                f64::NAN
            }
        } else {
            v
        }
    }
}

fn random_f32(c: &mut Choices) -> f32 {
    if c.flip() {
        SPECIAL[c.below(SPECIAL.len())] as f32
    } else {
        let v = f32::from_bits(c.next());
        if v.is_nan() {
            if v.is_sign_negative() {
                -f32::NAN
            } else {
                f32::NAN
            }
        } else {
            v
        }
    }
}

fn random_shape(c: &mut Choices) -> Shape {
    let rank = c.below(4);
    Shape((0..rank).map(|_| 1 + c.below(3)).collect())
}

fn random_const(c: &mut Choices, ty: &TensorType) -> Tensor {
    let n = ty.numel();
    let splat = c.flip();
    match ty.dtype {
        DType::F64 => {
            let v: Vec<f64> = if splat {
                vec![random_f64(c); n]
            } else {
                (0..n).map(|_| random_f64(c)).collect()
            };
            Tensor::from_f64(ty.shape.clone(), v).unwrap()
        }
        DType::F32 => {
            let v: Vec<f32> = if splat {
                vec![random_f32(c); n]
            } else {
                (0..n).map(|_| random_f32(c)).collect()
            };
            Tensor::from_f32(ty.shape.clone(), v).unwrap()
        }
        DType::Bool => {
            let v: Vec<bool> = if splat {
                vec![c.flip(); n]
            } else {
                (0..n).map(|_| c.flip()).collect()
            };
            Tensor::from_bool(ty.shape.clone(), v).unwrap()
        }
    }
}

/// A custom op `f64[] -> f64[]` with a VJP rule, for calls.
fn custom_square() -> Arc<CustomOp> {
    let b = GraphBuilder::new("sq_body");
    let x = b.param("x", TensorType::f64([]));
    let body = b.build(&[x * x]).unwrap();
    let b = GraphBuilder::new("sq_vjp");
    let x = b.param("x", TensorType::f64([]));
    let _y = b.param("y", TensorType::f64([]));
    let ct = b.param("ct", TensorType::f64([]));
    let vjp = b.build(&[ct * x * x.lit(2.0)]).unwrap();
    CustomOp::new("square", body, Some(vjp), None).unwrap()
}

/// Adds `op` if it type-checks and stays small; broadcasting ops go through
/// `add_broadcasting`.
fn try_add(g: &mut Graph, op: Op, xs: &[NodeId]) -> Option<NodeId> {
    if op.broadcasts_implicitly() {
        let mut shape = Shape::scalar();
        for &x in xs {
            shape = Shape::broadcast(&shape, &g.ty(x).shape)?;
        }
        if shape.numel() > 256 {
            return None;
        }
        return g.add_broadcasting(op, xs).ok();
    }
    let tys: Vec<&TensorType> = xs.iter().map(|&x| g.ty(x)).collect();
    let ty = infer_type(&op, &tys).ok()?;
    if ty.numel() > 256 {
        return None;
    }
    g.add(op, xs).ok()
}

/// The bodies of one random graph, one per type and kind, so that loops
/// share them (and bodies of one name but other types print as `@f_2`).
#[derive(Default)]
struct Bodies(HashMap<String, BodyRef>);

impl Bodies {
    /// `@step(%c: T, %x: S) -> (T, S)`: keeps the carry, outputs the slice
    /// (a scan body over `T`-typed carries and `S`-typed slices).
    fn step(&mut self, carry: &TensorType, slice: &TensorType) -> BodyRef {
        self.0
            .entry(format!("step {carry} {slice}"))
            .or_insert_with(|| {
                let mut g = Graph::new("step");
                let c = g.add_param("c", carry.clone()).unwrap();
                let x = g.add_param("x", slice.clone()).unwrap();
                g.set_outputs(vec![c, x]);
                BodyRef::new(g)
            })
            .clone()
    }

    /// `@id(%x: T) -> T`.
    fn id(&mut self, ty: &TensorType) -> BodyRef {
        self.0
            .entry(format!("id {ty}"))
            .or_insert_with(|| {
                let mut g = Graph::new("id");
                let x = g.add_param("x", ty.clone()).unwrap();
                g.set_outputs(vec![x]);
                BodyRef::new(g)
            })
            .clone()
    }

    /// `@no(%x: T) -> bool`: false.
    fn no(&mut self, ty: &TensorType) -> BodyRef {
        self.0
            .entry(format!("no {ty}"))
            .or_insert_with(|| {
                let mut g = Graph::new("no");
                g.add_param("x", ty.clone()).unwrap();
                let f = g.constant(Tensor::from_bool(Shape::scalar(), vec![false]).unwrap());
                g.set_outputs(vec![f]);
                BodyRef::new(g)
            })
            .clone()
    }
}

/// Adds a multi-result op if it type-checks and stays small; returns one
/// of its results.
fn try_add_multi(g: &mut Graph, op: Op, xs: &[NodeId], pick: usize) -> Option<NodeId> {
    let tys: Vec<&TensorType> = xs.iter().map(|&x| g.ty(x)).collect();
    let res = infer_types(&op, &tys).ok()?;
    if res.iter().any(|t| t.numel() > 256) {
        return None;
    }
    let projs = g.add_multi(op, xs).ok()?;
    Some(projs[pick % projs.len()])
}

fn random_graph(choices: &[u32]) -> Graph {
    let c = &mut Choices { v: choices, i: 0 };
    let mut g = Graph::new(if c.flip() { "f" } else { "f32_mix" });
    let base = if c.flip() { DType::F64 } else { DType::F32 };
    let mut pool: Vec<NodeId> = Vec::new();
    for k in 0..1 + c.below(3) {
        let ty = TensorType::new(base, random_shape(c));
        pool.push(g.add_param(format!("p{k}"), ty).unwrap());
    }
    let square = custom_square();
    let mut bodies = Bodies::default();
    let steps = 1 + c.below(14);
    for _ in 0..steps {
        let a = pool[c.below(pool.len())];
        let b = pool[c.below(pool.len())];
        let ta = g.ty(a).clone();
        let rank = ta.shape.rank();
        let dims = ta.shape.dims().to_vec();
        let new = match c.below(19) {
            0 => try_add(&mut g, Op::Unary(UnaryOp::ALL[c.below(10)]), &[a]),
            1 | 2 => try_add(&mut g, Op::Binary(BinaryOp::ALL[c.below(7)]), &[a, b]),
            3 => {
                let cmp = try_add(&mut g, Op::Compare(CompareOp::ALL[c.below(5)]), &[a, b]);
                match cmp {
                    Some(m) if c.flip() => try_add(&mut g, Op::Select, &[m, a, b]).or(Some(m)),
                    other => other,
                }
            }
            4 => {
                let mut shape: Vec<usize> = vec![1 + c.below(3)];
                shape.extend(
                    dims.iter()
                        .map(|&d| if d == 1 { 1 + c.below(3) } else { d }),
                );
                try_add(
                    &mut g,
                    Op::Broadcast {
                        shape: Shape(shape),
                    },
                    &[a],
                )
            }
            5 => {
                let shape = if c.flip() {
                    vec![ta.numel()]
                } else {
                    dims.iter().rev().copied().collect()
                };
                try_add(
                    &mut g,
                    Op::Reshape {
                        shape: Shape(shape),
                    },
                    &[a],
                )
            }
            6 => {
                let mut perm: Vec<usize> = (0..rank).collect();
                for i in (1..rank).rev() {
                    perm.swap(i, c.below(i + 1));
                }
                try_add(&mut g, Op::Transpose { perm }, &[a])
            }
            7 => {
                let (mut start, mut end, mut stride) = (vec![], vec![], vec![]);
                for &d in &dims {
                    let s = c.below(d + 1);
                    start.push(s);
                    end.push(s + c.below(d - s + 1));
                    stride.push(1 + c.below(2));
                }
                try_add(&mut g, Op::Slice { start, end, stride }, &[a])
            }
            8 => {
                let lo = (0..rank).map(|_| c.below(2)).collect();
                let hi = (0..rank).map(|_| c.below(2)).collect();
                try_add(&mut g, Op::Pad { lo, hi }, &[a])
            }
            9 => {
                let others: Vec<NodeId> = pool
                    .iter()
                    .copied()
                    .filter(|&p| g.ty(p).dtype == ta.dtype && g.ty(p).shape.rank() == rank)
                    .collect();
                let mut parts = vec![a];
                for _ in 0..c.below(3) {
                    parts.push(others[c.below(others.len())]);
                }
                try_add(
                    &mut g,
                    Op::Concat {
                        axis: c.below(rank),
                    },
                    &parts,
                )
            }
            10 => {
                let axes: Vec<usize> = (0..rank).filter(|_| c.flip()).collect();
                if c.flip() {
                    try_add(&mut g, Op::ReduceSum { axes }, &[a])
                } else {
                    try_add(&mut g, Op::ReduceMax { axes }, &[a])
                }
            }
            11 => {
                if rank >= 2 {
                    let mut perm: Vec<usize> = (0..rank).collect();
                    perm.swap(rank - 1, rank - 2);
                    try_add(&mut g, Op::Transpose { perm }, &[a])
                        .and_then(|t| try_add(&mut g, Op::MatMul, &[a, t]))
                } else {
                    try_add(&mut g, Op::MatMul, &[a, a])
                }
            }
            12 => {
                let to = if ta.dtype == DType::F64 {
                    DType::F32
                } else {
                    DType::F64
                };
                try_add(&mut g, Op::Cast { to }, &[a])
            }
            15 => {
                let shape = random_shape(c);
                let rank = shape.rank();
                (rank > 0)
                    .then(|| Op::Iota {
                        shape,
                        axis: c.below(rank),
                        dtype: base,
                    })
                    .and_then(|op| try_add(&mut g, op, &[]))
            }
            16 => {
                let cmp = try_add(&mut g, Op::Compare(CompareOp::ALL[c.below(5)]), &[a, b]);
                let l = LogicalOp::ALL[c.below(3)];
                let other = pool
                    .iter()
                    .copied()
                    .filter(|&p| g.ty(p).dtype == DType::Bool)
                    .nth(c.below(4));
                match (cmp, l) {
                    (Some(m), LogicalOp::Not) => try_add(&mut g, Op::Logical(l), &[m]),
                    (Some(m), _) => try_add(&mut g, Op::Logical(l), &[m, other.unwrap_or(m)]),
                    (None, _) => None,
                }
            }
            17 => {
                // scan: carry `b`, scanned `a` (when it has a leading axis)
                // or no scanned input and a length; `b` also an invariant
                // sometimes.
                let tb = g.ty(b).clone();
                let with_xs = rank > 0 && c.flip();
                let (slice, length) = if with_xs {
                    (
                        TensorType::new(ta.dtype, Shape::from(dims[1..].to_vec())),
                        dims[0],
                    )
                } else {
                    (tb.clone(), c.below(3))
                };
                let body = bodies.step(&tb, &slice);
                let (ops, xs) = if with_xs {
                    (vec![b, a], 1)
                } else {
                    (vec![b, b], 0)
                };
                let op = Op::Scan {
                    body,
                    carry: 1,
                    xs,
                    length,
                    reverse: c.flip(),
                };
                try_add_multi(&mut g, op, &ops, c.below(2))
            }
            18 => match c.below(3) {
                0 => {
                    let op = Op::While {
                        cond: bodies.no(&ta),
                        body: bodies.id(&ta),
                        carry: 1,
                        max_trips: c.flip().then(|| c.below(5)),
                    };
                    try_add_multi(&mut g, op, &[a], 0)
                }
                1 => {
                    let p = g.constant(Tensor::from_bool(Shape::scalar(), vec![c.flip()]).unwrap());
                    let op = Op::Cond {
                        then: bodies.id(&ta),
                        els: bodies.id(&ta),
                    };
                    try_add_multi(&mut g, op, &[p, a], 0)
                }
                _ => {
                    // revolve: state `a`, no carries, the states stacked.
                    let op = Op::Revolve {
                        body: bodies.id(&ta),
                        step: bodies.id(&ta),
                        state: 1,
                        carry: 0,
                        xs: 0,
                        length: c.below(3),
                        snapshots: 1 + c.below(3),
                        masked: false,
                    };
                    try_add_multi(&mut g, op, &[a], 0)
                }
            },
            13 => {
                let dtype = [DType::F64, DType::F32, DType::Bool][c.below(3)];
                let ty = TensorType::new(dtype, random_shape(c));
                Some(g.constant(random_const(c, &ty)))
            }
            _ => {
                let arg = if ta == TensorType::f64([]) {
                    Some(a)
                } else if ta.dtype.is_float() && ta.numel() > 0 {
                    try_add(
                        &mut g,
                        Op::ReduceSum {
                            axes: (0..rank).collect(),
                        },
                        &[a],
                    )
                    .and_then(|s| {
                        if ta.dtype == DType::F64 {
                            Some(s)
                        } else {
                            try_add(&mut g, Op::Cast { to: DType::F64 }, &[s])
                        }
                    })
                } else {
                    None
                };
                arg.and_then(|x| try_add(&mut g, Op::Call(CustomRef(square.clone())), &[x]))
            }
        };
        if let Some(n) = new {
            match c.below(4) {
                0 => {
                    // Numeric names may clash with the default `%N` names.
                    let _ = g.set_name_of(n, c.below(30).to_string());
                }
                1 => {
                    let _ = g.set_name_of(n, format!("v{}", c.below(30)));
                }
                _ => {}
            }
            // A projection has no text of its own: its region is its loop's.
            if c.below(5) == 0 {
                let target = match g[n].op {
                    Op::Project { .. } => g.operands(n)[0],
                    _ => n,
                };
                g.set_region(target, Some(c.next() % 4));
            }
            pool.push(n);
        }
    }
    let mut outs = Vec::new();
    for _ in 0..c.below(4) {
        outs.push(pool[c.below(pool.len())]);
    }
    if outs.is_empty() && c.flip() {
        outs.push(*pool.last().unwrap());
    }
    g.set_outputs(outs);
    g
}

/// Where a node sits: parameter `i`, or the `k`-th non-parameter node in
/// topological order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pos {
    Param(usize),
    Stmt(usize),
}

fn positions(g: &Graph) -> (Vec<NodeId>, HashMap<NodeId, Pos>) {
    let mut pos = HashMap::new();
    for (i, &p) in g.params().iter().enumerate() {
        pos.insert(p, Pos::Param(i));
    }
    let stmts: Vec<NodeId> = g
        .topo_order()
        .unwrap()
        .into_iter()
        .filter(|&n| !matches!(g[n].op, Op::Param { .. }))
        .collect();
    for (k, &n) in stmts.iter().enumerate() {
        pos.insert(n, Pos::Stmt(k));
    }
    (stmts, pos)
}

fn same_op(a: &Op, b: &Op) -> bool {
    match (a, b) {
        (Op::Call(x), Op::Call(y)) => {
            x.name == y.name
                && print_graph(&x.body) == print_graph(&y.body)
                && x.vjp.as_ref().map(print_graph) == y.vjp.as_ref().map(print_graph)
                && x.jvp.as_ref().map(print_graph) == y.jvp.as_ref().map(print_graph)
        }
        (a, b) if a.has_bodies() => {
            // Bodies compare by their text (a re-parsed body is a new one).
            let text = |op: &Op| -> Vec<(&str, String)> {
                op.attrs()
                    .into_iter()
                    .map(|(n, v)| match v {
                        AttrValue::Func(f) => {
                            // A body may print under another name (`@id_2`).
                            let mut h = f.graph().clone();
                            h.set_name("_");
                            (n, print_graph(&h))
                        }
                        v => (n, v.to_string()),
                    })
                    .collect()
            };
            a.name() == b.name() && text(a) == text(b)
        }
        _ => a == b,
    }
}

/// Asserts that `g` and `h` have the same parameters, ops, types, operand
/// structure, regions and outputs (node ids may differ).
fn assert_same_structure(g: &Graph, h: &Graph) {
    assert_eq!(g.name(), h.name());
    assert_eq!(g.param_types(), h.param_types());
    assert_eq!(g.param_names(), h.param_names());
    let (gs, gp) = positions(g);
    let (hs, hp) = positions(h);
    assert_eq!(gs.len(), hs.len(), "node counts differ");
    for (k, (&a, &b)) in gs.iter().zip(&hs).enumerate() {
        assert!(
            same_op(&g[a].op, &h[b].op),
            "op {k}: {:?} vs {:?}",
            g[a].op,
            h[b].op
        );
        assert_eq!(g[a].ty, h[b].ty, "type of node {k}");
        assert_eq!(g.region(a), h.region(b), "region of node {k}");
        let ga: Vec<Pos> = g.operands(a).iter().map(|o| gp[o]).collect();
        let hb: Vec<Pos> = h.operands(b).iter().map(|o| hp[o]).collect();
        assert_eq!(ga, hb, "operands of node {k}");
        if let Some(name) = &g[a].name {
            assert_eq!(h[b].name.as_ref(), Some(name), "name of node {k}");
        }
    }
    let go: Vec<Pos> = g.outputs().iter().map(|o| gp[o]).collect();
    let ho: Vec<Pos> = h.outputs().iter().map(|o| hp[o]).collect();
    assert_eq!(go, ho, "outputs");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_round_trip(choices in prop::collection::vec(any::<u32>(), 0..160)) {
        let g = random_graph(&choices);
        verify(&g).unwrap();
        let text = print_graph(&g);
        let m = parse_module(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let h = m.func(g.name()).unwrap_or_else(|| panic!("no @{}\n{text}", g.name()));
        let again = print_graph(h);
        prop_assert_eq!(&again, &text);
        assert_same_structure(&g, h);
        // The whole module prints identically too.
        prop_assert_eq!(adjoint_ir::print_module(&m), text);
    }
}

#[test]
fn the_generator_covers_every_op() {
    // A guard against a generator that silently stops producing some op:
    // over a fixed set of streams, every primitive must appear.
    let mut seen = std::collections::HashSet::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..400 {
        let v: Vec<u32> = (0..160)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u32
            })
            .collect();
        let g = random_graph(&v);
        verify(&g).unwrap();
        for n in g.node_ids() {
            seen.insert(g[n].op.name());
        }
    }
    let mut missing: Vec<&str> = adjoint_ir::Op::all_names()
        .into_iter()
        .filter(|n| !seen.contains(n))
        .collect();
    missing.sort();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}
