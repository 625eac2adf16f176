"""Issue 8's "done when": after `cmake --install build --prefix P`, /usr/bin/python3 with PYTHONPATH
into P imports dataparallel (the installed copy, finding the installed libdataparallel through
its RPATH), matches PyTorch within 1e-4 and runs a 300 samples/s stream over 2 workers with
every sample completed."""
import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    import dataparallel as dp
    from conftest import export_torchvision

    prefix = sys.argv[1]
    assert dp.__file__.startswith(prefix), dp.__file__
    libs = [line.split()[-1] for line in open("/proc/self/maps") if "libdataparallel.so" in line]
    assert libs and all(p.startswith(prefix) for p in libs), libs

    torch.set_num_threads(1)
    net = export_torchvision("resnet18", prefix + "/w.npz", classes=10, seed=5)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    m = dp.Model("resnet18", weights=prefix + "/w.npz", classes=10)
    err = float(np.abs(m.infer(x) - ref).max()) / float(np.abs(ref).max())
    assert err <= 1e-4, err

    r = dp.Runner(m, workers=2, threads_per_worker=1, partitioner="dynamic")
    s = r.run(dp.Source.synthetic(rate=300, samples=600, shape=(3, 32, 32)))
    assert s["offered"] == s["completed"] == 600 and s["dropped"] == s["failed"] == 0, s
    print("INSTALLED-OK", err, s["efficiency_pct"], s["latency_ms"]["p99"])
""")


def test_installed_package(tmp_path):
    build = os.environ.get("DP_BUILD_DIR")
    if not build:
        pytest.skip("DP_BUILD_DIR is not set (run through ctest)")
    prefix = str(tmp_path / "prefix")
    subprocess.run(["cmake", "--install", build, "--prefix", prefix], check=True, stdout=subprocess.DEVNULL)
    site = os.path.join(prefix, "lib", "python3", "dist-packages")
    assert os.path.isfile(os.path.join(site, "dataparallel", "__init__.py"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    # conftest only for the torch export helper; the package must come from the prefix
    env["PYTHONPATH"] = os.pathsep.join([site, os.path.dirname(__file__)])
    proc = subprocess.run(["/usr/bin/python3", "-c", CHILD, prefix], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "INSTALLED-OK" in proc.stdout
