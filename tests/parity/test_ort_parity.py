"""The ONNX Runtime baseline's numerics (benchmarks/ort_baseline.py): the exported models of the
four architectures, and alexnet at 63x63 (its adaptive pool, 1x1 -> 6x6, exported as a matrix
product), run by onnxruntime-node, agree with PyTorch to 1e-4 of max |logit| at a batch size
other than the export's (the batch axis is dynamic), and the check catches a model that does not. Skipped, with the reason, only where node or onnxruntime-node is not installed
(`scripts/deps --ort` installs them)."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
import ort_baseline as ob  # noqa: E402

OK, WHY = ob.availability()
pytestmark = pytest.mark.skipif(not OK, reason="ONNX Runtime baseline unavailable: %s" % WHY)
MODEL_DIR = os.path.join(os.environ.get("DP_TEST_TMP", "."), "ort_models")


@pytest.mark.parametrize("arch,size", [("resnet18", 32), ("mobilenet_v2", 32), ("resnet18_cifar", 32),
                                       ("mobilenetv2_cifar", 32), ("mobilenet_v2", 224),
                                       ("alexnet", 63)])
def test_ort_logits_agree_with_pytorch(arch, size):
    m = ob.checked_model(arch, 10, 0, size, MODEL_DIR)
    assert m["max_abs_diff_rel"] <= ob.TOLERANCE
    assert os.path.getsize(m["onnx"]) > 1000 and os.path.exists(m["npz"])
    # The .npz is the same model's state_dict: what dp-bench --weights loads for the comparison.
    sd = ob.pb.build_model(arch, 10, 0).state_dict()
    with np.load(m["npz"]) as z:
        assert set(z.files) == set(sd)
        assert all(np.array_equal(z[k], v.numpy()) for k, v in sd.items())

def test_a_wrong_model_fails_the_check_and_a_stale_cache_is_replaced(tmp_path, capsys):
    good = ob.checked_model("mobilenetv2_cifar", 10, 0, 32, str(tmp_path))
    other = ob.pb.build_model("mobilenetv2_cifar", 10, 1)
    assert ob.parity(other, good["onnx"], 32, str(tmp_path)) > 100 * ob.TOLERANCE
    # The seed-1 model's files where the seed-0 model's belong: exported again, then passes.
    ob.export(other, 32, good["onnx"], good["npz"])
    again = ob.checked_model("mobilenetv2_cifar", 10, 0, 32, str(tmp_path))
    assert again["max_abs_diff_rel"] <= ob.TOLERANCE
    assert "exporting it again" in capsys.readouterr().err


def test_weights_file_is_exported_under_its_digest(tmp_path):
    """--weights: the model of a state_dict .npz (as benchmarks/train.py writes), cached by the
    file's content, so that new weights under the same name are never served stale."""
    seeded = ob.checked_model("mobilenetv2_cifar", 10, 2, 32, str(tmp_path))
    m = ob.checked_model("mobilenetv2_cifar", 10, 0, 32, str(tmp_path), weights=seeded["npz"])
    assert m["max_abs_diff_rel"] <= ob.TOLERANCE
    assert os.path.basename(m["onnx"]).startswith("mobilenetv2_cifar_k10_w") and m["onnx"] != seeded["onnx"]
    assert ob.model_files(str(tmp_path), "mobilenetv2_cifar", 10, 0, 32, seeded["npz"])[0] == m["onnx"]


def test_a_remembered_check_is_redone_when_the_file_changes(tmp_path, capfd):
    d = str(tmp_path)
    first = ob.checked_model_isolated("mobilenetv2_cifar", 10, 0, 32, d)
    err = capfd.readouterr().err
    assert "logits agree" in err and "checked before" not in err and os.path.exists(first["onnx"] + ".checked")
    assert ob.checked_model_isolated("mobilenetv2_cifar", 10, 0, 32, d) == first
    assert "checked before for these bytes" in capfd.readouterr().err  # the same bytes, code and versions
    ob.export(ob.pb.build_model("mobilenetv2_cifar", 10, 1), 32, first["onnx"], first["npz"])
    again = ob.checked_model_isolated("mobilenetv2_cifar", 10, 0, 32, d)
    assert "exporting it again" in capfd.readouterr().err and again["max_abs_diff_rel"] <= ob.TOLERANCE
