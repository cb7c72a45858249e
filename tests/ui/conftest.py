"""A real ftapp server in this process, one per test module or test."""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
import urllib.request

import pytest

# One Gradio upload folder for the whole session: Gradio reads GRADIO_TEMP_DIR when a file
# arrives, so per-app values would send one app's uploads into another's folder when two test
# apps are alive at once (then Gradio refuses them as "not uploaded by a user").
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="ftapp-test-gradio-")


@contextlib.contextmanager
def running_app(tmp_path, hosted: bool):
    """build_demo() + launch(prevent_thread_lock=True) with its own runs dir."""
    pacing = os.path.join(os.path.dirname(__file__), "pacing")   # see pacing/sitecustomize.py
    env = {"FTAPP_MODE": "hosted" if hosted else "local", "FTAPP_RUNS_DIR": str(tmp_path / "runs"),
           "GRADIO_ANALYTICS_ENABLED": "False", "FTAPP_TEST_PACE_FILE": str(tmp_path / "pace-training"),
           "PYTHONPATH": os.pathsep.join(p for p in (pacing, os.environ.get("PYTHONPATH")) if p)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    demo = None
    try:
        from ftapp.ui.app import build_demo, launch_kwargs

        demo = build_demo()
        demo.pace_file = tmp_path / "pace-training"   # exists: the app's runs record a step every 0.2 s
        _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(demo))
        wait_ready(url)
        yield demo, url
    finally:
        if demo is not None:
            demo.close()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_ready(url: str, timeout: float = 60) -> None:
    """'Running on local URL' prints before the app answers: wait for /gradio_api/info."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/gradio_api/info", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise TimeoutError(f"{url} did not answer /gradio_api/info")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def local_app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("local-app"), hosted=False) as app:
        yield app


@pytest.fixture(scope="module")
def hosted_app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("hosted-app"), hosted=True) as app:
        yield app
