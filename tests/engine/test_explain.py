"""Explanations (captum): the words that decided a text's class, a heatmap for a picture."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from conftest import train_run, write_image_zip, write_text_csv
from ftapp.inference import explain_run
from ftapp.models import BUNDLED_TEXT


def _train(tmp, model, data, **kw):
    return train_run(tmp, model, data, **{"epochs": 2, "min_steps": 30, **kw})


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("why-text")
    return _train(tmp, BUNDLED_TEXT, write_text_csv(tmp / "t.csv"))


def test_the_decisive_word_of_an_obvious_text_ranks_in_the_top_three(text_run):
    why = explain_run(text_run.dir, "hello team, please refund my invoice today")
    assert why["label"] == "billing"
    assert [w for w, _ in why["words"]] == ["hello", "team", ",", "please", "refund", "my", "invoice", "today"]
    top = [w for w, _ in sorted(why["words"], key=lambda w: -w[1])[:3]]
    assert {"refund", "invoice"} & set(top), why


def test_cli_predict_explain_adds_the_words(text_run):
    out = subprocess.run([sys.executable, "-m", "ftapp", "predict", "--model", str(text_run.dir), "--explain",
                          "the app crashes with an error"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["label"] == "bug" and [w for w, _ in line["explanation"]][:2] == ["the", "app"]
    assert max(line["explanation"], key=lambda w: w[1])[0] in ("crashes", "error")


def test_a_picture_gets_a_heatmap(tmp_path, tiny_image_model):
    run = _train(tmp_path, tiny_image_model, write_image_zip(tmp_path / "i.zip"), lr=1e-3)
    picture = tmp_path / "red.png"
    Image.new("RGB", (40, 40), (230, 20, 20)).save(picture)
    why = explain_run(run.dir, str(picture))
    assert why["label"] in ("red", "blue")
    heat = Image.open(why["heatmap"])
    assert heat.size[0] >= 224 and heat.mode == "RGB"
