#!/bin/sh
# The Hessian benchmark of issue 11 (bench/hessian_bench.py), in one run:
# installs Debian's python3-torch when /usr/bin/python3 cannot import torch
# (as root), builds the CLI and the C++ benchmarks, then runs it. Arguments go
# to hessian_bench.py: bench/run_hessian.sh --doc docs/benchmarks.md
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
if ! "$PY" -c "import torch" 2>/dev/null; then
  apt-get install -y --no-install-recommends python3-torch
fi
cmake --build build --target matcalc matcalc_bench
exec "$PY" bench/hessian_bench.py "$@"
