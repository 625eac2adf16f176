#!/usr/bin/python3
"""Plots and a summary for a results directory written by scripts/run (or by `dp-bench matrix`
plus the straggler and capacity runs):

  DIR/results.csv                      one row per stream run, engine = libdataparallel | pytorch |
                                       onnxruntime; layout = data-parallel | pipeline | hybrid
                                       (the last two: plots/layouts_<strategy>_r<rate>.png)
  DIR/results.json                     every run's summary (dp-bench matrix): the latency breakdown
  DIR/cells/<engine>_<arch>_<strategy>_w<W>_r<R>.jsonl   per-sample records (latency CDF)
  DIR/straggler/<engine>_<arch>_<strategy>.json          stream summaries with --slowdown
  DIR/capacity/<engine>_<arch>_<strategy>_w<W>.json      capacity searches ("capacity" field)

  DIR/models/<arch>.json                                 training records of benchmarks/train.py
  DIR/tune/*.json                                        dp-bench tune --json results (docs/tune.md)

  DIR/results.json                     with `dp-bench matrix --repeat N`: "aggregates", each cell's
                                       median and 95 % bootstrap interval (drawn as error bars)
  DIR/machine.json                     CPU, ISA, load (scripts/run); else results.json's provenance

Writes DIR/plots/*.png (whatever the inputs allow) and DIR/summary.md (accuracy, straggler,
capacity and tune tables, the list of plots). Every figure carries a footer naming the machine,
the oneDNN ISA and the load. The plots are the rows of PLOTS (at the end): a new plot is a
function and a row. Usage: plot.py DIR [--cdf-workers 2] [--slo-p99-ms 10]
One tune result alone: plot.py tune FILE.json [--out PNG] (default FILE.png): its Pareto plot.
"""
import argparse
import csv
import glob
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

ENGINES = ("libdataparallel", "pytorch", "onnxruntime")
# Engines differ by line style and marker (and by hatch in bar charts); strategies by colour.
ENGINE_STYLE = {"libdataparallel": {"linestyle": "-", "marker": "o"},
                "pytorch": {"linestyle": "--", "marker": "s", "markerfacecolor": "white"},
                "onnxruntime": {"linestyle": ":", "marker": "^", "markerfacecolor": "white"}}
ENGINE_COLOR = {"libdataparallel": "#1f77b4", "pytorch": "#d62728", "onnxruntime": "#8c564b"}
ENGINE_HATCH = {"libdataparallel": "", "pytorch": "//", "onnxruntime": ".."}
STRATEGY_COLOR = {"uniform": "#1f77b4", "sharded": "#ff7f0e", "dynamic": "#2ca02c", "weighted": "#9467bd"}
STRATEGY_ORDER = ("uniform", "sharded", "dynamic", "weighted")
ARCH_ORDER = ("resnet18", "mobilenet_v2", "resnet18_cifar", "mobilenetv2_cifar")


def strategy_color(s):
    return STRATEGY_COLOR.get(s, "#7f7f7f")


def load_rows(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            for k, v in r.items():
                if k not in ("engine", "arch", "strategy"):
                    try:
                        r[k] = float(v)
                    except (TypeError, ValueError):
                        pass
            rows.append(r)
    return rows


def ordered(values, order=()):
    vals = set(values)
    return [v for v in order if v in vals] + sorted(vals - set(order))


def median_points(rows, key):
    """(workers, median of key) pairs, one per worker count (several rows = repeats)."""
    by_w = {}
    for r in rows:
        by_w.setdefault(r["workers"], []).append(r[key])
    return [(w, float(np.median(v))) for w, v in sorted(by_w.items())]


# The footer of every figure (machine, ISA, load; error bars): set by main() from the results directory.
FOOTER = []


def machine_footer(res_dir):
    """One line naming the CPU, cores, oneDNN ISA and load: machine.json (scripts/run), else the
    provenance the runs wrote into results.json."""
    try:
        with open(os.path.join(res_dir, "machine.json")) as f:
            m = json.load(f)
        return "%s, %s cores, oneDNN ISA: %s; load average %s before, %s after (machine shared)" % (
            m.get("cpu", "?"), m.get("cores", "?"), m.get("isa", "?"), m.get("load_before", "?"),
            m.get("load_after", "?"))
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(res_dir, "results.json")) as f:
            cells = json.load(f).get("cells", [])
    except (OSError, ValueError):
        return None
    machines = [c["summary"]["machine"] for c in cells if isinstance(c.get("summary"), dict)
                and isinstance(c["summary"].get("machine"), dict)]
    if not machines:
        return None
    m, loads = machines[0], [x["load_avg_1m"] for x in machines if "load_avg_1m" in x]
    return "%s, %s cores, oneDNN ISA: %s; 1-min load average %s during the runs (machine shared)" % (
        m.get("cpu", "?"), m.get("cores", "?"), m.get("isa", "?"),
        "%.1f-%.1f" % (min(loads), max(loads)) if loads else "?")


def save(fig, path, written):
    if FOOTER:
        fig.text(0.0, 0.0, "\n".join(FOOTER), fontsize=8, color="#333333", ha="left", va="top",
                 transform=fig.transFigure)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    written.append(path)
    print("plot.py: wrote %s" % path, file=sys.stderr)


def outside_legends(ax, engines, markers=True):
    """The strategy (colour) and engine (line style) legends right of ax, where they cannot cover
    data: on the right-most panel only, since every panel uses the same encoding."""
    from matplotlib.lines import Line2D
    ax.add_artist(ax.legend(title="strategy", loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9,
                            title_fontsize=9))
    handles = [Line2D([], [], color="black", label=e, **dict(ENGINE_STYLE[e], **({} if markers else {"marker": None})))
               for e in engines]
    ax.legend(handles=handles, title="engine", loc="lower left", bbox_to_anchor=(1.02, 0.0), fontsize=9,
              title_fontsize=9)


# Inches right of the panels for the legends (outside_legends).
LEGEND_W = 1.9


def per_arch_axes(n, height=4.2):
    fig, axes = plt.subplots(1, n, figsize=(6.2 * n + LEGEND_W, height), squeeze=False)
    return fig, axes[0]


