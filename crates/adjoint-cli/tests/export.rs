//! `adjoint export`: StableHLO text on stdout or in a file, after passes;
//! errors exit 1, usage errors 2.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adjoint"))
        .args(args)
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("spawn adjoint")
}

fn tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adjoint-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const SRC: &str =
    "func @f(%x: f64[3]) -> f64 {\n  %e = exp %x\n  %s = reduce_sum %e axes=[0]\n  return %s\n}\n";

#[test]
fn export_writes_stablehlo_to_stdout() {
    let f = tmp("a.adj", SRC);
    let o = run(&["export", f.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let t = String::from_utf8(o.stdout).unwrap();
    assert!(
        t.contains("func.func public @main(%arg0: tensor<3xf64> loc(\"x\")) -> (tensor<f64>)"),
        "{t}"
    );
    assert!(t.contains("\"stablehlo.exponential\""), "{t}");
    assert!(t.contains("\"stablehlo.reduce\""), "{t}");
}

#[test]
fn export_after_passes_to_a_file() {
    let f = tmp("b.adj", SRC);
    let out = f.with_file_name("b.mlir");
    let o = run(&[
        "export",
        f.to_str().unwrap(),
        "--func",
        "f",
        "--passes",
        "grad,simplify,cse,dce",
        "--format",
        "stablehlo",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
    let t = std::fs::read_to_string(&out).unwrap();
    // The gradient is a second output: exp x, of type f64[3].
    assert!(t.contains("-> (tensor<f64>, tensor<3xf64>)"), "{t}");
}

#[test]
fn export_errors_and_usage() {
    let f = tmp("c.adj", SRC);
    let o = run(&["export", f.to_str().unwrap(), "--func", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no function @nope"));
    let o = run(&["export", f.to_str().unwrap(), "--format", "onnx"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["export", f.to_str().unwrap(), "--passes", "nosuchpass"]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&[
        "export",
        f.to_str().unwrap(),
        "-o",
        "/nonexistent-dir/x.mlir",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot create /nonexistent-dir/x.mlir"));
}
