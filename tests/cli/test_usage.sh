#!/usr/bin/env bash
# Bad usage of every tool and subcommand: exit 2 and one message naming the flag and the bad
# value (the table-driven parser of tools/common/flags.c), before anything is loaded or run.
. "$(dirname "$0")/lib.sh"
cli_begin usage
infer="$DP_BIN_DIR/dp-infer"

# refused MESSAGE CMD...: exit 2, the message on stderr, nothing on stdout.
refused() {
    local msg=$1
    shift
    "$@" >"$tmp/stdout" 2>"$tmp/out"
    local rc=$?
    if [ $rc -eq 2 ] && grep -qF -- "$msg" "$tmp/out" && [ ! -s "$tmp/stdout" ]; then
        ok
    else
        bad "$*: exit $rc, expected 2 with '$msg' on stderr only"
        cat "$tmp/stdout" "$tmp/out"
    fi
}

refused "--rate: 'nan' is not a finite number" "$bench" stream --rate nan
refused "--rate: 'inf' is not a finite number" "$bench" stream --rate=inf
refused "--rate: 0 is out of range" "$bench" stream --rate 0
refused "--workers: 0 is out of range [1, 256]" "$bench" stream --workers 0
refused "--workers: 100000 is out of range [1, 256]" "$bench" batch --workers 100000
refused "--workers: 99999999999999999999999 is out of range" "$bench" stream --workers 99999999999999999999999
refused "--workers: 'two' is not an integer" "$bench" capacity --workers two
refused "--samples: -5 is out of range" "$bench" stream --samples -5
refused "--samples: -1 is out of range" "$bench" batch --samples=-1
refused "--size: 16 is out of range [32, 4096]" "$bench" infer --arch resnet18 --size 16
refused "--seconds: -1 is out of range" "$bench" infer --arch resnet18 --seconds -1
refused "--strategy: 'fast' is not uniform, sharded, dynamic or weighted" "$bench" stream --strategy fast
refused "--overflow: 'sometimes' is not block, drop-newest or drop-oldest" "$bench" stream --overflow sometimes
refused "--arrival: 'bursty' is not constant, poisson, trace or unlimited" "$bench" stream --arrival bursty
refused "--backend: 'gpu' is not threads or mpi" "$bench" batch --backend gpu
refused "--backend: 'mpi' is not onednn or reference" "$bench" infer --arch resnet18 --backend mpi
refused "--precision: 'fp8' is not fp32, bf16 or int8" "$infer" --arch resnet18 --precision fp8 --input x.npy --output y.npy
refused "--data: 'tape:x' is not synthetic, cifar10:FILE, fashion-mnist:PATH or npy:FILE" "$bench" stream --data tape:x
refused "--data: 'cifar10:' is not synthetic" "$bench" batch --data cifar10:
refused "--prometheus: 'localhost' is not HOST:PORT" "$bench" stream --prometheus localhost
refused "--prometheus: ':99999' is not HOST:PORT" "$bench" stream --prometheus :99999
refused "--slowdown: 0.5 is out of range [1, 1e+06]" "$bench" stream --slowdown 1,0.5
refused "--slowdown: '1,,2' has an empty element" "$bench" batch --workers 3 --slowdown 1,,2
refused "--slowdown has 3 factors for 2 workers" "$bench" batch --workers 2 --slowdown 1,2,3
refused "--quiet takes no value" "$bench" stream --quiet=yes
refused "--rate needs a value" "$bench" stream --rate
refused "--json needs a value" "$bench" stream --json --quiet
refused "--json: the value is empty" "$bench" stream --json=
refused "--max-rate is not an option of dp-bench stream" "$bench" stream --max-rate 5
refused "--rate is not an option of dp-bench capacity" "$bench" capacity --rate 5
refused "unknown option --frobnicate" "$bench" matrix --frobnicate
refused "unexpected argument 'extra'" "$bench" batch extra
refused "--arrival trace needs --trace F" "$bench" stream --arrival trace
refused "--start-rate 200 is above --max-rate 100" "$bench" capacity --start-rate 200 --max-rate 100
refused "--arch is required" "$bench" infer
refused "--arch: 'resnet5000' is not resnet18" "$bench" stream --arch resnet5000
refused "--strategies: 'uniform' is given twice" "$bench" matrix --strategies uniform,dynamic,uniform
refused "--workers: 0 is out of range" "$bench" matrix --workers 1,0
refused "--rates: 'nan' is not a finite number" "$bench" matrix --rates 100,nan
refused "--engines: 'tensorflow' is not libdataparallel, pytorch or onnxruntime" "$bench" matrix --engines tensorflow
refused "--repeat: 0 is out of range [1, 100]" "$bench" matrix --repeat 0
refused "--weights-dir: cannot read $tmp/none/mobilenet_v2.npz" "$bench" matrix --arch mobilenet_v2 --weights-dir "$tmp/none"
refused "the matrix has 4194304 runs; at most 100000" "$bench" matrix --workers "$(seq -s, 1 256)" \
    --rates "$(seq -s, 1 256)" --arch resnet18 --strategies uniform --engines libdataparallel --repeat 64
refused "--classes: 0 is out of range" "$infer" --arch resnet18 --classes 0 --input x.npy --output y.npy
refused "--threads: 1025 is out of range [1, 1024]" "$infer" --arch resnet18 --threads 1025 --input x.npy --output y.npy
refused "--seed: 'x' is not an integer" "$infer" --arch resnet18 --seed x --input x.npy --output y.npy

cli_end