def plain_log_ticks(ax):
    """Log-scale y ticks as plain numbers (500, 1000), not 5x10^2; of the minor ticks only 2x and
    5x are labelled, so that a range of several decades does not crowd the axis."""
    import math
    from matplotlib.ticker import FuncFormatter

    def minor(v, _):
        m = v / 10 ** math.floor(math.log10(v)) if v > 0 else 0
        return "%g" % v if abs(m - 2) < 1e-6 or abs(m - 5) < 1e-6 else ""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


# Each cell's medians and 95 % bootstrap intervals over repeats (results.json "aggregates", written
# by dp-bench matrix --repeat), by (engine, arch, strategy, workers, rate): set by main().
AGGREGATES = {}
# The CSV column of a figure -> its path in an aggregate.
AGG_PATH = {"throughput": ("throughput",), "efficiency_pct": ("efficiency_pct",),
            "latency_p50_ms": ("latency_ms", "p50"), "latency_p90_ms": ("latency_ms", "p90"),
            "latency_p99_ms": ("latency_ms", "p99"), "latency_p999_ms": ("latency_ms", "p999")}


def load_aggregates(res_dir):
    """Each cell's medians and 95 % bootstrap intervals over repeats (results.json "aggregates", from
    dp-bench matrix --repeat), by (engine, arch, strategy, workers, rate); {} without repeats."""
    try:
        with open(os.path.join(res_dir, "results.json")) as f:
            aggs = json.load(f).get("aggregates", [])
    except (OSError, ValueError):
        return {}
    return {(a["engine"], a["arch"], a["strategy"], float(a["workers"]), float(a["rate"])): a for a in aggs
            if a.get("repeats", 1) > 1 and a.get("layout", "data-parallel") == "data-parallel"}


def interval(engine, arch, strategy, workers, rate, key):
    """(median, lo, hi) of key for the cell over its repeats, or None."""
    v = AGGREGATES.get((engine, arch, strategy, float(workers), float(rate)))
    for k in AGG_PATH.get(key, ()) if v else ():
        v = v.get(k) if isinstance(v, dict) else None
    return (v["median"], v["lo"], v["hi"]) if isinstance(v, dict) and "median" in v else None


def dodge(x, ws, k, n):
    """x moved for series k of n, side by side around each worker count of ws, so that equal values
    (every strategy at the offered rate) and their error bars stay visible instead of hiding each
    other."""
    step = 0.012 * max(ws[-1] - ws[0], 1)
    return [w + (k - (n - 1) / 2) * step for w in x]


def plot_lines(ax, sub, arch, engines, strategies, key):
    """One line per (engine, strategy): the median of key against workers, with the 95 % bootstrap
    interval over repeats as error bars where results.json has them."""
    ws = sorted({r["workers"] for r in sub})
    for ei, e in enumerate(engines):
        for si, s in enumerate(strategies):
            cell = [r for r in sub if r["arch"] == arch and r["engine"] == e and r["strategy"] == s
                    and isinstance(r.get(key), float)]
            pts = median_points(cell, key)
            if not pts:
                continue
            x, y = zip(*pts)
            label = s if e == engines[0] else None
            iv = [interval(e, arch, s, w, cell[0]["rate"], key) for w in x]
            xs = dodge(x, ws, ei * len(strategies) + si, len(engines) * len(strategies))
            if all(iv):
                ax.errorbar(xs, [m for m, _, _ in iv], yerr=[[m - lo for m, lo, _ in iv], [hi - m for m, _, hi in iv]],
                            color=strategy_color(s), label=label, capsize=4, elinewidth=1.2, **ENGINE_STYLE[e])
            else:
                ax.plot(xs, y, color=strategy_color(s), label=label, **ENGINE_STYLE[e])


def plot_vs_workers(rows, out_dir, written):
    """Per arch (one panel each) against workers: throughput; p50/p99 latency; efficiency, rate
    accuracy, CPU and memory; speed-up over 1 worker; and strategy x workers heatmaps."""
    for rate in sorted({r["rate"] for r in rows}):
        sub = [r for r in rows if r["rate"] == rate]
        archs = ordered([r["arch"] for r in sub], ARCH_ORDER)
        engines = ordered([r["engine"] for r in sub], ENGINES)
        strategies = ordered([r["strategy"] for r in sub], STRATEGY_ORDER)
        suffix = "" if len({r["rate"] for r in rows}) == 1 else "_r%g" % rate

        fig, axes = per_arch_axes(len(archs))
        for ax, arch in zip(axes, archs):
            plot_lines(ax, sub, arch, engines, strategies, "throughput")
            ax.axhline(rate, color="grey", linestyle=":", linewidth=1)
            ax.text(0.5, rate, "offered %g/s" % rate, transform=ax.get_yaxis_transform(), ha="center",
                    va="bottom", fontsize=8, color="grey")
            n_samples = sorted({int(r["samples"]) for r in sub if r["arch"] == arch and isinstance(r.get("samples"), float)})
            ax.set_title("%s: throughput at %g samples/s offered\n(%s samples per run)" % (
                arch, rate, "-".join(str(v) for v in (n_samples[0], n_samples[-1])) if len(n_samples) > 1
                else n_samples[0] if n_samples else "?"))
            ax.set_xlabel("workers (1 thread each)")
            ax.set_ylabel("throughput (samples/s)")
            ax.set_xticks(sorted({r["workers"] for r in sub}))
            ax.set_ylim(bottom=0, top=max(rate, max(r["throughput"] for r in sub)) * 1.15)
            ax.grid(alpha=0.3)
        outside_legends(axes[-1], engines)
        save(fig, os.path.join(out_dir, "throughput_vs_workers%s.png" % suffix), written)

        metric_grid(sub, (("latency_p50_ms", "p50 latency from intended arrival (ms, log)", True),
                          ("latency_p99_ms", "p99 latency from intended arrival (ms, log)", True)),
                    "%s at %g samples/s" % ("%s", rate),
                    os.path.join(out_dir, "latency_vs_workers%s.png" % suffix), written)
        metric_grid(sub, (("efficiency_pct", "efficiency: throughput / offered rate (%)", False),
                          ("rate_accuracy_pct", "rate accuracy: arrivals / offered rate (%)", False),
                          ("cpu_pct", "process CPU (% of one core)", False),
                          ("rss_mb", "peak resident memory (MB)", False)),
                    "%s at %g samples/s" % ("%s", rate),
                    os.path.join(out_dir, "efficiency_cpu_memory_vs_workers%s.png" % suffix), written)
        plot_speedup(sub, rate, os.path.join(out_dir, "speedup_vs_workers%s.png" % suffix), written)
        plot_heatmaps(sub, rate, out_dir, suffix, written)


