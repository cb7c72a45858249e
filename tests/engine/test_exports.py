"""Exports that load in the tools people already have, checked with those tools and not with ftapp:
the model card's snippets run as written, ONNX agrees under onnxruntime, the demo Space serves
offline and answers gradio_client, and the bundled EfficientNet loads with pipeline and timm."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import EXAMPLES, make_tiny_sentence_model, train_run, write_text_csv
from ftapp.export import ExportError, export, export_onnx, export_space, export_zip
from ftapp.inference import predict_run
from ftapp.runs import RunFolder, new_run

OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false"}


_train = train_run   # a short finished run (conftest)


@pytest.fixture(scope="module")
def sentence_run(tmp_path_factory):
    """The default text path: a sentence-transformers checkpoint with ftapp's head (SetFit layout)."""
    tmp = tmp_path_factory.mktemp("sentence")
    model = make_tiny_sentence_model(tmp / "encoder")
    return _train(tmp, str(model), write_text_csv(tmp / "t.csv"), lr=3e-3)


@pytest.fixture(scope="module")
def hf_text_run(tmp_path_factory, tiny_text_model):
    tmp = tmp_path_factory.mktemp("hf")
    return _train(tmp, tiny_text_model, write_text_csv(tmp / "t.csv"), lr=3e-3)


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def _run_snippet(code: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=OFFLINE, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _top(probs: dict) -> str:
    return max(probs, key=probs.get)


def _answer(run_dir, item) -> str:
    """What ftapp answers: the top class, or "not sure" under the threshold saved with the model."""
    probs = predict_run(run_dir, item)
    return _top(probs) if probs[_top(probs)] >= RunFolder(run_dir).model_meta()["unsure_below"] else "not sure"


@pytest.mark.parametrize("which", ["sentence_run", "hf_text_run"])
def test_text_model_card_snippets_run_as_written(which, request, tmp_path):
    run = request.getfixturevalue(which)
    with zipfile.ZipFile(export_zip(run.dir, tmp_path)) as zf:
        zf.extractall(tmp_path)
    export_onnx(run.dir, tmp_path / "onnx")      # the card's onnxruntime snippet reads the ONNX download
    card = (tmp_path / "model" / "README.md").read_text()
    blocks = _python_blocks(card)
    assert blocks, card
    expected = _top(predict_run(run.dir, "a text to classify"))
    for code in blocks:   # the pipelines print every class's score; the ONNX snippet its answer
        printed = _run_snippet(code, tmp_path)
        assert expected in printed or printed.strip() == _answer(run.dir, "a text to classify"), (code, printed)


@pytest.mark.parametrize("which", ["sentence_run", "hf_text_run"])
def test_onnx_text_export_agrees_with_the_model_and_its_readme_runs(which, request, tmp_path):
    run = request.getfixturevalue(which)
    out = export("%s" % run.dir, "onnx", tmp_path / "onnx")
    check = json.loads((out / "onnx_check.json").read_text())
    assert check["ok"] and check["same_top1"] and check["max_probability_difference"] <= 1e-3, check
    assert check["examples"] >= 2
    pre = json.loads((out / "preprocessing.json").read_text())
    meta = RunFolder(run.dir).model_meta()
    assert pre["labels"] == meta["labels"] and pre["unsure_below"] == meta["unsure_below"]
    (code,) = _python_blocks((out / "README.md").read_text())
    assert _run_snippet(code, out).strip() == _answer(run.dir, "a text to classify")
    # the tiny models' weights are mostly their embedding table, which int8 matrices do not shrink: no copy,
    # and the README says why (tests/engine/test_audio.py checks a copy that is made)
    assert "only" in check["int8"]["none"] and not (out / "model.int8.onnx").exists()
    assert "No int8 copy: int8 matrix weights would make the file only" in (out / "README.md").read_text()


def test_exports_of_an_unfinished_run_say_so(tmp_path):
    run = new_run(tmp_path / "empty", {"model": "x"})
    for fmt in ("zip", "onnx", "space"):
        with pytest.raises(ExportError, match="no saved model"):
            export(run.dir, fmt, tmp_path / fmt)
    with pytest.raises(ExportError, match="Unknown export format"):
        export(run.dir, "tflite", tmp_path / "x")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Served:
    """`python app.py` of an exported Space, as its users would start it."""

    def __init__(self, folder: Path):
        self.port = _free_port()
        env = {**OFFLINE, "GRADIO_SERVER_PORT": str(self.port), "GRADIO_SERVER_NAME": "127.0.0.1"}
        self.log = open(folder.parent / "space.log", "w")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=folder, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/"

    def client(self, timeout: float = 240):
        from gradio_client import Client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:   # waits on the server, not on a fixed sleep
            assert self.proc.poll() is None, Path(self.log.name).read_text()[-3000:]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return Client(self.url, verbose=False)
            except OSError:
                time.sleep(0.3)
        raise AssertionError("the Space app did not start: " + Path(self.log.name).read_text()[-3000:])

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def _check_space_readme(folder: Path):
    from huggingface_hub import SpaceCard

    card = SpaceCard.load(folder / "README.md")
    assert card.data.sdk == "gradio" and card.data.app_file == "app.py"
    assert card.data.title and card.data.emoji and card.data.short_description
    assert len(card.data.short_description) <= 60
    assert "Made with ftapp" in card.text or "ftapp" in card.text


def _space_predicts(folder: Path, item, run_dir: Path, local_item):
    """The Space answers as ftapp does: the same top class, and "not sure" under the model's threshold."""
    probs = predict_run(run_dir, local_item)
    top, threshold = _top(probs), RunFolder(run_dir).model_meta()["unsure_below"]
    served = _Served(folder)
    try:
        label, answer = served.client().predict(item, api_name="/predict")
    finally:
        served.close()
    assert label["label"] == top, label
    assert "Answer: " + (top if probs[top] >= threshold else "not sure") in answer, answer


def test_text_space_bundle_serves_offline_and_answers_gradio_client(sentence_run, tmp_path):
    folder = export_space(sentence_run.dir, tmp_path / "space")
    assert {"app.py", "requirements.txt", "README.md"} <= {p.name for p in folder.iterdir()}
    assert (folder / "model" / "model.safetensors").is_file()
    reqs = (folder / "requirements.txt").read_text().split()
    assert all(re.fullmatch(r"[a-z-]+==[\d.]+", r) for r in reqs) and "setfit==1.2.0" in reqs
    assert len((folder / "app.py").read_text().splitlines()) < 60      # short and readable
    _check_space_readme(folder)
    example = RunFolder(sentence_run.dir).report()["examples"][0]["item"]
    _space_predicts(folder, example, sentence_run.dir, example)
    with pytest.raises(ExportError, match="not empty"):
        export_space(sentence_run.dir, folder)


# ---- the bundled EfficientNet: timm's Hugging Face format ------------------------------------------------
@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    from ftapp.models import BUNDLED_IMAGE

    tmp = tmp_path_factory.mktemp("image")
    return _train(tmp, BUNDLED_IMAGE, EXAMPLES / "shapes.zip", epochs=2, min_steps=20)


def _test_pictures(tmp: Path, n: int = 6) -> list[Path]:
    with zipfile.ZipFile(EXAMPLES / "shapes.zip") as zf:
        names = [n_ for n_ in zf.namelist() if n_.lower().endswith((".png", ".jpg", ".jpeg"))][::7][:n]
        zf.extractall(tmp / "pics", members=names)
    return [tmp / "pics" / n_ for n_ in names]


@pytest.mark.slow
def test_bundled_efficientnet_export_loads_with_pipeline_and_timm_and_agrees(image_run, tmp_path):
    import timm
    import torch
    from PIL import Image
    from transformers import pipeline

    with zipfile.ZipFile(export_zip(image_run.dir, tmp_path)) as zf:
        zf.extractall(tmp_path)
    folder = tmp_path / "model"
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "efficientnet_lite0" and config["num_classes"] == len(config["label_names"])
    assert "pretrained_cfg" in config

    pictures = _test_pictures(tmp_path)
    ours = [_top(predict_run(image_run.dir, str(p))) for p in pictures]
    classify = pipeline("image-classification", model=str(folder))
    assert [classify(str(p))[0]["label"] for p in pictures] == ours

    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    with torch.no_grad():
        top = [int(model(transform(Image.open(p).convert("RGB"))[None]).argmax()) for p in pictures]
    assert [config["label_names"][i] for i in top] == ours

    onnx_dir = export_onnx(image_run.dir, tmp_path / "onnx")
    assert json.loads((onnx_dir / "onnx_check.json").read_text())["ok"]


@pytest.mark.slow
def test_image_space_bundle_serves_offline_and_answers_gradio_client(image_run, tmp_path):
    from gradio_client import handle_file

    folder = export_space(image_run.dir, tmp_path / "space")
    _check_space_readme(folder)
    assert "timm==" in (folder / "requirements.txt").read_text()
    shown = sorted((folder / "examples").iterdir())
    assert shown, "the run's own example pictures travel with the Space"
    _space_predicts(folder, handle_file(str(shown[0])), image_run.dir, str(shown[0]))


@pytest.mark.parametrize("source, hub", [("owner/some-model", True), ("/home/me/models/mine", False)])
def test_the_card_names_a_hub_base_model_and_never_a_local_path(sentence_run, tmp_path, source, hub):
    import json
    import shutil

    from ftapp.export.card import model_card
    from ftapp.runs import RunFolder

    run_dir = Path(shutil.copytree(sentence_run.dir, tmp_path / "run"))
    meta = json.loads((run_dir / RunFolder.MODEL_META).read_text())
    (run_dir / RunFolder.MODEL_META).write_text(json.dumps({**meta, "source": source}))
    card = model_card(run_dir)
    assert (f"base_model: {source}" in card) is hub and "/home/me" not in card
