"""CUDA-only paths (channels-last, pinned memory, bf16 autocast, several GPUs over NCCL). They run
where a GPU is present and are skipped with the reason elsewhere; benchmarks/gpu_check.py measures
throughput and model-FLOPs utilisation on such a machine."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from conftest import write_image_zip

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device here (GPU checks run where one is lent: benchmarks/gpu_check.py)")


def test_a_picture_run_trains_on_the_gpu_in_bf16_channels_last(tmp_path, tiny_image_model):
    from ftapp.runs import RunFolder
    from ftapp.train.prepared import to_device

    assert to_device(torch.zeros(2, 3, 8, 8), torch.device("cuda")).is_contiguous(memory_format=torch.channels_last)
    data = write_image_zip(tmp_path / "c.zip", n_per_class=40)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "ftapp.cli", "train", "--data", str(data), "--model", tiny_image_model,
                           "--out", str(out), "--no-auto", "--augment", "--epochs", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    status = json.loads((out / RunFolder.STATUS).read_text())
    assert status["device"].startswith("GPU") and status["effective"]["precision"] == "bf16"


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_gpus_train_one_run_over_nccl(tmp_path, tiny_text_model, text_csv_big):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "ftapp.cli", "train", "--data", str(text_csv_big), "--model",
                           tiny_text_model, "--out", str(out), "--no-auto", "--gpus", "2", "--epochs", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2