def metric_grid(sub, metrics, title_fmt, path, written):
    """One row per metric, one column per arch; a line per (engine, strategy) against workers.
    title_fmt has one %s for the arch."""
    archs = ordered([r["arch"] for r in sub], ARCH_ORDER)
    engines = ordered([r["engine"] for r in sub], ENGINES)
    strategies = ordered([r["strategy"] for r in sub], STRATEGY_ORDER)
    fig, axes = plt.subplots(len(metrics), len(archs), figsize=(6.2 * len(archs) + LEGEND_W, 3.8 * len(metrics)),
                             squeeze=False)
    for col, arch in enumerate(archs):
        for row, (key, label, log) in enumerate(metrics):
            ax = axes[row][col]
            plot_lines(ax, sub, arch, engines, strategies, key)
            if log:
                ax.set_yscale("log")
                plain_log_ticks(ax)
            else:  # from 0, with room above the highest point for the legends
                ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * 1.15)
            ax.set_title(title_fmt % arch + ": " + label.split(" (")[0].split(":")[0])
            ax.set_xlabel("workers (1 thread each)")
            ax.set_ylabel(label)
            ax.set_xticks(sorted({r["workers"] for r in sub}))
            ax.grid(alpha=0.3, which="both")
    outside_legends(axes[0][-1], engines)
    fig.tight_layout()
    save(fig, path, written)


def plot_speedup(sub, rate, path, written):
    """Throughput at W workers over throughput at 1 worker, per arch, engine and strategy. At a
    fixed offered rate the speed-up cannot exceed offered / 1-worker throughput: the title says so."""
    archs = ordered([r["arch"] for r in sub], ARCH_ORDER)
    engines = ordered([r["engine"] for r in sub], ENGINES)
    strategies = ordered([r["strategy"] for r in sub], STRATEGY_ORDER)
    ws = sorted({r["workers"] for r in sub})
    if len(ws) < 2 or ws[0] != 1:
        print("plot.py: no 1-worker runs next to others: no speed-up plot", file=sys.stderr)
        return
    fig, axes = per_arch_axes(len(archs))
    for ax, arch in zip(axes, archs):
        for ei, e in enumerate(engines):
            for si, s in enumerate(strategies):
                pts = dict(median_points([r for r in sub if r["arch"] == arch and r["engine"] == e
                                          and r["strategy"] == s], "throughput"))
                if pts.get(1, 0) > 0:
                    x = sorted(pts)
                    ax.plot(dodge(x, ws, ei * len(strategies) + si, len(engines) * len(strategies)),
                            [pts[w] / pts[1] for w in x], color=strategy_color(s),
                            label=s if e == engines[0] else None, **ENGINE_STYLE[e])
        ax.plot(ws, ws, color="grey", linestyle=":", linewidth=1, label="ideal (linear)")
        ax.set_title("%s: speed-up over 1 worker at %g samples/s offered\n(capped by offered / 1-worker rate)"
                     % (arch, rate))
        ax.set_xlabel("workers (1 thread each)")
        ax.set_ylabel("throughput / 1-worker throughput")
        ax.set_xticks(ws)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    outside_legends(axes[-1], engines)
    save(fig, path, written)


HEATMAP_METRICS = (("throughput", "throughput (samples/s)", "%.0f"), ("latency_p99_ms", "p99 latency (ms)", "%.1f"),
                   ("efficiency_pct", "efficiency (%)", "%.0f"), ("cpu_pct", "CPU (% of a core)", "%.0f"))


def plot_heatmaps(sub, rate, out_dir, suffix, written):
    """Per arch: a strategy x workers grid per (engine, metric), every cell annotated with its value
    (readable without colour)."""
    for arch in ordered([r["arch"] for r in sub], ARCH_ORDER):
        rows = [r for r in sub if r["arch"] == arch]
        engines = ordered([r["engine"] for r in rows], ENGINES)
        strategies = ordered([r["strategy"] for r in rows], STRATEGY_ORDER)
        ws = sorted({r["workers"] for r in rows})
        fig, axes = plt.subplots(len(engines), len(HEATMAP_METRICS),
                                 figsize=(3.6 * len(HEATMAP_METRICS), 0.9 + 0.55 * len(strategies) * len(engines)
                                          + 0.6 * len(engines)), squeeze=False)
        for ei, e in enumerate(engines):
            for mi, (key, label, fmt) in enumerate(HEATMAP_METRICS):
                ax = axes[ei][mi]
                grid = np.full((len(strategies), len(ws)), np.nan)
                for si, s in enumerate(strategies):
                    for wi, (w, v) in enumerate(median_points([r for r in rows if r["engine"] == e and
                                                               r["strategy"] == s and isinstance(r.get(key), float)],
                                                              key)):
                        grid[si, ws.index(w)] = v
                ax.imshow(grid, cmap="viridis", aspect="auto")
                for si in range(len(strategies)):
                    for wi in range(len(ws)):
                        if not np.isnan(grid[si, wi]):
                            ax.text(wi, si, fmt % grid[si, wi], ha="center", va="center", fontsize=8,
                                    color="white", bbox=dict(facecolor="black", alpha=0.35, pad=1, linewidth=0))
                ax.set_xticks(range(len(ws)))
                ax.set_xticklabels(["%d" % w for w in ws])
                ax.set_yticks(range(len(strategies)))
                ax.set_yticklabels(strategies, fontsize=8)
                ax.set_xlabel("workers")
                ax.set_title("%s\n%s" % (e, label), fontsize=9)
        fig.suptitle("%s at %g samples/s: strategy x workers" % (arch, rate))
        fig.tight_layout()
        save(fig, os.path.join(out_dir, "heatmap_%s%s.png" % (arch, suffix)), written)


