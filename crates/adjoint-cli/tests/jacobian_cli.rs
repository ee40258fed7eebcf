//! The Jacobian pass through the `adjoint` binary: the dump note, the
//! Jacobian's values on both engines, and option errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adjoint"))
        .args(args)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("spawn adjoint")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn opt_dump_explains_the_bracketing() {
    let o = run(&[
        "opt",
        "examples/jacobian_chain.adj",
        "--passes",
        "jacobian,simplify,fold,cse,dce",
        "--print-after=jacobian",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "# jacobian auto d%y/d%x: (F4·(F3·F2))·F1 [tangent|tangent|adjoint] cost 3.8e1 fma; fwd 5.1e1; rev 5.1e1"
        ),
        "{err}"
    );
    let out = text(&o.stdout);
    assert!(out.contains("-> (f64[3], f64[3,3])"), "{out}");
    assert!(out.contains("%x_jac = matmul"), "{out}");
}

#[test]
fn run_gives_the_same_jacobian_in_every_mode_and_engine() {
    let mut results = Vec::new();
    for engine in ["interp", "jit"] {
        for mode in ["auto", "fwd", "rev"] {
            let o = run(&[
                "run",
                "examples/jacobian_chain.adj",
                "--engine",
                engine,
                "--passes",
                &format!("jacobian{{mode={mode}}}"),
                "--arg",
                "x=[1,2,3]",
            ]);
            assert!(o.status.success(), "{engine} {mode}: {}", text(&o.stderr));
            let out = text(&o.stdout);
            assert!(out.contains("\"shape\":[3,3]"), "{out}");
            // The JSON's last data array is the Jacobian.
            let data = out.rsplit("\"data\":[").next().unwrap();
            let vals: Vec<f64> = data
                .split(']')
                .next()
                .unwrap()
                .split(',')
                .map(|v| v.parse().unwrap())
                .collect();
            assert_eq!(vals.len(), 9);
            results.push(vals);
        }
    }
    // J = diag(1 - y²) W2 diag(1 - t1²) W1, evaluated independently in
    // double precision (the same formula written out in Python) at
    // x = [1,2,3]:
    let want = [
        0.018732426200485357,
        0.0394276827022754,
        0.06012293920406544,
        0.007352286691159293,
        0.014386115534868828,
        0.02141994437857836,
        -0.003862682402173351,
        -0.008885956642161073,
        -0.013909230882148793,
    ];
    for (a, b) in results[0].iter().zip(&want) {
        assert!((a - b).abs() <= 1e-15, "{:?} vs {want:?}", results[0]);
    }
    for r in &results[1..] {
        for (a, b) in r.iter().zip(&results[0]) {
            assert!((a - b).abs() <= 1e-12 * 0.07, "{r:?} vs {:?}", results[0]);
        }
    }
}

#[test]
fn bad_options_fail_with_a_clear_message() {
    for (passes, want) in [
        (
            "jacobian{mode=up}",
            "unknown mode `up`; valid modes: auto, fwd, rev",
        ),
        ("jacobian{wrt=z}", "no parameter `z`"),
        ("jacobian{of=3}", "of=3"),
        ("jacobian{side=left}", "valid options: wrt, of, mode"),
    ] {
        let o = run(&["opt", "examples/jacobian_chain.adj", "--passes", passes]);
        assert!(!o.status.success(), "{passes}");
        let err = text(&o.stderr);
        assert!(err.contains(want), "{passes}: {err}");
    }
}
