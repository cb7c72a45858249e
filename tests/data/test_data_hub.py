"""Data through `datasets`: Parquet files, `save_to_disk` folders and Hub dataset ids (tests are
offline: a Hub id fails with one clear line, and the same table path a CSV takes is checked with
local data)."""
from __future__ import annotations

import json

import datasets
import numpy as np
from PIL import Image

from ftapp import cli
from ftapp.data import load_dataset
from ftapp.data.hub import hub_display_name, hub_source, parse_hub_source

TEXT_FEATURES = datasets.Features({"id": datasets.Value("int64"), "sentence": datasets.Value("string"),
                                   "label": datasets.ClassLabel(names=["billing", "bug", "praise"])})
WORDS = {0: "invoice refund payment charged card", 1: "crash error broken freezes button", 2: "great love thanks"}


def _text_rows(n_per_class: int = 10, unlabelled: int = 0) -> dict:
    rows = {"id": [], "sentence": [], "label": []}
    for c, words in WORDS.items():
        for i in range(n_per_class):
            rows["id"].append(len(rows["id"]))
            rows["sentence"].append(f"my {words} case {i}")
            rows["label"].append(c)
    for i in range(unlabelled):   # the way GLUE-style test splits mark "no label": -1
        rows["id"].append(len(rows["id"]))
        rows["sentence"].append(f"unlabelled {i}")
        rows["label"].append(-1)
    return rows


def _image_dataset() -> datasets.Dataset:
    pictures = [Image.fromarray(np.full((24, 24, 3), v, np.uint8)) for v in [20] * 6 + [230] * 6]
    return datasets.Dataset.from_dict(
        {"img": pictures, "fine_label": [0] * 6 + [1] * 6},
        features=datasets.Features({"img": datasets.Image(),
                                    "fine_label": datasets.ClassLabel(names=["dark", "light"])}))


def test_parquet_with_class_names_reads_like_a_csv(tmp_path):
    path = tmp_path / "tickets.parquet"
    datasets.Dataset.from_dict(_text_rows(unlabelled=2), features=TEXT_FEATURES).to_parquet(str(path))
    ds, report = load_dataset(path, workdir=tmp_path / "w")
    assert report.ok, report.to_dict()
    assert ds.modality == "text" and ds.classes == ["billing", "bug", "praise"]      # names, not 0/1/2
    assert report.text_column == "sentence" and report.label_column == "label" and len(ds) == 30
    skipped = " ".join(p.message for p in report.problems)
    assert "2 row(s)" in skipped and "'label'" in skipped                            # -1 = no label, said so
    # the column pickers work the same as for an upload
    ds2, report2 = load_dataset(path, workdir=tmp_path / "w2", text_column="sentence", label_column="id")
    assert report2.label_column == "id"


def test_parquet_of_pictures_and_a_saved_dataset_become_image_data(tmp_path):
    pics = _image_dataset()
    pics.to_parquet(str(tmp_path / "pics.parquet"))
    ds, report = load_dataset(tmp_path / "pics.parquet", workdir=tmp_path / "w")
    assert report.ok and ds.modality == "image" and ds.classes == ["dark", "light"], report.to_dict()
    assert all(str(tmp_path / "w") in p for p in ds.items)                             # written into workdir
    assert Image.open(ds.items[0]).size == (24, 24)

    datasets.DatasetDict({"train": pics, "test": pics.select(range(4))}).save_to_disk(str(tmp_path / "saved"))
    ds, report = load_dataset(tmp_path / "saved", workdir=tmp_path / "w3")
    assert report.ok and ds.modality == "image" and len(ds) == 12, report.to_dict()
    assert any("'train' was used" in p.message for p in report.problems)


def test_damaged_parquet_is_a_plain_error(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really a parquet file")
    ds, report = load_dataset(path, workdir=tmp_path / "w")
    assert ds is None and [p.message for p in report.problems if p.level == "error"] == [
        "could not be read as a Parquet file (it may be damaged). Save it again, or as CSV."]


def test_hub_source_round_trip():
    src = hub_source(" fancyzhx/ag_news ", "default", "test")
    assert src == "hf://datasets/fancyzhx/ag_news?config=default&split=test"
    assert parse_hub_source(src) == ("fancyzhx/ag_news", "default", "test")
    assert parse_hub_source("hf://datasets/imdb") == ("imdb", None, None)
    assert hub_display_name(src) == "fancyzhx/ag_news [default] (test)"


def _one_error(report) -> str:
    errors = [p for p in report.problems if p.level == "error"]
    assert len(errors) == 1, report.to_dict()
    return f"{errors[0].where}: {errors[0].message}"


def test_hub_id_offline_or_unreachable_fails_with_one_clear_line(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub_constants

    ds, report = load_dataset("hf://datasets/fancyzhx/ag_news?split=train", workdir=tmp_path / "w")
    assert ds is None and _one_error(report) == ("fancyzhx/ag_news (train): cannot be fetched: this app runs "
                                                 "offline (HF_HUB_OFFLINE is set). Upload the data as a file instead.")
    # online but nothing answers (a closed port stands in for a machine without internet)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "ENDPOINT", "http://127.0.0.1:9")
    ds, report = load_dataset("hf://datasets/fancyzhx/ag_news", workdir=tmp_path / "w2")
    assert ds is None and "the Hugging Face Hub did not answer" in _one_error(report)
    ds, report = load_dataset("hf://datasets/a/b/c", workdir=tmp_path / "w3")
    assert ds is None and "is not a Hub dataset name" in _one_error(report)


def test_cli_trains_on_parquet_and_refuses_an_unreachable_hub_id(tmp_path, capsys, tiny_text_model):
    path = tmp_path / "t.parquet"
    datasets.Dataset.from_dict(_text_rows(), features=TEXT_FEATURES).to_parquet(str(path))
    code = cli.main(["train", "--data", str(path), "--model", tiny_text_model, "--out", str(tmp_path / "run"),
                     "--epochs", "1", "--no-auto", "--min-steps", "5"])
    assert code == 0, capsys.readouterr().err
    labels = json.loads((tmp_path / "run" / "config.json").read_text())["id2label"].values()
    assert sorted(labels) == ["billing", "bug", "praise"]

    capsys.readouterr()
    code = cli.main(["train", "--data", "hf://datasets/fancyzhx/ag_news", "--model", tiny_text_model,
                     "--out", str(tmp_path / "run2")])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and "runs offline" in err
