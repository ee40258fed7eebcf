//! Every exported module must be accepted by `iree-compile` (CPU target,
//! f64 kept). The compiler is found through `ADJOINT_IREE_BIN` (the bin
//! directory of a venv with iree-base-compiler), then `IREE_COMPILE` (the
//! binary itself), then `iree-compile` on `PATH`; without it the test
//! prints that it is skipped. Running the modules and comparing with the
//! interpreter is the end-to-end suite's job.

use adjoint_ir::parse_module;
use std::path::PathBuf;
use std::process::Command;

/// The flags of issue 13: CPU, no f64 demotion, no embedded linking.
const FLAGS: &[&str] = &[
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
    "--iree-llvmcpu-target-cpu=host",
    "--iree-input-demote-f64-to-f32=false",
    "--iree-llvmcpu-link-embedded=false",
    "--iree-opt-const-eval=false",
];

/// Programs covering every op; the function exported is `@f`.
const PROGRAMS: &[(&str, &str)] = &[
    (
        "unary",
        "func @f(%x: f64[2]) -> (f64[2], f32[2]) {\n  %a = neg %x\n  %b = abs %a\n  %c = exp %b\n  %d = log %c\n  %e = sqrt %d\n  %g = sin %e\n  %h = cos %g\n  %i = tanh %h\n  %j = sigmoid %i\n  %k = relu %j\n  %l = cast %k to=f32\n  return %k, %l\n}\n",
    ),
    (
        "binary_logic",
        "func @f(%a: f32[2], %b: f32[2]) -> (f32[2], f64[2]) {\n  %s = sub %a, %b\n  %ad = add %s, %a\n  %m = mul %ad, %b\n  %d = div %m, %a\n  %mx = max %d, %a\n  %mn = min %mx, %b\n  %pw = pow %mn, %b\n  %p = lt %a, %b\n  %q = ge %a, %b\n  %e = eq %a, %b\n  %le = le %a, %b\n  %gt = gt %a, %b\n  %o = or %p, %q\n  %n = not %o\n  %w = and %n, %e\n  %w2 = and %le, %gt\n  %w3 = or %w, %w2\n  %r = select %w3, %pw, %a\n  %c = cast %w3 to=f64\n  return %r, %c\n}\n",
    ),
    (
        "shapes",
        "func @f(%x: f64[2,3], %v: f64[3]) -> (f64[4,2,3], f64[3,2], f64[6], f64[1,2], f64[4,6], f64[4,3], f32[2,3], f64[2], f64[3]) {\n  %b = broadcast %v shape=[4,2,3]\n  %t = transpose %x perm=[1,0]\n  %r = reshape %x shape=[6]\n  %s = slice %x start=[0,0] end=[2,3] stride=[2,2]\n  %p = pad %x lo=[1,2] hi=[1,1]\n  %c = concat %x, %x axis=0\n  %i = iota shape=[2,3] axis=1 : f32[2,3]\n  %rs = reduce_sum %x axes=[1]\n  %rm = reduce_max %x axes=[0]\n  return %b, %t, %r, %s, %p, %c, %i, %rs, %rm\n}\n",
    ),
    (
        "matmul",
        "func @f(%a: f64[2,1,3,4], %b: f64[5,4,6], %v: f64[4], %m: f64[3,4]) -> (f64[2,5,3,6], f64[3], f64) {\n  %c = matmul %a, %b\n  %d = matmul %m, %v\n  %e = matmul %v, %v\n  return %c, %d, %e\n}\n",
    ),
    (
        "scan",
        "func @step(%c: f64, %x: f64[2], %k: f64) -> (f64, f64[2]) {\n  %s = reduce_sum %x axes=[0]\n  %n = add %c, %s\n  %m = mul %n, %k\n  %b = broadcast %m shape=[2]\n  %y = mul %b, %x\n  return %m, %y\n}\n\nfunc @f(%init: f64, %xs: f64[5,2], %k: f64) -> (f64, f64[5,2], f64, f64[5,2]) {\n  %t, %ys = scan %init, %xs, %k body=@step carry=1 xs=1 : (f64, f64[5,2])\n  %t2, %ys2 = scan %init, %xs, %k body=@step carry=1 xs=1 reverse=true : (f64, f64[5,2])\n  return %t, %ys, %t2, %ys2\n}\n",
    ),
    (
        "while_cond",
        "func @small(%x: f64, %limit: f64) -> bool {\n  %p = lt %x, %limit\n  return %p\n}\n\nfunc @double(%x: f64, %limit: f64) -> f64 {\n  %y = add %x, %x\n  return %y\n}\n\nfunc @pos(%x: f64) -> f64 {\n  %y = sqrt %x\n  return %y\n}\n\nfunc @negpart(%x: f64) -> f64 {\n  %y = neg %x\n  return %y\n}\n\nfunc @f(%x: f64) -> (f64, f64, f64) {\n  %limit = const 100 : f64\n  %r = while %x, %limit cond=@small body=@double carry=1 max_trips=64 : f64\n  %r2 = while %x, %limit cond=@small body=@double carry=1 : f64\n  %zero = const 0 : f64\n  %p = ge %x, %zero\n  %s = cond %p, %x then=@pos else=@negpart : f64\n  return %r, %r2, %s\n}\n",
    ),
    (
        "constants",
        "func @f(%x: f64[3]) -> (f64[3], f32[2,2], bool[2]) {\n  %c = const [1, 2, 3] : f64[3]\n  %a = add %x, %c\n  %h = const [[0.1, 0.2], [0.3, 0.4]] : f32[2,2]\n  %y = const [1, 2] : f64[2]\n  %z = const [2, 1] : f64[2]\n  %l = lt %y, %z\n  return %a, %h, %l\n}\n",
    ),
];

/// The `iree-compile` binary, if one is configured or on `PATH`.
fn iree_compile() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("ADJOINT_IREE_BIN") {
        let p = PathBuf::from(dir).join("iree-compile");
        return p.exists().then_some(p);
    }
    if let Ok(p) = std::env::var("IREE_COMPILE") {
        return Some(PathBuf::from(p));
    }
    let ok = Command::new("iree-compile")
        .arg("--version")
        .output()
        .is_ok();
    ok.then(|| PathBuf::from("iree-compile"))
}

#[test]
fn iree_compiles_every_exported_module() {
    // Export everything first: that must work with or without the tool.
    let modules: Vec<(&str, String)> = PROGRAMS
        .iter()
        .map(|(name, src)| {
            let m = parse_module(src).unwrap_or_else(|e| panic!("{name}: parse: {e}"));
            let text = adjoint_stablehlo::export(m.func("f").unwrap())
                .unwrap_or_else(|e| panic!("{name}: export: {e}"));
            (*name, text)
        })
        .collect();
    let Some(bin) = iree_compile() else {
        println!("SKIPPED: iree-compile not found (set ADJOINT_IREE_BIN to a venv's bin directory with iree-base-compiler)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("adjoint-stablehlo-iree-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (name, text) in &modules {
        let input = dir.join(format!("{name}.mlir"));
        std::fs::write(&input, text).unwrap();
        let out = Command::new(&bin)
            .args(FLAGS)
            .arg(&input)
            .arg("-o")
            .arg(dir.join(format!("{name}.vmfb")))
            .output()
            .expect("run iree-compile");
        if !out.status.success() {
            failures.push(format!(
                "{name}: {}\n{text}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
