"""Each run trains in its own process (ftapp/worker.py): the app follows it, stops it, survives it."""
from __future__ import annotations

import os
import signal
import time

from ftapp.runner import Runner
from ftapp.runs import RunFolder, RunStore
from ftapp.train.config import TrainConfig


def _wait(condition, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_run_trains_in_its_own_process_and_the_app_follows_it(tmp_path, tiny_text_model, text_csv_big):
    runner = Runner(RunStore(tmp_path / "runs"))
    run = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv_big), auto=False, lr=1e-3,
                                    min_steps=40))
    _wait(lambda: runner._active.get(run.id, (None, None))[1] is not None, what="the worker")
    worker = runner._active[run.id][1]
    assert worker.proc.pid != os.getpid()
    assert runner.wait(run, timeout=300) and run.status == "finished", run.message
    on_disk = RunStore(tmp_path / "runs").get(run.id)          # what the worker wrote
    assert run.has_model and len(run.steps) == len(on_disk.steps) > 0 and run.epochs == on_disk.epochs
    assert run.progress == 1.0 and run.info["first_model"]["message"].startswith("A first model")
    assert (run.dir / RunFolder.WORKER_LOG).is_file()


def test_a_killed_worker_ends_its_run_plainly_the_next_run_trains_and_resume_goes_on(
        tmp_path, tiny_text_model, text_csv_big, monkeypatch):
    """kill -9 of a run's process (what the kernel's out-of-memory killer does): the run ends with the
    likely cause, keeps its first model, and goes on from its checkpoint on Resume; the run queued
    behind it trains; the server never noticed beyond that."""
    monkeypatch.setenv("FTAPP_CHECKPOINT_SECONDS", "0")
    runner = Runner(RunStore(tmp_path / "runs"), keep_inputs=True)
    long = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv_big), auto=False, lr=1e-3,
                                     min_steps=3000, batch_size=8, patience=0))
    queued = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv_big), auto=False, lr=1e-3,
                                       min_steps=20))
    _wait(lambda: (long.dir / RunFolder.CHECKPOINT_INFO).is_file() and long.has_model, what="a checkpoint")
    os.kill(runner._active[long.id][1].proc.pid, signal.SIGKILL)
    _wait(lambda: long.ended, timeout=30, what="the killed run to end")
    assert long.status == "interrupted" and long.has_model
    assert "killed" in long.message and "out of memory" in long.message and "Resume" in long.message
    assert runner.wait(queued, timeout=300) and queued.status == "finished", queued.message
    steps_before = len(long.steps)
    assert runner.resume_interrupted(long)
    assert "continues from its checkpoint" in long.message
    _wait(lambda: long.active and long.steps and long.steps[-1]["step"] > steps_before, what="the resumed run")
    assert long.phase.startswith("going on from its checkpoint")
    assert [s["step"] for s in long.steps] == list(range(1, len(long.steps) + 1))      # none twice, none lost
    runner.stop(long.id)
    assert runner.wait(long, timeout=120) and long.status == "stopped" and long.has_model


def test_stop_reaches_the_worker_and_keeps_the_best_model(tmp_path, tiny_text_model, text_csv_big):
    runner = Runner(RunStore(tmp_path / "runs"))
    run = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv_big), auto=False, lr=1e-3,
                                    min_steps=3000, batch_size=8, patience=0))
    _wait(lambda: len(run.steps) > 5, what="training")
    assert runner.stop(run.id)
    assert runner.wait(run, timeout=120) and run.status == "stopped" and run.has_model


SERVER = """
import sys, time
from ftapp.runner import Runner
from ftapp.runs import RunStore
from ftapp.train.config import TrainConfig
runner = Runner(RunStore(sys.argv[1]), keep_inputs=True)
runner.submit(TrainConfig(model=sys.argv[2], data=sys.argv[3], auto=False, lr=1e-3, min_steps=3000, batch_size=8,
                          patience=0))
time.sleep(600)
"""


def test_a_worker_whose_server_is_killed_pauses_and_the_restarted_app_goes_on(
        tmp_path, tiny_text_model, text_csv_big, monkeypatch):
    """kill -9 of the server: its worker notices, writes a checkpoint and exits (no orphan keeps training
    beside the run the restarted app resumes); the restarted app waits for it, then goes on from there."""
    import subprocess
    import sys

    from ftapp.runs import open_run, wait_for_earlier_worker

    monkeypatch.setenv("FTAPP_CHECKPOINT_SECONDS", "0")
    runs = tmp_path / "runs"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(runs), tiny_text_model, str(text_csv_big)])
    try:
        _wait(lambda: any(runs.glob(f"*/{RunFolder.CHECKPOINT_INFO}")), timeout=180, what="a checkpoint")
    finally:
        server.kill()
        server.wait()
    run_dir = next(runs.glob(f"*/{RunFolder.CHECKPOINT_INFO}")).parent
    assert wait_for_earlier_worker(run_dir, timeout_s=60), "the orphaned worker kept training"
    steps_at_pause = len(open_run(run_dir).steps)      # (read only: a RunStore would mark it interrupted)
    store = RunStore(runs, requeue=True)
    (run,) = store.requeued()
    runner = Runner(store, keep_inputs=True)
    runner.resume(run)
    _wait(lambda: run.active and run.steps and run.steps[-1]["step"] > steps_at_pause, what="the resumed run")
    assert [s["step"] for s in run.steps] == list(range(1, len(run.steps) + 1))      # none twice, none lost
    runner.stop(run.id)
    assert runner.wait(run, timeout=120) and run.status == "stopped" and run.has_model


def test_the_app_runs_one_run_over_two_processes_and_stop_reaches_every_rank(tmp_path, tiny_text_model,
                                                                              text_csv_big):
    """The Processes setting: the worker is torchrun with two ranks; Stop goes to each rank (not only to
    torchrun, which would kill them 30 s later), and the run ends stopped with its best model."""
    import json

    runner = Runner(RunStore(tmp_path / "runs"))
    run = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv_big), auto=False, lr=1e-3,
                                    min_steps=3000, batch_size=8, patience=0, processes=2))
    _wait(lambda: len(run.steps) > 5, timeout=180, what="training on two processes")
    assert runner.stop(run.id)
    assert runner.wait(run, timeout=120) and run.status == "stopped" and run.has_model, run.message
    assert json.loads((run.dir / RunFolder.METRICS).read_text())["world_size"] == 2


def test_a_spare_process_takes_the_next_run_and_another_is_ready_after_it(tmp_path, tiny_text_model,
                                                                           text_csv_big):
    """The app keeps a training process started ahead (imports done): the run goes to it, writes its
    output to worker.log, and a new spare is ready after; a spare the server no longer needs exits."""
    runner = Runner(RunStore(tmp_path / "runs"), spare=True)
    spare = runner._spare
    assert spare is not None and spare.alive()
    run = runner.submit(TrainConfig(model=tiny_text_model, data=str(text_csv_big), auto=False, lr=1e-3,
                                    min_steps=40))
    _wait(lambda: runner._active.get(run.id, (None, None))[1] is not None, what="the worker")
    assert runner._active[run.id][1].proc is spare.proc                 # the spare took it
    assert runner.wait(run, timeout=300) and run.status == "finished", run.message
    assert run.has_model and run.info["first_model"]["message"].startswith("A first model")
    assert "first model" in (run.dir / RunFolder.WORKER_LOG).read_text()   # its output went to the run's log
    assert runner._spare is not None and runner._spare.alive() and runner._spare is not spare
    runner.shut_down()
    runner._spare.proc.wait(timeout=60)                                  # its input closed: it exits
