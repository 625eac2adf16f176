"""Tests of the benchmark scripts: benchmarks/pytorch_baseline.py (models, data, partitioners,
metrics, CSV, command line), its ONNX Runtime engine benchmarks/ort_baseline.py (infer and stream
end to end; skipped, with the reason, where node or onnxruntime-node is not installed),
benchmarks/make_cifar.py, benchmarks/plot.py and benchmarks/report.py."""
import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

BENCH = os.path.join(os.environ.get("DP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                     "benchmarks")
sys.path.insert(0, BENCH)
import make_cifar  # noqa: E402
import ort_baseline  # noqa: E402
import pytorch_baseline as pb  # noqa: E402

PY = os.environ.get("DP_PYTHON3", "/usr/bin/python3")
ORT_OK, ORT_WHY = ort_baseline.availability()
# Both baselines: the script and its engine's own options.
ENGINES = [pytest.param("pytorch_baseline.py", ["--mode", "eager"], "pytorch", id="pytorch"),
           pytest.param("ort_baseline.py", [], "onnxruntime", id="onnxruntime", marks=pytest.mark.skipif(
               not ORT_OK, reason="ONNX Runtime baseline unavailable: %s" % ORT_WHY))]


def script(name, *args, **kw):
    # The ONNX exports are cached where the parity tests put theirs.
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE",
               DP_ORT_MODELS=os.path.join(os.environ.get("DP_TEST_TMP", "."), "ort_models"))
    return subprocess.run([PY, os.path.join(BENCH, name)] + [str(a) for a in args], capture_output=True,
                          text=True, env=env, timeout=kw.get("timeout", 300))


# ---- models ----

@pytest.mark.parametrize("arch,keys,count", [
    ("resnet18_cifar", ["conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.0.shortcut.0.weight",
                        "layer4.1.bn2.bias", "linear.weight"], 21),
    ("mobilenetv2_cifar", ["conv1.weight", "layers.0.conv1.weight", "layers.0.shortcut.0.weight",
                           "layers.16.conv3.weight", "conv2.weight", "bn2.running_mean", "linear.bias"], 58),
])
def test_cifar_models_have_design_parameter_names(arch, keys, count):
    sd = pb.build_model(arch, classes=7).state_dict()
    for k in keys:
        assert k in sd, k
    # Conv and linear layers: resnet18_cifar 1 + 16 + 3 shortcuts + 1; mobilenetv2_cifar 1 + 17x3 + 4
    # shortcuts (only where stride is 1 and channels change) + 1 + 1.
    assert sum(k.endswith(".weight") and "bn" not in k and "shortcut.1" not in k for k in sd) == count
    assert sd["linear.weight"].shape[0] == 7


def test_models_run_and_jit_matches_eager():
    import torch
    x = torch.randn(2, 3, 32, 32)
    for arch in pb.ARCHS:
        m = pb.build_model(arch, classes=5, seed=1)
        with torch.inference_mode():
            y = m(x)
            yj = pb.prepare(m, "jit", x)(x)
        assert y.shape == (2, 5)
        assert torch.allclose(y, yj, rtol=1e-4, atol=1e-4 * float(y.abs().max())), arch


def test_build_model_is_seeded_and_rejects_unknown_arch():
    a = pb.build_model("resnet18_cifar", seed=3).state_dict()["linear.weight"]
    b = pb.build_model("resnet18_cifar", seed=3).state_dict()["linear.weight"]
    assert (a == b).all()
    with pytest.raises(ValueError, match="densenet121"):  # the message lists the known archs
        pb.build_model("resnet101")


# ---- data ----

def test_make_cifar_format_and_determinism(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    assert make_cifar.main([str(a), "--samples", "50", "--seed", "4"]) == 0
    assert make_cifar.main([str(b), "--samples", "50", "--seed", "4"]) == 0
    raw = a.read_bytes()
    assert len(raw) == 50 * 3073 and raw == b.read_bytes()
    labels = np.frombuffer(raw, np.uint8)[::3073]
    assert labels.max() <= 9 and len(set(labels.tolist())) > 1
    x, y = pb.load_data("cifar10:" + str(a))
    assert x.shape == (50, 3, 32, 32) and x.dtype == np.float32 and (y == labels).all()
    # normalised with CIFAR-10's mean/std: pixel 0 of image 0, red channel
    px = np.frombuffer(raw, np.uint8)[1]
    assert x[0, 0, 0, 0] == pytest.approx((px / 255.0 - pb.CIFAR_MEAN[0]) / pb.CIFAR_STD[0], rel=1e-5)


def test_load_data_errors(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\0" * 3000)
    with pytest.raises(ValueError, match="bad.bin.*3073"):
        pb.load_data("cifar10:" + str(bad))
    with pytest.raises(ValueError, match="synthetic"):
        pb.load_data("imagenet:" + str(bad))
    x, y = pb.load_data("synthetic", synthetic_n=16)
    assert x.shape == (16, 3, 32, 32) and np.abs(x).max() <= 1 and list(y[:3]) == [0, 1, 2]


# ---- partitioners ----

def test_uniform_is_round_robin():
    r = pb.Router("uniform", 3, [0.0] * 3)
    assert [r.route(i, i) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_dynamic_uses_the_shared_queue():
    r = pb.Router("dynamic", 2, [0.0] * 2)
    assert r.route(0, 0) is None


def test_sharded_is_a_stable_consistent_hash():
    keys = range(2000)
    r2 = pb.Router("sharded", 2, None)
    r3 = pb.Router("sharded", 3, None)
    a = [r2.route(0, k) for k in keys]
    assert a == [pb.Router("sharded", 2, None).route(0, k) for k in keys]  # deterministic
    assert {0, 1} == set(a) and 0.3 < a.count(0) / len(a) < 0.7
    b = [r3.route(0, k) for k in keys]
    moved = sum(x != y for x, y in zip(a, b))
    # Adding a third worker moves only about a third of the keys (all to it), unlike k mod W.
    assert moved < 0.5 * len(a) and all(y == 2 for x, y in zip(a, b) if x != y)


def test_weighted_follows_measured_speed():
    ema = [0.0, 0.0]
    r = pb.Router("weighted", 2, ema)
    assert sorted(r.route(i, i) for i in range(2)) == [0, 1]  # equal until measured
    ema[0], ema[1] = 1e6, 4e6  # worker 1 is four times slower
    picks = [r.route(i, i) for i in range(1000)]
    assert picks.count(0) == pytest.approx(800, abs=5)
    ema[1] = 1e6  # it recovers: shares even out again
    picks = [r.route(i, i) for i in range(1000)]
    assert picks.count(0) == pytest.approx(500, abs=5)


# ---- metrics ----

class FakePool:
    arch, workers, threads, data_spec, engine = "resnet18", 2, 1, "synthetic", pb.TorchEngine
    labels = np.arange(10, dtype=np.int32)


def part(worker, ids, lat_ms, t0, busy_ms):
    ids = np.array(ids, np.int64)
    intended = t0 + ids * 10_000_000  # 100/s
    end = intended + (np.array(lat_ms) * 1e6).astype(np.int64)
    return {"worker": worker, "ids": ids, "top1": (ids % 10).astype(np.int32), "batch": np.ones(len(ids), np.int32),
            "intended_ns": intended, "start_ns": end - 1_000_000, "end_ns": end, "busy_ns": int(busy_ms * 1e6),
            "batches": len(ids), "failed": 0, "queue_hwm": 3, "cpu_s": 0.5, "rss_mb": 100.0}


def test_summarise_follows_the_metric_definitions():
    t0 = 10**12
    lat0 = [1.0 + i for i in range(50)]  # 1..50 ms
    lat1 = [100.0] * 48
    parts = [part(0, range(0, 100, 2), lat0, t0, 50), part(1, range(1, 97, 2), lat1, t0, 480)]
    s, rec = pb.summarise(FakePool(), "uniform", 100.0, 100, parts, 2, "drop-newest", t0, t0 + 5_000, t0 + 990_000_000,
                          0.1)
    assert s["offered"] == s["completed"] + s["dropped"] + s["failed"] == 100
    assert s["completed"] == 98 and s["dropped_newest"] == 2 and s["dropped_oldest"] == 0
    assert s["rate_accuracy_pct"] == pytest.approx(100 * (99 / 0.989995) / 100, rel=1e-6)
    t_done = max(int(p["end_ns"].max()) for p in parts)
    assert s["throughput"] == pytest.approx(98 / ((t_done - t0 - 5_000) / 1e9), rel=1e-9)
    assert s["efficiency_pct"] == pytest.approx(s["throughput"], rel=1e-9)
    all_lat = np.sort(np.array(lat0 + lat1))
    assert s["latency_ms"]["max"] == pytest.approx(100.0)
    assert s["latency_ms"]["p50"] == pytest.approx(all_lat[48], abs=1e-6)  # nearest rank: ceil(0.5*98) = 49th
    assert s["latency_ms"]["mean"] == pytest.approx(all_lat.mean())
    assert [w["completed"] for w in s["per_worker"]] == [50, 48]
    w0, w1 = s["per_worker"]
    assert w0["mean_service_ms"] == pytest.approx(1.0) and w1["mean_service_ms"] == pytest.approx(10.0)
    assert w1["straggler"] and not w0["straggler"]  # 10 ms > 1.5 x median (5.5 ms)
    assert list(rec["ids"]) == sorted(rec["ids"])
    assert s["correct"] == 98  # top1 = id % 10 = label


def test_csv_row_matches_the_shared_columns(tmp_path):
    t0 = 10**12
    s, _ = pb.summarise(FakePool(), "dynamic", 100.0, 10, [part(0, range(10), [2.0] * 10, t0, 10)], 0, "block", t0,
                        t0, t0 + 90_000_000, 0.0)
    path = str(tmp_path / "r.csv")
    pb.append_csv(path, [pb.csv_row(s)])
    pb.append_csv(path, [pb.csv_row(s)])
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 2 and tuple(rows[0].keys()) == pb.CSV_FIELDS
    assert rows[0]["engine"] == "pytorch" and rows[0]["latency_p99_ms"] == "2"
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        pb.append_csv(str(other), [pb.csv_row(s)])


# ---- command line ----

@pytest.mark.parametrize("args,msg", [
    (["infer", "--arch", "vgg"], "invalid choice"),
    (["stream", "--arch", "resnet18", "--rate", "0"], "rate"),
    (["stream", "--arch", "resnet18", "--workers", "1", "--slowdown", "1,2"], "slowdown"),
    (["stream", "--arch", "resnet18", "--slowdown", "0.5"], ">= 1"),
    (["matrix", "--strategies", "uniform,random"], "random"),
    (["infer", "--arch", "resnet18", "--size", "16"], "size"),
])
def test_cli_rejects_bad_arguments(args, msg):
    r = script("pytorch_baseline.py", *args)
    assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_cli_bad_data_file_is_an_error_not_a_traceback(tmp_path):
    r = script("pytorch_baseline.py", "stream", "--arch", "mobilenet_v2", "--samples", "5",
               "--data", "cifar10:" + str(tmp_path / "missing.bin"))
    assert r.returncode == 1 and "missing.bin" in r.stderr and "Traceback" not in r.stderr


def test_infer_json(tmp_path):
    out = tmp_path / "i.json"
    r = script("pytorch_baseline.py", "infer", "--arch", "mobilenet_v2", "--batch", "2", "--seconds", "0.2",
               "--warmup", "0", "--mode", "eager", "--json", out)
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["img_per_s"] > 0 and d["batch"] == 2 and d["iterations"] >= 1 and d["mode"] == "eager"
    assert d["img_per_s"] == pytest.approx(d["iterations"] * 2 / d["seconds"])


@pytest.mark.skipif(not ORT_OK, reason="ONNX Runtime baseline unavailable: %s" % ORT_WHY)
def test_ort_infer_json(tmp_path):
    """The fields of `dp-bench infer --json`, img/s as the median of the timed windows, the
    numerics checked before the timing, and the session options the comparison relies on."""
    out = tmp_path / "i.json"
    r = script("ort_baseline.py", "infer", "--arch", "mobilenetv2_cifar", "--batch", "3", "--seconds", "0.3",
               "--warmup", "0.05", "--repeats", "3", "--json", out)
    assert r.returncode == 0, r.stderr
    assert "logits agree with PyTorch" in r.stderr and r.stdout.startswith("onnxruntime mobilenetv2_cifar batch 3")
    d = json.loads(out.read_text())
    for k in ("arch", "batch", "threads", "precision", "size", "classes", "iterations", "seconds", "warmup_s",
              "img_per_s", "ms_per_batch", "cpu_ms_per_batch", "machine", "command", "commit"):
        assert k in d, k
    assert d["engine"] == "onnxruntime" and d["batch"] == 3 and d["size"] == 32 and d["threads"] == 1
    assert len(d["windows"]) == 3 and all(w["iterations"] >= 1 for w in d["windows"])
    rates = sorted(w["iterations"] * 3 / w["seconds"] for w in d["windows"])
    assert d["img_per_s"] == pytest.approx(rates[1])
    assert d["img_per_s_mean"] == pytest.approx(d["iterations"] * 3 / d["seconds"])
    assert d["parity"]["max_abs_diff_rel"] <= d["parity"]["tolerance"] == 1e-4
    assert d["session_options"] == {"executionProviders": ["cpu"], "graphOptimizationLevel": "all",
                                    "executionMode": "sequential", "intraOpNumThreads": 1, "interOpNumThreads": 1}


def test_ort_unavailable_is_one_clear_line(tmp_path):
    env_node = dict(DP_NODE=str(tmp_path / "no-node"))
    r = subprocess.run([PY, os.path.join(BENCH, "ort_baseline.py"), "available"], capture_output=True, text=True,
                       env=dict(os.environ, **env_node))
    assert r.returncode == 3 and r.stdout.count("\n") == 1 and "no-node" in r.stdout
    r = subprocess.run([PY, os.path.join(BENCH, "ort_baseline.py"), "infer", "--arch", "resnet18"],
                       capture_output=True, text=True, env=dict(os.environ, **env_node))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "no-node" in r.stderr


@pytest.mark.parametrize("name,engine_args,engine", ENGINES)
def test_stream_end_to_end(tmp_path, name, engine_args, engine):
    """2 workers, a straggler, dynamic: every sample accounted for, the JSONL agrees with the
    summary, and the fast worker serves more. The straggler is 20x slower, so that it is still busy
    when the next sample arrives even with ONNX Runtime (mobilenet_v2 in ~1 ms: at 6x both workers
    were idle at every arrival and split the samples 30/30)."""
    js, jl, cs = tmp_path / "s.json", tmp_path / "s.jsonl", tmp_path / "s.csv"
    r = script(name, "stream", "--arch", "mobilenet_v2", *engine_args, "--strategy", "dynamic",
               "--workers", "2", "--rate", "100", "--samples", "60", "--slowdown", "1,20", "--json", js,
               "--jsonl", jl, "--append-csv", cs)
    assert r.returncode == 0, r.stderr
    s = json.loads(js.read_text())
    assert s["engine"] == engine
    for k in ("arch", "strategy", "workers", "threads_per_worker", "target_rate", "offered", "completed", "dropped",
              "failed", "rate_accuracy_pct", "throughput", "efficiency_pct", "latency_ms", "cpu_pct", "rss_mb",
              "elapsed_s", "per_worker"):
        assert k in s, k
    assert s["offered"] == s["completed"] == 60 and s["dropped"] == s["failed"] == 0
    assert s["slowdown"] == [1, 20]
    pw = s["per_worker"]
    assert sum(w["completed"] for w in pw) == 60 and pw[0]["completed"] > pw[1]["completed"]
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    samples = [x for x in lines if x["type"] == "sample"]
    assert len(samples) == 60 and lines[-1]["type"] == "summary"
    assert sorted(x["sample_id"] for x in samples) == list(range(60))
    lat = sorted(x["latency_ms"] for x in samples)
    assert lat[-1] == pytest.approx(s["latency_ms"]["max"], rel=1e-6)
    assert all(x["end_s"] >= x["start_s"] >= x["intended_s"] - 1e-3 for x in samples)
    rows = list(csv.DictReader(open(cs)))
    assert len(rows) == 1 and rows[0]["completed"] == "60"


# ---- plots ----

def fake_results(d):
    rows = []
    for engine, speed in (("libdataparallel", 3.0), ("pytorch", 1.0), ("onnxruntime", 2.0)):
        for arch in ("resnet18", "mobilenet_v2"):
            for s in ("uniform", "dynamic"):
                for w in (1, 2, 4):
                    thr = min(500.0, 100 * speed * min(w, 2))
                    row = dict.fromkeys(pb.CSV_FIELDS, 0)
                    row.update(engine=engine, arch=arch, strategy=s, workers=w, threads=1, rate=500.0, samples=100,
                               offered=100, completed=100, throughput=thr, efficiency_pct=thr / 5,
                               latency_p50_ms=1000 / thr, latency_p99_ms=3000 / thr)
                    rows.append(row)
                    if w == 2:
                        os.makedirs(d / "cells", exist_ok=True)
                        with open(d / "cells" / ("%s_%s_%s_w2_r500.jsonl" % (engine, arch, s)), "w") as f:
                            for i in range(50):
                                f.write(json.dumps({"type": "sample", "sample_id": i, "latency_ms": 1 + i / speed}) + "\n")
                            f.write(json.dumps({"type": "summary"}) + "\n")
    pb.append_csv(str(d / "results.csv"), rows)
    os.makedirs(d / "straggler")
    os.makedirs(d / "capacity")
    for engine in ("libdataparallel", "pytorch", "onnxruntime"):
        for s in ("uniform", "dynamic"):
            split = (50, 50) if s == "uniform" else (80, 20)
            json.dump({"engine": engine, "arch": "resnet18", "strategy": s, "slowdown": [1, 4], "throughput": 90.0,
                       "latency_ms": {"p99": 12.0},
                       "per_worker": [{"worker": k, "completed": n, "straggler": k == 1} for k, n in enumerate(split)]},
                      open(d / "straggler" / ("%s_resnet18_%s.json" % (engine, s)), "w"))
        json.dump({"capacity": 300.0 if engine == "libdataparallel" else 0.0, "arch": "resnet18", "strategy": "dynamic",
                   "workers": 2, "slo_p99_ms": 10}, open(d / "capacity" / ("%s_resnet18_dynamic_w2.json" % engine), "w"))


def test_plot_writes_every_plot_and_summary(tmp_path):
    fake_results(tmp_path)
    r = script("plot.py", tmp_path)
    assert r.returncode == 0, r.stderr
    pngs = sorted(os.listdir(tmp_path / "plots"))
    assert pngs == ["capacity.png", "efficiency_cpu_memory_vs_workers.png", "heatmap_mobilenet_v2.png",
                    "heatmap_resnet18.png", "latency_cdf_w2.png", "latency_vs_workers.png", "speedup_vs_workers.png",
                    "straggler_load_balance.png", "throughput_vs_workers.png"]
    for p in pngs:
        assert (tmp_path / "plots" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "summary.md").read_text()
    assert "| resnet18 | pytorch | dynamic | 2 | 10 | 0.0 |" in md
    assert "| resnet18 | onnxruntime | dynamic | 2 | 10 | 0.0 |" in md
    assert "80 / 20" in md and "plots/capacity.png" in md


def test_report_page_shows_every_plot_table_and_the_machine(tmp_path):
    fake_results(tmp_path)
    json.dump({"cpu": "Test CPU 9000", "isa": "Intel AVX-512", "cores": 2, "load_before": "0.1 0.2 0.3",
               "load_after": "1.0 1.1 1.2", "commit": "abc1234", "date": "2026-12-06 12:00 UTC"},
              open(tmp_path / "machine.json", "w"))
    (tmp_path / "commands.txt").write_text("dp-bench matrix --engines libdataparallel,pytorch\n")
    assert script("plot.py", tmp_path).returncode == 0
    r = script("report.py", tmp_path)
    assert r.returncode == 0, r.stderr
    r = script("report.py", tmp_path, "--check")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "index.html").read_text()
    assert page.count("<img ") == len(os.listdir(tmp_path / "plots")) == 9
    # The headline comes first: each engine's best strategy at 4 workers, ours at 500/s.
    assert page.index("Headline") < page.index("Machine") < page.index("Plots")
    assert "<td>resnet18</td><td>500</td><td>libdataparallel</td><td>uniform</td><td>500.0</td>" in page
    for text in ("Test CPU 9000", "Intel AVX-512", "1.0 1.1 1.2", "abc1234", "dp-bench matrix --engines",
                 "80 / 20", "<td>onnxruntime</td>"):
        assert text in page, text
    # The index links every plot once, each with its caption from plot.py's PLOTS; every PNG is a
    # real image of a readable size, shown at the size the page states.
    names = sorted(os.listdir(tmp_path / "plots"))
    assert sorted(re.findall(r'<li><a href="#plot-([^"]+)">', page)) == names
    for name in names:
        png = (tmp_path / "plots" / name).read_bytes()
        w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert len(png) > 5000 and 300 <= w <= 5000 and 200 <= h <= 5000, (name, len(png), w, h)
        assert 'data-file="plots/%s" width="%d" height="%d"' % (name, w, h) in page, name
    # The check finds a plot the page does not show, and a figure whose size the page misstates.
    (tmp_path / "plots" / "extra.png").write_bytes((tmp_path / "plots" / "capacity.png").read_bytes())
    r = script("report.py", tmp_path, "--check")
    assert r.returncode == 1 and "plots/extra.png is not on the page" in r.stderr
    os.remove(tmp_path / "plots" / "extra.png")
    (tmp_path / "index.html").write_text(re.sub(r'width="\d+"', 'width="7"', page, count=1))
    r = script("report.py", tmp_path, "--check")
    assert r.returncode == 1 and "the page says 7x" in r.stderr


def test_report_with_nothing_to_report_fails(tmp_path):
    r = script("report.py", tmp_path)
    assert r.returncode == 1 and "nothing to report" in r.stderr


def test_plot_with_nothing_to_plot_fails(tmp_path):
    r = script("plot.py", tmp_path)
    assert r.returncode == 1 and "no" in r.stderr
