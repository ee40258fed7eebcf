//! End-to-end tests of the `adjoint` binary: outputs, exit codes, and that
//! no input makes it panic.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_adjoint"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(root())
        .output()
        .expect("spawn adjoint")
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn adjoint");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean_failure(o: &Output, code: i32) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(!err.contains("internal error"), "internal error: {err}");
}

#[test]
fn run_seed_example_on_both_engines() {
    for engine in ["interp", "jit"] {
        let o = run(&[
            "run",
            "examples/seed.adj",
            "--arg",
            "x1=2",
            "--arg",
            "x2=7",
            "--engine",
            engine,
        ]);
        assert!(o.status.success(), "{engine}: {}", stderr(&o));
        assert_eq!(
            stdout(&o).trim(),
            r#"{"outputs":[{"name":"y","dtype":"f64","shape":[],"data":[14.909297426825681]}]}"#
        );
    }
}

#[test]
fn run_default_engine_is_jit_and_takes_lists() {
    let src = "func @g(%v: f32[2,2]) -> f32[2,2] {\n  %y = add %v, %v\n  return %y\n}\n";
    let o = run_stdin(&["run", "-", "--arg", "v=[[0.1,1],[2,3]]"], src.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        r#"{"outputs":[{"name":"y","dtype":"f32","shape":[2,2],"data":[0.2,2,4,6]}]}"#
    );
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let cases: &[&[&str]] = &[
        &["run", "examples/seed.adj", "--arg", "x1=2"],
        &[
            "run",
            "examples/seed.adj",
            "--arg",
            "x1=2",
            "--arg",
            "x2=[1,2]",
        ],
        &["run", "examples/seed.adj", "--arg", "x1=2", "--arg", "zz=1"],
        &[
            "run",
            "examples/seed.adj",
            "--arg",
            "x1=true",
            "--arg",
            "x2=1",
        ],
        &[
            "run",
            "examples/seed.adj",
            "--func",
            "nope",
            "--arg",
            "x1=1",
        ],
        &["run", "does/not/exist.adj"],
    ];
    for args in cases {
        let o = run(args);
        assert_clean_failure(&o, 1);
        let err = stderr(&o);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("adjoint: "), "{err}");
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_clean_failure(&run(&["frobnicate"]), 2);
    assert_clean_failure(&run(&["run"]), 2);
    assert_clean_failure(&run(&["run", "x.adj", "--engine", "gpu"]), 2);
}

#[test]
fn parse_errors_carry_line_and_column() {
    let o = run_stdin(
        &["print", "-"],
        b"func @f(%x: f64) -> f64 {\n  %y = frob %x\n  return %y\n}\n",
    );
    assert_clean_failure(&o, 1);
    assert!(stderr(&o).contains("2:"), "{}", stderr(&o));
}

#[test]
fn garbage_never_panics() {
    let valid = std::fs::read("examples/seed.adj").unwrap_or_default();
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00],
        b"func".to_vec(),
        b"func @f(%x: f64[99999999999,99999999999]) -> f64 { return %x }".to_vec(),
        b"}}}}".to_vec(),
        "[".repeat(100_000).into_bytes(),
    ];
    // Deterministic mutations of a valid file.
    let mut state: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..40 {
        let mut v =
            std::fs::read(root().join("examples/seed.adj")).unwrap_or_else(|_| valid.clone());
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if v.is_empty() {
                break;
            }
            let i = (state as usize) % v.len();
            match state % 3 {
                0 => {
                    v.remove(i);
                }
                1 => v.insert(i, b"%[]{}:,=@#\n0x"[(state >> 8) as usize % 13]),
                _ => v[i] = (state >> 16) as u8,
            }
        }
        inputs.push(v);
    }
    for input in inputs {
        for cmd in [
            &["print", "-"][..],
            &["dot", "-"],
            &["run", "-", "--arg", "x1=1", "--arg", "x2=2"],
        ] {
            let o = run_stdin(cmd, &input);
            let code = o.status.code();
            assert!(
                code == Some(0) || code == Some(1),
                "{cmd:?}: {code:?} {}",
                stderr(&o)
            );
            assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        }
    }
}

#[test]
fn chain_prints_json_and_line_numbered_errors() {
    let o = run_stdin(
        &["chain", "-"],
        b"# q then m n E\n3\n50 1000 60000\n5 50 300\n1 5 10\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        r#"{"optimal": 60310, "tangent": 60310000, "adjoint": 60310, "bracketing": "(F3·F2)·F1 [adjoint|adjoint]"}"#
    );
    let o = run_stdin(&["chain", "-"], b"2\n1 100 200\n100 1 x\n");
    assert_clean_failure(&o, 1);
    assert!(stderr(&o).contains("line 3"), "{}", stderr(&o));
}

#[test]
fn check_passes_on_the_seed_and_reports_json() {
    let o = run(&[
        "check",
        "examples/seed.adj",
        "--arg",
        "x1=2",
        "--arg",
        "x2=7",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("PASS"), "{}", stdout(&o));
    let o = run(&[
        "check",
        "examples/seed.adj",
        "--arg",
        "x1=2",
        "--arg",
        "x2=7",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("{\"pass\":true,\"inputs\":[{\"name\":\"x1\""),
        "{out}"
    );
    assert!(out.contains("\"name\":\"x2\""), "{out}");
}

#[test]
fn opt_prints_banners_and_errors_list_valid_passes() {
    let o = run(&[
        "opt",
        "examples/seed.adj",
        "--passes",
        "grad,simplify,cse,dce",
        "--print-after=all",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for p in ["grad", "simplify", "cse", "dce"] {
        assert!(err.contains(&format!("IR after {p}")), "{err}");
    }
    assert!(stdout(&o).contains("return %y, %x1_grad"), "{}", stdout(&o));
    let o = run(&["opt", "examples/seed.adj", "--passes", "gard"]);
    assert_clean_failure(&o, 1);
    assert!(stderr(&o).contains("valid passes: grad"), "{}", stderr(&o));
}

#[test]
fn run_reports_clif_disasm_and_arena() {
    let o = run(&[
        "run",
        "examples/seed.adj",
        "--arg",
        "x1=2",
        "--arg",
        "x2=7",
        "--dump-clif",
        "--disasm",
        "--arena",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("function u0:0"), "no CLIF: {err}");
    assert!(err.contains("arena: "), "no arena report: {err}");
    assert!(err.to_lowercase().contains("ret"), "no disassembly: {err}");
    assert!(stdout(&o).contains("14.909297426825681"));
    let o = run(&[
        "run",
        "examples/seed.adj",
        "--arg",
        "x1=2",
        "--arg",
        "x2=7",
        "--engine",
        "interp",
        "--arena",
    ]);
    assert_clean_failure(&o, 1);
}
