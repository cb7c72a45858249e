"""What a stop signal does, for the CLI and the app alike: the first SIGTERM (what a platform sends
before it stops a container) or Ctrl-C calls its handler — pause at a checkpoint, stop keeping the
best model — and a second signal of either kind exits at once."""
from __future__ import annotations

import os
import signal


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
