"""Issue 22: the package as pip builds and installs it (pyproject.toml + setup.py).

The wheel is built once per session with Debian's tools only (`python3 -m build --wheel
--no-isolation`), installed with `pip install --no-deps --target` into an empty directory and used
from a fresh `/usr/bin/python3 -I` (no PYTHONPATH, no site directories): it must load the
libdataparallel.so.0 it bundles, agree with the build tree within 1e-4 and finish a 300/s stream.
setuptools and CMake build under DP_BUILD_DIR/wheel-build, kept between runs (the first run
builds the library, about 40 s on 2 cores; later runs only check it is up to date)."""
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import dataparallel as dp

SOURCE = os.environ.get("DP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def tool_missing(module):
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode != 0


pytestmark = pytest.mark.skipif(tool_missing("build") or tool_missing("pip") or tool_missing("setuptools"),
                                reason="python3-build, python3-pip or python3-setuptools missing (scripts/deps)")


def build_env(tmp):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    base = os.environ.get("DP_BUILD_DIR")
    env["DP_WHEEL_BUILD_DIR"] = os.path.join(base, "wheel-build") if base else str(tmp / "wheel-build")
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    return env


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp / "dist"),
                           SOURCE], env=build_env(tmp), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list((tmp / "dist").glob("dataparallel-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def pip_target(args, target, env):
    assert not target.exists() or not any(target.iterdir())
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target",
                           str(target), *args], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


CHILD = textwrap.dedent("""
    import sys
    target, x_path, out_path = sys.argv[1:4]
    sys.path.insert(0, target)
    import importlib.metadata
    import numpy as np
    import dataparallel as dp

    assert dp.__file__.startswith(target), dp.__file__
    libs = {line.split()[-1] for line in open("/proc/self/maps") if "libdataparallel.so" in line}
    assert libs == {target + "/dataparallel/libdataparallel.so.0"}, libs
    assert dp.__version__ == dp.capi.dp_version_string() == importlib.metadata.version("dataparallel")

    m = dp.Model("resnet18", classes=10, seed=5)
    np.save(out_path, m.infer(np.load(x_path)))
    r = dp.Runner(m, workers=2, partitioner="dynamic")
    s = r.run(dp.Source.synthetic(rate=300, samples=600, shape=(3, 32, 32)))
    assert s["offered"] == s["completed"] == 600 and s["dropped"] == s["failed"] == 0, s
    print("WHEEL-OK", repr(m))
""")


def run_installed(target, tmp):
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32)
    np.save(tmp / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    proc = subprocess.run(["/usr/bin/python3", "-I", "-c", CHILD, str(target), str(tmp / "x.npy"),
                           str(tmp / "y.npy")], env=env, cwd=str(tmp), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WHEEL-OK Model('resnet18', classes=10, precision='fp32', params=11.2M)" in proc.stdout
    ref = dp.Model("resnet18", classes=10, seed=5).infer(x)   # the build tree (PYTHONPATH)
    err = float(np.abs(np.load(tmp / "y.npy") - ref).max()) / float(np.abs(ref).max())
    assert err <= 1e-4, err


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    pkg = {n.split("/", 1)[1] for n in names if n.startswith("dataparallel/")}
    assert {"__init__.py", "capi.py", "libdataparallel.so.0", "py.typed", "__init__.pyi",
            "capi.pyi"} <= pkg, pkg
    assert any(n.startswith("_capi.") and n.endswith(".so") for n in pkg), pkg
    assert not any(n.endswith((".so", ".so.0.1.0")) and n.startswith("libdataparallel.so") for n in pkg)


def test_wheel_installs_and_runs_isolated(wheel, tmp_path):
    target = tmp_path / "site"
    target.mkdir()
    pip_target([str(wheel)], target, build_env(tmp_path))
    run_installed(target, tmp_path)


def test_pip_install_from_source(wheel, tmp_path):
    """`pip install --no-build-isolation .` (here with --target): the same build, reused."""
    target = tmp_path / "site"
    pip_target(["--no-build-isolation", SOURCE], target, build_env(tmp_path))
    assert (target / "dataparallel" / "libdataparallel.so.0").is_file()
    proc = subprocess.run(["/usr/bin/python3", "-I", "-c",
                           f"import sys; sys.path.insert(0, {str(target)!r}); import dataparallel as dp; "
                           "print(dp.__version__ == dp.capi.dp_version_string(), dp.Model('mobilenet_v2'))"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("True Model('mobilenet_v2'"), proc.stdout
