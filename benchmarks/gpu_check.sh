#!/usr/bin/env bash
# GPU measurements for docs/performance.md, sized for one short lease of a CUDA machine.
#   bash benchmarks/gpu_check.sh final     issue 8's targets: the CUDA tests, the fast preset at 250 px with its
#                                          two samples per step at the coarse scales and with one (what the
#                                          batch costs on a GPU), 50 samples, the paper preset's speed (100
#                                          iterations per scale, graphs, PenaltyConv2d: the second lease's
#                                          27.8 s again); then fast's quality with two samples per step and
#                                          with one (bench_quality.py) until BUDGET seconds (default 420)
#   bash benchmarks/gpu_check.sh probe     the first lease's commands: paper speed with and without graphs,
#                                          the fast preset, 50 samples
#   DEVICE=cpu SMOKE=1 bash benchmarks/gpu_check.sh final
#                                          the same commands on a CPU at 32 px with 2 iterations per scale: a
#                                          check of this script before a lease is spent on it
# Results go to $OUT (default benchmarks/results/gpu/STAGE); a summary is printed last. The second lease's
# runs of this stage (torch's critic convs, bfloat16, bench_penalty.py) are in benchmarks/results/gpu/final.
set -u
stage=${1:-final}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/benchmarks/results/gpu/$stage}
mkdir -p "$out"
export PYTHONPATH=$root/src PYTHONUNBUFFERED=1
cd "$root/benchmarks"
start=$SECONDS
budget=${BUDGET:-420}
device=${DEVICE:-cuda}
py=${PYTHON:-python3}  # the interpreter with torch and this package's requirements
small=()      # bench_train / bench_sample arguments that shrink every run in SMOKE mode
quick=""      # preset overrides for bench_quality in SMOKE mode
if [ -n "${SMOKE:-}" ]; then
    small=(--max-size 32 --iters 2)
    quick=",iters_per_scale=2,coarsest_iters=4"
fi

run() {  # run NAME COMMAND...: stdout to $out/NAME.json, the error's end on failure
    local name=$1
    shift
    "$@" >"$out/$name.json" 2>"$out/err.txt" || tail -20 "$out/err.txt"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader 2>&1
    "$py" -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)"
    "$py" -m pytest -q -p no:cacheprovider --disable-warnings --tb=short "$root/tests/core/test_cuda.py" 2>&1 | tail -40
} >"$out/env.txt" 2>&1
cat "$out/env.txt"
if [ "$stage" = probe ]; then
    for variant in "eager=paper,cuda_graphs=False" "graphs=paper"; do
        run "train100_${variant%%=*}" "$py" bench_train.py --device "$device" --preset "$variant" --iters 100
    done
    run train_fast "$py" bench_train.py --device "$device" --preset fast
    run sample50 "$py" bench_sample.py --device "$device" --num 50
else
    for variant in "fast=fast" "fast_b1=fast,coarse_batch=1"; do
        run "train_${variant%%=*}" "$py" bench_train.py --device "$device" --preset "$variant" "${small[@]}"
    done
    run sample50 "$py" bench_sample.py --device "$device" --num 50 "${small[@]}"
    run train100_graphs_pconv "$py" bench_train.py --device "$device" --preset graphs_pconv=paper --iters 100 \
        "${small[@]}"
fi
"$py" - "$out" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for path in sorted(out.glob("train*.json")):
    text = path.read_text().strip()
    if not text:
        print(path.stem, "failed"); continue
    r = json.loads(text)
    per = " ".join(f"{s['iters_per_s']:.0f}" for s in r["scales"])
    print(f"{path.stem}: {r['total_seconds']} s, {r['num_scales']} scales, peak {r['peak_memory_mb']} MB, it/s per scale: {per}")
sample = out / "sample50.json"
if sample.exists():
    print("sample50:", sample.read_text().strip())
EOF
if [ "$stage" = final ]; then
    left=$((budget - (SECONDS - start)))
    if [ "$left" -gt 0 ]; then  # timeout 0 would mean no limit
        timeout "$left" "$py" bench_quality.py --device "$device" --images cell texture --seeds 0 --baseline fast \
            --presets "fast=fast$quick" "fast-b1=fast,coarse_batch=1$quick" ${small:+--max-size 32} \
            --out "$out/quality" 2>"$out/err.txt" || tail -5 "$out/err.txt"
    fi
fi
echo "stage $stage: $((SECONDS - start)) s"
