//! The kernel IR printer: `CompiledFn::plan` lists buffers, steps,
//! accesses and expressions with their ids (`b0`, `a1`, `e2`, `mm0`).

use adjoint_ir::{GraphBuilder, TensorType};
use adjoint_jit::{compile, JitOptions};

#[test]
fn a_fused_reduction_prints_its_buffers_exprs_and_reduction() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([8]));
    let y = (x * x).exp().sum();
    let g = b.build(&[y]).unwrap();
    let f = compile(&g, &JitOptions::default()).unwrap();
    let text = f.plan();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "arena: 0 bytes", "{text}");
    assert_eq!(lines[1], "buffers:", "{text}");
    assert_eq!(
        lines[2],
        format!("    b0 = in0 f64 x8 ({})", x.id()),
        "{text}"
    );
    assert_eq!(
        lines[3],
        format!("    b1 = out0 f64 x1 ({})", y.id()),
        "{text}"
    );
    let expected = [
        "    a0 = b0 f64 offset 0 outer [] inner [1]",
        "    a1 = b1 f64 offset 0 outer [] inner [0]",
        "    e0: f64 = load a0",
        "    e1: f64 = mul e0, e0",
        "    e2: f64 = exp e1",
        "    reduce_sum e2 -> a1",
    ];
    // The label names the region's members: mul, exp and the sum.
    assert_eq!(
        lines[4],
        "step 0: kernel [region 0: %1 %2 %3] outer [] inner [8], 3 exprs, 0 stores, 1 reductions",
        "{text}"
    );
    assert_eq!(&lines[5..], &expected[..], "{text}");
}

#[test]
fn a_matmul_prints_its_descriptor_and_buffers() {
    let b = GraphBuilder::new("f");
    let a = b.param("a", TensorType::f64([2, 3]));
    let w = b.param("w", TensorType::f64([3, 4]));
    let g = b.build(&[a.matmul(w)]).unwrap();
    let f = compile(&g, &JitOptions::default()).unwrap();
    let text = f.plan();
    assert!(
        text.lines()
            .any(|l| l == "step 0: matmul mm0 f64 2x3x4 (1 batches) b0 @ b1 -> b2"),
        "{text}"
    );
    assert!(text.contains("    b2 = out0 f64 x8 ("), "{text}");
}

#[test]
fn padded_accesses_print_their_valid_ranges() {
    let b = GraphBuilder::new("f");
    let x = b.param("x", TensorType::f64([4]));
    let p = x.exp().pad(&[1], &[0]);
    let q = x.pad(&[0], &[1]);
    let g = b.build(&[p + q]).unwrap();
    let f = compile(&g, &JitOptions::default()).unwrap();
    let text = f.plan();
    assert!(text.contains(" valid [1+4]"), "{text}");
    assert!(text.contains("masked e"), "{text}");
}
