"""A few slower runs of the real bundled models on the bundled example data, default settings."""
from __future__ import annotations

import json

import pytest

from conftest import EXAMPLES
from ftapp.models import BUNDLED_IMAGE, BUNDLED_TEXT
from ftapp.runs import new_run
from ftapp.train.config import TrainConfig
from ftapp.train.job import execute

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model, data, floor", [
    (BUNDLED_TEXT, EXAMPLES / "support_tickets.csv", 0.8),
    (BUNDLED_IMAGE, EXAMPLES / "shapes.zip", 0.8),
])
def test_bundled_model_learns_the_bundled_example_with_defaults(tmp_path, model, data, floor):
    config = TrainConfig(model=model, data=str(data))
    run = new_run(tmp_path / "run", config.to_dict())
    execute(config, run, workdir=tmp_path / "work")
    assert run.status == "finished", run.message
    metrics = json.loads((run.dir / "metrics.json").read_text())
    assert metrics["used_prefix_cache"] is True
    assert metrics["val_accuracy"] >= floor, metrics
    # the first epoch is already far better than chance: the pre-trained features carry over
    assert run.epochs[0]["val_accuracy"] > 1.5 / len(run.info["classes"])
