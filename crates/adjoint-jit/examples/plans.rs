//! Prints the execution plan (kernels, loops, accesses) and compile figures
//! of the gradient graphs of a few workloads.
//!
//! `cargo run -p adjoint-jit --example plans [w1|w2|w3|w4|w6|w7]`

use adjoint_ir::{print_graph, DType, Graph, GraphBuilder, TensorType};
use adjoint_jit::{compile, JitOptions};
use adjoint_passes::PassManager;

fn derive(mut g: Graph, pipeline: &str, keep: &[usize]) -> Graph {
    PassManager::parse(pipeline).unwrap().run(&mut g).unwrap();
    let outs: Vec<_> = keep.iter().map(|&k| g.outputs()[k]).collect();
    g.set_outputs(outs);
    PassManager::parse("simplify,cse,dce")
        .unwrap()
        .run(&mut g)
        .unwrap();
    g
}

fn rosenbrock(n: usize) -> Graph {
    let b = GraphBuilder::new("rosenbrock");
    let x = b.param("x", TensorType::f64([n]));
    let a = x.slice(&[1], &[n]);
    let c = x.slice(&[0], &[n - 1]);
    let t1 = a - c * c;
    let t2 = c.lit(1.0) - c;
    let f = (t1.lit(100.0) * t1 * t1 + t2 * t2).sum();
    b.build(&[f]).unwrap()
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "w3".into());
    let g = match which.as_str() {
        "w1" => {
            let b = GraphBuilder::new("w1");
            let x1 = b.param("x1", TensorType::f64([]));
            let x2 = b.param("x2", TensorType::f64([]));
            derive(b.build(&[x1 * x2 + x1.sin()]).unwrap(), "grad", &[1, 2])
        }
        "w2" => {
            let b = GraphBuilder::new("w2");
            let x = b.param("x", TensorType::f64([]));
            derive(
                b.build(&[x.sigmoid().sigmoid().sigmoid()]).unwrap(),
                "grad",
                &[1],
            )
        }
        "w3" => derive(rosenbrock(1000), "grad", &[1]),
        "w6" => derive(rosenbrock(10000), "grad{wrt=x},jvp{wrt=x}", &[3]),
        "w7" => {
            let b = GraphBuilder::new("w7");
            let mut x = b.param("x", TensorType::f64([16]));
            for _ in 0..250 {
                x = x.sin() * x.lit(1.01) + x.cos() * x.lit(0.5);
            }
            derive(b.build(&[x.sum()]).unwrap(), "grad", &[1])
        }
        _ => {
            let dt = DType::F32;
            let b = GraphBuilder::new("mlp");
            let x = b.param("x", TensorType::new(dt, [128, 784]));
            let labels = b.param("labels", TensorType::new(dt, [128, 10]));
            let w1 = b.param("w1", TensorType::new(dt, [784, 256]));
            let b1 = b.param("b1", TensorType::new(dt, [256]));
            let w2 = b.param("w2", TensorType::new(dt, [256, 256]));
            let b2 = b.param("b2", TensorType::new(dt, [256]));
            let w3 = b.param("w3", TensorType::new(dt, [256, 10]));
            let b3 = b.param("b3", TensorType::new(dt, [10]));
            let h1 = (x.matmul(w1) + b1).tanh();
            let h2 = (h1.matmul(w2) + b2).tanh();
            let logits = h2.matmul(w3) + b3;
            let g = b.build(&[logits.cross_entropy(labels)]).unwrap();
            derive(g, "grad{wrt=w1,b1,w2,b2,w3,b3}", &[0, 1, 2, 3, 4, 5, 6])
        }
    };
    if std::env::args().any(|a| a == "--ir") {
        let mut r = g.clone();
        adjoint_ir::fusion::assign_regions(&r)
            .unwrap()
            .annotate(&mut r);
        println!("{}", print_graph(&r));
    }
    let f = compile(&g, &JitOptions::default()).unwrap();
    println!("{}", f.plan());
    println!("{:?}", f.stats());
}
