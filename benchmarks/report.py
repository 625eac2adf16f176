#!/usr/bin/python3
"""One self-contained HTML page for a results directory written by scripts/run or `dp-bench matrix`
(after benchmarks/plot.py): the headline, the machine and the exact commands, every table and every
plot. The plots are embedded (data: URLs), so DIR/index.html can be read offline and moved alone;
each <img> also names its file (data-file) so the page and the PNGs can be checked against each other.

  DIR/machine.json   {"cpu", "isa", "cores", "load_before", "load_after", "commit", "date"} (scripts/run)
  DIR/commands.txt   the commands that produced the directory, one per line (scripts/run)
  DIR/results.csv    one row per stream run (the headline table is computed from it)
  DIR/results.md     the matrix tables; DIR/summary.md: accuracy, straggler and capacity tables
  DIR/plots/*.png    the plots

The plots are shown in the order of plot.py's PLOTS, each with its caption, after an index that
links every one.

Usage: report.py DIR [--title TEXT]. Writes DIR/index.html; exits 1 when DIR has nothing to report.
       report.py DIR --check: checks an existing DIR/index.html against DIR/plots/ (every PNG is shown
       and linked from the index, every link leads to a figure, every figure is a non-empty PNG of
       the size the page gives and at least 300x200, every PNG is a plot PLOTS names, nothing is
       fetched from elsewhere); exits 1 listing what is wrong.
"""
import argparse
import base64
import csv
import glob
import html
import json
import os
import re
import struct
import sys


