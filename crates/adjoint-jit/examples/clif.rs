//! Prints the CLIF (or with `--disasm` the machine code) of the Rosenbrock
//! value function, or with `--grad` its gradient (n = 1000); `--w2` takes
//! the W2 function instead.
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
    let mut g = b.build(&[f]).unwrap();
    if std::env::args().any(|a| a == "--exp32") {
        let b = GraphBuilder::new("exp32");
        let x = b.param("x", TensorType::f32([1024]));
        g = b.build(&[x.exp()]).unwrap();
    }
    if std::env::args().any(|a| a == "--w2") {
        let b = GraphBuilder::new("w2");
        let x = b.param("x", TensorType::f64([]));
        g = b.build(&[x.sigmoid().sigmoid().sigmoid()]).unwrap();
    }
    if std::env::args().any(|a| a == "--grad") {
        adjoint_passes::PassManager::parse("grad")
            .unwrap()
            .run(&mut g)
            .unwrap();
        let o = g.outputs()[1];
        g.set_outputs(vec![o]);
        adjoint_passes::PassManager::parse("simplify,cse,dce")
            .unwrap()
            .run(&mut g)
            .unwrap();
    }
    let opts = JitOptions {
        keep_clif: true,
        keep_disasm: std::env::args().any(|a| a == "--disasm"),
        ..Default::default()
    };
    let f = compile(&g, &opts).unwrap();
    match f.disasm() {
        Some(d) => println!("{d}"),
        None => println!("{}", f.clif().unwrap()),
    }
}
