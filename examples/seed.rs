//! The seed notes' worked examples through the builder API.
//!
//! 1. f(x1, x2) = x1·x2 + sin(x1), differentiated by reverse mode (`grad`)
//!    and by forward mode (`jvp`), with the IR printed after every pass.
//! 2. f(x) = (x + a)(x + b), where df/da = x + b and df/db = x + a.
//!
//! Run with `cargo run --release --example seed`.

use adjoint::ir::{print_graph, Graph, GraphBuilder, Result, Tensor, TensorType};
use adjoint::passes::{PassFilter, PassManager, Registry};
use adjoint::Engine;

/// Runs `pipeline` on a copy of `g`, printing the IR after every pass.
fn transform(g: &Graph, pipeline: &str) -> Result<Graph> {
    let registry = Registry::builtin();
    let mut pm = PassManager::parse_with(&registry, pipeline)?;
    pm.print_after(PassFilter::parse("all", &registry)?)
        .dump_to(Box::new(std::io::stdout()));
    let mut g = g.clone();
    pm.run(&mut g)?;
    Ok(g)
}

fn scalars(values: &[f64]) -> Vec<Tensor> {
    values.iter().map(|&v| Tensor::scalar_f64(v)).collect()
}

fn show(outputs: &[Tensor]) -> Vec<f64> {
    outputs.iter().flat_map(|t| t.to_f64_vec()).collect()
}

fn main() -> Result<()> {
    let engine = Engine::default();
    println!("== f(x1, x2) = x1*x2 + sin(x1)   (engine: {engine})\n");
    let b = GraphBuilder::new("f");
    let x1 = b.param("x1", TensorType::f64([]));
    let x2 = b.param("x2", TensorType::f64([]));
    let f = b.build(&[x1 * x2 + x1.sin()])?;
    println!("{}", print_graph(&f));

    println!("-- reverse mode: grad,simplify,cse,dce\n");
    let g = transform(&f, "grad,simplify,cse,dce")?;
    let out = show(&engine.run(&g, &scalars(&[2.0, 7.0]))?);
    println!("f(2, 7) = {}", out[0]);
    println!(
        "grad f(2, 7) = [{}, {}]   (by hand: [7 + cos 2, 2] = [6.583853163452858, 2])\n",
        out[1], out[2]
    );

    println!("-- forward mode: jvp,simplify,cse,dce (one tangent per input direction)\n");
    let j = transform(&f, "jvp,simplify,cse,dce")?;
    let d1 = show(&engine.run(&j, &scalars(&[2.0, 7.0, 1.0, 0.0]))?)[1];
    let d2 = show(&engine.run(&j, &scalars(&[2.0, 7.0, 0.0, 1.0]))?)[1];
    println!("df/dx1 = {d1}, df/dx2 = {d2}   (forward mode agrees with reverse mode)\n");

    println!("== f(x) = (x + a)(x + b)\n");
    let b = GraphBuilder::new("h");
    let x = b.param("x", TensorType::f64([]));
    let a = b.param("a", TensorType::f64([]));
    let bb = b.param("b", TensorType::f64([]));
    let h = b.build(&[(x + a) * (x + bb)])?;
    println!("{}", print_graph(&h));
    let g = transform(&h, "grad{wrt=a,b},simplify,cse,dce")?;
    let out = show(&engine.run(&g, &scalars(&[3.0, 1.0, 2.0]))?);
    println!(
        "at x=3, a=1, b=2: df/da = {} (x + b = 5), df/db = {} (x + a = 4)",
        out[1], out[2]
    );
    Ok(())
}
