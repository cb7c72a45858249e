"""Training waits while the app's server answers several requests at once (ftapp/server_load.py)."""
from __future__ import annotations

import threading
from contextlib import ExitStack

from ftapp import server_load
from ftapp.train.progress import Clock


def _waiter(pace) -> threading.Thread:
    t = threading.Thread(target=pace, daemon=True)
    t.start()
    return t


def test_a_training_step_waits_while_the_server_is_busy_and_goes_on_when_it_is_not(tmp_path, monkeypatch):
    monkeypatch.setattr(server_load, "MAX_WAIT_S", 60.0)    # so only the count can end the wait
    counter = server_load.start_counting(tmp_path / server_load.FILE)
    monkeypatch.setattr(server_load, "_server", counter)
    pace = server_load.training_pace({server_load.ENV: str(counter.path)})
    with ExitStack() as requests:
        for _ in range(server_load.BUSY):
            requests.enter_context(server_load.serving())
        assert counter.value == server_load.BUSY
        step = _waiter(pace)
        step.join(timeout=0.3)
        assert step.is_alive()                  # the step waits while two requests are answered
    assert counter.value == 0
    step.join(timeout=30)
    assert not step.is_alive()                  # ... and goes on once they are
    with server_load.serving():                 # one request (a page's poll): no wait at all
        step = _waiter(pace)
        step.join(timeout=30)
        assert not step.is_alive()


def test_the_count_survives_a_failing_handler(tmp_path, monkeypatch):
    counter = server_load.start_counting(tmp_path / server_load.FILE)
    monkeypatch.setattr(server_load, "_server", counter)
    try:
        with server_load.serving():
            raise ValueError("the handler failed")
    except ValueError:
        pass
    assert counter.value == 0


def test_outside_the_app_nothing_waits(tmp_path):
    assert server_load.training_pace({}) is None
    assert server_load.training_pace({server_load.ENV: str(tmp_path / "gone")}) is None


def test_the_clock_paces_every_step():
    calls = []
    clock = Clock(lambda *_a, **_k: None, pace=lambda: calls.append(1))
    clock.plan(3)
    for _ in range(3):
        clock.tick()
    assert len(calls) == 3


def test_the_runner_shares_its_count_with_the_processes_it_starts(tmp_path):
    from ftapp.runner import Runner
    from ftapp.runs import RunStore

    runner = Runner(RunStore(tmp_path / "runs"))
    assert runner.in_flight.path == tmp_path / "runs" / server_load.FILE and runner.in_flight.value == 0
    assert server_load.training_pace({server_load.ENV: str(runner.in_flight.path)}) is not None
