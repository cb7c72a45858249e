"""The same run on several processes (torch.distributed, gloo on this CPU): `torchrun … -m ftapp.cli
train`, `ftapp train --processes 2`, two "nodes" on one box, SIGTERM and --resume, a rank that dies."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from ftapp.runs import RunFolder

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
       "FTAPP_DIST_TIMEOUT_S": "60"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def _train_args(data, model, out, *more) -> list[str]:
    return ["-m", "ftapp.cli", "train", "--data", str(data), "--model", model, "--out", str(out), "--no-auto",
            "--frozen-layers", "1", "--lr", "1e-3", "--epochs", "3", "--min-steps", "60", *more]


def _metrics(out: Path) -> dict:
    return json.loads((out / RunFolder.METRICS).read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_train_one_run_like_one_process(tmp_path, tiny_learner_model, text_csv_big):
    """Both must learn for the comparison to mean anything: the steady tiny model (conftest)."""
    learner = tiny_learner_model
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, *_train_args(text_csv_big, learner, one)], env=ENV, check=True,
                   capture_output=True, timeout=600)
    proc = subprocess.run([*TORCHRUN, "--standalone", "--nproc_per_node", "2",
                           *_train_args(text_csv_big, learner, two)], env=ENV, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m1, m2 = _metrics(one), _metrics(two)
    assert m1["world_size"] == 1 and m2["world_size"] == 2
    assert m1["test_accuracy"] >= 0.8 and m2["test_accuracy"] >= 0.8
    # other batches, other reductions: the same within two of the 42 test tickets
    assert abs(m2["test_accuracy"] - m1["test_accuracy"]) * m1["n_test"] <= 2 + 1e-9
    assert m2["n_val"] == m1["n_val"] and m2["n_test"] == m1["n_test"]     # every example scored exactly once
    assert (two / "model.safetensors").is_file() and not list(two.glob(".*tmp*"))
    assert proc.stderr.count("Test accuracy") == 1                         # rank 0 alone speaks and writes


def test_ftapp_train_processes_relaunches_itself_under_torchrun(tmp_path, tiny_text_model, text_csv_big):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, *_train_args(text_csv_big, tiny_text_model, out, "--processes", "2")],
                          env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Training with 2 processes" in proc.stderr and _metrics(out)["world_size"] == 2


def test_two_nodes_on_one_box_rendezvous_on_loopback(tmp_path, tiny_text_model, text_csv_big):
    """`torchrun --nnodes 2 --rdzv-backend c10d --rdzv-endpoint HOST:PORT` as on two machines (the
    README's multi-node command), here two "nodes" of one process each on 127.0.0.1."""
    port, out = _free_port(), tmp_path / "run"
    nodes = [subprocess.Popen([*TORCHRUN, "--nnodes", "2", "--nproc_per_node", "1", "--node_rank", str(rank),
                               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "ftapp-test",
                               *_train_args(text_csv_big, tiny_text_model, out)], env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    results = [p.communicate(timeout=600) for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    assert _metrics(out)["world_size"] == 2


def test_sigterm_pauses_every_process_and_resume_goes_on(tmp_path, tiny_text_model, text_csv_big):
    out = tmp_path / "run"
    env = {**ENV, "FTAPP_CHECKPOINT_SECONDS": "0"}
    proc = subprocess.Popen([*TORCHRUN, "--standalone", "--nproc_per_node", "2",
                             *_train_args(text_csv_big, tiny_text_model, out)[:-4], "--epochs", "100",
                             "--min-steps", "5000", "--batch-size", "4", "--patience", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while RunFolder(out).read(RunFolder.CHECKPOINT_INFO) is None:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert "Paused at a checkpoint" in err, err[-3000:]
    saved = RunFolder(out).read(RunFolder.CHECKPOINT_INFO)
    again = subprocess.Popen([*TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "ftapp.cli", "train",
                              "--resume", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not any(json.loads(line).get("kind") == "step" and json.loads(line)["step"] > saved["step"]
                  for line in (out / RunFolder.EVENTS).read_text().splitlines() if line.strip()):
        assert again.poll() is None and time.time() < deadline, again.communicate()[1][-3000:]
        time.sleep(0.2)
    again.send_signal(signal.SIGINT)            # Ctrl-C: every process stops and rank 0 keeps the best model
    _, err = again.communicate(timeout=120)     # (torchrun itself reports the signal with exit code 1)
    assert "continues from its checkpoint" in err, err[-3000:]
    assert RunFolder(out).read(RunFolder.STATUS)["status"] == "stopped" and _metrics(out)["world_size"] == 2


def test_a_rank_that_dies_ends_the_run_without_a_hang(tmp_path, tiny_text_model, text_csv_big):
    out = tmp_path / "run"
    proc = subprocess.Popen([*TORCHRUN, "--standalone", "--nproc_per_node", "2",
                             *_train_args(text_csv_big, tiny_text_model, out)[:-4], "--epochs", "100",
                             "--min-steps", "5000", "--batch-size", "4", "--patience", "0"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out / RunFolder.EVENTS).is_file() or '"kind": "step"' not in (out / RunFolder.EVENTS).read_text():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.2)
    workers = [c for c in psutil.Process(proc.pid).children(recursive=True) if "ftapp.cli" in " ".join(c.cmdline())]
    assert len(workers) == 2
    max(workers, key=lambda c: c.pid).kill()     # one rank dies (as the out-of-memory killer would do)
    started = time.time()
    proc.communicate(timeout=180)
    assert proc.returncode != 0 and time.time() - started < 180
