"""Out-of-memory retry, predictions from runs, export zip and model card."""
from __future__ import annotations

import json
import zipfile

import pytest
import torch

from ftapp.export import ExportError, export_zip, model_card
from ftapp.inference import predict_run
from ftapp.models import ModelError
from ftapp.runs import new_run
from ftapp.train.config import TrainConfig
from ftapp.train.job import execute


def test_out_of_memory_retries_with_half_the_batch(tmp_path, tiny_text_model, text_csv_big, monkeypatch):
    """A real forward hook raises torch's own OOM error for batches above 8, as a small GPU would."""
    import ftapp.train.job as job

    configure = job.configure_model

    def small_gpu(*args):
        clf = configure(*args)

        def hook(_module, args, kwargs):
            x = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else kwargs.get("inputs_embeds")
            if clf.model.training and x is not None and x.shape[0] > 8:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        clf.model.register_forward_pre_hook(hook, with_kwargs=True)
        return clf

    monkeypatch.setattr(job, "configure_model", small_gpu)
    config = TrainConfig(model=tiny_text_model, data=str(text_csv_big), batch_size=32, lr=1e-3, auto=False,
                         min_steps=10, frozen_layers=0)
    run = new_run(tmp_path / "run", config.to_dict())
    execute(config, run, workdir=tmp_path / "w")
    assert run.status == "finished", run.message
    # halved until the batches fit (a small last batch joins the one before: up to 1.5x the size)
    assert config.batch_size in (4, 8)
    assert "batch size 16" in json.dumps([json.loads(l) for l in (run.dir / "metrics.jsonl").read_text().splitlines()])
    assert run.info["notice"].endswith(f"batch size {config.batch_size}.")
    assert run.effective["batch_size"] == config.batch_size == run.effective_settings["batch_size"]   # what refill reads


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_text_model):
    from conftest import write_text_csv

    tmp = tmp_path_factory.mktemp("export")
    csv = write_text_csv(tmp / "t.csv", classes=("billing", "bug", "<b>praise</b>|*x*"))
    config = TrainConfig(model=tiny_text_model, data=str(csv), epochs=1, lr=3e-3, min_steps=5)
    run = new_run(tmp / "run", config.to_dict())
    execute(config, run, workdir=tmp / "w")
    assert run.status == "finished", run.message
    return run


def test_export_zip_holds_a_loadable_model_and_card(finished_run, tmp_path):
    from transformers import pipeline

    path = export_zip(finished_run.dir, tmp_path)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "unzipped")
    assert {"model/config.json", "model/model.safetensors", "model/README.md", "model/tokenizer.json"} <= names
    assert not any("metrics.jsonl" in n or "work" in n for n in names)
    settings = json.loads((tmp_path / "unzipped" / "model" / "settings.json").read_text())
    assert settings["epochs"] == 1 and "data" not in settings      # no file-system paths leave the machine
    assert str(tmp_path.parent) not in (tmp_path / "unzipped" / "model" / "README.md").read_text()
    out = pipeline("text-classification", model=str(tmp_path / "unzipped" / "model"))("refund my invoice")
    assert out[0]["label"] in ("billing", "bug", "<b>praise</b>|*x*")


def test_model_card_escapes_user_text(finished_run):
    card = model_card(finished_run.dir)
    assert "<b>" not in card and "&lt;b&gt;praise&lt;/b&gt;\\|\\*x\\*" in card
    assert "Confusion matrix" in card and "| learning" not in card
    assert "pipeline_tag: text-classification" in card


def test_predict_run_keeps_model_loaded_and_rejects_wrong_input(finished_run):
    first = predict_run(finished_run.dir, "my card was charged twice")
    assert set(first) <= {"billing", "bug", "<b>praise</b>|*x*"} and abs(sum(first.values()) - 1) < 1e-3
    from ftapp import inference

    cached = inference.model_for(finished_run.dir)
    assert inference.model_for(finished_run.dir) is cached      # no reload between predictions
    with pytest.raises(ModelError, match="Type some text"):
        predict_run(finished_run.dir, "   ")


def test_export_of_a_run_without_model_says_so(tmp_path):
    run = new_run(tmp_path / "empty", {"model": "x"})
    with pytest.raises(ExportError, match="no saved model"):
        export_zip(run.dir, tmp_path)