def read_latencies(path):
    lat = []
    with open(path) as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("type", "sample") == "sample" and "latency_ms" in d:
                lat.append(d["latency_ms"])
    return np.sort(np.array(lat))


def plot_cdf(res_dir, out_dir, workers, written):
    """Latency CDF of every W-worker run with per-sample records (first repeat), one panel per arch."""
    runs, rates = {}, set()
    for path in glob.glob(os.path.join(res_dir, "cells", "*_w%d_r*.jsonl" % workers)):
        name = os.path.basename(path)[:-len(".jsonl")]
        if re.search(r"_r[0-9.e+-]+_[0-9]+$", name):  # a later repeat (dp-bench matrix --repeat)
            continue
        engine = next((e for e in ENGINES if name.startswith(e + "_")), None)
        if engine is None:
            continue
        rest, tail = name[len(engine) + 1:].rsplit("_w", 1)
        rates.add(tail.split("_r", 1)[1] if "_r" in tail else "?")
        arch, strategy = rest.rsplit("_", 1)
        lat = read_latencies(path)
        if len(lat):
            runs.setdefault(arch, []).append((engine, strategy, lat))
    if not runs:
        print("plot.py: no %d-worker per-sample records in %s/cells: no latency CDF" % (workers, res_dir),
              file=sys.stderr)
        return
    archs = ordered(runs, ARCH_ORDER)
    fig, axes = per_arch_axes(len(archs), 4.6)
    for ax, arch in zip(axes, archs):
        engines = ordered([e for e, _, _ in runs[arch]], ENGINES)
        rank = {s: i for i, s in enumerate(STRATEGY_ORDER)}
        for e, s, lat in sorted(runs[arch], key=lambda t: (ENGINES.index(t[0]), rank.get(t[1], 99), t[1])):
            y = np.arange(1, len(lat) + 1) / len(lat)
            style = dict(ENGINE_STYLE[e], marker=None)
            ax.plot(lat, y, color=strategy_color(s), label=s if e == engines[0] else None, **style)
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
        ax.set_title("%s: latency CDF, %d workers at %s samples/s offered\n(every sample of each run; first repeat)"
                     % (arch, workers, ", ".join(sorted(rates))))
        ax.set_xlabel("latency from intended arrival (ms, log)")
        ax.set_ylabel("fraction of samples completed within")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, which="both")
    outside_legends(axes[-1], ordered([e for a in runs for e, _, _ in runs[a]], ENGINES), markers=False)
    save(fig, os.path.join(out_dir, "latency_cdf_w%d.png" % workers), written)


def load_json_dir(res_dir, sub):
    out = []
    for path in sorted(glob.glob(os.path.join(res_dir, sub, "*.json"))):
        try:
            with open(path) as f:
                d = json.load(f)
        except (OSError, ValueError) as e:
            print("plot.py: skipping %s: %s" % (path, e), file=sys.stderr)
            continue
        name = os.path.basename(path)[:-len(".json")]
        d.setdefault("engine", next((e for e in ENGINES if name.startswith(e + "_")), "libdataparallel"))
        out.append(d)
    return out


LAYOUT_ORDER = ("data-parallel", "pipeline", "hybrid")
LAYOUT_COLOR = {"data-parallel": "#1f77b4", "pipeline": "#ff7f0e", "hybrid": "#2ca02c"}
LAYOUT_HATCH = {"data-parallel": "", "pipeline": "//", "hybrid": ".."}  # apart in greyscale too


def layout_of(r):
    """A row's layout; rows of older CSVs (no such column) are data parallel."""
    lay = r.get("layout")
    return lay if isinstance(lay, str) and lay else "data-parallel"


def is_data_parallel(r):
    return layout_of(r) == "data-parallel"


