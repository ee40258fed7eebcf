//! Times W7's stages (build, differentiate and optimise, compile) and the
//! compile at each Cranelift optimisation level.
use adjoint_ir::{GraphBuilder, TensorType};
use adjoint_jit::{compile, JitOptions, OptLevel};
use adjoint_passes::PassManager;
use std::time::Instant;

fn main() {
    for _ in 0..3 {
        let t0 = Instant::now();
        let b = GraphBuilder::new("w7");
        let mut x = b.param("x", TensorType::f64([16]));
        for _ in 0..250 {
            x = x.sin() * x.lit(1.01) + x.cos() * x.lit(0.5);
        }
        let mut g = b.build(&[x.sum()]).unwrap();
        let t1 = Instant::now();
        PassManager::parse("grad").unwrap().run(&mut g).unwrap();
        let o = g.outputs()[1];
        g.set_outputs(vec![o]);
        PassManager::parse("simplify,cse,dce")
            .unwrap()
            .run(&mut g)
            .unwrap();
        let t2 = Instant::now();
        for (name, lvl) in [
            ("auto", OptLevel::Auto),
            ("speed", OptLevel::Speed),
            ("none", OptLevel::None),
        ] {
            let t3 = Instant::now();
            let f = compile(
                &g,
                &JitOptions {
                    opt_level: lvl,
                    ..Default::default()
                },
            )
            .unwrap();
            let t4 = Instant::now();
            println!(
                "plan {:.2} ms, codegen {:.2} ms",
                f.stats().plan_seconds * 1e3,
                f.stats().codegen_seconds * 1e3
            );
            println!(
                "build {:.2} ms, grad+opt {:.2} ms, compile[{name}] {:.2} ms ({} nodes, {:.1} us/node)",
                (t1 - t0).as_secs_f64() * 1e3,
                (t2 - t1).as_secs_f64() * 1e3,
                (t4 - t3).as_secs_f64() * 1e3,
                f.stats().nodes,
                (t4 - t3).as_secs_f64() * 1e6 / f.stats().nodes as f64
            );
        }
    }
}
