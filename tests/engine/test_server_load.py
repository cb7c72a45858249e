"""Training waits while the app's server is busy answering visitors (ftapp/server_load.py)."""
from __future__ import annotations

import socket
import threading
import time
import urllib.request
from contextlib import contextmanager

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ftapp import server_load
from ftapp.train.progress import Clock


def wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _waiter(pace) -> threading.Thread:
    t = threading.Thread(target=pace, daemon=True)
    t.start()
    return t


@contextmanager
def _counted_server(counter):
    """A real HTTP server (uvicorn) behind CountRequests: /hold waits until `release` is set."""
    release = threading.Event()

    async def hold(request):
        await anyio.to_thread.run_sync(release.wait)
        return PlainTextResponse("held")

    async def fail(request):
        raise RuntimeError("the handler failed")

    async def quick(request):
        return PlainTextResponse("answered")

    app = Starlette(routes=[Route("/hold", hold), Route("/gradio_api/heartbeat/abc", hold), Route("/fail", fail),
                            Route("/quick", quick), Route("/gradio_api/queue/data", quick)],
                    middleware=[Middleware(server_load.CountRequests, load=counter)])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="the test server to start")
    try:
        yield f"http://127.0.0.1:{port}", release
    finally:
        release.set()
        server.should_exit = True
        thread.join(timeout=30)


def _get(url: str) -> threading.Thread:
    def fetch():
        try:
            urllib.request.urlopen(url, timeout=60).read()
        except OSError:
            pass
    return _waiter(fetch)


def test_training_waits_while_the_server_answers_several_requests_and_goes_on_after(tmp_path, monkeypatch):
    monkeypatch.setattr(server_load, "MAX_WAIT_S", 60.0)    # so only the count can end the wait
    counter = server_load.start_counting(tmp_path / server_load.FILE)
    pace = server_load.training_pace({server_load.ENV: str(counter.path)})
    with _counted_server(counter) as (url, release):
        requests = [_get(url + "/hold") for _ in range(server_load.BUSY)]
        wait_for(lambda: counter.in_flight == server_load.BUSY, what="both requests to be counted")
        step = _waiter(pace)
        step.join(timeout=0.3)
        assert step.is_alive()                  # the step waits while two requests are answered
        release.set()
        for r in requests:
            r.join(timeout=30)
        wait_for(lambda: counter.in_flight == 0, what="the answered requests to leave the count")
        step.join(timeout=30)
        assert not step.is_alive()              # ... and goes on once they are


def test_asks_close_together_keep_training_waiting_after_their_answers_but_never_for_long(tmp_path, monkeypatch):
    monkeypatch.setattr(server_load, "WINDOW_S", 60.0)
    counter = server_load.start_counting(tmp_path / server_load.FILE)
    with _counted_server(counter) as (url, _):
        urllib.request.urlopen(url + "/quick", timeout=60).read()
        urllib.request.urlopen(url + "/gradio_api/queue/data", timeout=60).read()   # its answer: no second ask
        wait_for(lambda: counter.in_flight == 0, what="the answers to leave the count")
        assert not counter.busy
        for _ in range(server_load.ASKS - 2):
            urllib.request.urlopen(url + "/quick", timeout=60).read()
            assert not counter.busy
        urllib.request.urlopen(url + "/quick", timeout=60).read()    # the ASKS-th ask within the window
        wait_for(lambda: counter.in_flight == 0, what="the answer to leave the count")
        assert counter.busy               # pollers come back at once: still busy
    monkeypatch.setattr(server_load, "MAX_WAIT_S", 0.2)
    step = _waiter(server_load.training_pace({server_load.ENV: str(counter.path)}))
    step.join(timeout=30)
    assert not step.is_alive()      # a step waits MAX_WAIT_S at most, so a run always moves on


def test_open_streams_and_failing_handlers_leave_the_count_as_it_was(tmp_path):
    counter = server_load.start_counting(tmp_path / server_load.FILE)
    with _counted_server(counter) as (url, release):
        heartbeat = _get(url + "/gradio_api/heartbeat/abc")      # a page's heartbeat stays open: not counted
        failing = _get(url + "/fail")
        failing.join(timeout=30)
        assert not failing.is_alive() and heartbeat.is_alive()
        assert counter.in_flight == 0
        wait_for(lambda: not counter.busy, what="the window after the failed ask to pass")
        one = _get(url + "/hold")               # one request (a page's poll): counted, no wait
        wait_for(lambda: counter.in_flight == 1, what="the request to be counted")
        step = _waiter(server_load.training_pace({server_load.ENV: str(counter.path)}))
        step.join(timeout=30)
        assert not step.is_alive()
        release.set()
        one.join(timeout=30)


def test_outside_the_app_nothing_waits(tmp_path):
    assert server_load.training_pace({}) is None
    assert server_load.training_pace({server_load.ENV: str(tmp_path / "gone")}) is None


def test_a_training_process_waits_at_every_step_and_batch_once_it_follows_the_server(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(server_load, "training_pace", lambda environ: lambda: calls.append(1) or 0.0)
    monkeypatch.setattr(server_load, "_waiting", None)
    clock = Clock(lambda *_a, **_k: None)
    clock.plan(3)
    clock.tick()
    assert calls == []                      # not started by the app: nothing waits
    server_load.follow_server({})
    for _ in range(3):
        clock.tick()
    assert len(calls) == 3


def test_the_runner_shares_its_count_with_the_processes_it_starts(tmp_path):
    from ftapp.runner import Runner
    from ftapp.runs import RunStore

    runner = Runner(RunStore(tmp_path / "runs"))
    assert runner.server_load.path == tmp_path / "runs" / server_load.FILE and runner.server_load.in_flight == 0
    assert server_load.training_pace({server_load.ENV: str(runner.server_load.path)}) is not None
