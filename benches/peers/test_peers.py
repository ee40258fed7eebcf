"""Tests of the peer-comparison tooling.

    python3 -m unittest discover -s benches/peers -p 'test_*.py'            # reader, table, Markdown
    benches/peers/.venv/bin/python -m unittest discover -s benches/peers -p 'test_*.py'   # + numpy references

The reference tests need numpy and are skipped without it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import criterion_results as cr  # noqa: E402
import table  # noqa: E402

try:
    import numpy as np
except ImportError:  # system python without numpy
    np = None


def write_bench(root: str, directory: str, full_id: str | None, median: float, mtime: float | None = None,
                sub: str = "new") -> None:
    d = os.path.join(root, *directory.split("/"), sub)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "estimates.json")
    est = {"point_estimate": median, "standard_error": 1.0,
           "confidence_interval": {"confidence_level": 0.95, "lower_bound": median, "upper_bound": median}}
    with open(path, "w") as f:
        json.dump({"mean": est, "median": est, "median_abs_dev": est, "slope": None, "std_dev": est}, f)
    if full_id is not None:
        with open(os.path.join(d, "benchmark.json"), "w") as f:
            json.dump({"full_id": full_id, "directory_name": directory}, f)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


class CriterionReaderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        # The layouts criterion 0.7 writes (checked against a real run):
        write_bench(self.root, "W1_seed_scalar_grad", "W1_seed_scalar_grad", 100.0)  # flat id
        write_bench(self.root, "W3_rosenbrock_grad/n1000", "W3_rosenbrock_grad/n1000", 2000.0)  # group/function
        write_bench(self.root, "W3_rosenbrock_grad/n/1000000", "W3_rosenbrock_grad/n/1000000", 3e5)  # BenchmarkId
        write_bench(self.root, "W6_hvp_rosenbrock_n10000", "W6_hvp_rosenbrock/n10000", 7000.0)  # "/" in a flat id
        write_bench(self.root, "W5_jacobian/hourglass_dp", "W5_jacobian/hourglass/dp", 500.0)  # variants
        write_bench(self.root, "W5_jacobian/hourglass_forward", "W5_jacobian/hourglass/forward", 900.0)
        write_bench(self.root, "w7/W7_compile_1000op_grad", "w7/W7_compile_1000op_grad", 4e7)  # other group
        write_bench(self.root, "W5_jacobian_diamond/auto", "W5_jacobian_diamond/auto", 300.0)
        write_bench(self.root, "W5_jacobian_diamond/fwd", "W5_jacobian_diamond/fwd", 250.0)
        write_bench(self.root, "W5_jacobian_diamond/rev", "W5_jacobian_diamond/rev", 900.0)
        write_bench(self.root, "W2_sigmoid3_grad", None, 40.0)  # no benchmark.json: path is the id
        write_bench(self.root, "W4_mlp_step_f32", "W4_mlp_step_f32", 1.0, sub="base")  # a baseline only
        self.estimates = cr.read_all(self.root)

    def tearDown(self):
        self.tmp.cleanup()

    def median(self, wid):
        m = cr.match(wid, self.estimates, None)
        return None if m is None else m.median_ns

    def test_flat_nested_and_parameterised_ids(self):
        self.assertEqual(self.median("W1_seed_scalar_grad"), 100.0)
        self.assertEqual(self.median("W3_rosenbrock_grad_n1000"), 2000.0)
        self.assertEqual(self.median("W3_rosenbrock_grad_n1000000"), 3e5)
        self.assertEqual(self.median("W6_hvp_rosenbrock_n10000"), 7000.0)
        self.assertEqual(self.median("W2_sigmoid3_grad"), 40.0)
        self.assertEqual(self.median("W7_compile_1000op_grad"), 4e7)

    def test_n1000_is_not_n1000000(self):
        os.remove(os.path.join(self.root, "W3_rosenbrock_grad", "n1000", "new", "estimates.json"))
        self.estimates = cr.read_all(self.root)
        self.assertEqual(self.median("W3_rosenbrock_grad_n1000000"), 3e5)
        self.assertIsNone(self.median("W3_rosenbrock_grad_n1000"))

    def test_baselines_are_ignored(self):
        self.assertIsNone(self.median("W4_mlp_step_f32"))

    def test_variants_take_the_best_and_list_all(self):
        m = cr.match("W5_jacobian_hourglass", self.estimates, None)
        self.assertEqual(m.median_ns, 500.0)
        self.assertEqual(m.full_id, "W5_jacobian/hourglass/dp")
        self.assertEqual(m.variants, {"dp": 500.0, "forward": 900.0})
        self.assertIsNone(cr.match("W5_jacobian_wide_in", self.estimates, None))

    def test_auto_variant_is_preferred(self):
        m = cr.match("W5_jacobian_diamond", self.estimates, None)
        self.assertEqual((m.median_ns, m.full_id), (300.0, "W5_jacobian_diamond/auto"))
        self.assertEqual(m.variants, {"auto": 300.0, "fwd": 250.0, "rev": 900.0})

    def test_stale_results_are_marked(self):
        write_bench(self.root, "W7_compile_1000op_grad", "W7_compile_1000op_grad", 5e6, mtime=time.time() - 3600)
        est = cr.read_all(self.root)
        self.assertTrue(cr.match("W7_compile_1000op_grad", est, time.time() - 60).stale)
        self.assertFalse(cr.match("W1_seed_scalar_grad", est, time.time() - 60).stale)
        self.assertFalse(cr.match("W7_compile_1000op_grad", est, None).stale)

    def test_w12_budgets_show_none_and_read_memory(self):
        write_bench(self.root, "W12_rnn_long_grad_memory/none", "W12_rnn_long_grad_memory/none", 5e7)
        write_bench(self.root, "W12_rnn_long_grad_memory/memory_128KB", "W12_rnn_long_grad_memory/memory_128KB", 9e7)
        write_bench(self.root, "W12_rnn_long_grad_memory/snapshots_10", "W12_rnn_long_grad_memory/snapshots_10", 4e7)
        m = cr.match("W12_rnn_long_grad_memory", cr.read_all(self.root), None)
        self.assertEqual((m.median_ns, m.full_id), (5e7, "W12_rnn_long_grad_memory/none"))  # not the fastest
        self.assertEqual(cr.read_memory(self.root, "W12_rnn_long_grad_memory"), {})
        with open(os.path.join(self.root, "W12_rnn_long_grad_memory", "memory.json"), "w") as f:
            json.dump({"none": {"working_bytes": 30720000, "body_evals": {}},
                       "memory_128KB": {"working_bytes": 120000, "body_evals": {"step": 57624}}}, f)
        self.assertEqual(cr.read_memory(self.root, "W12_rnn_long_grad_memory"),
                         {"none": 30720000, "memory_128KB": 120000})

    def test_root_follows_criterion_order(self):
        with mock.patch.dict(os.environ, {"CRITERION_HOME": "/x/home", "CARGO_TARGET_DIR": "/y"}):
            self.assertEqual(cr.criterion_root("/repo"), "/x/home")
        env = {k: v for k, v in os.environ.items() if k != "CRITERION_HOME"}
        with mock.patch.dict(os.environ, {**env, "CARGO_TARGET_DIR": "/y/t"}, clear=True):
            self.assertEqual(cr.criterion_root("/repo"), "/y/t/criterion")
        with mock.patch.dict(os.environ, {**env, "CARGO_TARGET_DIR": "rel"}, clear=True):
            self.assertEqual(cr.criterion_root("/repo"), "/repo/rel/criterion")


class TableTest(unittest.TestCase):
    def test_units(self):
        self.assertEqual(table.fmt_time(812.0), "812 ns")
        self.assertEqual(table.fmt_time(3300.0), "3.30 µs")
        self.assertEqual(table.fmt_time(755_000.0), "755 µs")
        self.assertEqual(table.fmt_time(12_345_678.0), "12.3 ms")
        self.assertEqual(table.fmt_time(1.25e9), "1.25 s")
        self.assertEqual(table.fmt_time(None), "—")

    def test_ratio_is_peer_over_adjoint(self):
        self.assertEqual(table.fmt_ratio(3300.0, 1100.0), "3.00×")
        self.assertEqual(table.fmt_ratio(1000.0, 2000.0), "0.50×")
        self.assertEqual(table.fmt_ratio(1.25e9, 5e6), "250×")
        self.assertEqual(table.fmt_ratio(None, 1.0), "—")
        self.assertEqual(table.fmt_ratio(1.0, None), "—")

    def test_peer_cell_variants_skips_and_wrong_answers(self):
        peer = {"error": None, "results": [
            {"id": "W5_jacobian_hourglass", "variant": "jacfwd", "median_ns": 612e3, "ok": True, "check": "ok"},
            {"id": "W5_jacobian_hourglass", "variant": "jacrev", "median_ns": 559e3, "ok": True, "check": "ok"},
            {"id": "W3_rosenbrock_grad_n1000", "variant": None, "median_ns": 4e3, "ok": False, "check": "bad"},
        ], "skipped": [{"id": "W7_compile_1000op_grad", "reason": "eager"}]}
        c = table.peer_cell(peer, "ok", "W5_jacobian_hourglass")
        self.assertEqual((c.ns, c.text), (559e3, "559 µs (jacrev; jacfwd 612 µs)"))
        c = table.peer_cell(peer, "ok", "W3_rosenbrock_grad_n1000")
        self.assertTrue(c.text.endswith("WRONG"))
        self.assertIn("bad", c.note)
        c = table.peer_cell(peer, "ok", "W7_compile_1000op_grad")
        self.assertEqual((c.ns, c.text, c.note), (None, "skipped", "eager"))
        peer["results"][1]["ok"] = False  # the faster jacrev is the figure only while it is right
        c = table.peer_cell(peer, "ok", "W5_jacobian_hourglass")
        self.assertEqual(c.ns, 612e3)
        self.assertIn("some WRONG", c.text)
        c = table.peer_cell(None, "not installed: no wheel", "W1_seed_scalar_grad")
        self.assertEqual((c.ns, c.text), (None, "not installed"))

    def test_bytes(self):
        self.assertEqual(table.fmt_bytes(30731588), "30.7 MB")
        self.assertEqual(table.fmt_bytes(10251524), "10.3 MB")
        self.assertEqual(table.fmt_bytes(131072), "131 KB")
        self.assertEqual(table.fmt_bytes(1024), "1.02 KB")
        self.assertEqual(table.fmt_bytes(512), "512 B")
        self.assertEqual(table.fmt_bytes(None), "—")

    def test_peer_cell_memory_per_variant(self):
        peer = {"error": None, "results": [
            {"id": "W12_rnn_long_grad_memory", "variant": "plain", "median_ns": 5.1e8, "ok": True, "check": "ok",
             "memory_bytes": 30731588},
            {"id": "W12_rnn_long_grad_memory", "variant": "checkpoint", "median_ns": 6.2e8, "ok": True,
             "check": "ok", "memory_bytes": 10251524},
            {"id": "W9_rnn_step_f32", "variant": None, "median_ns": 2e7, "ok": True, "check": "ok"},
        ], "skipped": []}
        c = table.peer_cell(peer, "ok", "W12_rnn_long_grad_memory")
        self.assertEqual(c.text, "510 ms (plain; checkpoint 620 ms)")
        self.assertEqual(c.memory, "30.7 MB (plain; checkpoint 10.3 MB)")
        self.assertEqual(table.peer_cell(peer, "ok", "W9_rnn_step_f32").memory, "")

    def test_memory_columns_only_with_memory_figures(self):
        with tempfile.TemporaryDirectory() as tmp:
            row = {"variant": None, "median_ns": 2e7, "ok": True, "check": "ok"}
            for name in ("jax", "torch"):
                with open(os.path.join(tmp, name + ".json"), "w") as f:
                    json.dump({"error": None, "versions": {}, "skipped": [], "results": [
                        {**row, "id": "W9_rnn_step_f32"},
                        {**row, "id": "W12_rnn_long_grad_memory", "memory_bytes": 30731588}]}, f)
                with open(os.path.join(tmp, name + ".status"), "w") as f:
                    f.write("ok")
            with open(os.path.join(tmp, "adjoint.status"), "w") as f:
                f.write("not run (--no-adjoint)")
            args = mock.Mock(results=tmp, repo=tmp, fresh_after=None, only="W9")
            header, rows, _, _ = table.build(args)
            self.assertNotIn("JAX memory", header)
            self.assertEqual(len(rows[0]), len(header))
            args.only = "W9,W12"
            header, rows, notes, _ = table.build(args)
            self.assertEqual(header[-3:], ["adjoint memory", "JAX memory", "PyTorch memory"])
            self.assertEqual(rows[0][-3:], ["", "", ""])
            self.assertEqual(rows[1][-3:], ["", "30.7 MB", "30.7 MB"])
            self.assertTrue(any(n.startswith("Memory columns") for n in notes))

    def test_select_by_prefix(self):
        self.assertEqual(table.select("W3"), ["W3_rosenbrock_grad_n1000", "W3_rosenbrock_value_n1000",
                                              "W3_rosenbrock_grad_n1000000", "W3_rosenbrock_value_n1000000"])
        self.assertEqual(table.select("W3_rosenbrock_grad_n1000"), ["W3_rosenbrock_grad_n1000"])
        self.assertEqual(table.select("W1,W7"), ["W1_seed_scalar_grad", "W7_compile_1000op_grad"])
        self.assertEqual(table.select(None), table.IDS)


class MarkdownSectionTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "docs", "performance.md")

    def tearDown(self):
        self.tmp.cleanup()

    def read(self):
        with open(self.path) as f:
            return f.read()

    def test_creates_file_with_heading_and_markers(self):
        table.write_section(self.path, "T1\n")
        self.assertEqual(self.read(), f"# Performance\n\n{table.BEGIN}\nT1\n{table.END}\n")

    def test_replaces_only_between_markers(self):
        os.makedirs(os.path.dirname(self.path))
        before = "# Performance\n\n## GEMM choice\n\nfigures by someone else\n\n"
        after = "\n\n## Passes\n\nmore of someone else's text\n"
        with open(self.path, "w") as f:
            f.write(f"{before}{table.BEGIN}\nold table\n{table.END}{after}")
        table.write_section(self.path, "new table\n")
        table.write_section(self.path, "newer table\n")  # idempotent: replaces its own text
        self.assertEqual(self.read(), f"{before}{table.BEGIN}\nnewer table\n{table.END}{after}")

    def test_appends_markers_to_a_file_without_them(self):
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "w") as f:
            f.write("# Performance\n\nother text\n")
        table.write_section(self.path, "T\n")
        self.assertEqual(self.read(), f"# Performance\n\nother text\n\n{table.BEGIN}\nT\n{table.END}\n")

    def test_refuses_unbalanced_markers(self):
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "w") as f:
            f.write(f"x\n{table.END}\ny\n{table.BEGIN}\n")
        with self.assertRaises(SystemExit):
            table.write_section(self.path, "T\n")


@unittest.skipIf(np is None, "needs numpy (run with benches/peers/.venv/bin/python)")
class ReferenceTest(unittest.TestCase):
    """The hand-derived references against central finite differences."""

    def setUp(self):
        import checks
        import workloads as wl

        self.wl, self.checks = wl, checks

    def fd(self, f, x, eps=1e-6):
        cols = [(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(x.size)]
        return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=-1)

    def test_ids_agree(self):
        self.assertEqual(self.wl.ALL_IDS, table.IDS)

    def test_rosenbrock_gradient_and_hvp(self):
        wl = self.wl
        x = wl.rosenbrock_x(9)
        np.testing.assert_allclose(wl.rosenbrock_grad(x), self.fd(wl.rosenbrock_value, x), rtol=1e-6, atol=1e-5)
        v = np.cos(np.arange(9.0))
        hvp_fd = (wl.rosenbrock_grad(x + 1e-6 * v) - wl.rosenbrock_grad(x - 1e-6 * v)) / 2e-6
        np.testing.assert_allclose(wl.rosenbrock_hvp(x, v), hvp_fd, rtol=1e-6, atol=1e-5)

    def test_chain_jacobian(self):
        wl = self.wl
        inp = wl.chain_inputs([6, 3, 5, 4])

        def f(x):
            for w in inp["weights"]:
                x = np.tanh(w @ x)
            return x

        np.testing.assert_allclose(wl.chain_jacobian_reference(inp), self.fd(f, inp["x"]), rtol=1e-6, atol=1e-9)

    def test_mlp_gradients(self):
        wl = self.wl
        rng = np.random.default_rng(0)
        inp = {"x": rng.standard_normal((5, 4)),
               "params": [rng.standard_normal(s) for s in [(4, 3), (3,), (3, 3), (3,)]],
               "labels": np.array([0, 2, 1, 2, 0])}
        loss, grads = self.checks.mlp_loss_and_grads_reference(inp)
        self.assertAlmostEqual(loss, wl.mlp_loss_reference(inp), places=12)
        for k, p in enumerate(inp["params"]):
            def f(flat, k=k, p=p):
                params = list(inp["params"])
                params[k] = flat.reshape(p.shape)
                return wl.mlp_loss_reference({**inp, "params": params})

            np.testing.assert_allclose(grads[k].ravel(), self.fd(f, p.ravel()), rtol=1e-5, atol=1e-8)

    def test_w2_and_w7_references(self):
        wl = self.wl
        primitive, rule = wl.w2_reference()
        self.assertEqual(rule, 0.0)
        self.assertAlmostEqual(primitive / 1.6044e-45, 1.0, places=4)
        x = np.linspace(-0.3, 0.2, 3)
        steps = 5

        def f(x):
            for _ in range(steps):
                x = np.sin(x) * 1.01 + np.cos(x) * 0.5
            return x.sum()

        with mock.patch.object(wl, "W7_STEPS", steps):
            np.testing.assert_allclose(wl.w7_grad_reference(x), self.fd(f, x), rtol=1e-6, atol=1e-9)

    def test_checks_reject_wrong_answers(self):
        wl, checks = self.wl, self.checks
        self.assertTrue(checks.check(wl.W1, [6.583853163452858, 2.0])[0])
        self.assertFalse(checks.check(wl.W1, [float(np.float32(6.583853163452858)), 2.0])[0])
        g = wl.rosenbrock_grad(wl.rosenbrock_x(1000))
        self.assertTrue(checks.check(wl.W3_SMALL, g)[0])
        bad = g.copy()
        bad[500] *= 1.001
        self.assertFalse(checks.check(wl.W3_SMALL, bad)[0])
        self.assertTrue(checks.check(wl.W2, 0.0)[0])
        self.assertFalse(checks.check(wl.W2, 1e-40)[0])

    def test_rnn_gradients_against_finite_differences(self):
        """rnn_loss_and_grads (W9's and W12's reference) on small sizes, every weight."""
        wl = self.wl
        inp = wl.rnn_inputs(seq=6, batch=2, n_in=3, hidden=4, n_out=2)
        _, grads = wl.rnn_loss_and_grads(inp)
        for k, name in enumerate(("wx", "wh", "b", "wo")):
            def f(flat, name=name):
                return wl.rnn_loss_and_grads({**inp, name: flat.reshape(inp[name].shape)})[0]

            np.testing.assert_allclose(grads[k].ravel(), self.fd(f, inp[name].ravel()), rtol=1e-6, atol=1e-10)

    def test_w12_inputs_and_check(self):
        wl, checks = self.wl, self.checks
        inp = wl.w12_inputs()
        self.assertEqual(inp["x"].shape, (10_000, 1, 32))
        self.assertEqual(inp["wh"].shape, (256, 256))
        self.assertEqual(inp["x"][2, 0, 3], np.sin(0.01 * (2 * 1024 + 3)))
        grads = wl.rnn_loss_and_grads(inp)[1]
        self.assertTrue(checks.check(wl.W12, [g.astype(np.float32) for g in grads])[0])
        bad = [g.copy() for g in grads]
        bad[1] *= 1.01
        self.assertFalse(checks.check(wl.W12, bad)[0])


@unittest.skipIf(np is None, "needs numpy (run with benches/peers/.venv/bin/python)")
class HarnessTest(unittest.TestCase):
    """peers.run_peer with a fake peer module: setup check, failures, skips."""

    def run_fake(self, cases, ids):
        import types

        import peers
        import timing

        fake = types.ModuleType("peer_jax")
        fake.versions = lambda: {"jax": "fake"}
        fake.cases = cases
        quick = timing.Plan(warmup_s=0.0, target_sample_s=1e-5, samples=3, min_samples=1, budget_s=0.1,
                            fresh_samples=2)
        with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(sys.modules, {"peer_jax": fake}), \
                mock.patch.object(timing.Plan, "make", staticmethod(lambda q: quick)):
            path = os.path.join(tmp, "jax.json")
            out = peers.run_peer("jax", ids, True, path)
            if out["results"]:
                with open(path) as f:  # saved as it went
                    self.assertEqual(json.load(f)["results"], out["results"])
        return out

    def test_wrong_w1_stops_the_peer(self):
        from case import Case

        def cases(wid):
            if wid == "W1_seed_scalar_grad":  # float32 arithmetic: the classic wrong setup
                yield Case(wid, lambda: (np.float32(2.0) * 7 + np.sin(np.float32(2.0)), 2.0), lambda r: r)
            else:
                raise AssertionError("nothing after a failed W1 may run")

        out = self.run_fake(cases, ["W1_seed_scalar_grad", "W2_sigmoid3_grad"])
        self.assertIn("W1 check failed", out["error"])
        self.assertEqual(out["results"], [])

    def test_failures_wrong_answers_and_skips_are_recorded(self):
        import workloads as wl
        from case import Case, Skip

        def cases(wid):
            if wid == wl.W1:
                yield Case(wid, lambda: (6.583853163452858, 2.0), lambda r: r)
            elif wid == wl.W2:
                yield Case(wid, lambda: 1e-40, lambda r: r)  # wrong answer
            elif wid == wl.W3_SMALL:
                raise RuntimeError("no such op")  # fails while preparing
            elif wid == wl.W6:
                yield Case(wid, lambda: 1 / 0, lambda r: r)  # fails while running
            elif wid == wl.W7:
                yield Skip(wid, "nothing to compile")

        out = self.run_fake(cases, [wl.W1, wl.W2, wl.W3_SMALL, wl.W6, wl.W7])
        self.assertIsNone(out["error"])
        rows = {r["id"]: r for r in out["results"]}
        self.assertTrue(rows[wl.W1]["ok"])
        self.assertGreater(rows[wl.W1]["median_ns"], 0)
        self.assertFalse(rows[wl.W2]["ok"])
        self.assertIsNotNone(rows[wl.W2]["median_ns"])
        self.assertIn("RuntimeError: no such op", rows[wl.W3_SMALL]["check"])
        self.assertIsNone(rows[wl.W3_SMALL]["median_ns"])
        self.assertIn("ZeroDivisionError", rows[wl.W6]["check"])
        self.assertEqual(out["skipped"], [{"id": wl.W7, "reason": "nothing to compile"}])


if __name__ == "__main__":
    unittest.main()
