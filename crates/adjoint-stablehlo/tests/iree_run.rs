//! Exported modules run under IREE (CPU) with hand-derived results: the
//! guarded `pow` special cases, and `scan` (forward and reverse), `while`
//! with `max_trips`, `cond` and a batch-broadcast `matmul`. Needs
//! `iree-compile` and `iree-run-module` in `ADJOINT_IREE_BIN` (the bin
//! directory of a venv with iree-base-compiler and iree-base-runtime);
//! without them the test prints that it is skipped.

use adjoint_ir::parse_module;
use std::path::{Path, PathBuf};
use std::process::Command;

const FLAGS: &[&str] = &[
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
    "--iree-llvmcpu-target-cpu=host",
    "--iree-input-demote-f64-to-f32=false",
    "--iree-llvmcpu-link-embedded=false",
    "--iree-opt-const-eval=false",
];

/// Exports `@f` of `src`, compiles and runs it with `inputs`; returns the
/// result lines (`7xf64=…`).
fn run(bin: &Path, name: &str, src: &str, inputs: &[&str]) -> Vec<String> {
    let m = parse_module(src).unwrap();
    let text = adjoint_stablehlo::export(m.func("f").unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("adjoint-stablehlo-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mlir, vmfb) = (
        dir.join(format!("{name}.mlir")),
        dir.join(format!("{name}.vmfb")),
    );
    std::fs::write(&mlir, &text).unwrap();
    let c = Command::new(bin.join("iree-compile"))
        .args(FLAGS)
        .arg(&mlir)
        .arg("-o")
        .arg(&vmfb)
        .output()
        .unwrap();
    assert!(
        c.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&c.stderr)
    );
    let mut cmd = Command::new(bin.join("iree-run-module"));
    cmd.arg(format!("--module={}", vmfb.display()))
        .arg("--function=main");
    for i in inputs {
        cmd.arg(format!("--input={i}"));
    }
    let r = cmd.output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    String::from_utf8(r.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains('='))
        .map(str::to_string)
        .collect()
}

fn tools() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var("ADJOINT_IREE_BIN").ok()?);
    (dir.join("iree-compile").exists() && dir.join("iree-run-module").exists()).then_some(dir)
}

#[test]
fn iree_runs_exported_modules_with_hand_derived_results() {
    let Some(bin) = tools() else {
        println!("SKIPPED: iree-compile/iree-run-module not found (set ADJOINT_IREE_BIN to a venv's bin directory with iree-base-compiler and iree-base-runtime)");
        return;
    };
    // pow(NaN,0)=1, pow(0,0)=1, pow(1,NaN)=1, (-2)^3=-8, (-2)^2=4,
    // (-2)^0.5=NaN, 2^3=8, pow(-1,inf)=1, pow(-0,-1)=-inf, pow(-0,3)=-0,
    // pow(-inf,0.5)=inf.
    let out = run(
        &bin,
        "pow",
        "func @f(%a: f64[11], %b: f64[11]) -> f64[11] {\n  %p = pow %a, %b\n  return %p\n}\n",
        &[
            "11xf64=nan 0 1 -2 -2 -2 2 -1 -0 -0 -inf",
            "11xf64=0 0 nan 3 2 0.5 3 inf -1 3 0.5",
        ],
    );
    assert_eq!(out, ["11xf64=1 1 1 -8 4 NAN 8 1 -INF -0 INF"]);

    // c' = (c + x0 + x1) * k, y = c' * x, from c = -2, k = 1.5, over rows
    // [1,2], [3,4], [5,6] (forward) and [5,6], [3,4], [1,2] (reverse);
    // while doubles 1.5 at most 3 times (12) or until >= 100 (192);
    // cond takes sqrt on x >= 0, else -x (2).
    let src = "func @step(%c: f64, %x: f64[2], %k: f64) -> (f64, f64[2]) {\n  %s = reduce_sum %x axes=[0]\n  %n = add %c, %s\n  %m = mul %n, %k\n  %b = broadcast %m shape=[2]\n  %y = mul %b, %x\n  return %m, %y\n}\n\nfunc @small(%x: f64, %limit: f64) -> bool {\n  %p = lt %x, %limit\n  return %p\n}\n\nfunc @double(%x: f64, %limit: f64) -> f64 {\n  %y = add %x, %x\n  return %y\n}\n\nfunc @pos(%x: f64) -> f64 {\n  %y = sqrt %x\n  return %y\n}\n\nfunc @negpart(%x: f64) -> f64 {\n  %y = neg %x\n  return %y\n}\n\nfunc @f(%init: f64, %xs: f64[3,2], %k: f64, %a: f64[2,1,1,3], %bm: f64[4,3,2]) -> (f64, f64[3,2], f64, f64[3,2], f64, f64, f64, f64[2,4,1,2]) {\n  %t, %ys = scan %init, %xs, %k body=@step carry=1 xs=1 : (f64, f64[3,2])\n  %t2, %ys2 = scan %init, %xs, %k body=@step carry=1 xs=1 reverse=true : (f64, f64[3,2])\n  %limit = const 100 : f64\n  %r = while %k, %limit cond=@small body=@double carry=1 max_trips=3 : f64\n  %r2 = while %k, %limit cond=@small body=@double carry=1 : f64\n  %zero = const 0 : f64\n  %p = ge %init, %zero\n  %s = cond %p, %init then=@pos else=@negpart : f64\n  %mm = matmul %a, %bm\n  return %t, %ys, %t2, %ys2, %r, %r2, %s, %mm\n}\n";
    let bm: Vec<String> = (1..=24).map(|i| i.to_string()).collect();
    let bm = format!("4x3x2xf64={}", bm.join(" "));
    let out = run(
        &bin,
        "loops",
        src,
        &[
            "f64=-2",
            "3x2xf64=1 2 3 4 5 6",
            "f64=1.5",
            "2x1x1x3xf64=1 2 3 4 5 6",
            &bm,
        ],
    );
    assert_eq!(
        out,
        [
            "f64=35.625",
            "3x2xf64=[1.5 3][38.25 51][178.125 213.75]",
            "f64=50.625",
            "3x2xf64=[50.625 101.25][92.25 123][67.5 81]",
            "f64=12",
            "f64=192",
            "f64=2",
            "2x4x1x2xf64=[[[22 28]][[58 64]][[94 100]][[130 136]]][[[49 64]][[139 154]][[229 244]][[319 334]]]",
        ]
    );
}
