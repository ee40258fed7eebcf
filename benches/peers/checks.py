"""Answer checks: every peer's result is compared with a hand-derived numpy value.

`check(workload_id, result)` takes the peer's result converted to numpy and
returns (ok, message).  The references are computed once and cached.
"""

from __future__ import annotations

import functools

import numpy as np

import workloads as wl


@functools.lru_cache(maxsize=None)
def _rosenbrock_grad(n: int) -> np.ndarray:
    return wl.rosenbrock_grad(wl.rosenbrock_x(n))


@functools.lru_cache(maxsize=None)
def _hvp() -> np.ndarray:
    x = wl.rosenbrock_x(wl.W6_SIZE)
    return wl.rosenbrock_hvp(x, np.ones_like(x))


@functools.lru_cache(maxsize=None)
def _jacobian(chain_id: str) -> np.ndarray:
    return wl.chain_jacobian_reference(wl.chain_inputs(wl.W5_CHAINS[chain_id]))


@functools.lru_cache(maxsize=None)
def _mlp() -> tuple[float, tuple[np.ndarray, ...]]:
    return mlp_loss_and_grads_reference(wl.mlp_inputs())


def mlp_loss_and_grads_reference(inp: dict) -> tuple[float, tuple[np.ndarray, ...]]:
    """Loss and parameter gradients of the W4 MLP by hand-written backprop, in float64."""
    params = [p.astype(np.float64) for p in inp["params"]]
    n_layers = len(params) // 2
    acts = [inp["x"].astype(np.float64)]
    h = acts[0]
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i + 1 < n_layers:
            h = np.tanh(h)
            acts.append(h)
    logits = h
    batch = logits.shape[0]
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(batch)
    loss = float(np.mean(-np.log(p[rows, inp["labels"]])))
    dz = p.copy()
    dz[rows, inp["labels"]] -= 1.0
    dz /= batch
    grads: list[np.ndarray] = [None] * len(params)  # type: ignore[list-item]
    for i in reversed(range(n_layers)):
        grads[2 * i] = acts[i].T @ dz
        grads[2 * i + 1] = dz.sum(axis=0)
        if i > 0:
            dh = dz @ params[2 * i].T
            dz = dh * (1.0 - acts[i] ** 2)
    return loss, tuple(grads)


@functools.lru_cache(maxsize=None)
def _lorenz(steps: int) -> tuple[float, np.ndarray, np.ndarray]:
    return wl.lorenz_grad_reference(steps)


@functools.lru_cache(maxsize=None)
def _rnn_long() -> tuple[float, tuple[np.ndarray, ...]]:
    return wl.rnn_loss_and_grads(wl.w12_inputs())


@functools.lru_cache(maxsize=None)
def _rnn() -> tuple[float, tuple[np.ndarray, ...]]:
    return wl.rnn_loss_and_grads(wl.rnn_inputs())


def _close_all(gots, wants, rtol: float, atol_rel: float) -> tuple[bool, str]:
    worst = "ok"
    for got, want in zip(gots, wants):
        scale = float(np.max(np.abs(want))) if np.size(want) else 0.0
        ok, msg = wl.close(got, want, rtol=rtol, atol=atol_rel * scale)
        if not ok:
            return False, msg
        worst = msg
    return True, worst


