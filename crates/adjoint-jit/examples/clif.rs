//! Prints the CLIF of the Rosenbrock value function (n = 1000).
use adjoint_ir::{GraphBuilder, TensorType};
use adjoint_jit::{compile, JitOptions};

fn main() {
    let n = 1000;
    let b = GraphBuilder::new("rosenbrock");
    let x = b.param("x", TensorType::f64([n]));
    let a = x.slice(&[1], &[n]);
    let c = x.slice(&[0], &[n - 1]);
    let t1 = a - c * c;
    let t2 = c.lit(1.0) - c;
    let f = (t1.lit(100.0) * t1 * t1 + t2 * t2).sum();
    let g = b.build(&[f]).unwrap();
    let opts = JitOptions {
        keep_clif: true,
        ..Default::default()
    };
    let f = compile(&g, &opts).unwrap();
    println!("{}", f.clif().unwrap());
}
