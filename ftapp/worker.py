"""A run's training process, as the app starts and watches it.

The app never trains in its own process: each run is `python -m ftapp.cli train --run-dir DIR`
(through torchrun when it uses several processes or GPUs), the same engine entry as the command
line. The child records everything in the run folder; a `Worker` follows what it appends to
metrics.jsonl (only the new lines), so the app's run store and the pages polling it stay current.
A crash, a kill -9 or the kernel's out-of-memory killer ends the child, never the server: the run
then ends with a plain message naming the likely cause, keeps the model saved so far, and can go on
from its last checkpoint. Stop sends the child SIGINT (it stops and keeps the best model), shutdown
SIGTERM (it writes a checkpoint and pauses, to go on after a restart). A `Spare` process, started
ahead with the imports done, takes the next run so it starts at once.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ftapp.runs import EventTail, Run, RunFolder, Status, wait_for_earlier_worker
from ftapp.signals import SERVER_PID

log = logging.getLogger("ftapp")

FOLLOW_EVERY_S = 0.2
NICENESS = 19           # where SCHED_IDLE is missing: the lowest priority
EXIT_PAUSED = 75        # the CLI's "paused at a checkpoint" (SIGTERM)


class Spare:
    """A training process started before it is needed: Python, torch, transformers and the engine
    are imported (seconds on a small CPU) while the app waits for the next run, so a run starts —
    and its first model is ready — as soon as it is queued. It waits for one line on its standard
    input (the run's arguments), then is exactly `ftapp train --run-dir …`; it exits if the server
    goes away first (its input closes)."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "ftapp.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", SERVER_PID: str(os.getpid())},
                                     start_new_session=True)
        try:
            yield_to_the_server(self.proc.pid)     # its imports take only CPU the server leaves
        except OSError:
            pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def take(self, argv: list[str], env: dict, log_path: Path) -> subprocess.Popen:
        """Hand it its run: it trains with these arguments and writes its output to `log_path`."""
        self.proc.stdin.write((json.dumps({"argv": argv, "env": env, "log": str(log_path)}) + "\n").encode())
        self.proc.stdin.close()
        return self.proc

    def close(self) -> None:
        if self.alive():
            self.proc.stdin.close()     # it exits on its own