def png_size(path):
    """(width, height) from a PNG's IHDR chunk; None when the file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def inline(text):
    """Markdown inline code, bold and links, after escaping."""
    out, parts = [], re.split(r"(`[^`]*`)", text)
    for p in parts:
        if p.startswith("`") and p.endswith("`") and len(p) >= 2:
            out.append("<code>%s</code>" % html.escape(p[1:-1]))
            continue
        p = html.escape(p, quote=False)
        p = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", p)
        # Links to plots point at the embedded figure; other links are kept as relative links.
        p = re.sub(r"\[([^\]]+)\]\(plots/([^)]+)\)", r'<a href="#plot-\2">\1</a>', p)
        p = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', p)
        out.append(p)
    return "".join(out)


def markdown(md):
    """The Markdown our own tools write: headings, pipe tables, fenced code, lists, paragraphs."""
    out, lines, i = [], md.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>%s</pre>" % html.escape("\n".join(lines[i + 1:j])))
            i = j + 1
        elif line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 6)  # the page's own title is <h1>
            out.append("<h%d>%s</h%d>" % (level, inline(line.lstrip("#").strip()), level))
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            body = [r for r in rows[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r)]
            out.append("<table><tr>%s</tr>%s</table>" % (
                "".join("<th>%s</th>" % inline(c) for c in rows[0]),
                "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % inline(c) for c in r) for r in body)))
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append("<li>%s</li>" % inline(lines[i][2:]))
                i += 1
            out.append("<ul>%s</ul>" % "".join(items))
        elif line.strip():
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "```", "- ")):
                para.append(lines[i])
                i += 1
            out.append("<p>%s</p>" % inline(" ".join(para)))
        else:
            i += 1
    return "\n".join(out)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def headline(rows, aggs=None):
    """Per arch and rate, at the largest worker count: each engine's best strategy (highest median
    throughput over repeats, then lowest p99), with the 95 % intervals when there were repeats."""
    def num(r, k):
        try:
            return float(r[k])
        except (KeyError, TypeError, ValueError):
            return float("nan")

    # Data-parallel rows only: a matrix's pipeline and hybrid layouts have their own table and plot.
    rows = [r for r in rows if num(r, "throughput") == num(r, "throughput") and r.get("layout") not in LAYOUT_ORDER[1:]]
    if not rows:
        return ""
    aggs = aggs or {}
    cells = {}
    for r in rows:
        cells.setdefault((r["engine"], r["arch"], r["strategy"], num(r, "workers"), num(r, "rate")), []).append(r)

    def med(cell, k):
        v = sorted(num(r, k) for r in cells[cell])
        return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])

    def shown(cell, k, path, fmt):
        a = aggs.get(cell)
        for p in path if a else ():
            a = a.get(p) if isinstance(a, dict) else None
        if isinstance(a, dict) and "median" in a:
            return (fmt + " [" + fmt + ", " + fmt + "]") % (a["median"], a["lo"], a["hi"])
        return fmt % med(cell, k)

    w = max(num(r, "workers") for r in rows)
    reps = max(len(v) for v in cells.values())
    md = ["Each engine's best strategy at %d workers (highest throughput, then lowest p99); latency from each "
          "sample's intended arrival.%s" % (w, " Medians of %d repeats [95 %% bootstrap interval]." % reps
                                            if reps > 1 and aggs else ""), "",
          "| arch | offered (samples/s) | engine | best strategy | throughput (samples/s) | p50 ms | p99 ms | "
          "dropped | top-1 % |", "|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for arch, rate in sorted({(c[1], c[4]) for c in cells}):
        for engine in dict.fromkeys(r["engine"] for r in rows):
            cand = [c for c in cells if c[1] == arch and c[4] == rate and c[0] == engine and c[3] == w]
            if not cand:
                continue
            b = max(cand, key=lambda c: (med(c, "throughput"), -med(c, "latency_p99_ms")))
            acc = med(b, "accuracy_pct")
            md.append("| %s | %g | %s | %s | %s | %s | %s | %d | %s |" % (
                arch, rate, engine, b[2], shown(b, "throughput", ("throughput",), "%.1f"),
                shown(b, "latency_p50_ms", ("latency_ms", "p50"), "%.2f"),
                shown(b, "latency_p99_ms", ("latency_ms", "p99"), "%.2f"), int(med(b, "dropped") or 0),
                "%.2f" % acc if acc == acc else "-"))
    return "\n".join(md)


def machine_section(res_dir):
    path = os.path.join(res_dir, "machine.json")
    md = []
    if os.path.exists(path):
        with open(path) as f:
            m = json.load(f)
        md += ["| | |", "|---|---|"]
        for key, name in (("cpu", "CPU"), ("isa", "oneDNN ISA"), ("cores", "cores"), ("load_before", "load before"),
                          ("load_after", "load after"), ("commit", "commit"), ("date", "date")):
            if key in m:
                md.append("| %s | %s |" % (name, str(m[key]).replace("|", "/")))
    else:
        md.append("No machine.json in this directory (written by scripts/run).")
    cmds = os.path.join(res_dir, "commands.txt")
    if os.path.exists(cmds):
        with open(cmds) as f:
            md += ["", "Commands, in the order they ran:", "", "```", f.read().rstrip("\n"), "```"]
    return "\n".join(md)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot import LAYOUT_ORDER, load_aggregates, plot_info  # noqa: E402  (the plot registry, PLOTS, lives with the plots)


def plot_rank(path):
    name = os.path.basename(path)
    return (plot_info(name)[0], name)


STYLE = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#111}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.85em}td,th{border:1px solid #bbb;padding:2px 6px}
th{background:#eee}td{text-align:right}td:first-child{text-align:left}pre{background:#f4f4f4;padding:0.6em;
overflow-x:auto;font-size:0.8em}figure{margin:1.5em 0}img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:0.85em;color:#444}nav a{margin-right:1em}"""


