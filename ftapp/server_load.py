"""How many requests the web server is answering right now, shared with the training processes it
starts, so that training waits while the server is busy with several at once.

The training process already runs SCHED_IDLE (worker.yield_to_the_server): the server gets a core
whenever it asks. On a small machine that is not enough: the training's matrix work on the other
core still slows the server's answers through the caches and memory bandwidth the two cores share
(benchmarks/cpu_interference.py; load_test.py measured ten pollers' answers 1.23–1.40× slower while
a run trained). So the server counts the requests in flight in an 8-byte memory-mapped file, and a
training process it launched (ENV names the file) looks at the count between steps: while BUSY or
more are in flight it waits, at most MAX_WAIT_S a step, so a server that died mid-request cannot
stall a run. One page polling once a second never reaches BUSY, so a watched run trains as fast as
from the command line.
"""
from __future__ import annotations

import mmap
import os
import struct
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ENV = "FTAPP_SERVER_LOAD"    # the counter file's path, in the environment of the training processes
FILE = ".server_load"        # its name in the runs folder
BUSY = 2                     # requests in flight at which training waits
MAX_WAIT_S = 2.0             # the longest wait before one step
CHECK_S = 0.01               # how often a waiting step looks again
_FORMAT = struct.Struct("q")


class InFlight:
    """The shared count. The server creates it (at 0) and changes it; training processes read it."""

    def __init__(self, path: str | os.PathLike, create: bool = False):
        self.path = Path(path)
        if create:
            self.path.write_bytes(bytes(_FORMAT.size))
        with open(self.path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), _FORMAT.size)
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        return _FORMAT.unpack_from(self._map)[0]

    def add(self, n: int) -> None:
        with self._lock:
            _FORMAT.pack_into(self._map, 0, max(0, self.value + n))


_server: InFlight | None = None     # this process's count when it is the app's server


def start_counting(path: str | os.PathLike) -> InFlight:
    """In the server: count requests from now on (`serving`), in a fresh file at `path`."""
    global _server
    _server = InFlight(path, create=True)
    return _server


@contextmanager
def serving():
    """Around a request handler of the server; does nothing where no counting was started."""
    counter = _server
    if counter is None:
        yield
        return
    counter.add(1)
    try:
        yield
    finally:
        counter.add(-1)


def training_pace(environ=os.environ):
    """In a training process: what to call between steps (waits while the server is busy), or None
    when the process was not started by the app's server."""
    path = environ.get(ENV)
    if not path or not Path(path).is_file():
        return None
    counter = InFlight(path)

    def pace() -> None:
        end = time.monotonic() + MAX_WAIT_S
        while counter.value >= BUSY and time.monotonic() < end:
            time.sleep(CHECK_S)
    return pace
