//! `adjoint run` names its outputs, and derivative outputs keep their
//! names through clean-up (issue 15).

use std::io::Write;
use std::process::{Command, Stdio};

fn run_stdin(args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adjoint"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn adjoint");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let o = child.wait_with_output().expect("wait");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const SRC: &str = "func @f(%x: f64, %y: f64) -> f64 {
  %t = tanh %y
  %s = sqrt %x
  %r = add %t, %s
  return %r
}
";

#[test]
fn run_names_gradient_outputs_after_cleanup_on_both_engines() {
    // d/dy (tanh y + sqrt x) = 1 - tanh² 0 = 1 at y = 0.
    for engine in ["interp", "jit"] {
        let (ok, out, err) = run_stdin(
            &[
                "run",
                "-",
                "--passes",
                "grad{wrt=y},simplify,cse,dce",
                "--arg",
                "x=4",
                "--arg",
                "y=0",
                "--engine",
                engine,
            ],
            SRC,
        );
        assert!(ok, "{engine}: {err}");
        assert_eq!(
            out.trim(),
            r#"{"outputs":[{"name":"r","dtype":"f64","shape":[],"data":[2]},{"name":"y_grad","dtype":"f64","shape":[],"data":[1]}]}"#,
            "{engine}"
        );
    }
    let (ok, out, err) = run_stdin(
        &["opt", "-", "--passes", "grad{wrt=y},simplify,cse,dce"],
        SRC,
    );
    assert!(ok, "{err}");
    assert!(out.contains("return %r, %y_grad"), "{out}");
}

#[test]
fn check_json_is_unchanged() {
    let (ok, out, err) = run_stdin(
        &["check", "-", "--arg", "x=4", "--arg", "y=0.5", "--json"],
        SRC,
    );
    assert!(ok, "{err}");
    let out = out.trim();
    assert!(
        out.starts_with(r#"{"pass":true,"inputs":[{"name":"x","numel":1,"reverse_abs":"#),
        "{out}"
    );
    assert!(out.ends_with(r#","pass":true}]}"#), "{out}");
}

#[test]
fn chain_json_is_unchanged() {
    let (ok, out, err) = run_stdin(&["chain", "-"], "2\n1 100 200\n100 1 200\n");
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "{\"optimal\": 10400, \"tangent\": 40000, \"adjoint\": 40000, \"bracketing\": \"F2·F1 [dense]\"}"
    );
}
