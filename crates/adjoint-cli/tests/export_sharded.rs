//! The scale-out proof, `examples/export/train_sharded.py`: the W4 training
//! step exported with `adjoint export`, run data-parallel over 4 XLA
//! devices through JAX, its averaged gradients checked against
//! `adjoint run` on the full batch. Runs when `ADJOINT_JAX_PYTHON` names a
//! Python with jax (`.ci/run` sets it); prints SKIP otherwise. Also pins the
//! example's program to the W4 workload and tests `--arg NAME=@FILE`.

use adjoint::ir::{parse_module, print_graph, DType, Graph};
use adjoint::workloads;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn adjoint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adjoint"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("spawn adjoint")
}

fn named(g: Graph, name: &str) -> Graph {
    let mut g = g;
    g.set_name(name);
    g
}

/// The text of `examples/export/w4_mlp.adj`: W4 (`workloads::mlp`, f32) at
/// the full batch of 128 (`@step`) and at the per-device batch of 32
/// (`@shard_step`).
fn w4_text() -> String {
    let full = named(workloads::mlp(DType::F32, 128).unwrap(), "step");
    let shard = named(workloads::mlp(DType::F32, 32).unwrap(), "shard_step");
    format!(
        "# W4 (workloads.md): MLP 784-256-256-10, tanh hidden layers, softmax\n\
         # cross-entropy averaged over the batch, f32. @step takes the full batch\n\
         # of 128, @shard_step one device's share of 32 (examples/export/\n\
         # train_sharded.py). Generated from adjoint::workloads::mlp; regenerate\n\
         # with ADJOINT_BLESS=1 cargo test -p adjoint-cli --test export_sharded.\n\n{}\n{}",
        print_graph(&full),
        print_graph(&shard)
    )
}

/// The example's program is W4, exactly as the benches build it.
#[test]
fn example_program_is_w4() {
    let path = root().join("examples/export/w4_mlp.adj");
    let want = w4_text();
    if std::env::var_os("ADJOINT_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap();
    assert_eq!(have, want, "{} is stale (ADJOINT_BLESS=1)", path.display());
    let m = parse_module(&have).unwrap();
    for (f, batch) in [("step", 128), ("shard_step", 32)] {
        let g = m.func(f).unwrap();
        assert_eq!(g.param_types()[0].shape.dims(), &[batch, 784]);
        assert_eq!(g.param_names().len(), 8);
    }
}

/// `--arg NAME=@FILE` reads the value from FILE; a missing file is an
/// error (exit 1) naming the argument and the path.
#[test]
fn arg_value_from_a_file() {
    let dir = std::env::temp_dir().join(format!("adjoint-argfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("f.adj");
    std::fs::write(
        &src,
        "func @f(%x: f64[2,2], %y: f64) -> f64[2,2] {\n  %r = mul %x, %y\n  return %r\n}\n",
    )
    .unwrap();
    let val = dir.join("x.json");
    std::fs::write(&val, "[[1, 2],\n [3, -0.5]]\n").unwrap();
    let s = src.to_str().unwrap();
    let o = adjoint(&[
        "run",
        s,
        &format!("--arg=x=@{}", val.display()),
        "--arg=y=2",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("\"shape\":[2,2],\"data\":[2,4,6,-1]"), "{out}");
    let missing = dir.join("nope.json");
    let o = adjoint(&[
        "run",
        s,
        &format!("--arg=x=@{}", missing.display()),
        "--arg=y=2",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains("--arg x=@") && err.contains("nope.json"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the example: exit 0 and its agreement line, or SKIP without JAX.
#[test]
fn sharded_example_agrees_with_adjoint_run() {
    let Some(python) = std::env::var_os("ADJOINT_JAX_PYTHON") else {
        eprintln!(
            "SKIP export_sharded: ADJOINT_JAX_PYTHON is not set (benches/export/setup.sh \
             with ADJOINT_WITH_JAX=1 installs jax; .ci/run sets it)"
        );
        return;
    };
    let script = root().join("examples/export/train_sharded.py");
    let out = Command::new(python)
        .arg(&script)
        .arg("--adjoint")
        .arg(env!("CARGO_BIN_EXE_adjoint"))
        .current_dir(root())
        .output()
        .expect("spawn python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(0), "train_sharded.py failed");
    assert!(
        stdout.contains("4 devices") && stdout.contains("OK: the sharded gradients agree"),
        "{stdout}"
    );
    assert!(Path::new(&script).is_file());
}
