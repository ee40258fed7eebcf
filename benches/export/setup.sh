#!/usr/bin/env bash
# Installs the engines for the StableHLO end-to-end tests (tests/export_e2e.rs)
# into a virtualenv OUTSIDE the clone, then prints the directory holding
# `iree-compile` and `iree-run-module` (the value for ADJOINT_IREE_BIN).
#
#   ADJOINT_IREE_VENV   venv location (default $HOME/.cache/adjoint/iree-venv)
#   ADJOINT_WITH_JAX=1  also install jax[cpu] for the XLA leg
#
# Versions are pinned; a failed install exits non-zero (CI must not skip).
set -euo pipefail
IREE_VERSION=3.13.0
JAX_VERSION=0.10.2
VENV="${ADJOINT_IREE_VENV:-$HOME/.cache/adjoint/iree-venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV" >&2
fi
want() { "$VENV/bin/python" -m pip show "$1" 2>/dev/null | grep -qx "Version: $2"; }
if ! want iree-base-compiler "$IREE_VERSION" || ! want iree-base-runtime "$IREE_VERSION"; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "iree-base-compiler==$IREE_VERSION" "iree-base-runtime==$IREE_VERSION" >&2
fi
if [ "${ADJOINT_WITH_JAX:-0}" = 1 ] && ! want jax "$JAX_VERSION"; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "jax[cpu]==$JAX_VERSION" >&2
fi
for tool in iree-compile iree-run-module; do
  if [ ! -x "$VENV/bin/$tool" ]; then
    echo "setup.sh: $tool missing from $VENV/bin after install" >&2
    exit 1
  fi
done
echo "$VENV/bin"
