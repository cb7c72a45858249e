"""Problem / DataReport / Limits basics, and the package's import hygiene."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ftapp.data import DataReport, Limits, Problem


def test_problem_str_and_levels():
    p = Problem("skipped", "cats/IMG_3.jpg", "is empty (0 bytes).")
    assert str(p) == "cats/IMG_3.jpg: is empty (0 bytes)."
    with pytest.raises(ValueError):
        Problem("fatal", "x", "y")


def test_report_views():
    r = DataReport(source="x.zip")
    r.error("x.zip", "bad")
    r.warn("class 'a'", "small")
    r.skip("a/1.png", "damaged")
    r.count_drop("empty text", 2)
    r.count_drop("empty text")
    assert [p.level for p in r.errors + r.warnings + r.skipped] == ["error", "warning", "skipped"]
    assert not r.ok and r.dropped == {"empty text": 3}
    d = json.loads(json.dumps(r.to_dict()))
    assert d["problems"][0] == {"level": "error", "where": "x.zip", "message": "bad"}
    assert d["ok"] is False
    assert "Cannot train" in r.summary()


def test_summary_truncates_long_lists():
    r = DataReport(source="x.zip", class_counts={"a": 3, "bb": 10})
    for i in range(25):
        r.skip(f"a/{i}.png", "damaged")
    s = r.summary()
    assert "... and 15 more" in s and "bb  10" in s and s.index("bb") < s.index("  a ")


def test_limits_defaults_and_frozen():
    lim = Limits()
    assert lim.max_upload_bytes == 500 * 2**20 and lim.max_members == 20_000
    assert lim.max_image_pixels == 40_000_000 and lim.allow_local_paths is True
    with pytest.raises(Exception):
        lim.max_members = 1


def test_no_torch_or_gradio_import():
    code = "import sys, ftapp.data; print('torch' in sys.modules, 'gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
