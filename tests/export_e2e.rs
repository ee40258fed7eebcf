//! End-to-end check of StableHLO modules on real engines: IREE (always, when
//! its tools are found) and XLA through JAX (when `ADJOINT_JAX_PYTHON` names
//! a Python with jax). Each program's results are compared with the
//! reference interpreter: f64 within 1e-12, f32 within 1e-5, relative.
//!
//! Tools: `ADJOINT_IREE_BIN` (a directory holding `iree-compile` and
//! `iree-run-module`, as printed by `benches/export/setup.sh`) or `PATH`.
//! Without them every test prints `SKIP …` and returns; `.ci/run` installs
//! them, so CI always runs this suite.

use adjoint::interp;
use adjoint::ir::{DType, Graph, Result as IrResult, Tensor};
use adjoint::passes::PassManager;
use adjoint::workloads;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The compile flags the issue worked out: keep f64 (no demotion), link
/// the host's libm (f64 sin/cos/tanh fail to link embedded), no const-eval.
const IREE_FLAGS: [&str; 6] = [
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
    "--iree-llvmcpu-target-cpu=host",
    "--iree-input-demote-f64-to-f32=false",
    "--iree-llvmcpu-link-embedded=false",
    "--iree-opt-const-eval=false",
];

/// Where `iree-compile` and `iree-run-module` live, or why not.
fn iree_bin() -> std::result::Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("ADJOINT_IREE_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("iree-compile").is_file() && dir.join("iree-run-module").is_file() {
            Ok(dir)
        } else {
            // Set but wrong is an error, not a skip: CI must not pass quietly.
            panic!(
                "ADJOINT_IREE_BIN={} holds no iree-compile/iree-run-module",
                dir.display()
            )
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|d| d.join("iree-compile").is_file() && d.join("iree-run-module").is_file())
        .ok_or_else(|| {
            "iree-compile/iree-run-module not found (set ADJOINT_IREE_BIN; \
             benches/export/setup.sh installs them)"
                .to_string()
        })
}

/// A fresh scratch directory for one program.
fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "adjoint-export-e2e-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `t` as a NumPy `.npy` file (format 1.0, little-endian, C order).
fn write_npy(path: &Path, t: &Tensor) {
    let (descr, body): (&str, Vec<u8>) = match t.dtype() {
        DType::F64 => (
            "<f8",
            t.as_f64()
                .unwrap()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::F32 => (
            "<f4",
            t.as_f32()
                .unwrap()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::Bool => (
            "|b1",
            t.as_bool().unwrap().iter().map(|&b| u8::from(b)).collect(),
        ),
    };
    let dims = t.shape().dims();
    let shape = match dims.len() {
        0 => "()".to_string(),
        1 => format!("({},)", dims[0]),
        _ => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&body);
    std::fs::write(path, bytes).unwrap();
}

/// An `.npy` file's shape and values (as f64), or a message.
fn read_npy(path: &Path) -> std::result::Result<(Vec<usize>, Vec<f64>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{}: not an .npy file", path.display()));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).map_err(|e| e.to_string())?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let at = header.find(key).ok_or(format!("no {key} in {header}"))? + key.len();
        Ok(header[at..].trim_start_matches([':', ' ']))
    };
    let descr = field("'descr'")?;
    let descr = &descr[1..descr[1..].find('\'').unwrap() + 1];
    if field("'fortran_order'")?.starts_with("True") {
        return Err(format!("{}: Fortran order", path.display()));
    }
    let shape_src = field("'shape'")?;
    let shape: Vec<usize> = shape_src[1..shape_src.find(')').unwrap()]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data = &bytes[start + hlen..];
    let values = match descr {
        "<f8" => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        "<f4" => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
            .collect(),
        "|b1" | "|u1" | "|i1" => data.iter().map(|&b| f64::from(b)).collect(),
        d => return Err(format!("{}: unsupported dtype {d}", path.display())),
    };
    Ok((shape, values))
}

/// Runs a command; its stderr on failure.
fn run(cmd: &mut Command) -> std::result::Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} exited with {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One engine's results: shape and values per output.
type Outputs = Vec<(Vec<usize>, Vec<f64>)>;

/// Compiles `mlir` with `iree-compile` and runs `@main` on `inputs`; the
/// results and the wall times of the two commands (compile, run: process
/// start, module load and the call).
fn run_iree(
    bin: &Path,
    dir: &Path,
    mlir: &str,
    inputs: &[Tensor],
    n_out: usize,
) -> std::result::Result<(Outputs, Times), String> {
    let src = dir.join("m.mlir");
    std::fs::write(&src, mlir).unwrap();
    let vmfb = dir.join("m.vmfb");
    let t = std::time::Instant::now();
    run(Command::new(bin.join("iree-compile"))
        .args(IREE_FLAGS)
        .arg(&src)
        .arg("-o")
        .arg(&vmfb))?;
    let compile = t.elapsed().as_secs_f64();
    let mut cmd = Command::new(bin.join("iree-run-module"));
    cmd.arg(format!("--module={}", vmfb.display()))
        .arg("--function=main");
    for (i, t) in inputs.iter().enumerate() {
        let p = dir.join(format!("in{i}.npy"));
        write_npy(&p, t);
        cmd.arg(format!("--input=@{}", p.display()));
    }
    for i in 0..n_out {
        cmd.arg(format!(
            "--output=@{}",
            dir.join(format!("iree{i}.npy")).display()
        ));
    }
    let t = std::time::Instant::now();
    run(&mut cmd)?;
    let times = Times {
        compile,
        run: t.elapsed().as_secs_f64(),
    };
    let outs = (0..n_out)
        .map(|i| read_npy(&dir.join(format!("iree{i}.npy"))))
        .collect::<std::result::Result<Outputs, String>>()?;
    Ok((outs, times))
}

/// One engine's wall times for a program, in seconds.
struct Times {
    compile: f64,
    run: f64,
}

/// The worst relative error per float dtype (f64, f32) over a program's
/// outputs; `None` where it has no output of that dtype.
type Worst = [Option<f64>; 2];

/// The greppable agreement line's figures: `f64 E f32 E` (`-` for none).
/// `benches/export/summarize.py` reads these lines.
fn worst_text(w: &Worst) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:e}"));
    format!("f64 {} f32 {}", f(w[0]), f(w[1]))
}