def check(workload_id: str, result) -> tuple[bool, str]:
    """Compare a peer's numpy result with the reference for that workload."""
    if workload_id == wl.W1:
        got = tuple(float(v) for v in result)
        ok = all(abs(g - w) <= 1e-15 * max(1.0, abs(w)) for g, w in zip(got, wl.W1_EXPECTED))
        return ok, f"value {list(got)} (expected {list(wl.W1_EXPECTED)})"
    if workload_id == wl.W2:
        got = float(np.asarray(result))
        primitive, rule = wl.w2_reference()
        if got == rule:
            return True, f"value {got!r} (the sigmoid rule's exact 0)"
        ok = abs(got - primitive) <= 1e-9 * primitive
        return ok, f"value {got:.6e} (from primitives {primitive:.6e})"
    if workload_id in wl.W3_SIZES:
        want = _rosenbrock_grad(wl.W3_SIZES[workload_id])
        return wl.close(result, want, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(want))))
    if workload_id in wl.W3_VALUE_SIZES:
        got = float(np.asarray(result))
        want = wl.rosenbrock_value(wl.rosenbrock_x(wl.W3_VALUE_SIZES[workload_id]))
        return abs(got - want) <= 1e-12 * abs(want), f"value {got!r} (reference {want!r})"
    if workload_id == wl.W4_LOSS:
        got = float(np.asarray(result))
        want = _mlp()[0]
        return abs(got - want) <= 1e-4 * abs(want), f"loss {got:.6f} (reference {want:.6f})"
    if workload_id == wl.W4:
        loss, grads = result
        want_loss, want_grads = _mlp()
        if not abs(float(loss) - want_loss) <= 1e-4 * abs(want_loss):
            return False, f"loss {float(loss)!r} != reference {want_loss!r}"
        ok, msg = _close_all(grads, want_grads, rtol=1e-3, atol_rel=1e-3)
        return ok, f"loss {float(loss):.6f}; gradients {msg}"
    if workload_id in wl.W5_CHAINS:
        want = _jacobian(workload_id)
        return wl.close(result, want, rtol=1e-9, atol=1e-12 * float(np.max(np.abs(want))))
    if workload_id == wl.W6:
        want = _hvp()
        return wl.close(result, want, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(want))))
    if workload_id == wl.W7:
        want = wl.w7_grad_reference(wl.w7_x())
        return wl.close(result, want, rtol=1e-9, atol=1e-100)
    if workload_id in (wl.W8_SMALL, wl.W8_LARGE):
        loss, g_theta, g_x0 = result
        want_loss, want_theta, want_x0 = _lorenz(wl.W8_STEPS[workload_id])
        if not abs(float(loss) - want_loss) <= 1e-10 * abs(want_loss):
            return False, f"loss {float(loss)!r} != reference {want_loss!r}"
        # The reference gradient is a central difference: about 1e-8 relative
        # at T=1000, and rounding in 1e5 steps leaves about 1e-6 at T=100000.
        ok, msg = _close_all((g_theta, g_x0), (want_theta, want_x0), rtol=1e-5, atol_rel=1e-6)
        return ok, f"loss {float(loss):.10f}; gradients {msg}"
    if workload_id == wl.W8_VALUE:
        got = float(np.asarray(result))
        want = _lorenz(wl.W8_STEPS[workload_id])[0]
        return abs(got - want) <= 1e-10 * abs(want), f"loss {got!r} (reference {want!r})"
    if workload_id == wl.W9:
        loss, grads = result
        want_loss, want_grads = _rnn()
        if not abs(float(loss) - want_loss) <= 1e-4 * abs(want_loss):
            return False, f"loss {float(loss)!r} != reference {want_loss!r}"
        ok, msg = _close_all(grads, want_grads, rtol=1e-3, atol_rel=1e-3)
        return ok, f"loss {float(loss):.7f}; gradients {msg}"
    if workload_id == wl.W10:
        got = tuple(float(v) for v in result)
        ok = all(abs(g - w) <= 1e-12 * abs(w) for g, w in zip(got, wl.W10_EXPECTED))
        return ok, f"value {list(got)} (expected {list(wl.W10_EXPECTED)})"
    if workload_id == wl.W11:
        want = wl.w11_grad_reference(wl.w7_x())
        return wl.close(result, want, rtol=1e-9, atol=1e-300)
    if workload_id == wl.W12:
        # The gradients alone; float32 through 10,000 steps (the cotangent
        # shrinks going back, so the last steps dominate).
        ok, msg = _close_all(result, _rnn_long()[1], rtol=1e-3, atol_rel=1e-3)
        return ok, f"gradients {msg}"
    return False, f"no check for {workload_id}"
