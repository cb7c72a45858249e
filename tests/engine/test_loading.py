"""Loading models: clear messages for every way it can go wrong, and no remote code."""
from __future__ import annotations

import json

import pytest

from ftapp.models import ModelError, load_pretrained


def test_hub_id_without_network_fails_at_once_with_advice():
    with pytest.raises(ModelError, match="cannot be reached.*bundled model"):
        load_pretrained("distilbert-base-uncased", ["a", "b"])


def test_hosted_mode_refuses_local_folders(tiny_text_model):
    with pytest.raises(ModelError, match="own machine"):
        load_pretrained(tiny_text_model, ["a", "b"], modality="text", allow_local_paths=False)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="does not hold a model"):
        load_pretrained(str(tmp_path), ["a", "b"], modality="text")


def test_models_that_need_custom_code_are_refused(tmp_path, tiny_text_model):
    """A config pointing at custom modelling code is never executed."""
    import shutil

    folder = tmp_path / "custom"
    shutil.copytree(tiny_text_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "evil.EvilModel"}
    config["model_type"] = "evil-model"
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ModelError):
        load_pretrained(str(folder), ["a", "b"], modality="text")


def test_empty_model_name():
    with pytest.raises(ModelError, match="Choose a model"):
        load_pretrained("  ", ["a", "b"])


def test_model_of_the_wrong_kind_for_the_data_is_explained(tiny_image_model):
    with pytest.raises(ModelError, match="is an image model, but the data is text"):
        load_pretrained(tiny_image_model, ["a", "b"], modality="text")
    with pytest.raises(ModelError, match="is a text model, but the data is image"):
        load_pretrained("all-MiniLM-L6-v2 (bundled)", ["a", "b"], modality="image")


def test_bundled_and_local_models_never_probe_the_network(monkeypatch, tiny_text_model):
    import ftapp.models.loading as loading

    def no_network(*_a, **_k):
        raise AssertionError("the network was probed for a model on disk")

    monkeypatch.setattr(loading, "hub_reachable", no_network)
    assert load_pretrained("all-MiniLM-L6-v2 (bundled)", ["a", "b"]).n_blocks == 6
    assert load_pretrained(tiny_text_model, ["a", "b"], modality="text").n_blocks == 2