def plot_layouts(rows, out_dir, written):
    """libdataparallel's layouts of the same workers (dp-bench matrix --layouts): per arch, grouped
    bars against workers of throughput and of p50/p99 latency (medians over repeats and
    strategies' rows of one strategy each panel row)."""
    ours = [r for r in rows if r["engine"] == "libdataparallel"]
    layouts = ordered([layout_of(r) for r in ours], LAYOUT_ORDER)
    if len(layouts) < 2:
        return
    for rate in sorted({r["rate"] for r in ours}):
        for strategy in ordered([r["strategy"] for r in ours if r["rate"] == rate], STRATEGY_ORDER):
            sub = [r for r in ours if r["rate"] == rate and r["strategy"] == strategy]
            archs = ordered([r["arch"] for r in sub], ARCH_ORDER)
            fig, axes = plt.subplots(2, len(archs), figsize=(6.2 * len(archs), 7.4), squeeze=False)
            for col, arch in enumerate(archs):
                workers = sorted({r["workers"] for r in sub if r["arch"] == arch})
                x = np.arange(len(workers))
                width = 0.8 / len(layouts)
                for i, lay in enumerate(layouts):
                    cells = [[r for r in sub if r["arch"] == arch and r["workers"] == w
                              and layout_of(r) == lay] for w in workers]
                    thr = [float(np.median([r["throughput"] for r in c])) if c else np.nan for c in cells]
                    p50 = [float(np.median([r["latency_p50_ms"] for r in c])) if c else np.nan for c in cells]
                    p99 = [float(np.median([r["latency_p99_ms"] for r in c])) if c else np.nan for c in cells]
                    off = x - 0.4 + width * (i + 0.5)
                    style = dict(color=LAYOUT_COLOR.get(lay, "#7f7f7f"), hatch=LAYOUT_HATCH.get(lay, "xx"),
                                 edgecolor="black", linewidth=0.5)
                    axes[0][col].bar(off, thr, width, label=lay, **style)
                    axes[1][col].bar(off, p99, width, label=lay + " p99", **style)
                    axes[1][col].plot(off, p50, "k_", markersize=12, label="p50" if i == 0 else None)
                for row, ylabel in enumerate(("throughput (samples/s)", "latency ms (bar p99, tick p50)")):
                    ax = axes[row][col]
                    ax.set_xticks(x)
                    ax.set_xticklabels([str(int(w)) for w in workers])
                    ax.set_xlabel("workers")
                    ax.set_ylabel(ylabel)
                    ax.grid(True, axis="y", alpha=0.3)
                axes[0][col].set_title("%s: data-parallel vs pipeline vs hybrid (%s, %g/s)" % (arch, strategy, rate))
            axes[0][-1].legend(title="layout", fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
            fig.tight_layout()
            save(fig, os.path.join(out_dir, "layouts_%s_r%g.png" % (strategy, rate)), written)


def accuracy_table(rows, res_dir, md):
    """Top-1 accuracy per arch and engine over the matrix runs, next to the training record and
    benchmarks/accuracy.py's checks (RES/accuracy/*.json: fp32 against PyTorch, int8 against fp32)."""
    models = {d["arch"]: d for d in load_json_dir(res_dir, "models") if "test_accuracy_pct" in d}
    acc = [r for r in rows if isinstance(r.get("accuracy_pct"), float)]
    checks = load_json_dir(res_dir, "accuracy")
    if not acc and not models and not checks:
        return
    md.append("\n## Accuracy: top-1 over the labelled samples of every run\n")
    if models:
        md.append("Weights trained by benchmarks/train.py on Fashion-MNIST's training set; its own top-1 "
                  "(PyTorch, fp32) on the test images:\n")
        md.append("| arch | steps x batch | training s | PyTorch test top-1 % (images) |")
        md.append("|---|---|---:|---:|")
        for a in ordered(models, ARCH_ORDER):
            d = models[a]
            md.append("| %s | %d x %d | %.0f | %.2f (%d) |" % (a, d["steps"], d["batch"], d["train_seconds"],
                                                             d["test_accuracy_pct"], d["test_samples"]))
        md.append("")
    if checks:
        from accuracy import table
        by_arch = {d["arch"]: d for d in checks}
        md.append("Every test image through PyTorch and through libdataparallel in fp32, then int8 after "
                  "`dp-bench calibrate` (%s training images), by benchmarks/accuracy.py:\n" % checks[0]["calibration"])
        md.append(table([by_arch[a] for a in ordered(by_arch, ARCH_ORDER)]))
        md.append("")
    if acc:
        md.append("| arch | engine | runs | top-1 % mean (min–max) |")
        md.append("|---|---|---:|---:|")
        for a in ordered([r["arch"] for r in acc], ARCH_ORDER):
            for e in ordered([r["engine"] for r in acc if r["arch"] == a], ENGINES):
                v = [r["accuracy_pct"] for r in acc if r["arch"] == a and r["engine"] == e]
                md.append("| %s | %s | %d | %.2f (%.2f–%.2f) |" % (a, e, len(v), sum(v) / len(v), min(v), max(v)))


def plot_straggler(res_dir, out_dir, written, md):
    """Per-worker share of the samples under a straggler, per strategy and engine."""
    runs = [d for d in load_json_dir(res_dir, "straggler") if d.get("per_worker")]
    if not runs:
        print("plot.py: no straggler runs in %s/straggler" % res_dir, file=sys.stderr)
        return
    archs = ordered([d["arch"] for d in runs], ARCH_ORDER)
    md.append("\n## Straggler: per-worker load with `--slowdown`\n")
    md.append("| arch | engine | strategy | slowdown | samples per worker | throughput (samples/s) | p99 ms | flagged |")
    md.append("|---|---|---|---|---|---:|---:|---|")
    fig, axes = plt.subplots(1, len(archs), figsize=(8.0 * len(archs), 4.8), squeeze=False)
    axes = axes[0]
    for ax, arch in zip(axes, archs):
        sub = [d for d in runs if d["arch"] == arch]
        engines = ordered([d["engine"] for d in sub], ENGINES)
        strategies = ordered([d["strategy"] for d in sub], STRATEGY_ORDER)
        W = max(len(d["per_worker"]) for d in sub)
        width = 0.8 / (len(engines) * W)
        for si, s in enumerate(strategies):
            for ei, e in enumerate(engines):
                d = next((d for d in sub if d["strategy"] == s and d["engine"] == e), None)
                if d is None:
                    continue
                total = max(sum(w["completed"] for w in d["per_worker"]), 1)
                slow = d.get("slowdown") or []
                for w in d["per_worker"]:
                    k = w["worker"]
                    x = si - 0.4 + (ei * W + k + 0.5) * width
                    f = slow[k] if k < len(slow) else 1.0
                    ax.bar(x, 100.0 * w["completed"] / total, width * 0.92,
                           color=ENGINE_COLOR[e], alpha=1.0 if f <= 1 else 0.45,
                           hatch=ENGINE_HATCH[e], edgecolor="black", linewidth=0.5)
                    ax.text(x, 100.0 * w["completed"] / total + 1, "w%d\n×%g" % (k, f), ha="center",
                            va="bottom", fontsize=7)
                md.append("| %s | %s | %s | %s | %s | %.1f | %.2f | %s |" % (
                    arch, e, s, ",".join("%g" % f for f in slow) or "-",
                    " / ".join(str(w["completed"]) for w in d["per_worker"]), d["throughput"],
                    d["latency_ms"]["p99"], ",".join("w%d" % w["worker"] for w in d["per_worker"]
                                                    if w.get("straggler")) or "-"))
        if W > 0:
            ax.axhline(100.0 / W, color="grey", linestyle=":", linewidth=1)
        ax.set_xticks(range(len(strategies)))
        ax.set_xticklabels(strategies)
        ax.set_ylim(0, 115)
        ax.set_xlabel("strategy  (bars: worker w0, w1, ...; pale = slowed down by the factor shown)")
        ax.set_ylabel("share of samples served (%)")
        slow = next((d.get("slowdown") for d in sub if d.get("slowdown")), None)
        ax.set_title("%s: load balance with a straggler (slowdown %s)" % (
            arch, ",".join("%g" % f for f in slow) if slow else "?"))
        from matplotlib.patches import Patch
        ax.legend(handles=[Patch(facecolor=ENGINE_COLOR[e], hatch=ENGINE_HATCH[e], edgecolor="black", label=e)
                           for e in engines], title="engine", fontsize=9, title_fontsize=9, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0))
        ax.grid(alpha=0.3, axis="y")
    save(fig, os.path.join(out_dir, "straggler_load_balance.png"), written)


