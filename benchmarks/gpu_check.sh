#!/usr/bin/env bash
# GPU measurements for docs/performance.md, sized for one short lease of a CUDA machine.
#   bash benchmarks/gpu_check.sh probe     CUDA tests, paper training speed with and without graphs,
#                                          the fast preset, 50 samples
#   bash benchmarks/gpu_check.sh final     CUDA tests, paper speed with graphs in float32 and in bfloat16
#                                          (precision=bfloat16, unmeasured on GPUs), then presets side by side
#                                          (bench_quality.py) until BUDGET seconds (default 480) have passed
# Results go to $OUT (default benchmarks/results/gpu); a summary is printed last.
set -u
stage=${1:-probe}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$root/benchmarks/results/gpu}
mkdir -p "$out"
export PYTHONPATH=$root/src PYTHONUNBUFFERED=1
cd "$root/benchmarks"
start=$SECONDS
budget=${BUDGET:-480}

run() {  # run NAME COMMAND...: stdout to $out/NAME.json, the error's end on failure
    local name=$1
    shift
    "$@" >"$out/$name.json" 2>"$out/err.txt" || tail -20 "$out/err.txt"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader
    python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)"
    python3 -m pytest -q -p no:cacheprovider --disable-warnings --tb=short "$root/tests/core/test_cuda.py" 2>&1 | tail -40
} >"$out/env.txt" 2>&1
cat "$out/env.txt"
variants=("graphs=paper" "graphs_bf16=paper,precision=bfloat16")
[ "$stage" = probe ] && variants=("eager=paper,cuda_graphs=False" "graphs=paper")
for variant in "${variants[@]}"; do
    run "train100_${variant%%=*}" python3 bench_train.py --device cuda --preset "$variant" --iters 100
done
if [ "$stage" = probe ]; then
    run train_fast python3 bench_train.py --device cuda --preset fast
    run sample50 python3 bench_sample.py --device cuda --num 50
fi
python3 - "$out" <<'EOF'
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
    timeout "$left" python3 bench_quality.py --device cuda --images cell --seeds 0 1 --baseline paper \
        --presets fast "fast400=fast,iters_per_scale=400,coarsest_iters=0,preview_every=100" \
        "reflect350=paper,padding=reflect,iters_per_scale=350,preview_every=100" paper \
        --out "$out/quality_cell" 2>"$out/err.txt" || tail -5 "$out/err.txt"
    cat "$out/quality_cell.md" 2>/dev/null
fi
echo "stage $stage: $((SECONDS - start)) s"