/// A program whose module and inputs (`m.mlir`, `in{i}.npy` in `dir`) wait
/// for the XLA leg, with the interpreter's results.
struct XlaJob {
    name: String,
    dir: PathBuf,
    n_in: usize,
    want: Vec<Tensor>,
    /// Compare bit for bit ([`compare_bits`]) rather than within tolerance.
    exact: bool,
}

/// Runs the jobs on XLA's CPU backend through `benches/export/xla_run.py`
/// with the Python in `ADJOINT_JAX_PYTHON`, all in one process (JAX takes
/// seconds to import), compares each with the interpreter, removes the
/// scratch directories and returns the names of the programs that failed.
/// Prints SKIP when the variable is unset.
fn finish_xla(jobs: Vec<XlaJob>) -> Vec<String> {
    let Some(python) = std::env::var_os("ADJOINT_JAX_PYTHON") else {
        for j in &jobs {
            eprintln!(
                "SKIP export_e2e {} on XLA: ADJOINT_JAX_PYTHON is not set",
                j.name
            );
            let _ = std::fs::remove_dir_all(&j.dir);
        }
        return Vec::new();
    };
    if jobs.is_empty() {
        return Vec::new();
    }
    let list = jobs
        .iter()
        .map(|j| {
            let mut line = vec![j.dir.join("m.mlir"), j.dir.join("xla")];
            line.extend((0..j.n_in).map(|i| j.dir.join(format!("in{i}.npy"))));
            let line: Vec<String> = line.iter().map(|p| p.display().to_string()).collect();
            line.join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let list_file = jobs[0].dir.with_extension("xla-jobs");
    std::fs::write(&list_file, list + "\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/export/xla_run.py");
    let ran = run(Command::new(python)
        .arg(script)
        .arg("--jobs")
        .arg(&list_file));
    let _ = std::fs::remove_file(&list_file);
    if let Err(e) = &ran {
        eprintln!("export_e2e: XLA runner failed: {e}");
    }
    let mut failed = Vec::new();
    for j in jobs {
        let got: std::result::Result<Outputs, String> = (0..j.want.len())
            .map(|i| read_npy(&j.dir.join(format!("xla{i}.npy"))))
            .collect();
        let cmp = if j.exact { compare_bits } else { compare };
        match got.and_then(|got| cmp("XLA", &j.want, &got)) {
            Ok(worst) => {
                // compile_and_load and execute, timed by xla_run.py.
                let times = std::fs::read_to_string(j.dir.join("xlatime.txt")).unwrap_or_default();
                let mut t = times.split_whitespace();
                let (c, r) = (t.next().unwrap_or("?"), t.next().unwrap_or("?"));
                eprintln!(
                    "export_e2e {}: XLA agrees, worst relative error {} (compile {c}s, run {r}s)",
                    j.name,
                    worst_text(&worst)
                );
                let _ = std::fs::remove_dir_all(&j.dir);
            }
            Err(e) => {
                eprintln!(
                    "export_e2e {}: XLA FAILED: {e} (files in {})",
                    j.name,
                    j.dir.display()
                );
                failed.push(j.name);
            }
        }
    }
    failed
}

/// The worst relative error of `got` against the interpreter's `want`, or
/// a message naming the first element outside `tol`. NaN must meet NaN and
/// infinities must be equal; otherwise the error of an element is
/// `|a - b| / max(|a|, |b|, m)` with `m` the output's largest finite
/// magnitude (normwise relative error): a gradient element that nearly
/// cancels carries the absolute rounding error of its larger terms, and the
/// engines sum in another order and contract to FMA.
fn compare(engine: &str, want: &[Tensor], got: &Outputs) -> std::result::Result<Worst, String> {
    if want.len() != got.len() {
        return Err(format!(
            "{engine}: {} outputs, want {}",
            got.len(),
            want.len()
        ));
    }
    let mut worst: Worst = [None, None];
    for (k, (w, (shape, g))) in want.iter().zip(got).enumerate() {
        let tol = if w.dtype() == DType::F32 { 1e-5 } else { 1e-12 };
        let slot = match w.dtype() {
            DType::F64 => Some(0),
            DType::F32 => Some(1),
            DType::Bool => None,
        };
        if shape.as_slice() != w.shape().dims() {
            return Err(format!(
                "{engine}: output {k} has shape {shape:?}, want {:?}",
                w.shape().dims()
            ));
        }
        let wv = w.to_f64_vec();
        let floor = wv
            .iter()
            .filter(|v| v.is_finite())
            .fold(0f64, |m, v| m.max(v.abs()));
        for (i, (&a, &b)) in wv.iter().zip(g).enumerate() {
            let err = if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
                if (a.is_nan() && b.is_nan()) || a == b {
                    0.0
                } else {
                    f64::INFINITY
                }
            } else {
                let d = (a - b).abs();
                if d == 0.0 {
                    0.0
                } else {
                    d / a.abs().max(b.abs()).max(floor)
                }
            };
            if err > tol {
                return Err(format!(
                    "{engine}: output {k} element {i}: got {b:e}, want {a:e} (relative error {err:e} > {tol:e})"
                ));
            }
            if let Some(s) = slot {
                worst[s] = Some(worst[s].unwrap_or(0.0).max(err));
            }
        }
    }
    Ok(worst)
}

/// Checks `mlir` (the StableHLO of `g`) on every available engine against
/// the interpreter on `inputs`: IREE now, XLA in the returned job (see
/// [`finish_xla`]). Prints the worst relative error; prints SKIP when the
/// tools are absent.
fn check(name: &str, g: &Graph, mlir: &str, inputs: &[Tensor]) -> Option<XlaJob> {
    let bin = match iree_bin() {
        Ok(b) => b,
        Err(why) => {
            eprintln!("SKIP export_e2e {name}: {why}");
            return None;
        }
    };
    let want = interp::eval(g, inputs).expect("interpreter");
    let dir = scratch(name);
    let (got, t) = run_iree(&bin, &dir, mlir, inputs, want.len())
        .unwrap_or_else(|e| panic!("{name}: IREE failed: {e}"));
    let worst = compare("IREE", &want, &got).unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!(
        "export_e2e {name}: IREE agrees, worst relative error {} (compile {:.3}s, run {:.3}s)",
        worst_text(&worst),
        t.compile,
        t.run
    );
    Some(XlaJob {
        name: name.to_string(),
        dir,
        n_in: inputs.len(),
        want,
        exact: false,
    })
}

/// `g` after the pipeline `passes` (empty: none).
fn after(g: IrResult<Graph>, passes: &str) -> Graph {
    let mut g = g.unwrap();
    if !passes.is_empty() {
        PassManager::parse(passes).unwrap().run(&mut g).unwrap();
    }
    g
}

/// The seed example `x1*x2 + sin(x1)` written by hand in StableHLO: the
/// harness works (and CI exercises the engines) independent of the exporter.
#[test]
fn hand_written_seed_module_agrees() {
    let g = after(workloads::seed_scalar(), "");
    let mlir = r#"module {
  func.func public @main(%arg0: tensor<f64>, %arg1: tensor<f64>) -> tensor<f64> {
    %0 = stablehlo.multiply %arg0, %arg1 : tensor<f64>
    %1 = stablehlo.sine %arg0 : tensor<f64>
    %2 = stablehlo.add %0, %1 : tensor<f64>
    return %2 : tensor<f64>
  }
}
"#;
    xla_all([check(
        "hand_seed",
        &g,
        mlir,
        &[Tensor::scalar_f64(2.0), Tensor::scalar_f64(7.0)],
    )]);
}