PHASES = ("dispatch", "queue", "batching", "service", "delivery")
# Greys from light to dark plus a hatch each: the parts stay apart printed in black and white.
PHASE_STYLE = {"dispatch": ("#f7f7f7", "//"), "queue": ("#cccccc", ""), "batching": ("#ffffff", ".."),
               "service": ("#737373", ""), "delivery": ("#252525", "xx")}


def breakdown_cells(res_dir):
    """{(arch, strategy, workers, rate): [summary, ...]} of the matrix runs whose summary has a
    latency_breakdown_ms (ours; repeats of one configuration share a key)."""
    try:
        with open(os.path.join(res_dir, "results.json")) as f:
            cells = json.load(f).get("cells", [])
    except (OSError, ValueError):
        return {}
    out = {}
    for c in cells:
        s = c.get("summary") or {}
        if c.get("ok") and all(p in s.get("latency_breakdown_ms", {}) for p in PHASES):
            out.setdefault((c["arch"], c["strategy"], int(c["workers"]), c["rate"]), []).append(s)
    return out


def plot_breakdown(res_dir, out_dir, written, md):
    """Per arch, one stacked bar per configuration: the mean of each part of the latency (the means
    add up to the mean latency, docs/metrics.md "Latency breakdown"), and the same as shares."""
    cells = breakdown_cells(res_dir)
    if not cells:
        print("plot.py: no latency breakdowns in %s/results.json" % res_dir, file=sys.stderr)
        return
    md.append("\n## Where the latency goes (mean of each part, ms; averaged over repeats)\n")
    md.append("| arch | strategy | workers | rate | " + " | ".join(PHASES) + " | latency mean | p99 |")
    md.append("|---|---|---:|---:|" + "---:|" * (len(PHASES) + 2))
    for arch in ordered([k[0] for k in cells], ARCH_ORDER):
        keys = sorted((k for k in cells if k[0] == arch),
                      key=lambda k: (k[3], STRATEGY_ORDER.index(k[1]) if k[1] in STRATEGY_ORDER else 9, k[2]))
        runs = [cells[k] for k in keys]
        mean = {p: np.array([np.mean([s["latency_breakdown_ms"][p]["mean"] for s in rs]) for rs in runs])
                for p in PHASES}
        total = sum(mean[p] for p in PHASES)
        measured = np.array([np.mean([s["latency_ms"]["mean"] for s in rs]) for rs in runs])
        fig, (ax_ms, ax_pct) = plt.subplots(2, 1, figsize=(max(6.5, 0.75 * len(keys) + 2.5), 7.5), sharex=True)
        x = np.arange(len(keys))
        bottom, bottom_pct = np.zeros(len(keys)), np.zeros(len(keys))
        for p in PHASES:
            color, hatch = PHASE_STYLE[p]
            pct = np.divide(100.0 * mean[p], total, out=np.zeros_like(total), where=total > 0)
            style = dict(color=color, hatch=hatch, edgecolor="black", linewidth=0.6)
            ax_ms.bar(x, mean[p], 0.7, bottom=bottom, label=p, **style)
            ax_pct.bar(x, pct, 0.7, bottom=bottom_pct, **style)
            bottom += mean[p]
            bottom_pct += pct
        ax_ms.plot(x, measured, linestyle="none", marker="D", markerfacecolor="white", markeredgecolor="black",
                   label="measured mean latency")
        handles, labels = ax_ms.get_legend_handles_labels()
        ax_ms.legend(handles[::-1], labels[::-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax_ms.set_ylabel("mean latency (ms), stacked by part")
        # Headroom: the tallest bar and its measured-mean marker sat on the frame.
        ax_ms.set_ylim(0, max(float(np.max(bottom)), float(np.max(measured))) * 1.1 or 1.0)
        ax_pct.set_ylabel("share of the mean latency (%)")
        ax_pct.set_ylim(0, 100)
        ax_pct.set_xticks(x)
        ax_pct.set_xticklabels(["%s\n%d worker%s\n%g/s" % (k[1], k[2], "" if k[2] == 1 else "s", k[3]) for k in keys],
                               fontsize=8)
        ax_pct.set_xlabel("configuration (strategy, workers, target rate in samples/s)")
        for ax in (ax_ms, ax_pct):
            ax.grid(alpha=0.3, axis="y")
        s0 = runs[0][0]
        ax_ms.set_title("%s: where the latency goes — %s thread(s)/worker, max_batch %s, %s samples per run" % (
            arch, s0.get("threads_per_worker", "?"), s0.get("max_batch", "?"), s0.get("offered", "?")))
        save(fig, os.path.join(out_dir, "breakdown_%s.png" % arch), written)
        for k, i in zip(keys, x):
            md.append("| %s | %s | %d | %g | %s | %.3f | %.3f |" % (
                arch, k[1], k[2], k[3], " | ".join("%.3f" % mean[p][i] for p in PHASES), measured[i],
                np.mean([s["latency_ms"]["p99"] for s in cells[k]])))


def plot_capacity(res_dir, out_dir, slo, written, md):
    caps = [d for d in load_json_dir(res_dir, "capacity") if "capacity" in d]
    if not caps:
        print("plot.py: no capacity searches in %s/capacity" % res_dir, file=sys.stderr)
        return
    md.append("\n## Capacity: highest constant rate with p99 <= SLO and nothing dropped\n")
    md.append("| arch | engine | strategy | workers | SLO p99 ms | capacity (samples/s) |")
    md.append("|---|---|---|---:|---:|---:|")
    rank = {a: i for i, a in enumerate(ARCH_ORDER)}
    caps.sort(key=lambda d: (rank.get(d["arch"], 99), d["arch"], d["strategy"], d["workers"]))
    labels = list(dict.fromkeys("%s\n%s, %d worker%s" % (d["arch"], d["strategy"], d["workers"],
                                                         "" if d["workers"] == 1 else "s") for d in caps))
    engines = ordered([d["engine"] for d in caps], ENGINES)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.4 * len(labels)), 4.6))
    width = 0.8 / len(engines)
    top = max(d["capacity"] for d in caps) or 1.0
    for ei, e in enumerate(engines):
        for li, lab in enumerate(labels):
            d = next((d for d in caps if d["engine"] == e and "%s\n%s, %d worker%s" % (
                d["arch"], d["strategy"], d["workers"], "" if d["workers"] == 1 else "s") == lab), None)
            if d is None:
                continue
            x = li - 0.4 + (ei + 0.5) * width
            ax.bar(x, d["capacity"], width * 0.9, color=ENGINE_COLOR[e], hatch=ENGINE_HATCH[e], edgecolor="black",
                   linewidth=0.5, label=e if li == 0 or not ax.get_legend_handles_labels()[1].count(e) else None)
            lowest = min((p["rate"] for p in d.get("probes", [])), default=None)
            # A zero has no bar to carry its colour or hatch: the text names the engine.
            ax.text(x, d["capacity"] + top * 0.01, "%.0f" % d["capacity"] if d["capacity"] > 0 else
                    "%s: 0\np99 > %g ms\neven at\n%s" % (e, d.get("slo_p99_ms", slo),
                                                       "%.3g/s" % lowest if lowest else "the lowest rate"),
                    ha="center", va="bottom", fontsize=8)
            md.append("| %s | %s | %s | %d | %g | %.1f |" % (d["arch"], e, d["strategy"], d["workers"],
                                                          d.get("slo_p99_ms", slo), d["capacity"]))
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("capacity (samples/s)")
    ax.set_ylim(0, top * 1.15)
    ax.set_title("Capacity: highest constant rate with p99 <= %g ms and nothing dropped" % slo)
    handles, names = ax.get_legend_handles_labels()
    uniq = dict(zip(names, handles))
    ax.legend(uniq.values(), uniq.keys(), title="engine", fontsize=9, title_fontsize=9, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, axis="y")
    save(fig, os.path.join(out_dir, "capacity.png"), written)


