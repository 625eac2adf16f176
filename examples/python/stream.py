#!/usr/bin/env python3
"""A real-time stream: 500 samples/s over 2 workers, then the summary.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/stream.py [--samples 2500] [--csv m.csv]

Latency counts from each sample's intended arrival time, so a worker that cannot keep up shows
as latency (and efficiency below 100 %), not as a slower source. Ctrl-C stops the stream and
prints the partial summary.
"""
import argparse

import dataparallel as dp


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--samples", type=int, default=2500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--partitioner", default="dynamic")
    ap.add_argument("--max-batch", type=int, default=1)
    ap.add_argument("--csv", help="also write interval metrics to this CSV file")
    args = ap.parse_args()

    model = dp.Model(args.arch, classes=10, seed=0)
    runner = dp.Runner(model, workers=args.workers, threads_per_worker=1, partitioner=args.partitioner,
                       max_batch=args.max_batch)
    source = dp.Source.synthetic(rate=args.rate, samples=args.samples, shape=(3, 32, 32))
    sinks = [dp.ConsoleSink()] + ([dp.CsvSink(args.csv)] if args.csv else [])
    s = runner.run(source, sinks=sinks)

    lat = s["latency_ms"]
    print(f"{s['arch']} {s['strategy']} {s['workers']}x{s['threads_per_worker']} @ {s['target_rate']:g}/s"
          f"{' (stopped early)' if s['cancelled'] else ''}")
    print(f"offered {s['offered']}  completed {s['completed']}  dropped {s['dropped']}  failed {s['failed']}")
    print(f"throughput {s['throughput']:.1f}/s  efficiency {s['efficiency_pct']:.2f} %  "
          f"rate accuracy {s['rate_accuracy_pct']:.3f} %")
    print(f"latency ms: mean {lat['mean']:.2f}  p50 {lat['p50']:.2f}  p99 {lat['p99']:.2f}  max {lat['max']:.2f}")
    for w in s["per_worker"]:
        print(f"  worker {w['worker']}: {w['completed']} samples, busy {w['busy_pct']:.1f} %, "
              f"{w['mean_service_ms']:.2f} ms/sample{'  STRAGGLER' if w['straggler'] else ''}")


if __name__ == "__main__":
    main()