/// The seed example's gradient by hand: `(f, x2 + cos x1, x1)`, f32 and
/// f64 paths and a vector shape.
#[test]
fn hand_written_seed_gradient_module_agrees() {
    let g = after(workloads::seed_scalar(), "grad,simplify,cse,dce");
    assert_eq!(
        g.output_types().len(),
        3,
        "grad appends one output per parameter"
    );
    let mlir = r#"module {
  func.func public @main(%arg0: tensor<f64>, %arg1: tensor<f64>) -> (tensor<f64>, tensor<f64>, tensor<f64>) {
    %0 = stablehlo.multiply %arg0, %arg1 : tensor<f64>
    %1 = stablehlo.sine %arg0 : tensor<f64>
    %2 = stablehlo.add %0, %1 : tensor<f64>
    %3 = stablehlo.cosine %arg0 : tensor<f64>
    %4 = stablehlo.add %arg1, %3 : tensor<f64>
    return %2, %4, %arg0 : tensor<f64>, tensor<f64>, tensor<f64>
  }
}
"#;
    xla_all([check(
        "hand_seed_grad",
        &g,
        mlir,
        &[Tensor::scalar_f64(0.3), Tensor::scalar_f64(-1.25)],
    )]);
}

/// A wrong module must fail the comparison: the harness is not vacuous.
#[test]
fn harness_rejects_a_wrong_result() {
    let Ok(bin) = iree_bin() else {
        eprintln!("SKIP export_e2e harness_rejects_a_wrong_result: IREE tools absent");
        return;
    };
    let g = after(workloads::seed_scalar(), "");
    // cos instead of sin.
    let mlir = r#"module {
  func.func public @main(%arg0: tensor<f64>, %arg1: tensor<f64>) -> tensor<f64> {
    %0 = stablehlo.multiply %arg0, %arg1 : tensor<f64>
    %1 = stablehlo.cosine %arg0 : tensor<f64>
    %2 = stablehlo.add %0, %1 : tensor<f64>
    return %2 : tensor<f64>
  }
}
"#;
    let inputs = [Tensor::scalar_f64(2.0), Tensor::scalar_f64(7.0)];
    let want = interp::eval(&g, &inputs).unwrap();
    let dir = scratch("wrong");
    let (got, _) = run_iree(&bin, &dir, mlir, &inputs, 1).unwrap();
    assert!(compare("IREE", &want, &got).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `.npy` files written here read back bit for bit (f64, f32, bool; 0-d,
/// 1-d and 3-d), independent of the engines.
#[test]
fn npy_round_trip() {
    let dir = scratch("npy");
    let cases = [
        Tensor::scalar_f64(-0.0),
        Tensor::from_f64([3], vec![f64::NAN, f64::INFINITY, 1e-310]).unwrap(),
        Tensor::from_f32([2, 1, 2], vec![0.1, -2.5, f32::MIN_POSITIVE, 3.0]).unwrap(),
        Tensor::from_bool([2], vec![true, false]).unwrap(),
    ];
    for (i, t) in cases.iter().enumerate() {
        let p = dir.join(format!("{i}.npy"));
        write_npy(&p, t);
        let (shape, v) = read_npy(&p).unwrap();
        assert_eq!(shape, t.shape().dims());
        let want = t.to_f64_vec();
        assert!(v
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The exporter under test.
fn export(g: &Graph) -> std::result::Result<String, String> {
    adjoint::stablehlo::export(g).map_err(|e| e.to_string())
}

/// Deterministic inputs for `g`: floats in [0.25, 2.25] (inside every op's
/// domain: log, sqrt, pow of a positive base), every third bool true.
fn inputs_for(g: &Graph) -> Vec<Tensor> {
    g.param_types()
        .iter()
        .enumerate()
        .map(|(k, ty)| {
            let v: Vec<f64> = (0..ty.numel())
                .map(|i| match ty.dtype {
                    DType::Bool => f64::from(u8::from((i + k) % 3 == 0)),
                    _ => 0.25 + ((i * 37 + k * 11) % 17) as f64 / 8.0,
                })
                .collect();
            Tensor::from_f64_as(ty, &v).unwrap()
        })
        .collect()
}

/// Exports `g`, then checks the module on the engines against the
/// interpreter on `inputs` (see [`check`]).
fn check_export(name: &str, g: &Graph, inputs: &[Tensor]) -> Option<XlaJob> {
    if let Err(why) = iree_bin() {
        eprintln!("SKIP export_e2e {name}: {why}");
        return None;
    }
    let t = std::time::Instant::now();
    // Every op has a mapping: an export error is a failure, not a skip.
    let mlir = export(g).unwrap_or_else(|why| panic!("{name}: export failed: {why}"));
    eprintln!(
        "export_e2e {name}: exported in {:.6}s",
        t.elapsed().as_secs_f64()
    );
    check(name, g, &mlir, inputs)
}

/// Runs the XLA leg of `jobs` and fails the test if any disagree.
fn xla_all(jobs: impl IntoIterator<Item = Option<XlaJob>>) {
    let failed = finish_xla(jobs.into_iter().flatten().collect());
    assert!(
        failed.is_empty(),
        "export_e2e: XLA disagrees or fails on {failed:?}"
    );
}

/// `@main` of a text module after `passes`.
fn text_program(src: &str, passes: &str) -> Graph {
    let m = adjoint::ir::parse_module(src).unwrap_or_else(|e| panic!("{src}\n{e}"));
    let g = m.func("main").expect("@main").clone();
    after(Ok(g), passes)
}

/// One small program per op of docs/ir.md §13, in f64 and (for the float
/// ops) f32.
fn op_programs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dt in ["f64", "f32"] {
        for op in [
            "neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu",
        ] {
            out.push((
                format!("{op}_{dt}"),
                format!(
                    "func @main(%a: {dt}[2,3]) -> {dt}[2,3] {{\n  %r = {op} %a\n  return %r\n}}\n"
                ),
            ));
        }
        for op in ["add", "sub", "mul", "div", "pow", "max", "min"] {
            out.push((
                format!("{op}_{dt}"),
                format!(
                    "func @main(%a: {dt}[2,3], %b: {dt}[3]) -> {dt}[2,3] {{\n  %r = {op} %a, %b\n  return %r\n}}\n"
                ),
            ));
        }
        for op in ["lt", "le", "gt", "ge", "eq"] {
            out.push((
                format!("{op}_{dt}"),
                format!(
                    "func @main(%a: {dt}[2,3], %b: {dt}[2,3]) -> bool[2,3] {{\n  %r = {op} %a, %b\n  return %r\n}}\n"
                ),
            ));
        }
    }
    let fixed: [(&str, &str); 22] = [
        ("const", "func @main(%a: f64[2]) -> (f64[2], f32, bool[2]) {\n  %k = const [-2.5e-3, 1e300] : f64[2]\n  %s = add %a, %k\n  %t = const 0.1 : f32\n  %m = const [true, false] : bool[2]\n  return %s, %t, %m\n}\n"),
        ("select", "func @main(%m: bool[2,3], %a: f64[2,3], %b: f64[3]) -> f64[2,3] {\n  %r = select %m, %a, %b\n  return %r\n}\n"),
        ("broadcast", "func @main(%a: f64[3,1]) -> f64[2,3,4] {\n  %r = broadcast %a shape=[2,3,4]\n  return %r\n}\n"),
        ("reshape", "func @main(%a: f64[2,3]) -> f64[3,2] {\n  %r = reshape %a shape=[3,2]\n  return %r\n}\n"),
        ("transpose", "func @main(%a: f32[2,3,4]) -> f32[4,3,2] {\n  %r = transpose %a perm=[2,1,0]\n  return %r\n}\n"),
        ("slice", "func @main(%a: f64[2,3,4]) -> f64[1,2,2] {\n  %r = slice %a start=[0,1,0] end=[1,3,4] stride=[1,1,2]\n  return %r\n}\n"),
        ("pad", "func @main(%a: f64[2,3]) -> f64[3,5] {\n  %r = pad %a lo=[0,1] hi=[1,1]\n  return %r\n}\n"),
        ("concat", "func @main(%a: f64[2,3], %b: f64[2,1]) -> f64[2,7] {\n  %r = concat %a, %b, %a axis=1\n  return %r\n}\n"),
        ("reduce_sum", "func @main(%a: f64[2,3,4]) -> (f64[3], f64) {\n  %r = reduce_sum %a axes=[2,0]\n  %s = reduce_sum %a axes=[0,1,2]\n  return %r, %s\n}\n"),
        ("reduce_max", "func @main(%a: f32[2,3,4]) -> f32[2,4] {\n  %r = reduce_max %a axes=[1]\n  return %r\n}\n"),
        ("matmul_mm", "func @main(%a: f64[4,3], %b: f64[3,5]) -> f64[4,5] {\n  %r = matmul %a, %b\n  return %r\n}\n"),
        ("matmul_mv_vm_vv", "func @main(%a: f64[4,3], %v: f64[3], %b: f64[3,5]) -> (f64[4], f64[5], f64) {\n  %mv = matmul %a, %v\n  %vm = matmul %v, %b\n  %vv = matmul %v, %v\n  return %mv, %vm, %vv\n}\n"),
        ("matmul_batch", "func @main(%a: f64[2,1,4,3], %b: f64[6,3,5]) -> f64[2,6,4,5] {\n  %r = matmul %a, %b\n  return %r\n}\n"),
        ("matmul_f32", "func @main(%a: f32[4,3], %b: f32[3,5]) -> f32[4,5] {\n  %r = matmul %a, %b\n  return %r\n}\n"),
        ("cast", "func @main(%a: f64[3], %b: f32[3], %m: bool[3]) -> (f32[3], f64[3], f64[3]) {\n  %x = cast %a to=f32\n  %y = cast %b to=f64\n  %z = cast %m to=f64\n  return %x, %y, %z\n}\n"),
        ("iota", "func @main(%a: f64[2,3]) -> f64[2,3] {\n  %i = iota shape=[2,3] axis=1 : f64[2,3]\n  %r = add %a, %i\n  return %r\n}\n"),
        ("and_or_not", "func @main(%a: bool[3], %b: bool[3]) -> (bool[3], bool[3], bool[3]) {\n  %x = and %a, %b\n  %y = or %a, %b\n  %z = not %a\n  return %x, %y, %z\n}\n"),
        ("call", "func @sig_body(%x: f64) -> f64 {\n  %y = sigmoid %x\n  return %y\n}\n\nfunc @sig_vjp(%x: f64, %y: f64, %ct: f64) -> f64 {\n  %one = const 1 : f64\n  %d = sub %one, %y\n  %s = mul %y, %d\n  %g = mul %ct, %s\n  return %g\n}\n\ncustom @sigmoid_c = @sig_body vjp=@sig_vjp\n\nfunc @main(%a: f64) -> f64 {\n  %y = call @sigmoid_c %a\n  return %y\n}\n"),
        ("scan", "func @step(%c: f64, %x: f64[2], %k: f64[2]) -> (f64, f64[2]) {\n  %kx = mul %x, %k\n  %s = reduce_sum %kx axes=[0]\n  %n = add %c, %s\n  return %n, %kx\n}\n\nfunc @main(%init: f64, %xs: f64[5,2], %k: f64[2]) -> (f64, f64[5,2], f64) {\n  %c, %ys = scan %init, %xs, %k body=@step carry=1 xs=1 : (f64, f64[5,2])\n  %c2, %ys2 = scan %c, %xs, %k body=@step carry=1 xs=1 reverse=true\n  return %c, %ys, %c2\n}\n"),
        ("while_cond", "func @small(%x: f64, %lim: f64) -> bool {\n  %a = lt %x, %lim\n  return %a\n}\n\nfunc @double(%x: f64, %lim: f64) -> f64 {\n  %y = add %x, %x\n  return %y\n}\n\nfunc @pos(%x: f64) -> f64 {\n  %y = sqrt %x\n  return %y\n}\n\nfunc @negpart(%x: f64) -> f64 {\n  %y = neg %x\n  return %y\n}\n\nfunc @main(%x: f64, %lim: f64) -> (f64, f64, f64) {\n  %w = while %x, %lim cond=@small body=@double carry=1 : f64\n  %wb = while %x, %lim cond=@small body=@double carry=1 max_trips=3\n  %big = const 100 : f64\n  %p = ge %w, %big\n  %r = cond %p, %wb then=@pos else=@negpart : f64\n  return %w, %wb, %r\n}\n"),
        ("seed_text", "func @main(%x1: f64, %x2: f64) -> f64 {\n  %a = mul %x1, %x2\n  %b = sin %x1\n  %y = add %a, %b\n  return %y\n}\n"),
        ("rnn_scan", RNN),
    ];
    out.extend(fixed.iter().map(|(n, s)| (n.to_string(), s.to_string())));
    out
}

/// A small Elman RNN over a scan: `h = tanh(W h + U x)`, loss `sum(h_t^2)`.
const RNN: &str = "func @cell(%h: f64[3], %x: f64[2], %w: f64[3,3], %u: f64[3,2]) -> (f64[3], f64[3]) {\n  %a = matmul %w, %h\n  %b = matmul %u, %x\n  %s = add %a, %b\n  %n = tanh %s\n  return %n, %n\n}\n\nfunc @main(%h0: f64[3], %xs: f64[4,2], %w: f64[3,3], %u: f64[3,2]) -> f64 {\n  %h, %ys = scan %h0, %xs, %w, %u body=@cell carry=1 xs=1 : (f64[3], f64[4,3])\n  %sq = mul %ys, %ys\n  %l = reduce_sum %sq axes=[0,1]\n  return %l\n}\n";

/// Every op of the op reference, as a small program, on both engines.
#[test]
fn every_op_agrees() {
    // Every program runs even after a failure, so one report lists them all.
    let mut failed = Vec::new();
    let mut jobs = Vec::new();
    for (name, src) in op_programs() {
        match std::panic::catch_unwind(|| {
            let g = text_program(&src, "");
            check_export(&name, &g, &inputs_for(&g))
        }) {
            Ok(job) => jobs.extend(job),
            Err(_) => failed.push(name),
        }
    }
    failed.extend(finish_xla(jobs));
    assert!(
        failed.is_empty(),
        "export_e2e: ops that disagree or fail: {failed:?}"
    );
}

/// The seed example and its gradient after the clean-up passes.
#[test]
fn seed_and_gradient_agree() {
    let g = after(workloads::seed_scalar(), "");
    let a = check_export("seed", &g, &inputs_for(&g));
    let g = after(workloads::seed_scalar(), "grad,simplify,cse,dce");
    xla_all([a, check_export("seed_grad", &g, &inputs_for(&g))]);
}

/// The W4 MLP (f32, batch 2): the loss, then loss and gradient.
#[test]
fn mlp_loss_and_gradient_agree() {
    let g = after(workloads::mlp(DType::F32, 2), "");
    let a = check_export("mlp_loss_f32", &g, &workloads::mlp_inputs(&g).unwrap());
    let g = after(workloads::mlp(DType::F32, 2), "grad,simplify,cse,dce");
    let b = check_export("mlp_grad_f32", &g, &workloads::mlp_inputs(&g).unwrap());
    xla_all([a, b]);
}

/// A W5 Jacobian (small widths), an HVP (forward over reverse on
/// Rosenbrock) and the gradient of the scan RNN.
#[test]
fn jacobian_hvp_and_loop_gradient_agree() {
    let g = after(
        workloads::tanh_chain(&[6, 4, 5]),
        "jacobian,simplify,cse,dce",
    );
    let a = check_export("w5_jacobian", &g, &inputs_for(&g));
    let g = after(workloads::rosenbrock(5), "grad,jvp,simplify,cse,dce");
    let b = check_export("rosenbrock_hvp", &g, &inputs_for(&g));
    let g = text_program(RNN, "grad,simplify,cse,dce");
    // Scaled so that the tanh cells do not saturate: with saturated cells
    // the gradient cancels, and XLA's tanh (off by an ulp) moves it by
    // ~3e-12 relative, beyond the f64 tolerance.
    let small: Vec<Tensor> = inputs_for(&g)
        .iter()
        .map(|t| {
            let v: Vec<f64> = t.to_f64_vec().iter().map(|x| 0.2 * x).collect();
            Tensor::from_f64_as(&t.ty(), &v).unwrap()
        })
        .collect();
    let c = check_export("rnn_grad", &g, &small);
    xla_all([a, b, c]);
}

/// The programs themselves build and evaluate (independent of the engines).
#[test]
fn programs_evaluate_in_the_interpreter() {
    for (name, src) in op_programs() {
        let g = text_program(&src, "");
        interp::eval(&g, &inputs_for(&g)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for g in [
        after(
            workloads::tanh_chain(&[6, 4, 5]),
            "jacobian,simplify,cse,dce",
        ),
        after(workloads::rosenbrock(5), "grad,jvp,simplify,cse,dce"),
        text_program(RNN, "grad,simplify,cse,dce"),
    ] {
        interp::eval(&g, &inputs_for(&g)).unwrap();
    }
}

/// Bit-for-bit agreement of `got` with the interpreter's `want` (any NaN
/// meets any NaN; the sign of zero counts): a zero error for each float
/// dtype present, or a message listing every element that differs.
fn compare_bits(
    engine: &str,
    want: &[Tensor],
    got: &Outputs,
) -> std::result::Result<Worst, String> {
    if want.len() != got.len() {
        return Err(format!(
            "{engine}: {} outputs, want {}",
            got.len(),
            want.len()
        ));
    }
    let mut bad = Vec::new();
    let mut worst: Worst = [None, None];
    for (k, (w, (shape, g))) in want.iter().zip(got).enumerate() {
        if shape.as_slice() != w.shape().dims() {
            return Err(format!("{engine}: output {k} has shape {shape:?}"));
        }
        match w.dtype() {
            DType::F64 => worst[0] = Some(0.0),
            DType::F32 => worst[1] = Some(0.0),
            DType::Bool => {}
        }
        for (i, (a, b)) in w.to_f64_vec().iter().zip(g).enumerate() {
            if !(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())) {
                bad.push(format!("output {k} element {i}: got {b:e}, want {a:e}"));
            }
        }
    }
    if bad.is_empty() {
        Ok(worst)
    } else {
        Err(format!("{engine}: not bit for bit: {}", bad.join("; ")))
    }
}

/// Like [`check_export`], comparing bit for bit on both engines.
fn check_exact(name: &str, g: &Graph, inputs: &[Tensor]) -> Option<XlaJob> {
    let bin = match iree_bin() {
        Ok(b) => b,
        Err(why) => {
            eprintln!("SKIP export_e2e {name}: {why}");
            return None;
        }
    };
    let mlir = export(g).unwrap_or_else(|e| panic!("{name}: {e}"));
    let want = interp::eval(g, inputs).expect("interpreter");
    let dir = scratch(name);
    let (got, t) = run_iree(&bin, &dir, &mlir, inputs, want.len())
        .unwrap_or_else(|e| panic!("{name}: IREE failed: {e}"));
    let worst = compare_bits("IREE", &want, &got).unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!(
        "export_e2e {name}: IREE agrees, worst relative error {} (compile {:.3}s, run {:.3}s)",
        worst_text(&worst),
        t.compile,
        t.run
    );
    Some(XlaJob {
        name: name.to_string(),
        dir,
        n_in: inputs.len(),
        want,
        exact: true,
    })
}

/// `pow` at the special cases of C99 Annex F, on both engines, bit for bit
/// (signed zeros and infinities included), f64 and f32: every case whose
/// result is exact (`±0`, `±1`, `±inf`, NaN). IREE 3.13's `power` gets
/// several of them wrong (docs/export.md, "`pow`"); the exporter's guards
/// must make both engines right.
const POW_SPECIAL: [(f64, f64); 44] = [
    (f64::NAN, 0.0),
    (f64::NAN, -0.0),
    (f64::INFINITY, 0.0),
    (f64::NEG_INFINITY, -0.0),
    (0.0, 0.0),
    (1.0, f64::NAN),
    (1.0, f64::INFINITY),
    (1.0, f64::NEG_INFINITY),
    (1.0, -3.5),
    (-1.0, f64::INFINITY),
    (-1.0, f64::NEG_INFINITY),
    (-1.0, 3.0),
    (-1.0, 2.0),
    (-1.0, -7.0),
    (-1.0, 0.5),
    (-1.0, f64::NAN),
    (-2.0, f64::INFINITY),
    (-2.0, f64::NEG_INFINITY),
    (-0.5, f64::INFINITY),
    (-0.5, f64::NEG_INFINITY),
    (-2.0, 0.5),
    (2.0, f64::INFINITY),
    (0.5, f64::INFINITY),
    (2.0, f64::NEG_INFINITY),
    (0.5, f64::NEG_INFINITY),
    (f64::INFINITY, 2.0),
    (f64::INFINITY, -1.0),
    (f64::NEG_INFINITY, 3.0),
    (f64::NEG_INFINITY, 2.0),
    (f64::NEG_INFINITY, -3.0),
    (f64::NEG_INFINITY, -2.0),
    (f64::NEG_INFINITY, 0.5),
    (f64::NEG_INFINITY, -0.5),
    (0.0, -1.0),
    (-0.0, -1.0),
    (-0.0, 3.0),
    (-0.0, 2.0),
    (-0.0, -2.0),
    (-0.0, 0.5),
    (-0.0, -0.5),
    (0.0, 3.0),
    (0.0, f64::NEG_INFINITY),
    (f64::NAN, 1.0),
    (2.0, f64::NAN),
];

/// The pow special cases as a two-vector program and its inputs, in `dt`.
fn pow_program(dt: &str, cases: &[(f64, f64)]) -> (Graph, Vec<Tensor>) {
    let n = cases.len();
    let g = text_program(
        &format!("func @main(%a: {dt}[{n}], %b: {dt}[{n}]) -> {dt}[{n}] {{\n  %p = pow %a, %b\n  return %p\n}}\n"),
        "",
    );
    let ty = &g.param_types()[0];
    let xs: Vec<f64> = cases.iter().map(|c| c.0).collect();
    let ys: Vec<f64> = cases.iter().map(|c| c.1).collect();
    let inputs = vec![
        Tensor::from_f64_as(ty, &xs).unwrap(),
        Tensor::from_f64_as(ty, &ys).unwrap(),
    ];
    (g, inputs)
}

/// `pow` special cases bit for bit on IREE and XLA, f64 and f32; a
/// negative base with an integer exponent within the usual tolerance (the
/// engines' `power` is `exp(y log x)`-accurate: IREE gives
/// `2^3 = 7.999999999999998`).
#[test]
fn pow_special_cases_agree_on_both_engines() {
    let mut jobs = Vec::new();
    for dt in ["f64", "f32"] {
        let (g, inputs) = pow_program(dt, &POW_SPECIAL);
        let want = interp::eval(&g, &inputs).unwrap();
        // The oracle itself follows C99 (spot checks).
        let w = want[0].to_f64_vec();
        assert_eq!(w[0], 1.0); // pow(NaN, 0)
        assert_eq!(w[9], 1.0); // pow(-1, inf)
        assert_eq!(w[29].to_bits(), (-0.0f64).to_bits()); // pow(-inf, -3)
        assert_eq!(w[34], f64::NEG_INFINITY); // pow(-0, -1)
        assert_eq!(w[35].to_bits(), (-0.0f64).to_bits()); // pow(-0, 3)
        assert_eq!(w[31], f64::INFINITY); // pow(-inf, 0.5)
        jobs.push(check_exact(&format!("pow_special_{dt}"), &g, &inputs));
        let negative: [(f64, f64); 6] = [
            (-2.0, 3.0),
            (-2.0, 2.0),
            (-2.0, -3.0),
            (-1.5, 3.0),
            (-3.0, 1e30),
            (-0.5, 31.0),
        ];
        let (g, inputs) = pow_program(dt, &negative);
        jobs.push(check_export(
            &format!("pow_negative_base_{dt}"),
            &g,
            &inputs,
        ));
    }
    xla_all(jobs);
}

/// Programs at the edges of what the verifier accepts: empty tensors
/// (reductions to `0` and `-inf`, a `matmul` with an empty inner dimension,
/// empty slices and concat operands, zero-trip loops), outputs that are
/// parameters or repeated, a function without parameters, casts of NaN and
/// `-0`. The engines must accept every module and agree with the
/// interpreter.
#[test]
fn edge_programs_agree() {
    let programs: [(&str, &str); 8] = [
        ("empty_reductions", "func @main(%a: f64[0,3], %b: f64[3], %c: f32[2,0]) -> (f64[3], f64[0,3], f64, f32[2]) {\n  %s = reduce_sum %a axes=[0]\n  %m = add %a, %b\n  %t = reduce_sum %a axes=[0,1]\n  %x = reduce_max %c axes=[1]\n  return %s, %m, %t, %x\n}\n"),
        ("empty_matmul", "func @main(%a: f64[2,0], %b: f64[0,3], %v: f32[0], %m: f32[0,4], %c: f64[3,0,2], %d: f64[2,5]) -> (f64[2,3], f32, f32[4], f64[3,0,5]) {\n  %r = matmul %a, %b\n  %s = matmul %v, %v\n  %t = matmul %v, %m\n  %u = matmul %c, %d\n  return %r, %s, %t, %u\n}\n"),
        ("empty_slice_concat", "func @main(%a: f64[4]) -> (f64[0], f64[4], f64[6]) {\n  %e = slice %a start=[2] end=[2] stride=[1]\n  %c = concat %e, %a axis=0\n  %p = pad %a lo=[0] hi=[2]\n  return %e, %c, %p\n}\n"),
        ("outputs_params_repeated", "func @main(%a: f64[2], %m: bool[2]) -> (f64[2], f64[2], f64[2], bool[2]) {\n  %n = neg %a\n  return %a, %n, %n, %m\n}\n"),
        ("no_params", "func @main() -> (f64, f32[2]) {\n  %k = const 2.5 : f64\n  %v = const [-0.0, 1e-30] : f32[2]\n  return %k, %v\n}\n"),
        ("cast_specials", "func @main(%a: f64[2]) -> (f32[2], f64[2]) {\n  %z = const [-0.0, 3.4e39] : f64[2]\n  %s = add %a, %z\n  %c = cast %s to=f32\n  %d = cast %c to=f64\n  return %c, %d\n}\n"),
        ("zero_trip_loops", "func @step(%c: f64, %x: f64[2]) -> (f64, f64[2]) {\n  %s = reduce_sum %x axes=[0]\n  %n = add %c, %s\n  return %n, %x\n}\n\nfunc @small(%x: f64) -> bool {\n  %z = const 0 : f64\n  %a = lt %x, %z\n  return %a\n}\n\nfunc @inc(%x: f64) -> f64 {\n  %y = add %x, %x\n  return %y\n}\n\nfunc @main(%init: f64, %xs: f64[0,2]) -> (f64, f64[0,2], f64, f64) {\n  %c, %ys = scan %init, %xs body=@step carry=1 xs=1 : (f64, f64[0,2])\n  %w = while %init cond=@small body=@inc carry=1 : f64\n  %wb = while %init cond=@small body=@inc carry=1 max_trips=0 : f64\n  return %c, %ys, %w, %wb\n}\n"),
        ("scalar_shapes", "func @main(%a: f64) -> (f64[2,3], f64[1,1], f64) {\n  %b = broadcast %a shape=[2,3]\n  %r = reshape %a shape=[1,1]\n  %s = reshape %r shape=[]\n  return %b, %r, %s\n}\n"),
    ];
    let mut failed = Vec::new();
    let mut jobs = Vec::new();
    for (name, src) in programs {
        match std::panic::catch_unwind(|| {
            let g = text_program(src, "");
            check_export(name, &g, &inputs_for(&g))
        }) {
            Ok(job) => jobs.extend(job),
            Err(_) => failed.push(name.to_string()),
        }
    }
    failed.extend(finish_xla(jobs));
    assert!(
        failed.is_empty(),
        "export_e2e: edge programs that fail: {failed:?}"
    );
}

/// A `revolve` with two states, a carry, a scanned input, an invariant and
/// two stacked outputs (N = 6, snapshots = 2).
const REVOLVE: &str = "func @fwd(%s: f64[2], %u: f64, %x: f64[2], %k: f64[2]) -> (f64[2], f64) {\n  %a = mul %s, %x\n  %b = add %a, %k\n  %t = tanh %b\n  %r = reduce_sum %s axes=[0]\n  %v = add %u, %r\n  return %t, %v\n}\n\nfunc @bwd(%c: f64[2], %s: f64[2], %u: f64, %x: f64[2], %k: f64[2]) -> (f64[2], f64[2], f64) {\n  %m = mul %c, %x\n  %n = add %m, %s\n  %uu = broadcast %u shape=[2]\n  %o = sub %n, %uu\n  %y1 = mul %o, %k\n  %y2 = reduce_sum %o axes=[0]\n  return %o, %y1, %y2\n}\n\nfunc @main(%s0: f64[2], %u0: f64, %c0: f64[2], %xs: f64[6,2], %k: f64[2]) -> (f64[2], f64[6,2], f64[6]) {\n  %c, %y1, %y2 = revolve %s0, %u0, %c0, %xs, %k body=@bwd step=@fwd state=2 carry=1 xs=1 snapshots=2 : (f64[2], f64[6,2], f64[6])\n  return %c, %y1, %y2\n}\n";

/// [`REVOLVE`]'s meaning (docs/ir.md) as two scans: the forward one stacks
/// the states, the reverse one runs the body over them.
const REVOLVE_AS_SCANS: &str = "func @fstep(%s: f64[2], %u: f64, %x: f64[2], %k: f64[2]) -> (f64[2], f64, f64[2], f64) {\n  %a = mul %s, %x\n  %b = add %a, %k\n  %t = tanh %b\n  %r = reduce_sum %s axes=[0]\n  %v = add %u, %r\n  return %t, %v, %s, %u\n}\n\nfunc @bwd(%c: f64[2], %s: f64[2], %u: f64, %x: f64[2], %k: f64[2]) -> (f64[2], f64[2], f64) {\n  %m = mul %c, %x\n  %n = add %m, %s\n  %uu = broadcast %u shape=[2]\n  %o = sub %n, %uu\n  %y1 = mul %o, %k\n  %y2 = reduce_sum %o axes=[0]\n  return %o, %y1, %y2\n}\n\nfunc @main(%s0: f64[2], %u0: f64, %c0: f64[2], %xs: f64[6,2], %k: f64[2]) -> (f64[2], f64[6,2], f64[6]) {\n  %sT, %uT, %ss, %us = scan %s0, %u0, %xs, %k body=@fstep carry=2 xs=1 : (f64[2], f64, f64[6,2], f64[6])\n  %c, %y1, %y2 = scan %c0, %ss, %us, %xs, %k body=@bwd carry=1 xs=3 reverse=true : (f64[2], f64[6,2], f64[6])\n  return %c, %y1, %y2\n}\n";

/// A masked `revolve`: `s' = 2s`, `(b, y) = (b + s, b * s)`, mask
/// `[T, T, F, T, T]` (two trips).
const REVOLVE_MASKED: &str = "func @fwd(%s: f64) -> f64 {\n  %two = const 2 : f64\n  %y = mul %s, %two\n  return %y\n}\n\nfunc @bwd(%b: f64, %s: f64) -> (f64, f64) {\n  %n = add %b, %s\n  %y = mul %b, %s\n  return %n, %y\n}\n\nfunc @main(%m: bool[5], %s0: f64, %b0: f64) -> (f64, f64[5]) {\n  %b, %ys = revolve %m, %s0, %b0 body=@bwd step=@fwd state=1 carry=1 xs=0 snapshots=1 masked=true : (f64, f64[5])\n  return %b, %ys\n}\n";

/// [`REVOLVE_MASKED`] for that mask, unrolled: `s1 = 2 s0`; `t = 1`:
/// `y1 = b0 s1`, `b = b0 + s1`; `t = 0`: `y0 = b s0`, `b += s0`; rows 2..5
/// zero.
const REVOLVE_MASKED_UNROLLED: &str = "func @main(%m: bool[5], %s0: f64, %b0: f64) -> (f64, f64[5]) {\n  %two = const 2 : f64\n  %s1 = mul %s0, %two\n  %y1 = mul %b0, %s1\n  %b1 = add %b0, %s1\n  %y0 = mul %b1, %s0\n  %b = add %b1, %s0\n  %r0 = reshape %y0 shape=[1]\n  %r1 = reshape %y1 shape=[1]\n  %c = concat %r0, %r1 axis=0\n  %ys = pad %c lo=[0] hi=[3]\n  return %b, %ys\n}\n";

/// `revolve` exported as a forward and a reverse `while` agrees, on both
/// engines, with the interpreter; the interpreter's `revolve` equals its
/// meaning written as scans (or unrolled, for the masked form) bit for
/// bit. Also the gradient of the scan RNN under a snapshot budget
/// (`grad{snapshots=2}` reverses the loop with a `revolve`).
#[test]
fn revolve_agrees_with_the_interpreter() {
    let g = text_program(REVOLVE, "");
    let oracle = text_program(REVOLVE_AS_SCANS, "");
    let inputs = inputs_for(&g);
    same_as_oracle(&g, &oracle, &inputs);
    let a = check_export("revolve", &g, &inputs);
    let g = text_program(REVOLVE_MASKED, "");
    let oracle = text_program(REVOLVE_MASKED_UNROLLED, "");
    let inputs = vec![
        Tensor::from_bool([5], vec![true, true, false, true, true]).unwrap(),
        Tensor::scalar_f64(1.5),
        Tensor::scalar_f64(0.5),
    ];
    // Hand-derived: s1 = 3, y1 = 1.5, b = 3.5, y0 = 5.25, b = 5.
    let want = interp::eval(&oracle, &inputs).unwrap();
    assert_eq!(want[0].to_f64_vec(), [5.0]);
    assert_eq!(want[1].to_f64_vec(), [5.25, 1.5, 0.0, 0.0, 0.0]);
    same_as_oracle(&g, &oracle, &inputs);
    let b = check_export("revolve_masked", &g, &inputs);
    let g = text_program(RNN, "grad{snapshots=2},simplify,cse,dce");
    assert!(
        adjoint::ir::print_graph(&g).contains("revolve"),
        "grad{{snapshots=2}} no longer emits revolve"
    );
    let small: Vec<Tensor> = inputs_for(&g)
        .iter()
        .map(|t| {
            let v: Vec<f64> = t.to_f64_vec().iter().map(|x| 0.2 * x).collect();
            Tensor::from_f64_as(&t.ty(), &v).unwrap()
        })
        .collect();
    let c = check_export("rnn_grad_snapshots2", &g, &small);
    xla_all([a, b, c]);
}

/// The interpreter's `revolve` equals `oracle` (its meaning without
/// `revolve`) bit for bit.
fn same_as_oracle(g: &Graph, oracle: &Graph, inputs: &[Tensor]) {
    let got = interp::eval(g, inputs).unwrap();
    let want = interp::eval(oracle, inputs).unwrap();
    for (a, b) in got.iter().zip(&want) {
        let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "interpreter: revolve {a:?} != its scan form {b:?}"
        );
    }
}
