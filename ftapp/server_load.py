"""Whether the web server is busy answering visitors, shared with the training processes it starts,
so that training waits while it is.

The training process already runs SCHED_IDLE (worker.yield_to_the_server): the server gets a core
whenever it asks. On a small machine that is not enough: the training's matrix work on the other
core still slows the server's answers through the caches and memory bandwidth the two cores share
(benchmarks/cpu_interference.py; load_test.py measured ten pollers' answers 1.23–1.83× slower while
a run trained). So the server (`CountRequests`, an ASGI middleware: from the moment a request
arrives until its answer is sent, Gradio's queue and serialisation included) keeps two numbers in a
memory-mapped file: the requests in flight, and until when it counts as busy — ASKS asks arriving
within WINDOW_S make it busy for WINDOW_S more, because many visitors polling come back at once and a
gap between two answers is no time to start a step. A training process the server launched (ENV
names the file) looks between steps and waits while BUSY or more requests are in flight or the
server is busy, at most MAX_WAIT_S a step, so a run always moves on. A page polling once a second
(or a script polling five times a second) stays below both, so a watched run trains as fast as from
the command line.

Tried before and measured (load_test.py): counting inside the handlers only (they are a small part
of each request, so two rarely overlapped: 1.37×), and counting requests in flight without the
window (ten pollers leave the server idle half the time between their answers: 1.39×), and the
window with checkpoints still written while the server was busy (1.15–1.31×).
"""
from __future__ import annotations

import mmap
import os
import struct
import threading
import time
from collections import deque
from pathlib import Path

ENV = "FTAPP_SERVER_LOAD"    # the file's path, in the environment of the training processes
FILE = ".server_load"        # its name in the runs folder
BUSY = 2                     # requests in flight at which training waits
ASKS, WINDOW_S = 8, 0.5      # asks arriving within WINDOW_S that keep training waiting WINDOW_S more
MAX_WAIT_S = 10.0            # the longest wait before one step
CHECK_S = 0.05               # how often a waiting step looks again
_FORMAT = struct.Struct("qd")   # requests in flight, busy until (time.monotonic: one clock for all processes)

# Streams that stay open while nothing is asked of the server: a page's heartbeat, upload progress,
# media streams. Counting them would keep training waiting as long as a page is open.
LONG_LIVED = ("/heartbeat/", "/upload_progress", "/stream/", "/dev/reload")
# The stream that carries an ask's answer (Gradio's queue: POST queue/join, then this): in flight,
# but not a second ask.
ANSWER_STREAM = "/queue/data"


class ServerLoad:
    """The shared numbers. The server creates the file and changes them; training processes read them."""

    def __init__(self, path: str | os.PathLike, create: bool = False):
        self.path = Path(path)
        if create:
            self.path.write_bytes(_FORMAT.pack(0, 0.0))
        with open(self.path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), _FORMAT.size)
        self._lock = threading.Lock()
        self._asks: deque[float] = deque(maxlen=ASKS)   # when the last ASKS asks arrived (server side)

    @property
    def in_flight(self) -> int:
        return _FORMAT.unpack_from(self._map)[0]

    @property
    def busy(self) -> bool:
        in_flight, until = _FORMAT.unpack_from(self._map)
        return in_flight >= BUSY or time.monotonic() < until

    def arrived(self, ask: bool) -> None:
        now = time.monotonic()
        with self._lock:
            in_flight, until = _FORMAT.unpack_from(self._map)
            if ask:
                self._asks.append(now)
                if len(self._asks) == ASKS and now - self._asks[0] <= WINDOW_S:
                    until = now + WINDOW_S
            _FORMAT.pack_into(self._map, 0, in_flight + 1, until)

    def answered(self) -> None:
        with self._lock:
            in_flight, until = _FORMAT.unpack_from(self._map)
            _FORMAT.pack_into(self._map, 0, max(0, in_flight - 1), until)


class CountRequests:
    """ASGI middleware of the app's server: every HTTP request in flight counts in `load`."""

    def __init__(self, app, load: ServerLoad):
        self.app, self.load = app, load

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or any(part in path for part in LONG_LIVED):
            return await self.app(scope, receive, send)
        self.load.arrived(ask=not path.endswith(ANSWER_STREAM))
        try:
            return await self.app(scope, receive, send)
        finally:
            self.load.answered()


def start_counting(path: str | os.PathLike) -> ServerLoad:
    """In the server: a fresh file at `path`, for CountRequests to change and training to read."""
    return ServerLoad(path, create=True)


_waiting = None     # this process's wait, once follow_server() found the server's file


def follow_server(environ=os.environ) -> None:
    """In a training process: from now on wait_while_busy() waits while the app's server that started
    it is busy (nothing changes in a process the server did not start)."""
    global _waiting
    _waiting = training_pace(environ)


def wait_while_busy() -> float:
    """Between two pieces of work of a training process (a step, a batch scored): wait while the app's
    server is busy; the seconds waited. Does nothing in the server itself or from the command line."""
    return _waiting() if _waiting is not None else 0.0


def training_pace(environ=os.environ):
    """In a training process: what to call between steps (waits while the server is busy), or None
    when the process was not started by the app's server."""
    path = environ.get(ENV)
    if not path or not Path(path).is_file():
        return None
    load = ServerLoad(path)

    def pace() -> float:
        start = time.monotonic()
        while load.busy and time.monotonic() < start + MAX_WAIT_S:
            time.sleep(CHECK_S)
        return time.monotonic() - start
    return pace
