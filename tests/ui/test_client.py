"""The app over its API, with gradio_client: every Client is its own session."""
from __future__ import annotations

import time
import zipfile

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

FAST = dict(epochs=3, batch_size=16, lr=3e-3, frozen_layers=0)


def client(url: str) -> Client:
    return Client(url, verbose=False, download_files=True)


def wait_finished(c: Client, run_id: str, timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = c.predict(run_id=run_id, api_name="/run_status")
        if st["finished"]:
            return st
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not finish")


def test_endpoints_are_named(local_app):
    _, url = local_app
    names = set(client(url).view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/load_data", "/start_training", "/run_status", "/stop_training", "/predict", "/export_model",
            "/list_runs"} <= names


def test_full_flow_local(local_app, tiny_text_model, tmp_path):
    demo, url = local_app
    c = client(url)
    rep = c.predict(example="support_tickets", api_name="/load_data")
    assert rep["ok"] and rep["modality"] == "text" and len(rep["class_counts"]) >= 2 and not rep["errors"]

    st = c.predict(model=tiny_text_model, **FAST, api_name="/start_training")
    assert st["status"] in ("queued", "running")
    final = wait_finished(c, st["id"])
    assert final["status"] == "finished", final["message"]
    assert final["n_steps"] > 0 and len(final["epochs"]) >= 1 and final["has_model"]
    assert "finished" in final["status_text"].lower() and final["device"]

    pred = c.predict(run_id=st["id"], text="I was charged twice, please refund my card", api_name="/predict")
    classes = set(rep["class_counts"])
    assert pred["label"] in classes and {x["label"] for x in pred["confidences"]} <= classes

    path = c.predict(run_id=st["id"], api_name="/export_model")
    assert zipfile.is_zipfile(path)
    names = zipfile.ZipFile(path).namelist()
    assert "model/ftapp_model.json" in names and "model/README.md" in names
    onnx = zipfile.ZipFile(c.predict(run_id=st["id"], export_format="onnx", api_name="/export_model")).namelist()
    assert {"onnx/model.onnx", "onnx/preprocessing.json", "onnx/onnx_check.json"} <= set(onnx)
    with pytest.raises(AppError, match="export_format must be one of"):
        c.predict(run_id=st["id"], export_format="tflite", api_name="/export_model")

    runs = c.predict(api_name="/list_runs")
    assert runs[0]["id"] == st["id"]


def test_recordings_through_the_api(local_app, tiny_audio_model, tmp_path):
    """A zip of class folders of recordings: load_data reads them as sounds, start_training trains,
    predict answers an uploaded clip and refuses text for a sound model."""
    from conftest import write_tone, write_tone_folders, zip_of

    data = zip_of(write_tone_folders(tmp_path / "tones", n_per_class=10), tmp_path / "tones.zip")
    _, url = local_app
    c = client(url)
    rep = c.predict(file=handle_file(str(data)), api_name="/load_data")
    assert rep["ok"] and rep["modality"] == "audio" and rep["class_counts"] == {"high": 10, "low": 10}
    st = c.predict(model=tiny_audio_model, epochs=2, api_name="/start_training")
    final = wait_finished(c, st["id"])
    assert final["status"] == "finished", final["message"]
    pred = c.predict(run_id=st["id"], audio=handle_file(str(write_tone(tmp_path / "x.wav", 1760))), api_name="/predict")
    assert pred["label"] == "high"
    with pytest.raises(AppError, match="recording"):
        c.predict(run_id=st["id"], text="a text for a sound model", api_name="/predict")


def test_image_flow_and_evaluation_views(local_app, tiny_image_model, image_zip, tmp_path):
    demo, url = local_app
    c = client(url)
    rep = c.predict(file=handle_file(str(image_zip)), api_name="/load_data")
    assert rep["ok"] and rep["modality"] == "image" and set(rep["class_counts"]) == {"red", "blue"}
    st = c.predict(model=tiny_image_model, epochs=2, batch_size=8, lr=3e-3, frozen_layers=1,
                   api_name="/start_training")
    final = wait_finished(c, st["id"])
    assert final["status"] == "finished", final["message"]

    from PIL import Image

    picture = tmp_path / "red.png"
    Image.new("RGB", (40, 40), (230, 20, 20)).save(picture)
    pred = c.predict(run_id=st["id"], image=handle_file(str(picture)), api_name="/predict")
    assert pred["label"] in {"red", "blue"}
    with pytest.raises(AppError, match="picture"):
        c.predict(run_id=st["id"], text="a text for an image model", api_name="/predict")

    # what the Evaluate and Try-it tabs render for this run
    ctx, ev, tr = demo.ftapp, demo.tabs["evaluate"], demo.tabs["try"]
    owner = ctx.store.get(st["id"]).owner      # this client's session
    out = ev.render(owner, st["id"])
    assert "accuracy" in out[ev.summary] and list(out[ev.per_class]["class"]) == ["blue", "red"]
    confusion = out[ev.confusion]
    assert confusion.visible is True and '"type":"heatmap"' in confusion.value["plot"]
    assert out[ev.mis_table].visible is False
    for item in out[ev.mis_gallery].value or []:
        assert " → " in item["caption"] and item["caption"].endswith("%)")
    out = tr.render(owner, st["id"])
    examples = out[tr.examples_state]
    assert out[tr.image].visible and not out[tr.text].visible and examples
    assert all(p.startswith(str(ctx.runs_dir)) and p.endswith(".png") for p in examples)


def test_errors_are_plain_messages(local_app, tmp_path):
    _, url = local_app
    c = client(url)
    with pytest.raises(AppError, match="Load your data first"):
        c.predict(model="whatever", api_name="/start_training")
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF-1.4")
    with pytest.raises(AppError, match="not a file ftapp can read"):
        c.predict(file=handle_file(str(bad)), api_name="/load_data")
    broken = tmp_path / "broken.csv"
    broken.write_text("just one column\nhello\n")
    rep = c.predict(file=handle_file(str(broken)), api_name="/load_data")
    assert not rep["ok"] and rep["errors"]
    with pytest.raises(AppError, match="errors that block training"):
        c.predict(model="x", api_name="/start_training")
    with pytest.raises(AppError) as err:
        c.predict(run_id="nope", api_name="/run_status")
    assert "Traceback" not in str(err.value)
    # a Hub dataset while offline: one plain line, fast (tests run with HF_HUB_OFFLINE=1)
    rep = c.predict(hub_dataset="fancyzhx/ag_news", api_name="/load_data")
    assert not rep["ok"] and len(rep["errors"]) == 1 and "runs offline" in str(rep["errors"][0])


def test_parquet_upload(local_app, tmp_path):
    import pandas as pd

    _, url = local_app
    path = tmp_path / "tickets.parquet"
    pd.DataFrame({"text": [f"refund my invoice {i}" for i in range(8)] + [f"the app crashes {i}" for i in range(8)],
                  "label": ["billing"] * 8 + ["bug"] * 8}).to_parquet(path)
    rep = client(url).predict(file=handle_file(str(path)), api_name="/load_data")
    assert rep["ok"] and rep["class_counts"] == {"billing": 8, "bug": 8}, rep


def test_hosted_isolation_and_queue(hosted_app, tiny_text_model, text_csv):
    demo, url = hosted_app
    a, b = client(url), client(url)
    for c in (a, b):
        assert c.predict(file=handle_file(str(text_csv)), api_name="/load_data")["ok"]

    # hosted: local folders are refused before anything runs
    with pytest.raises(AppError, match="Hub"):
        a.predict(model=tiny_text_model, api_name="/start_training")

    # A long run for A, put straight into the runner with the tiny local model: hosted mode refuses
    # local folders (checked above), so this test lets the runner load it.
    ctx = demo.ftapp
    ctx.runner.allow_local_paths = True
    from ftapp.train.config import TrainConfig

    data_a = ctx.session_data(a.session_hash)
    owner_a = ctx.owner(None, a.session_hash)
    long = ctx.runner.submit(TrainConfig(model=tiny_text_model, data=data_a["path"], epochs=200, batch_size=2,
                                         lr=1e-3, patience=0), owner=owner_a, extra_settings={"data_name": "t.csv"})
    queued = ctx.runner.submit(TrainConfig(model=tiny_text_model, data=data_a["path"], epochs=1, lr=1e-3),
                               owner=owner_a, extra_settings={"data_name": "t.csv"})
    deadline = time.time() + 60
    while a.predict(run_id=long.id, api_name="/run_status")["status"] != "running":
        assert time.time() < deadline
        time.sleep(0.2)

    # queueing: the second run waits behind the first and says so
    st = a.predict(run_id=queued.id, api_name="/run_status")
    assert st["status"] == "queued" and st["queue_position"] == 1 and "1 run ahead of yours" in st["status_text"]

    # isolation: B neither sees nor stops A's runs
    assert b.predict(api_name="/list_runs") == []
    with pytest.raises(AppError, match="No run"):
        b.predict(run_id=long.id, api_name="/run_status")
    assert b.predict(run_id=long.id, api_name="/stop_training")["stopped"] is False
    with pytest.raises(AppError):
        b.predict(run_id=long.id, text="hello", api_name="/predict")
    assert long.active
    assert {r["id"] for r in a.predict(api_name="/list_runs")} == {long.id, queued.id}

    # fair shares: A may not queue more while two of theirs are active; a full queue refuses B;
    # B's run (accepted when there is room) has its time budget capped and waits behind A's
    with pytest.raises(AppError, match="You already have 2 runs waiting or training"):
        a.predict(model="", api_name="/start_training")
    import dataclasses

    quotas = ctx.quotas
    try:
        ctx.quotas = dataclasses.replace(quotas, max_queue=1)
        with pytest.raises(AppError, match=r"The queue is full \(1 runs waiting, about \d+ minutes\)"):
            b.predict(model="", api_name="/start_training")
        ctx.quotas = dataclasses.replace(quotas, max_run_minutes=2)
        st_b = b.predict(model="", time_budget=90, api_name="/start_training")
        run_b = ctx.store.get(st_b["id"])
        assert run_b.settings["time_budget"] == 2 and run_b.status == "queued"
        status_b = b.predict(run_id=st_b["id"], api_name="/run_status")
        assert status_b["queue_position"] == 2 and status_b["expected_wait_minutes"] >= 1
        assert "within about" in status_b["status_text"]
        assert b.predict(run_id=st_b["id"], api_name="/stop_training")["stopped"] is True
    finally:
        ctx.quotas = quotas

    # A may stop its own runs: the queued one is cancelled, the running one stops within a step
    assert a.predict(run_id=queued.id, api_name="/stop_training")["stopped"] is True
    assert a.predict(run_id=long.id, api_name="/stop_training")["stopped"] is True
    assert wait_finished(a, long.id, timeout=60)["status"] == "stopped"
    assert a.predict(run_id=queued.id, api_name="/run_status")["status"] == "stopped"
    ctx.runner.allow_local_paths = False


def test_local_mode_sessions_keep_their_runs_apart(local_app, tiny_text_model, text_csv):
    """Even on one person's machine, two tabs open at once neither see nor stop each other's runs."""
    _, url = local_app
    a, b = client(url), client(url)
    assert a.predict(file=handle_file(str(text_csv)), api_name="/load_data")["ok"]
    run = a.predict(model=tiny_text_model, epochs=100, batch_size=2, patience=0, api_name="/start_training")
    assert run["id"] not in {r["id"] for r in b.predict(api_name="/list_runs")}
    assert b.predict(run_id=run["id"], api_name="/stop_training")["stopped"] is False
    with pytest.raises(AppError, match="No run"):
        b.predict(run_id=run["id"], api_name="/run_status")
    assert a.predict(run_id=run["id"], api_name="/run_status")["status"] in ("queued", "running")
    assert a.predict(run_id=run["id"], api_name="/stop_training")["stopped"] is True
    assert wait_finished(a, run["id"], timeout=60)["status"] == "stopped"


def test_the_app_exits_cleanly_on_sigterm(tmp_path):
    """What a platform sends before it stops a container: the app pauses its run (see
    tests/engine/test_resume.py for the run's side) and exits with status 0, in seconds."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path

    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FTAPP_MODE": "hosted", "FTAPP_RUNS_DIR": str(tmp_path / "runs"),
           "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    app = Path(__file__).resolve().parents[2] / "app.py"
    proc = subprocess.Popen([sys.executable, str(app)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 120
        while True:                         # up when it answers (a condition, not a fixed sleep)
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-2000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=5)
                break
            except OSError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()[-2000:]
    finally:
        proc.kill()


def test_the_first_model_answers_in_try_it_while_fine_tuning_runs(local_app, tiny_text_model):
    """Seconds after Start the first model is saved: Try it (/predict), Evaluate and Export use it
    while fine-tuning goes on; Stop keeps at least that model."""
    _, url = local_app
    c = client(url)
    c.predict(example="support_tickets", api_name="/load_data")
    st = c.predict(model=tiny_text_model, epochs=300, batch_size=4, lr=1e-4, frozen_layers=0, auto=False,
                   time_budget=30, api_name="/start_training")
    deadline = time.time() + 120
    while True:
        status = c.predict(run_id=st["id"], api_name="/run_status")
        if status["has_model"] and status["n_steps"] > 0:
            break
        assert time.time() < deadline and not status["finished"], status["message"]
        time.sleep(0.3)
    assert status["status"] == "running" and status["info"]["first_model"]["message"].startswith("A first model")
    assert "A first model is ready" in status["status_text"]
    pred = c.predict(run_id=st["id"], text="I was charged twice, please refund my card", api_name="/predict")
    assert pred["label"] and pred["confidences"]
    assert zipfile.is_zipfile(c.predict(run_id=st["id"], api_name="/export_model"))
    c.predict(run_id=st["id"], api_name="/stop_training")
    final = wait_finished(c, st["id"])
    assert final["status"] == "stopped" and final["has_model"]
