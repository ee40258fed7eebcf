//! The reference for programs with loops: the interpreter in the JIT's
//! math mode. While the interpreter does not run loops itself, the loop
//! ops are evaluated here by their definition (issue 12), and every other
//! op by the interpreter, one node at a time.
#![allow(dead_code)]

use adjoint_interp::EvalOptions;
use adjoint_ir::{DType, Graph, NodeId, Op, Shape, Tensor, TensorData, TensorType};
use adjoint_jit::JitOptions;
use std::collections::HashMap;

fn slice_lead(t: &Tensor, i: usize) -> Tensor {
    let dims = t.shape().dims();
    let inner: usize = dims[1..].iter().product();
    let shape = Shape::new(dims[1..].to_vec());
    let r = i * inner..(i + 1) * inner;
    let data = match t.data() {
        TensorData::F64(v) => TensorData::F64(v[r].to_vec()),
        TensorData::F32(v) => TensorData::F32(v[r].to_vec()),
        TensorData::Bool(v) => TensorData::Bool(v[r].to_vec()),
    };
    Tensor::new(shape, data).unwrap()
}

fn stack(parts: &[Tensor], ty: &TensorType) -> Tensor {
    let data = match ty.dtype {
        DType::F64 => TensorData::F64(
            parts
                .iter()
                .flat_map(|p| match p.data() {
                    TensorData::F64(v) => v.clone(),
                    _ => unreachable!(),
                })
                .collect(),
        ),
        DType::F32 => TensorData::F32(
            parts
                .iter()
                .flat_map(|p| match p.data() {
                    TensorData::F32(v) => v.clone(),
                    _ => unreachable!(),
                })
                .collect(),
        ),
        DType::Bool => TensorData::Bool(
            parts
                .iter()
                .flat_map(|p| match p.data() {
                    TensorData::Bool(v) => v.clone(),
                    _ => unreachable!(),
                })
                .collect(),
        ),
    };
    Tensor::new(ty.shape.clone(), data).unwrap()
}

fn is_true(t: &Tensor) -> bool {
    matches!(t.data(), TensorData::Bool(v) if v[0])
}

pub fn ref_eval(g: &Graph, inputs: &[Tensor], opts: &EvalOptions) -> Vec<Tensor> {
    let mut vals: HashMap<NodeId, Tensor> = HashMap::new();
    let mut multi: HashMap<NodeId, Vec<Tensor>> = HashMap::new();
    for id in g.topo_order().unwrap() {
        let ops = g.operands(id);
        let args: Vec<Tensor> = ops
            .iter()
            .filter(|o| !g[**o].op.is_multi_result())
            .map(|o| vals[o].clone())
            .collect();
        match &g[id].op {
            Op::Param { index } => {
                vals.insert(id, inputs[*index].clone());
            }
            Op::Project { index } => {
                vals.insert(id, multi[&ops[0]][*index].clone());
            }
            Op::Scan {
                body,
                carry,
                xs,
                length,
                reverse,
            } => {
                let (k, m) = (*carry, *xs);
                let mut c: Vec<Tensor> = args[..k].to_vec();
                let rtys = g.result_types(id).unwrap();
                let mut ys: Vec<Vec<Option<Tensor>>> = vec![vec![None; *length]; rtys.len() - k];
                let order: Vec<usize> = if *reverse {
                    (0..*length).rev().collect()
                } else {
                    (0..*length).collect()
                };
                for t in order {
                    let mut a = c.clone();
                    a.extend(args[k..k + m].iter().map(|x| slice_lead(x, t)));
                    a.extend(args[k + m..].iter().cloned());
                    let r = ref_eval(body, &a, opts);
                    c = r[..k].to_vec();
                    for (q, y) in r[k..].iter().enumerate() {
                        ys[q][t] = Some(y.clone());
                    }
                }
                let mut res = c;
                for (q, y) in ys.into_iter().enumerate() {
                    let parts: Vec<Tensor> = y.into_iter().map(Option::unwrap).collect();
                    res.push(stack(&parts, &rtys[k + q]));
                }
                multi.insert(id, res);
            }
            Op::While {
                cond,
                body,
                carry,
                max_trips,
            } => {
                let k = *carry;
                let mut c: Vec<Tensor> = args[..k].to_vec();
                let mut trips = 0;
                loop {
                    if max_trips.is_some_and(|m| trips >= m) {
                        break;
                    }
                    let mut a = c.clone();
                    a.extend(args[k..].iter().cloned());
                    if !is_true(&ref_eval(cond, &a, opts)[0]) {
                        break;
                    }
                    c = ref_eval(body, &a, opts);
                    trips += 1;
                }
                multi.insert(id, c);
            }
            Op::Cond { then, els } => {
                let f = if is_true(&args[0]) { then } else { els };
                multi.insert(id, ref_eval(f, &args[1..], opts));
            }
            op => {
                let mut h = Graph::new("node");
                let ps: Vec<NodeId> = ops
                    .iter()
                    .enumerate()
                    .map(|(i, &o)| h.add_param(format!("p{i}"), g[o].ty.clone()).unwrap())
                    .collect();
                let n = h.add(op.clone(), &ps).unwrap();
                h.set_outputs(vec![n]);
                let r = adjoint_interp::eval_with(&h, &args, opts).unwrap();
                vals.insert(id, r.into_iter().next().unwrap());
            }
        }
    }
    g.outputs().iter().map(|o| vals[o].clone()).collect()
}

/// The interpreter's results in the JIT's math mode.
pub fn reference(g: &Graph, inputs: &[Tensor], jit: &JitOptions) -> Vec<Tensor> {
    let opts = EvalOptions {
        math: jit.math_mode(),
        ..Default::default()
    };
    match adjoint_interp::eval_with(g, inputs, &opts) {
        Ok(v) => v,
        Err(e) if e.message.contains("does not run loops") => ref_eval(g, inputs, &opts),
        Err(e) => panic!("interpreter on @{}: {e}", g.name()),
    }
}
