"""Runs that a restart, a kill or SIGTERM cut off go on from their checkpoint: the same batches,
rates and early-stopping count, so the resumed run equals one that was never cut off."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ftapp.runs import RunFolder, RunStore, new_run, read_run
from ftapp.train.config import TrainConfig
from ftapp.train.job import execute

SETTINGS = dict(auto=False, frozen_layers=1, lr=3e-3, epochs=6, min_steps=1, patience=0, batch_size=8,
                test_fraction=0)


def _losses(run_dir) -> list[tuple[int, float]]:
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(e["step"], e["loss"]) for e in events if e["kind"] == "step"]


def test_a_run_paused_mid_epoch_resumes_exactly(tmp_path, tiny_text_model, text_csv_big, monkeypatch):
    monkeypatch.setenv("FTAPP_CHECKPOINT_SECONDS", "0")
    monkeypatch.setenv("FTAPP_CPU_THREADS", "1")     # sums in one order: comparable to the last digit
    import torch

    threads = torch.get_num_threads()
    try:
        _paused_and_resumed_equals_whole(tmp_path, tiny_text_model, text_csv_big)
    finally:
        torch.set_num_threads(threads)


def _paused_and_resumed_equals_whole(tmp_path, tiny_text_model, text_csv_big):
    config = dict(model=tiny_text_model, data=str(text_csv_big), precision="fp32", **SETTINGS)
    whole = new_run(tmp_path / "whole", TrainConfig(**config).to_dict())
    execute(TrainConfig(**config), whole, workdir=tmp_path / "w1")
    assert whole.status == "finished"

    cut = new_run(tmp_path / "cut", TrainConfig(**config).to_dict())
    cut.listeners.append(lambda kind, data: kind == "step" and data["step"] == 13 and cut.shutdown_event.set())
    execute(TrainConfig(**config), cut, workdir=tmp_path / "w2")
    assert cut.status == "running" and cut.phase.startswith("paused")                 # not finished: paused
    assert RunFolder(cut.dir).read(RunFolder.CHECKPOINT_INFO)["step"] == 13                                     # written at the pause

    again = RunStore(tmp_path, requeue=True).get(cut.id)
    assert again.requeued and "continues from its checkpoint" in again.message
    execute(TrainConfig.from_dict(again.settings), again, workdir=tmp_path / "w3", resume=True)
    assert again.status == "finished", again.message
    steps = _losses(again.dir)
    assert [s for s, _ in steps] == list(range(1, len(steps) + 1))                    # no step twice, none lost
    assert steps == pytest.approx(_losses(whole.dir), abs=1e-4)                       # the same run
    assert [e["val_accuracy"] for e in again.epochs] == [e["val_accuracy"] for e in whole.epochs]
    assert not list(again.dir.glob("checkpoint*"))                                # removed when it ends


def _ftapp(*args, **kw):
    env = {**os.environ, "FTAPP_CHECKPOINT_SECONDS": "0", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, "-m", "ftapp", *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(condition, proc, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_the_cli_goes_on_after_a_kill_or_sigterm(how, tmp_path, tiny_text_model, text_csv_big):
    out = tmp_path / "run"
    args = ["train", "--data", text_csv_big, "--model", tiny_text_model, "--out", out, "--no-auto",
            "--frozen-layers", "1", "--lr", "3e-3", "--min-steps", "1500", "--patience", "0",
            "--batch-size", "2", "--test-fraction", "0"]
    proc = _ftapp(*args)
    _wait_for(lambda: RunFolder(out).read(RunFolder.CHECKPOINT_INFO) is not None, proc)        # a validation has been checkpointed
    if how == "SIGKILL":
        proc.kill()
        proc.wait(timeout=30)
        (out / f".{RunFolder.CHECKPOINT.format(step=10**6)}.tmp").write_bytes(b"half a checkpoint")   # killed while writing one
    else:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)                                   # within seconds, not at the end
        err = proc.stderr.read()
        assert code == 75 and "Paused at a checkpoint" in err and f"--resume {out}" in err, err
    saved = RunFolder(out).read(RunFolder.CHECKPOINT_INFO)
    assert read_run(out).status in ("running", "interrupted")

    resumed = _ftapp("train", "--resume", out)
    stdout, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "Traceback" not in err, err
    assert "continues from its checkpoint" in err and f"epoch {saved['epoch']}" in err
    steps = [s for s, _ in _losses(out)]
    assert steps == list(range(1, len(steps) + 1)) and steps[-1] > saved["step"]     # on from there, none twice
    metrics = json.loads((out / "metrics.json").read_text())
    planned = json.loads((out / "status.json").read_text())["info"]["plan"]["epochs"]
    assert metrics["epochs_run"] == planned > saved["epoch"] and not list(out.glob("*checkpoint*"))


def test_resume_of_a_finished_run_says_there_is_nothing_to_resume(tmp_path, tiny_text_model, text_csv_big):
    out = tmp_path / "run"
    done = _ftapp("train", "--data", text_csv_big, "--model", tiny_text_model, "--out", out, "--no-auto",
                  "--epochs", "1", "--min-steps", "1")
    assert done.wait(timeout=300) == 0
    again = _ftapp("train", "--resume", out)
    _, err = again.communicate(timeout=120)
    assert again.returncode != 0 and "is finished: there is nothing to resume" in err and "Traceback" not in err


def test_the_app_queue_pauses_on_shut_down_and_goes_on_after_a_restart(tmp_path, tiny_text_model, text_csv_big,
                                                                     monkeypatch):
    """What SIGTERM does in the app (AppContext.exit_on_sigterm): the training run writes a checkpoint
    and pauses, the waiting one stays queued; a new process goes on with both, in order."""
    from ftapp.runner import Runner

    monkeypatch.setenv("FTAPP_CHECKPOINT_SECONDS", "0")
    runner = Runner(RunStore(tmp_path / "runs"), keep_inputs=True)
    long = TrainConfig(model=tiny_text_model, data=str(text_csv_big), **{**SETTINGS, "min_steps": 3000, "epochs": None})
    first = runner.submit(long, owner="alice")
    second = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv_big), **SETTINGS), owner="bob")
    deadline = time.time() + 120
    while not first.epochs:                        # a validation (and its checkpoint) has happened
        assert time.time() < deadline
        time.sleep(0.05)
    assert runner.shut_down() == [first] and runner.wait_idle(30)
    assert first.status == "running" and second.status == "queued" and RunFolder(first.dir).read(RunFolder.CHECKPOINT_INFO)

    store = RunStore(tmp_path / "runs", requeue=True)             # the next process
    assert [r.id for r in store.requeued()] == [first.id, second.id]
    assert "continues from its checkpoint" in store.get(first.id).message
    again = Runner(store, keep_inputs=True)
    for run in store.requeued():
        again.resume(run)
    for run_id in (first.id, second.id):
        run = store.get(run_id)
        assert again.wait(run, timeout=300) and run.status == "finished", run.message
    resumed = store.get(first.id)
    assert [s["step"] for s in resumed.steps] == list(range(1, len(resumed.steps) + 1))
