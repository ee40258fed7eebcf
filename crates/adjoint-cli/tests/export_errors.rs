//! `adjoint export` of a program the verifier rejects: exit 1, one line
//! naming the file, the line:column, the op and the shapes, and no module
//! on standard output or in the `-o` file.

use std::process::Command;

#[test]
fn an_ill_typed_program_is_an_error_not_a_module() {
    let dir = std::env::temp_dir().join(format!("adjoint-export-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("bad.adj");
    std::fs::write(
        &src,
        "func @f(%x: f64[2], %y: f64[3]) -> f64[2] {\n  %z = add %x, %y\n  return %z\n}\n",
    )
    .unwrap();
    let out = dir.join("bad.mlir");
    for to_file in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_adjoint"));
        cmd.arg("export").arg(&src);
        if to_file {
            cmd.arg("-o").arg(&out);
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(1));
        assert!(o.stdout.is_empty(), "a module was written");
        let err = String::from_utf8(o.stderr).unwrap();
        for n in ["2:3", "bad.adj", "add", "f64[2]", "f64[3]"] {
            assert!(err.contains(n), "`{n}` missing from: {err}");
        }
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(!out.exists(), "-o file written for a bad program");
    let _ = std::fs::remove_dir_all(&dir);
}