def _spare_main() -> int | None:
    """`python -m ftapp.worker`: a Spare's side."""
    import ftapp.cli as cli
    import ftapp.train.job  # noqa: F401 — what every run imports, before it is asked for
    from ftapp.models.loading import preload

    preload()
    line = sys.stdin.readline()
    if not line:                        # the server went away before it needed this process
        return 0
    order = json.loads(line)
    os.environ.update(order["env"])     # before CUDA starts (it starts lazily, at the first tensor on a GPU)
    out = os.open(order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    cli.run(order["argv"])              # the run; it ends this process with the run's exit code


def launcher(n_processes: int) -> list[str]:
    """torchrun (`python -m torch.distributed.run`) for one run over n processes on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n_processes)]


def command(run: Run, *, resume: bool, hosted: bool) -> list[str]:
    cmd = [sys.executable, "-m", "ftapp.cli", "train", "--run-dir", str(run.dir)]
    return cmd + (["--from-checkpoint"] if resume else []) + (["--hosted"] if hosted else [])


def death_message(returncode: int, has_checkpoint: bool, has_model: bool) -> str:
    """Why a training process ended without saying so itself, in words."""
    if returncode == -signal.SIGKILL:
        cause = ("The training process was killed (SIGKILL) — usually the system ran out of memory; a smaller "
                 "model, batch size or picture count needs less")
    elif returncode == -signal.SIGSEGV:
        cause = "The training process crashed in a native library (segmentation fault)"
    elif returncode == EXIT_PAUSED:
        cause = "The training process paused at a checkpoint (someone sent it SIGTERM)"
    elif returncode < 0:
        cause = f"The training process was stopped by signal {signal.Signals(-returncode).name}"
    else:
        cause = f"The training process ended unexpectedly (exit code {returncode}; see worker.log in the run folder)"
    kept = " The model saved before it is kept and can be used." if has_model else ""
    resume = (" Press Resume to go on from its last checkpoint." if has_checkpoint else
              " Start it again to retry.")
    return f"{cause}.{kept}{resume} The app and every other run are unaffected."


def yield_to_the_server(pid: int) -> None:
    """Training uses only CPU time the server leaves (Linux SCHED_IDLE, inherited by torchrun's ranks
    and DataLoader workers), so status polls answer as fast while a run trains as when none does;
    with the server idle, training gets every core. benchmarks/load_test.py, 10 pollers on 2 cores:
    p95 1.2x the idle server's (1.6x at niceness 10)."""
    if hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.setpriority(os.PRIO_PROCESS, pid, NICENESS)


def ranks(launcher_pid: int) -> list[int]:
    """The training processes torchrun started (its children running ftapp.cli), from /proc (Linux)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == launcher_pid and b"ftapp.cli" in (stat.parent / "cmdline").read_bytes():
                out.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


class Worker:
    """Runs one queued run in a child process and follows it until it ends."""

    def __init__(self, run: Run, *, resume: bool = False, hosted: bool = False, env: dict | None = None,
                 launcher: list[str] | None = None, spare: Spare | None = None):
        """`launcher`: a prefix such as torchrun's, for several processes; `env`: extra variables
        (CUDA_VISIBLE_DEVICES for the GPUs it was given); `spare`: a process ready to take the run."""
        self.run, self.resume, self.hosted = run, resume, hosted
        self.env, self.launcher, self.spare = env or {}, launcher or [], spare
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if not wait_for_earlier_worker(self.run.dir):
            log.warning("run %s: an earlier worker still holds %s", self.run.id, RunFolder.WORKER_LOCK)
        cmd = command(self.run, resume=self.resume, hosted=self.hosted)
        if self.spare is not None and not self.launcher and self.spare.alive():
            self.proc = self.spare.take(cmd[3:], self.env, self.run.dir / RunFolder.WORKER_LOG)
            return
        if self.launcher:   # torchrun … -m ftapp.cli …: drop the "python"
            cmd = self.launcher + cmd[1:]
        with open(self.run.dir / RunFolder.WORKER_LOG, "ab") as log_file:
            self.proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1", SERVER_PID: str(os.getpid()),
                                              **self.env},
                                         start_new_session=True)   # a Ctrl-C of the server's terminal is not theirs
        try:
            yield_to_the_server(self.proc.pid)
        except (AttributeError, OSError):
            pass

    def signal(self, signum: int) -> None:
        """To the training process itself — under torchrun to each rank (torchrun would SIGKILL them
        30 s after passing a signal on, maybe mid-save) — never to its DataLoader workers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for pid in (ranks(self.proc.pid) if self.launcher else []) or [self.proc.pid]:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self.signal(signal.SIGINT)

    def pause(self) -> None:
        self.signal(signal.SIGTERM)

    def follow(self) -> int:
        """Apply the child's events to the run as they come; returns its exit code. Stop requests made
        on the run (run.stop_event / shutdown_event) are passed on to the child."""
        tail = EventTail(self.run.dir / RunFolder.EVENTS)
        tail.offset = (self.run.dir / RunFolder.EVENTS).stat().st_size if (self.run.dir / RunFolder.EVENTS).exists() else 0
        told_stop = told_pause = False
        while True:
            code = self.proc.poll()
            for event in tail.read():
                self.run.follow(event)
            if code is not None:
                for event in tail.read():
                    self.run.follow(event)
                return code
            if self.run.stop_event.is_set() and not told_stop:
                self.stop()
                told_stop = True
            if self.run.shutdown_event.is_set() and not told_pause and not told_stop:   # a 2nd signal: exit at once
                self.pause()
                told_pause = True
            time.sleep(FOLLOW_EVERY_S)

    def finish(self, code: int) -> None:
        """After the child exited: a run it left without an ending ends now, with the likely cause
        (unless it paused at a checkpoint for a restart)."""
        run = self.run
        if run.ended or run.shutdown_event.is_set():     # ended, or paused for the app's restart
            return
        folder = run.files
        if run.stop_event.is_set():     # Stop reached it before it could stop cleanly (e.g. while it started)
            run.record("phase", phase=Status.STOPPED)
            run.record("status", status=Status.STOPPED, has_model=folder.has_model,
                       message="Stopped." + (" The model saved so far is kept." if folder.has_model else ""))
            return
        resumable = (run.dir / RunFolder.CHECKPOINT_INFO).is_file()
        message = death_message(code, resumable, folder.has_model)
        log.warning("run %s: worker exited with %s", run.id, code)
        run.record("phase", phase=Status.INTERRUPTED if resumable else Status.FAILED)
        run.record("status", status=Status.INTERRUPTED if resumable else Status.FAILED, message=message,
                   has_model=folder.has_model)

    def run_to_end(self) -> int:
        self.start()
        try:
            code = self.follow()
        except BaseException:       # never leave a child training unsupervised while its slot is given away
            self.proc.kill()
            self.proc.wait()
            raise
        self.finish(code)
        return code


if __name__ == "__main__":
    sys.exit(_spare_main())
