//! `adjoint run` reports each output under its own name (issue 15): a
//! gradient that is a parameter is `w_grad`, and two outputs computed by
//! one value keep two names.

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

const DOT: &str = "func @f(%x: f64[2], %w: f64[2]) -> f64 {
  %p = mul %x, %w
  %s = reduce_sum %p axes=[0]
  return %s
}
";

const ADD: &str = "func @f(%x: f64, %y: f64) -> f64 {
  %s = add %x, %y
  return %s
}
";

#[test]
fn run_names_a_parameter_gradient_and_shared_values() {
    for engine in ["interp", "jit"] {
        let (ok, out, err) = run_stdin(
            &[
                "run",
                "-",
                "--passes",
                "grad{wrt=w},simplify,cse,dce",
                "--arg",
                "x=[1.5,-2]",
                "--arg",
                "w=[3,0.25]",
                "--engine",
                engine,
            ],
            DOT,
        );
        assert!(ok, "{engine}: {err}");
        assert_eq!(
            out.trim(),
            r#"{"outputs":[{"name":"s","dtype":"f64","shape":[],"data":[4]},{"name":"w_grad","dtype":"f64","shape":[2],"data":[1.5,-2]}]}"#,
            "{engine}"
        );
        let (ok, out, err) = run_stdin(
            &[
                "run",
                "-",
                "--passes",
                "grad,simplify,cse,dce",
                "--arg",
                "x=0.5",
                "--arg",
                "y=2",
                "--engine",
                engine,
            ],
            ADD,
        );
        assert!(ok, "{engine}: {err}");
        assert_eq!(
            out.trim(),
            r#"{"outputs":[{"name":"s","dtype":"f64","shape":[],"data":[2.5]},{"name":"x_grad","dtype":"f64","shape":[],"data":[1]},{"name":"y_grad","dtype":"f64","shape":[],"data":[1]}]}"#,
            "{engine}"
        );
    }
    // `opt` prints the output name in the signature, and `run` reads it
    // back.
    let (ok, out, err) = run_stdin(
        &["opt", "-", "--passes", "grad{wrt=w},simplify,cse,dce"],
        DOT,
    );
    assert!(ok, "{err}");
    assert!(out.contains("-> (f64, %w_grad: f64[2])"), "{out}");
    let (ok, back, err) = run_stdin(&["run", "-", "--arg", "x=[1,2]", "--arg", "w=[0,0]"], &out);
    assert!(ok, "{err}");
    assert!(
        back.contains(r#"{"name":"w_grad","dtype":"f64","shape":[2],"data":[1,2]}"#),
        "{back}"
    );
}
