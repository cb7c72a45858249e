"""The bad-input corpus through `ftapp train`, the command a user runs (same code as the console
script, called in-process to keep it quick): a clear message naming the file or row, never a
traceback, exit code non-zero exactly when nothing can be trained, and no file written outside
the run folder."""
from __future__ import annotations

import pytest

from corpus import snapshot
from ftapp import cli
from ftapp.data import load_dataset
from test_bad_inputs import CASES


def _cli_args(source, kwargs, out, model):
    args = ["train", "--data", str(source), "--out", str(out), "--epochs", "1", "--batch-size", "4", "--model", model]
    for key in ("text_column", "label_column", "path_column"):
        if kwargs.get(key):
            args += [f"--{key.replace('_', '-')}", kwargs[key]]
    return args


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_through_the_cli(case, tmp_path, capsys, tiny_text_model, tiny_image_model):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    source, kwargs = case.build(inp)
    if "limits" in kwargs or kwargs.get("modality"):
        pytest.skip("needs settings the command line does not offer (custom caps)")
    modality = load_dataset(source, workdir=tmp_path / "peek", **kwargs)[1].modality   # as the user would know
    before = snapshot(tmp_path, exclude=out)
    model = tiny_text_model if modality == "text" else tiny_image_model
    code = cli.main(_cli_args(source, kwargs, out, model))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert snapshot(tmp_path, exclude=out) == before          # nothing written beside the run folder
    if case.usable:
        assert code == 0, err
        if case.level is not None:                             # skipped items / warnings are reported
            assert case.where in err and case.phrase.lower() in err.lower(), err
    else:
        assert code != 0
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ftapp: error:"), err
        assert case.phrase.lower() in lines[0].lower() and case.where in lines[0], err