def config_label(c):
    return "%dw x %dt b%d d%dus %s %s" % (c["workers"], c["threads_per_worker"], c["max_batch"], c["max_delay_us"],
                                          c["strategy"], c["precision"])


def plot_tune(t, path, written):
    """Throughput against p99 of every probe of a tune result; per configuration its best passing
    probe, the Pareto front of those (no other is both faster and lower in p99), the SLO, the best."""
    probes = t.get("probes", [])
    if not probes:
        print("plot.py: %s: no probes to plot" % path, file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    for ok, style in ((False, {"facecolors": "none", "edgecolors": "#999999", "label": "probe over the SLO or dropping"}),
                      (True, {"color": "#9ecae1", "label": "probe within the SLO"})):
        pts = [(p["p99_ms"], p["throughput"]) for p in probes if p["ok"] == ok and p["p99_ms"] > 0]
        if pts:
            ax.scatter(*zip(*pts), s=18, marker="o", **style)
    best_of = {}
    for p in probes:
        if p["ok"] and p["throughput"] > best_of.get(p["config"], {"throughput": -1})["throughput"]:
            best_of[p["config"]] = p
    pts = sorted((p["p99_ms"], p["throughput"], i) for i, p in best_of.items())
    front, top = [], -1.0
    for x, y, i in pts:  # by p99 ascending: on the front when faster than everything of lower p99
        if y > top:
            front.append((x, y, i))
            top = y
    if front:
        ax.plot([f[0] for f in front], [f[1] for f in front], "-o", color="#08519c", markersize=6,
                label="Pareto front (best passing probe per configuration)")
        for k, (x, y, i) in enumerate(front):  # labels alternately above and below: neighbours overlap
            ax.annotate(config_label(t["configs"][i]), (x, y), fontsize=7, xytext=(4, 6 if k % 2 == 0 else -11),
                        textcoords="offset points")
    slo = t.get("slo_p99_ms")
    if slo:
        ax.axvline(slo, color="#d62728", linestyle="--", linewidth=1, label="SLO p99 %g ms" % slo)
    b = t.get("best")
    if b:
        ax.axhline(b["capacity"], color="#2ca02c", linestyle=":", linewidth=1,
                   label="best: %.0f/s, %s%s" % (b["capacity"], config_label(b), "" if b["confirmed"] else " (unconfirmed)"))
    ax.set_xscale("log")
    ax.set_xlabel("p99 latency (ms, log scale)")
    ax.set_ylabel("throughput (samples/s)")
    ax.set_title("dp-bench tune %s: %d probes of %d configurations, %.0f of %g s budget" % (
        t.get("arch", ""), len(probes), len(t.get("configs", [])), t.get("seconds_used", 0), t.get("budget_s", 0)))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)  # below: never on a probe
    save(fig, path, written)


def plot_tunes(res_dir, out_dir, written, md):
    tunes = [d for d in load_json_dir(res_dir, "tune") if "configs" in d]
    if not tunes:
        return
    md.append("\n## Tune: the best configuration per arch (dp-bench tune)\n")
    md.append("| arch | SLO p99 ms | best configuration | capacity (samples/s) | confirmed | probes | seconds used |")
    md.append("|---|---:|---|---:|---|---:|---:|")
    for t in tunes:
        b = t.get("best")
        md.append("| %s | %g | %s | %s | %s | %d | %.0f of %g |" % (
            t.get("arch", "?"), t["slo_p99_ms"], config_label(b) if b else "none met the SLO",
            "%.1f" % b["capacity"] if b else "0", "yes" if b and b["confirmed"] else "no", len(t["probes"]),
            t["seconds_used"], t["budget_s"]))
        plot_tune(t, os.path.join(out_dir, "tune_pareto_%s.png" % t.get("arch", "unknown")), written)


