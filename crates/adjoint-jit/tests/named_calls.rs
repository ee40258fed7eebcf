//! Calls by name, allocated outputs, and the `call_f64` dtype message
//! (issue 15).

use adjoint_ir::{parse_module, Tensor};
use adjoint_jit::{compile, JitOptions};

fn compile_src(src: &str) -> adjoint_jit::CompiledFn {
    let m = parse_module(src).unwrap();
    compile(m.main_func().unwrap(), &JitOptions::default()).unwrap()
}

const AFFINE: &str = "func @f(%x: f64[2], %w: f64[2]) -> (f64, f64[2]) {
   %p = mul %x, %w
   %s = reduce_sum %p axes=[0]
   %d = sub %x, %w
   return %s, %d
 }";

#[test]
fn named_calls_bind_by_name_not_position() {
    let f = compile_src(AFFINE);
    assert_eq!(f.input_names(), ["x", "w"]);
    assert_eq!(f.output_names(), ["s", "d"]);
    let (x, w) = ([1.0, 2.0], [10.0, 20.0]);
    // Swapped order, same result: the names bind.
    let a = f.call_named(&[("x", &x[..]), ("w", &w[..])]).unwrap();
    let b = f.call_named(&[("w", &w[..]), ("x", &x[..])]).unwrap();
    assert_eq!(a, b);
    assert_eq!(a["s"], [50.0]);
    assert_eq!(a["d"], [-9.0, -18.0]);
    assert_eq!(a.get("x"), None);
    // The positional forms agree.
    let pos = f.eval_f64(&[&x, &w]).unwrap();
    assert_eq!(a.values(), &pos[..]);
    let (mut s, mut d) = ([0.0], [0.0; 2]);
    f.call_f64(&[&x, &w], &mut [&mut s, &mut d]).unwrap();
    assert_eq!((s.to_vec(), d.to_vec()), (pos[0].clone(), pos[1].clone()));
    let named: Vec<(String, Vec<f64>)> = a.into_iter().collect();
    assert_eq!(named[1], ("d".to_string(), vec![-9.0, -18.0]));
    // Tensors by name.
    let xt = Tensor::from_f64([2], x.to_vec()).unwrap();
    let wt = Tensor::from_f64([2], w.to_vec()).unwrap();
    let r = f.run_named(&[("w", &wt), ("x", &xt)]).unwrap();
    assert_eq!(r["s"].to_f64_vec(), [50.0]);
    // Wrong lengths are the positional call's errors.
    let e = f.call_named(&[("x", &x[..1]), ("w", &w[..])]).unwrap_err();
    assert!(e.message.contains("input 0 must be f64[2]"), "{e}");
}

#[test]
#[should_panic(expected = "no output named `nope`; the outputs are: s, d")]
fn indexing_by_an_unknown_name_lists_the_outputs() {
    let f = compile_src(AFFINE);
    let out = f
        .call_named(&[("x", &[1.0, 2.0][..]), ("w", &[3.0, 4.0][..])])
        .unwrap();
    let _ = &out["nope"];
}

#[test]
fn call_f64_names_the_input_or_output_that_is_not_f64() {
    let f = compile_src(
        "func @f(%x: f64, %m: f32[3]) -> f64 {
           %y = neg %x
           return %y
         }",
    );
    let e = f
        .call_f64(&[&[1.0], &[1.0, 2.0, 3.0]], &mut [&mut [0.0]])
        .unwrap_err();
    assert!(
        e.message.contains("input 1 (%m) is f32[3]") && e.message.contains("use `call`"),
        "{e}"
    );
    assert!(f.eval_f64(&[&[1.0], &[1.0, 2.0, 3.0]]).is_err());
    let g = compile_src(
        "func @g(%x: f64) -> (f64, bool) {
           %z = const 0.0 : f64
           %b = lt %x, %z
           return %x, %b
         }",
    );
    let e = g.eval_f64(&[&[1.0]]).unwrap_err();
    assert!(e.message.contains("output 1 (%b) is bool"), "{e}");
}
