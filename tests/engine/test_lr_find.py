"""The learning-rate range test behind the app's Suggest button."""
from __future__ import annotations

import pytest

from ftapp.models import BUNDLED_TEXT
from ftapp.train.config import TrainConfig
from ftapp.train.splits import RunFailed
from ftapp.train.lr_find import suggest_lr


def test_suggests_a_rate_below_where_the_loss_was_lowest(text_csv):
    result = suggest_lr(TrainConfig(model=BUNDLED_TEXT, data=str(text_csv), batch_size=16))
    lrs, losses = result["lrs"], result["losses"]
    assert len(lrs) == len(losses) >= 5
    assert all(a < b for a, b in zip(lrs, lrs[1:]))              # exponential sweep upwards
    lowest = lrs[losses.index(min(losses))]
    assert result["lr"] == pytest.approx(lowest / 10, rel=0.05)
    assert 1e-7 <= result["lr"] <= 0.1
    assert "Suggested learning rate" in result["message"]


def test_bad_data_is_reported_not_raised_as_a_crash(tmp_path):
    csv = tmp_path / "one.csv"
    csv.write_text("text,label\n" + "".join(f"row {i},same\n" for i in range(10)))
    with pytest.raises(RunFailed, match="same"):
        suggest_lr(TrainConfig(model=BUNDLED_TEXT, data=str(csv)))