def tune_main(argv):
    p = argparse.ArgumentParser(prog="plot.py tune", description="The Pareto plot of one dp-bench tune --json.")
    p.add_argument("json", help="dp-bench tune --json FILE")
    p.add_argument("--out", help="PNG to write (default: FILE with .png)")
    a = p.parse_args(argv)
    with open(a.json) as f:
        t = json.load(f)
    written = []
    plot_tune(t, a.out or os.path.splitext(a.json)[0] + ".png", written)
    return 0 if written else 1


class Context:
    """What a plot function gets: the results directory, where plots go, the matrix rows
    (results.csv, [] without one), the command line, the files written and summary.md's lines."""

    def __init__(self, res_dir, out_dir, rows, args):
        self.res_dir, self.out_dir, self.rows, self.args = res_dir, out_dir, rows, args
        self.written, self.md = [], []


def draw_matrix(c):
    # The other layouts of the same workers are not repeats of a data-parallel cell: their own plot.
    dp_rows = [r for r in c.rows if is_data_parallel(r)]
    if dp_rows:
        plot_vs_workers(dp_rows, c.out_dir, c.written)


def draw_layouts(c):
    plot_layouts(c.rows, c.out_dir, c.written)


def draw_cdf(c):
    plot_cdf(c.res_dir, c.out_dir, c.args.cdf_workers, c.written)


def draw_breakdown(c):
    plot_breakdown(c.res_dir, c.out_dir, c.written, c.md)


def draw_straggler(c):
    plot_straggler(c.res_dir, c.out_dir, c.written, c.md)


def draw_capacity(c):
    plot_capacity(c.res_dir, c.out_dir, c.args.slo_p99_ms, c.written, c.md)


def draw_tunes(c):
    plot_tunes(c.res_dir, c.out_dir, c.written, c.md)


# Every plot, in the order the report shows them: (file-name prefix, what it shows, the function
# that draws it from a Context). One function may draw several plots (it is called once). A new
# plot is a function and a row here: report.py takes order and captions from this list, and
# `report.py --check` rejects a PNG in plots/ that no row names.
PLOTS = (
    ("throughput_vs_workers", "Throughput against workers: colour = strategy, line style and marker = engine; "
     "dotted: the offered rate; error bars (with --repeat): 95 % bootstrap interval of the median.", draw_matrix),
    ("latency_vs_workers", "p50 and p99 latency from each sample's intended arrival against workers (log scale); "
     "error bars as above.", draw_matrix),
    ("latency_cdf", "Latency CDF of every run at one worker count (first repeat): the whole distribution "
     "behind p50/p99.", draw_cdf),
    ("breakdown_", "Where the latency goes: the mean of each part (dispatch, queue, batching, service, "
     "delivery) stacked per configuration.", draw_breakdown),
    ("efficiency_cpu_memory_vs_workers", "Efficiency, rate accuracy, process CPU and peak memory against "
     "workers.", draw_matrix),
    ("speedup_vs_workers", "Throughput at W workers over throughput at 1 worker (capped by the offered rate).",
     draw_matrix),
    ("heatmap_", "Strategy x workers grids of throughput, p99, efficiency and CPU, per engine (values "
     "written in every cell).", draw_matrix),
    ("layouts_", "libdataparallel's layouts of the same workers (data-parallel, pipeline, hybrid): throughput, "
     "p50 and p99 per worker count.", draw_layouts),
    ("straggler_load_balance", "Share of the samples each worker served with one worker slowed down "
     "(--slowdown): which strategies route around a straggler.", draw_straggler),
    ("capacity", "Highest constant rate whose p99 meets the SLO with nothing dropped, per engine.", draw_capacity),
    ("tune_pareto_", "dp-bench tune: throughput against p99 of every probe, the Pareto front of the "
     "configurations, the SLO and the best configuration.", draw_tunes),
)


def plot_info(name):
    """(rank in PLOTS, caption) of a plot file name; (len(PLOTS), None) for one no row names."""
    for i, (prefix, caption, _) in enumerate(PLOTS):
        if name.startswith(prefix):
            return i, caption
    return len(PLOTS), None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["tune"]:
        return tune_main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="results directory")
    p.add_argument("--cdf-workers", type=int, default=2, help="worker count of the latency CDF (default 2)")
    p.add_argument("--slo-p99-ms", type=float, default=10.0, help="SLO of the capacity searches (for titles)")
    a = p.parse_args(argv)
    out_dir = os.path.join(a.dir, "plots")
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(a.dir, "results.csv")
    rows = []
    if os.path.exists(csv_path):
        rows = [r for r in load_rows(csv_path) if isinstance(r.get("throughput"), float)]
    else:
        print("plot.py: no %s: no matrix plots" % csv_path, file=sys.stderr)
    AGGREGATES.clear()
    AGGREGATES.update(load_aggregates(a.dir))
    FOOTER[:] = [line for line in (machine_footer(a.dir),) if line]
    if AGGREGATES:
        n = sorted({v["repeats"] for v in AGGREGATES.values()})
        reps = "%d" % n[0] if len(n) == 1 else "%d-%d" % (n[0], n[-1])
        FOOTER.append("Values: medians of %s repeats; error bars, where drawn: 95 %% bootstrap intervals of the "
                      "median (%d resamples)." % (reps, next(iter(AGGREGATES.values()))["resamples"]))
    c = Context(a.dir, out_dir, rows, a)
    c.md += ["# Results summary", "", "Generated by benchmarks/plot.py from %s." % a.dir]
    accuracy_table([r for r in rows if is_data_parallel(r)], a.dir, c.md)
    for draw in dict.fromkeys(d for _, _, d in PLOTS):
        draw(c)
    c.md.append("\n## Plots\n")
    c.md.extend("- [%s](plots/%s): %s" % (os.path.basename(w), os.path.basename(w),
                                          plot_info(os.path.basename(w))[1] or "") for w in c.written)
    with open(os.path.join(a.dir, "summary.md"), "w") as f:
        f.write("\n".join(c.md) + "\n")
    print("plot.py: %d plots in %s, summary in %s" % (len(c.written), out_dir, os.path.join(a.dir, "summary.md")),
          file=sys.stderr)
    return 0 if c.written else 1


if __name__ == "__main__":
    sys.exit(main())
