"""Loaded by every Python process a test app starts (tests/ui/conftest.py puts this folder on
PYTHONPATH; it does nothing elsewhere). While the file named by FTAPP_TEST_PACE_FILE exists, each
training step is recorded 0.2 s after the last, so a browser test can watch a tiny model's curve
grow and reload the page mid-run, although the run trains in a worker process of its own."""
import os
import time

_FLAG = os.environ.get("FTAPP_TEST_PACE_FILE")
if _FLAG:
    from ftapp.runs import Run

    _record = Run.record

    def _paced(self, kind, **data):
        _record(self, kind, **data)
        if kind == "step" and os.path.exists(_FLAG):
            time.sleep(0.2)

    Run.record = _paced