def check_page(res_dir):
    """What is wrong with DIR/index.html, as a list of sentences (empty: nothing)."""
    problems = []
    try:
        with open(os.path.join(res_dir, "index.html")) as f:
            page = f.read()
    except OSError as e:
        return ["cannot read the page: %s" % e]
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]*)" data-file="([^"]+)" '
                      r'width="(\d+)" height="(\d+)"', page)
    shown = {name for _, name, _, _ in imgs}
    ids = set(re.findall(r'<figure id="plot-([^"]+)"', page))
    linked = set(re.findall(r'<li><a href="#plot-([^"]+)">', page))
    problems += ["the index links %s, which has no figure" % n for n in sorted(linked - ids)]
    problems += ["the index does not link %s" % n for n in sorted(ids - linked)]
    problems += ["figure %s shows no image named plots/%s" % (n, n) for n in sorted(ids) if "plots/" + n not in shown]
    problems += ["%s is no plot of plot.py's PLOTS" % n for n in sorted(shown) if plot_info(os.path.basename(n))[1] is None]
    on_disk = {"plots/" + os.path.basename(p) for p in glob.glob(os.path.join(res_dir, "plots", "*.png"))}
    problems += ["%s is not on the page" % p for p in sorted(on_disk - shown)]
    problems += ["the page shows %s, which is not in plots/" % p for p in sorted(shown - on_disk)]
    for data, name, w, h in imgs:
        png = base64.b64decode(data)
        if len(png) < 1000 or png[:8] != b"\x89PNG\r\n\x1a\n":
            problems.append("%s: embedded image is empty or not a PNG (%d bytes)" % (name, len(png)))
        elif struct.unpack(">II", png[16:24]) != (int(w), int(h)):
            problems.append("%s: the page says %sx%s, the image is %dx%d" % ((name, w, h) + struct.unpack(">II", png[16:24])))
        elif int(w) < 300 or int(h) < 200:
            problems.append("%s: %sx%s is too small to read" % (name, w, h))
        path = os.path.join(res_dir, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                if f.read() != png:
                    problems.append("%s: the embedded image differs from the file" % name)
    if re.search(r'(src|href)="(https?:)?//', page):
        problems.append("the page fetches something from the network")
    return problems


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="results directory")
    p.add_argument("--title", default="libdataparallel results", help="page title")
    p.add_argument("--check", action="store_true", help="check DIR/index.html instead of writing it")
    a = p.parse_args(argv)
    res = a.dir
    if a.check:
        problems = check_page(res)
        for m in problems:
            print("report.py: %s: %s" % (os.path.join(res, "index.html"), m), file=sys.stderr)
        return 1 if problems else 0
    plots = sorted(glob.glob(os.path.join(res, "plots", "*.png")), key=plot_rank)
    parts = []
    csv_path = os.path.join(res, "results.csv")
    if os.path.exists(csv_path):
        parts.append(("Headline", markdown(headline(read_rows(csv_path), load_aggregates(res)))))
    parts.append(("Machine", markdown(machine_section(res))))
    for name, title in (("results.md", "Benchmark matrix"), ("summary.md", "Accuracy, straggler, capacity")):
        path = os.path.join(res, name)
        if os.path.exists(path):
            with open(path) as f:
                md = f.read()
            # The section has its own title; summary.md's list of plot links is replaced by the figures.
            md = re.sub(r"\A# [^\n]*\n", "", md)
            md = re.sub(r"\n## Plots\n.*", "\n", md, flags=re.S)
            parts.append((title, markdown(md)))
    figs, index = [], []
    for path in plots:
        size = png_size(path)
        if size is None:
            print("report.py: %s is not a PNG: left out" % path, file=sys.stderr)
            continue
        name = os.path.basename(path)
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode("ascii")
        caption = plot_info(name)[1] or "(a plot plot.py's PLOTS does not name)"
        figs.append('<figure id="plot-%s"><img src="data:image/png;base64,%s" data-file="plots/%s" width="%d" '
                    'height="%d" alt="%s"><figcaption><b>plots/%s</b>: %s</figcaption></figure>' % (
                        html.escape(name), data, html.escape(name), size[0], size[1], html.escape(name),
                        html.escape(name), html.escape(caption)))
        index.append('<li><a href="#plot-%s">%s</a>: %s</li>' % (html.escape(name), html.escape(name),
                                                                 html.escape(caption)))
    if figs:
        parts.append(("Plots", '<ul class="plot-index">%s</ul>\n%s' % ("".join(index), "\n".join(figs))))
    if not figs and not os.path.exists(csv_path):
        print("report.py: %s has no results.csv and no plots: nothing to report" % res, file=sys.stderr)
        return 1
    nav = " ".join('<a href="#s%d">%s</a>' % (i, html.escape(t)) for i, (t, _) in enumerate(parts))
    body = "\n".join('<section id="s%d"><h2>%s</h2>\n%s</section>' % (i, html.escape(t), h)
                     for i, (t, h) in enumerate(parts))
    page = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>%s</title><style>%s</style>'
            '</head><body><h1>%s</h1><nav>%s</nav>\n%s\n</body></html>\n' % (
                html.escape(a.title), STYLE, html.escape(a.title), nav, body))
    out = os.path.join(res, "index.html")
    with open(out, "w") as f:
        f.write(page)
    print("report.py: wrote %s (%d plots, %d sections)" % (out, len(figs), len(parts)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
