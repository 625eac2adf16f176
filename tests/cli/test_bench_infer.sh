#!/usr/bin/env bash
# dp-bench infer: flags, JSON fields, the layer profile, usage errors, and bf16 where the CPU (or
# oneDNN capped by DNNL_MAX_CPU_ISA) lacks AVX512-BF16: a clear DP_ERR_UNSUPPORTED, not a crash.
. "$(dirname "$0")/lib.sh"
cli_begin bench_infer

expect 0 "--help" -- "$bench" infer --help
mentions "--arch"
mentions "--profile"

quick=(--seconds 0.2 --warmup 0.05)
expect 0 "resnet18_cifar json" -- "$bench" infer --arch resnet18_cifar --batch 2 --threads 1 "${quick[@]}" --json "$tmp/r.json"
mentions "img/s"
if "$py" - "$tmp/r.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
need = ["img_per_s", "arch", "batch", "threads", "precision", "iterations", "seconds", "machine", "command", "commit"]
missing = [k for k in need if k not in j]
assert not missing, "missing %s" % missing
assert j["img_per_s"] > 0 and j["iterations"] >= 1 and j["seconds"] > 0, j
assert j["machine"]["isa"] and j["machine"]["load_avg_1m"] >= 0, j["machine"]
assert j["arch"] == "resnet18_cifar" and j["batch"] == 2 and j["threads"] == 1 and j["precision"] == "fp32", j
# img_per_s is derived from the same run
assert abs(j["img_per_s"] - j["iterations"] * j["batch"] / j["seconds"]) < 1e-6 * j["img_per_s"], j
EOF
then ok; else bad "JSON fields of infer"; fi

expect 0 "profile" -- "$bench" infer --arch mobilenetv2_cifar "${quick[@]}" --profile --json "$tmp/p.json"
mentions "per-layer profile"
mentions "layers.0.conv1"
if "$py" - "$tmp/p.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))["profile"]
assert len(p) > 40, len(p)
assert all(not l["impl"].startswith("ref") for l in p), [l for l in p if l["impl"].startswith("ref")]
assert abs(sum(l["share_pct"] for l in p) - 100) < 0.5
assert all(l["batch"] == 1 and l["calls_per_batch"] == 1 for l in p), p[0]
EOF
then ok; else bad "profile JSON"; fi

expect 0 "reference backend" -- "$bench" infer --arch resnet18_cifar --backend reference --seconds 0.05 --warmup 0
expect 0 "json to stdout" -- "$bench" infer --arch resnet18 --size 40 "${quick[@]}" --json -
mentions '"img_per_s"'

expect 2 "missing --arch" -- "$bench" infer --seconds 0.1
mentions "--arch is required"
expect 2 "--batch 0" -- "$bench" infer --arch resnet18 --batch 0
expect 2 "--size 16" -- "$bench" infer --arch resnet18 --size 16
expect 2 "bad precision" -- "$bench" infer --arch resnet18 --precision fp8
expect 2 "unknown arch" -- "$bench" infer --arch resnet5000 --seconds 0.1
mentions "--arch: 'resnet5000' is not resnet18"

# bf16: runs where the CPU supports it; with oneDNN capped below AVX512-BF16 it must be refused.
if "$bench" infer --arch resnet18_cifar --precision bf16 "${quick[@]}" --json "$tmp/b.json" >"$tmp/out" 2>&1; then
    if grep -q '"precision":.*"bf16"' "$tmp/b.json"; then ok; else bad "bf16 JSON precision"; fi
else
    mentions "DP_ERR_UNSUPPORTED"
    mentions "AVX512-BF16"
fi
DNNL_MAX_CPU_ISA=AVX2 expect 1 "bf16 capped to AVX2" -- "$bench" infer --arch resnet18 --precision bf16 "${quick[@]}"
mentions "DP_ERR_UNSUPPORTED"
mentions "AVX512-BF16"
# fp32 still runs under the same cap
DNNL_MAX_CPU_ISA=AVX2 expect 0 "fp32 capped to AVX2" -- "$bench" infer --arch resnet18 "${quick[@]}"

cli_end
