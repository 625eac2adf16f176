"""Issue 22: type information and docstrings of the public API.

* The stubs (bindings/python/dataparallel/__init__.pyi) match the runtime (mypy's stubtest).
* typed_example.py, which uses the whole public API, passes `mypy --strict` and runs.
* Deliberately wrong calls are reported by mypy, each on its line.
* help() of every public class, function and method documents each parameter of its signature
  in a NumPy-style "Parameters" section and has an "Examples" section."""
import inspect
import os
import pydoc
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

import dataparallel as dp

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(dp.__file__)

needs_mypy = pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import mypy"]).returncode != 0,
                                reason="mypy is missing (scripts/deps installs python3-mypy)")


def mypy(tmp_path, *args, env=None):
    cmd = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), *args]
    e = dict(os.environ, MYPYPATH=os.path.dirname(PKG), **(env or {}))
    return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=600)


@needs_mypy
def test_typed_example_passes_mypy_strict(tmp_path):
    proc = mypy(tmp_path, os.path.join(HERE, "typed_example.py"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_typed_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(HERE, "typed_example.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "TYPED-EXAMPLE-OK" in proc.stdout


WRONG = textwrap.dedent("""
    import numpy as np
    import dataparallel as dp

    m = dp.Model("resnet18", classes="10")                         # WRONG: str for int
    r = dp.Runner(m, workers=2, overflow="sometimes")              # WRONG: not an overflow policy
    r.run(dp.Dataset.synthetic(4))                                 # WRONG: a Dataset is not a Source
    n: str = m.infer(np.zeros((1, 3, 32, 32), np.float32))         # WRONG: returns an array
    dp.Source.synthetic(rate=300, samples=10, shape=(3, 32, 32), arrival="bursty")  # WRONG: arrival
    dp.CsvSink(3)                                                  # WRONG: a path
    dp.Runner(m, worker_timeout_s="5")                             # WRONG: str for float
    ok = dp.Runner(m, workers=2, retry=True).run(dp.Source.synthetic(rate=300, samples=10))
""")


@needs_mypy
def test_wrong_calls_are_reported(tmp_path):
    path = tmp_path / "wrong.py"
    path.write_text(WRONG)
    proc = mypy(tmp_path, str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    reported = {int(m.group(1)) for m in re.finditer(r"wrong\.py:(\d+): error:", proc.stdout)}
    expected = {i + 1 for i, line in enumerate(WRONG.splitlines()) if "# WRONG" in line}
    assert reported == expected, proc.stdout


@needs_mypy
def test_stubs_match_the_runtime(tmp_path):
    """stubtest imports the package (build tree) and compares it with stubs alone on MYPYPATH, so
    mypy does not analyse the untyped implementation. The SWIG module capi is untyped on purpose."""
    stubs = tmp_path / "stubs" / "dataparallel"
    stubs.mkdir(parents=True)
    for name in ("__init__.pyi", "capi.pyi", "py.typed"):
        shutil.copy(os.path.join(PKG, name), stubs / name)
    allow = tmp_path / "allowlist.txt"
    allow.write_text("dataparallel\\.capi\\..*\n")
    proc = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", os.devnull,
                           "--allowlist", str(allow), "dataparallel"], capture_output=True, text=True, timeout=600,
                          cwd=str(tmp_path), env=dict(os.environ, MYPYPATH=str(tmp_path / "stubs")))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def public_objects():
    for name in dp.__all__:
        obj = getattr(dp, name)
        if name == "__version__" or obj is dp.Status:
            continue
        yield name, obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(member, (classmethod, staticmethod)):
                    member = member.__func__
                if isinstance(member, property) or inspect.isfunction(member):
                    yield f"{name}.{attr}", getattr(obj, attr) if not isinstance(member, property) else member


def documented(doc):
    """Names of the entries of the NumPy-style "Parameters" section."""
    m = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][a-z]+\n-+\n|\Z)", doc, re.S | re.M)
    if not m:
        return set()
    names = set()
    for line in m.group(1).splitlines():
        entry = re.match(r"^([A-Za-z_][\w, ]*?) :", line)
        if entry:
            names.update(n.strip() for n in entry.group(1).split(","))
    return names


@pytest.mark.parametrize("name,obj", list(public_objects()), ids=[n for n, _ in public_objects()])
def test_help_documents_every_parameter(name, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    if isinstance(obj, property):
        return
    params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")]
    missing = set(params) - documented(doc)
    assert not missing, f"{name}: parameters {sorted(missing)} not in its Parameters section"
    text = pydoc.render_doc(obj, renderer=pydoc.plaintext)
    assert all(p in text for p in params)
    assert "Examples\n--------" in doc, f"{name} has no Examples section"


def test_reprs_say_what_objects_are(fast_model, tmp_path):
    assert re.fullmatch(r"Model\('mobilenet_v2', classes=10, precision='fp32', params=2\.\dM\)", repr(fast_model))
    r = dp.Runner(fast_model, workers=2, partitioner="dynamic")
    assert repr(r) == ("Runner('mobilenet_v2', workers=2, threads_per_worker=1, partitioner='dynamic', max_batch=1, "
                       "backend='threads')")
    assert repr(dp.Partitioner("sharded")) == "Partitioner('sharded')"
    assert repr(dp.Dataset.synthetic(5)) == "Dataset(n=5, shape=(3, 32, 32))"
    src = dp.Source.synthetic(rate=300, samples=10)
    assert repr(src) == "Source('constant', rate=300, samples=10, shape=(3, 32, 32))"
    assert repr(dp.CsvSink(tmp_path / "m.csv")) == f"CsvSink({str(tmp_path / 'm.csv')!r})"
    assert repr(dp.JsonlSink(tmp_path / "r.jsonl")) == f"JsonlSink({str(tmp_path / 'r.jsonl')!r})"
    assert repr(dp.ConsoleSink()) == "ConsoleSink(stream='stderr')"
    assert repr(dp.CallbackSink(on_summary=print)) == "CallbackSink(on_summary)"
    assert repr(dp.Error(5, "no such file")) == "Error(Status.DP_ERR_NOT_FOUND, 'no such file')"
