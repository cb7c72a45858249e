"""What a stop signal does, for the CLI and the app alike: the first SIGTERM (what a platform sends
before it stops a container) or Ctrl-C calls its handler — pause at a checkpoint, stop keeping the
best model — and a second signal of either kind exits at once."""
from __future__ import annotations

import os
import signal
import threading
import time

SERVER_PID = "FTAPP_SERVER_PID"     # set by the app for its workers (ftapp/worker.py)


def on_stop_signals(on_sigterm, on_sigint=None) -> None:
    """Install the handlers (main thread only). `on_sigint` None: Ctrl-C keeps Python's default."""
    count = {"n": 0}

    def handler(signum, _frame):
        count["n"] += 1
        if count["n"] > 1:
            os._exit(128 + signum)
        (on_sigterm if signum == signal.SIGTERM else on_sigint)()

    signal.signal(signal.SIGTERM, handler)
    if on_sigint is not None:
        signal.signal(signal.SIGINT, handler)


def pause_when_server_dies(on_gone, every_s: float = 1.0) -> None:
    """A worker the app started pauses at a checkpoint if the app's process dies (kill -9, a crash):
    its run goes on from there after the restart, and no orphan keeps training beside the new one.
    Linux has no portable "parent died" signal, so a daemon thread checks the server's pid."""
    pid = int(os.environ.get(SERVER_PID) or 0)
    if pid <= 0:
        return

    def watch():
        while True:
            time.sleep(every_s)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                on_gone()
                return
            except PermissionError:     # alive, another user's (pid reused): treat as alive
                pass
    threading.Thread(target=watch, name="ftapp-server-watch", daemon=True).start()
