#!/usr/bin/env bash
# Every real-GPU check in one run, for a lent GPU machine with no network (the tables the
# README's GPU section and the rightsizing section quote come from here).
#
#   pip wheel --no-deps -w .whl .   # plus SQLAlchemy, Alembic, Mako wheels for the machine's Python
#   bash benchmarks/gpu_device_check.sh OUTDIR
#
# Writes OUTDIR/{gpu.txt,gpu_sampling.txt,tests_gpu.txt,real_run.txt}.
set -uo pipefail
out=${1:-${OUT:-/tmp/xprof-gpu-check}}
mkdir -p "$out"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 XPROF_HOME=/tmp/xprof-gpu-home
xprof() { python3 -m xprof.cli "$@"; }  # the wheel installs no script on PATH

nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv \
    2>&1 | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" \
    2>&1 | tee -a "$out/gpu.txt"

echo "== NVML cost per call and per sample; both policies on one workload"
timeout 240 python3 benchmarks/gpu_sampling.py --real --busy --calls 200 --compare 60 \
    2>&1 | tee "$out/gpu_sampling.txt"

echo "== tests/gpu"
timeout 180 python3 -m pytest -q -p no:cacheprovider -rs tests/gpu 2>&1 | tail -15 \
    | tee "$out/tests_gpu.txt"

echo "== a real training run under xprof run, then its advice"
{
    timeout 150 python3 -m xprof.cli run --objective loss:min --name tiny-lm-h200 \
        -- python3 examples/tiny_lm.py --seconds 75
    xprof show tiny-lm-h200
    xprof advise tiny-lm-h200
    xprof advise tiny-lm-h200 --json
    echo "== the same run's advice with the minimums lowered to 30 s / 10 samples"
    XPROF_ADVISE_MIN_DURATION_S=30 XPROF_ADVISE_MIN_SAMPLES=10 xprof advise tiny-lm-h200
} 2>&1 | tee "$out/real_run.txt"
