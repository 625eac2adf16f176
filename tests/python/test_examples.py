"""The Python examples run and print what they promise."""
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "python")


def run(script, *args):
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
def test_classify_matches_pytorch(arch):
    out = run("classify.py", "--arch", arch, "--batch", "4")
    assert "top-1 agreement 4/4" in out


def test_stream_prints_summary(tmp_path):
    out = run("stream.py", "--arch", "mobilenet_v2", "--rate", "300", "--samples", "300", "--csv",
              str(tmp_path / "m.csv"))
    assert "offered 300  completed 300  dropped 0  failed 0" in out
    assert "worker 1:" in out and (tmp_path / "m.csv").stat().st_size > 0
