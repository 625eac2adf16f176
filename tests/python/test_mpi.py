"""backend="mpi" from Python: every rank of mpirun runs the same script; rank 0 reports."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import dataparallel

# Each rank writes its line to its own file: mpirun forwards the ranks' stdout in chunks that may
# interleave mid-line.
SCRIPT = textwrap.dedent("""
    import os
    import dataparallel as dp
    m = dp.Model("mobilenet_v2", seed=1)
    r = dp.Runner(m, workers=2, backend="mpi", partitioner="dynamic")
    s = r.run(dp.Source.synthetic(rate=300, samples=120))
    b = r.run_batch(dp.Dataset.synthetic(30))
    worker_rank = r.is_worker_rank
    del r  # one MPI runner at a time per process
    # A 2-stage pipeline: rank 1 runs stage 0, rank 2 stage 1 (docs/pipeline.md, "Over MPI").
    r = dp.Runner(m, workers=2, backend="mpi", stages=2, cuts=["features.7"])
    p = r.run(dp.Source.synthetic(rate=300, samples=60))
    stage_rows = p.get("pipeline", {}).get("per_stage", [])
    rank = os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ.get("PMI_RANK") or str(os.getpid())
    with open(f"rank_{rank}.txt", "w") as f:
        if worker_rank:
            print("WORKER", s["offered"], b["offered"], p["offered"], file=f)
        else:
            print("COORDINATOR", s["offered"], s["completed"], b["completed"], int((b["top1"] >= 0).sum()),
                  p["completed"], [st["bytes_sent"] > 0 for st in stage_rows],
                  [w["completed"] for w in s["per_worker"]], file=f)
""")


def test_mpi_backend_from_python(tmp_path):
    lib_dir = os.environ.get("DP_LIB_DIR", "")
    if not shutil.which("mpirun") or not os.path.exists(os.path.join(lib_dir, "libdataparallel_mpi.so.0")):
        pytest.skip("mpirun or the MPI plugin is not available")
    script = tmp_path / "mpi_run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(dataparallel.__file__))))
    proc = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "3", sys.executable,
                           str(script)], capture_output=True, text=True, timeout=300, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [p.read_text().strip() for p in sorted(tmp_path.glob("rank_*.txt"))]
    coord = [line.split(" ", 6) for line in lines if line.startswith("COORDINATOR")]
    workers = [line.split() for line in lines if line.startswith("WORKER")]
    assert len(coord) == 1 and len(workers) == 2, lines
    assert coord[0][1:5] == ["120", "120", "30", "30"], coord
    # The pipeline: all 60 completed, stage 0 handed activations on, the last stage none.
    assert coord[0][5] == "60" and coord[0][6].startswith("[True, False]"), coord
    assert all(w[1:] == ["0", "0", "0"] for w in workers)
