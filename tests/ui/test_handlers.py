"""Pure UI functions: texts, charts, session/owner helpers, form conversions. No server."""
from __future__ import annotations

import time

import plotly.graph_objects as go
import pytest

from ftapp.ui import charts, core, session
from ftapp.ui.settings_tab import collect
from ftapp.ui.texts import (cache_note, data_report_markdown, fmt_lr, freezing_readout, lr_from_log, lr_readout,
                            run_label, runs_rows, status_markdown)


def snap(**kw) -> dict:
    base = {"id": "20250101-120000-abcdef", "owner": "local", "created": time.time(), "status": "running",
            "phase": "training", "message": "", "progress": 0.45, "eta_seconds": 80, "device": "CPU (2 threads, 2 cores)",
            "info": {}, "best": {}, "has_model": False, "model": "all-MiniLM-L6-v2 (bundled)", "data_name": "tickets.csv",
            "steps": [{"step": i, "epoch": round(i / 10, 4), "loss": 1.0 / i, "lr": 1e-4} for i in range(1, 26)],
            "epochs": [{"epoch": 1, "train_loss": 0.9, "val_loss": 0.8, "val_accuracy": 0.7, "val_macro_f1": 0.6},
                       {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6, "val_accuracy": 0.8, "val_macro_f1": 0.75}],
            "settings": {"epochs": 5, "model": "all-MiniLM-L6-v2 (bundled)"}}
    base.update(kw)
    return base


# ---- status text -------------------------------------------------------------------------------

def test_status_running_names_phase_progress_eta_device():
    text = status_markdown(snap())
    assert "Training" in text and "45 %" in text and "epoch 3 of at most 5" in text
    assert "1 min 20 s left" in text and "CPU (2 threads" in text and "20250101-120000-abcdef" in text


def test_status_queue_position_and_finished():
    queued = status_markdown(snap(status="queued", phase="waiting in queue", steps=[], epochs=[]), position=2)
    assert "Waiting in the queue" in queued and "2 runs ahead of yours" in queued
    assert "1 run ahead of yours" in status_markdown(snap(status="queued", steps=[]), position=1)
    done = status_markdown(snap(status="finished", phase="finished", message="Trained 5 epochs.",
                                best={"epoch": 2, "val_accuracy": 0.8}))
    assert "finished" in done.lower() and "80.0 %" in done and "Evaluate" in done


def test_status_failed_shows_message_not_traceback():
    text = status_markdown(snap(status="failed", phase="failed", message="The computer ran out of memory."))
    assert "Failed" in text and "ran out of memory" in text and "Traceback" not in text
    assert "No run yet" in status_markdown(None)


def test_user_text_is_escaped():
    text = status_markdown(snap(data_name="<img src=x onerror=alert(1)>.csv"))
    assert "<img" not in text


def test_cache_note_from_info_and_phase():
    info = {"frozen_layers": 4, "n_blocks": 6, "used_cache": True}
    note = cache_note(snap(info=info))
    assert "4 frozen blocks" in note and "epochs 2+ run only the last 2 blocks" in note
    assert cache_note(snap(info={**info, "used_cache": False})) == ""
    # while the frozen blocks are being computed the engine has already said it uses the cache
    running = snap(info={"frozen_layers": 2, "n_blocks": 6, "used_cache": True},
                   phase="computing the 2 frozen blocks once")
    assert "last 4 blocks" in cache_note(running)
    assert cache_note(snap(info={"frozen_layers": 2, "n_blocks": 6})) == ""   # not said (yet): no claim
    assert "only the new head" in cache_note(snap(info={"frozen_layers": 6, "n_blocks": 6, "used_cache": True}))


def test_freezing_readout_counts_and_names():
    opts = {"n_blocks": 3, "block_names": ["layer 1", "layer 2", "layer 3"], "default_frozen": 1,
            "total_params": 1_000_000, "trainable_params": [1_000_000, 600_000, 300_000, 1_000]}
    text = freezing_readout(opts, 1)
    assert "1 of 3 blocks frozen" in text and "600k of 1.0M parameters train" in text
    assert "Frozen (kept as pre-trained): layer 1" in text and "Training: layer 2, layer 3" in text
    assert "3 of 3 blocks frozen" in freezing_readout(opts, 99)
    assert "LoRA" in freezing_readout(opts, 1, "lora")


def test_learning_rate_log_scale_readout():
    assert lr_from_log(-4) == pytest.approx(1e-4)
    assert fmt_lr(1e-4) == "1.0e-4"
    assert "1.0e-4" in lr_readout(-4.0) and "3.2e-3" in lr_readout(-2.5)


def test_runs_rows_and_labels():
    s = snap(status="finished", best={"val_accuracy": 0.925, "epoch": 3}, model="/tmp/x/tiny-bert")
    row = runs_rows([s])[0]
    assert row[1] == "tiny-bert" and row[3] == "finished" and row[4] == "92.5 %" and row[5] == s["id"]
    assert "92.5 %" in run_label(s) and "tiny-bert" in run_label(s) and "abcdef" in run_label(s)


def test_data_report_markdown_blocks_on_errors():
    ok = {"ok": True, "modality": "text", "class_counts": {"a": 10, "b": 12}, "problems": [],
          "text_column": "text", "label_column": "label"}
    assert "Ready to train" in data_report_markdown(ok, "t.csv") and "22 texts in 2 classes" in data_report_markdown(ok, "t.csv")
    bad = {"ok": False, "class_counts": {}, "problems": [{"level": "error", "where": "t.csv", "message": "no label column"}]}
    text = data_report_markdown(bad, "t.csv")
    assert "Cannot train" in text and "no label column" in text


def test_data_report_markdown_describes_several_labels_in_their_words():
    from ftapp.data.task import describe_labels

    detail = describe_labels({"billing;bug": 4, "billing": 10, "bug": 6}, ";")
    report = {"ok": True, "modality": "text", "class_counts": {"billing;bug": 4, "billing": 10, "bug": 6},
              "problems": [], "details": {"task": "multi", "task_detail": detail}}
    text = data_report_markdown(report, "t.csv").replace("\\", "")   # as rendered: markdown escapes undone
    assert "Several labels per row (separated by ';'): 2 labels, 1.20 per row on average" in text
    assert "\n- most frequent: billing (14), bug (10)" in text and "\n- most often together: billing + bug (4)" in text


def test_several_labels_are_answered_each_at_its_threshold():
    from ftapp.ui.texts import answer_for, result_text

    meta = {"task": "multi", "labels": ["billing", "bug", "praise"], "thresholds": [0.3, 0.6, 0.5]}
    line = answer_for({"billing": 0.35, "bug": 0.55, "praise": 0.9}, 0.0, meta).replace("\\", "")
    assert line.startswith("**Labels: praise, billing**") and "billing 35.0 % ≥ 30.0 %" in line and "bug" not in line
    none = answer_for({"billing": 0.1, "bug": 0.58, "praise": 0.2}, 0.0, meta)
    assert none.startswith("**No label.**") and "*bug* at 58.0 %" in none and "needs 60.0 %" in none
    assert answer_for({"billing": 0.9, "bug": 0.1}, 0.0, {"task": "single"}).startswith("**Answer: billing**")
    result = {"val_micro_f1": 0.7, "test_micro_f1": 0.68, "test_micro_f1_interval": [0.6, 0.75], "n_test": 40,
              "baseline_name": "TF-IDF + logistic regression", "baseline_val_micro_f1": 0.66}
    text = result_text(result)
    assert text.startswith("Test micro-F1 **68.0 %** (95 % interval 60.0 %–75.0 %) on 40 held-out examples")
    assert "validation 70.0 %" in text and "logistic regression: 66.0 %" in text and "accuracy" not in text


def test_validation_figure_follows_micro_f1_for_several_labels():
    snap = {"id": "r", "status": "running", "epochs": [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.4,
                                                          "val_micro_f1": 0.6}, {"epoch": 2, "train_loss": 0.3,
                                                                                 "val_loss": 0.3, "val_micro_f1": 0.7}]}
    fig = charts.validation_figure(snap)
    (score,) = [t for t in fig.data if t.name == "validation micro-F1"]
    assert list(score.y) == [0.6, 0.7]


def test_validation_figure_of_a_number_shows_its_mean_absolute_error():
    epochs = [{"epoch": e, "train_loss": 0.5 / e, "val_loss": 0.4 / e, "val_r2": 0.2 * e, "val_mae": 3.0 / e}
              for e in (1, 2)]
    fig = charts.validation_figure({"id": "r", "status": "running", "epochs": epochs})
    (score,) = [t for t in fig.data if t.name == "validation MAE"]
    assert list(score.y) == [3.0, 1.5] and "%" not in (fig.layout.yaxis2.tickformat or "")


# ---- charts ---------------------------------------------------------------------------------------

def test_loss_and_validation_figures_from_snapshot():
    s = snap()
    loss = charts.loss_figure(s)
    assert isinstance(loss, go.Figure)
    assert list(loss.data[0].x) == list(range(1, 26)) and len(loss.data) == 2   # raw + smoothed
    assert loss.layout.uirevision == s["id"]                                    # keeps the user's zoom
    val = charts.validation_figure(s)
    names = [t.name for t in val.data]
    assert names == ["training loss", "validation loss", "validation accuracy"]
    assert list(val.data[2].y) == [0.7, 0.8]


def test_empty_figures_explain_themselves():
    for fig in (charts.loss_figure(None), charts.validation_figure(snap(epochs=[])), charts.compare_figure([]),
                charts.class_counts_figure({}), charts.confusion_figure(None, None)):
        assert fig.layout.annotations and fig.layout.annotations[0].text


def test_compare_confusion_and_counts():
    a, b = snap(id="run-a"), snap(id="run-b")
    fig = charts.compare_figure([a, b])
    assert len(fig.data) == 4
    cm = charts.confusion_figure(["x", "y"], [[3, 1], [0, 4]])
    assert cm.data[0].text[0][1] == "1" and cm.data[0].z[0][0] == pytest.approx(0.75)
    bars = charts.class_counts_figure({"b": 3, "a": 10})
    assert list(bars.data[0].x) == ["a", "b"]
    lr = charts.lr_figure({"lr": 1e-3, "lrs": [1e-5, 1e-4, 1e-3], "losses": [1.0, 0.8, 0.9]})
    assert lr.layout.xaxis.type == "log"


# ---- hosted mode and owners ---------------------------------------------------------------------------

@pytest.mark.parametrize("env,expected", [
    ({}, False), ({"FTAPP_MODE": "hosted"}, True), ({"SPACE_ID": "me/app"}, True), ({"SYSTEM": "spaces"}, True),
    ({"SPACE_ID": "me/app", "FTAPP_MODE": "local"}, False), ({"FTAPP_MODE": "local"}, False)])
def test_hosted_detection(monkeypatch, env, expected):
    for k in ("FTAPP_MODE", "SPACE_ID", "SYSTEM"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert session.hosted() is expected


def test_owner_ids():
    a = session.new_owner_id()
    assert session.valid_owner_id(a) and a != session.new_owner_id()
    assert session.owner_for(a, "sess") == a
    # forged or missing browser ids never become "local" or someone's chosen name
    for bad in (None, "local", "admin", "u-123", {"x": 1}):
        owner = session.owner_for(bad, "sess-1")
        assert owner.startswith("api-") and owner == session.api_owner_id("sess-1")
    assert session.api_owner_id("sess-1") != session.api_owner_id("sess-2")


def test_local_mode_keeps_live_runs_of_two_tabs_apart_but_lists_earlier_runs(tmp_path):
    """Local mode: two tabs open at once do not see or stop each other's runs; runs of an
    earlier app process (found on disk at start-up) are listed for everyone."""
    from ftapp.runs import RunStore

    earlier = RunStore(tmp_path / "runs").create({"model": "m"}, owner="u-" + "0" * 32)
    earlier.record("status", status="finished", has_model=True)
    ctx = core.AppContext.create(runs_dir=tmp_path / "runs", hosted=False)
    alice, bob = session.new_owner_id(), session.new_owner_id()
    mine = ctx.store.create({"model": "m"}, owner=alice)
    mine.record("status", status="running")
    assert {r.id for r in ctx.runs(alice)} == {mine.id, earlier.id}
    assert {r.id for r in ctx.runs(bob)} == {earlier.id}
    assert ctx.run(mine.id, bob) is None and ctx.stop(bob, mine.id) is False
    assert ctx.latest_run(alice).id == mine.id and ctx.latest_run(bob).id == earlier.id
    hosted = core.AppContext.create(runs_dir=tmp_path / "runs", hosted=True)
    assert hosted.runs(bob) == []
    from ftapp.models.catalog import looks_like_local_path
    assert looks_like_local_path("/models/x") and looks_like_local_path("./m") and looks_like_local_path("C:\\m")
    assert not looks_like_local_path("distilbert-base-uncased")


def test_session_files_removed_on_release_unless_a_run_needs_them():
    files = session.SessionFiles()
    a = files.get("a").dir
    b = files.get("b").dir
    upload = a / "upload-1" / "data.csv"
    upload.parent.mkdir()
    upload.write_text("x")
    files.release("a", in_use={str(upload)})       # a queued run still reads it: kept
    assert a.exists()
    files.sweep(in_use=set())                      # the run has started/ended: now removed
    assert not a.exists() and b.exists()
    files.release("b")
    assert not b.exists() and len(files) == 0


# ---- the settings form ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from ftapp.ui.app import build_demo

    return build_demo(tmp_path_factory.mktemp("ui") / "runs", hosted=True)


def test_collect_and_refill_round_trip(demo):
    tab = demo.tabs["settings"]
    form = {"model": "  my-model ", "auto": False, "method": "lora", "frozen_layers": 3, "lr": -3.0, "epochs": 4,
            "time_budget": 5.0, "batch_size": 16, "weight_decay": 0.05, "warmup_ratio": 0.2, "patience": 0,
            "val_fraction": 0.25, "test_fraction": 0.1, "seed": 7, "dropout": "0.1", "class_weights": "on",
            "layer_decay": 0.8,
            "augment": True, "hflip": False, "processes": 2, "gpus": 1, "touched": []}
    assert set(form) == set(tab.form)          # the form is keyed by setting name, nothing else
    s = collect(form)
    assert s["model"] == "my-model" and s["method"] == "lora" and s["frozen_layers"] == 3
    assert s["lr"] == pytest.approx(1e-3) and s["batch_size"] == 16 and s["dropout"] == 0.1 and s["augment"]
    assert s["patience"] == 0                   # 0 = never stop early: the engine's own meaning
    assert s["processes"] == 2 and s["gpus"] == 1
    assert collect({**form, "epochs": 0})["epochs"] is None      # 0 on the slider: let ftapp plan
    out = tab.refill({**s, "modality": "text"}, {"n_blocks": 6, "frozen_layers": 3, "total_params": 1000,
                                                 "trainable_params": 400}, requested=s)
    f = tab.fields
    assert out[f["method"]] == "lora" and out[f["lr"]] == pytest.approx(-3.0) and out[f["epochs"]] == 4
    assert out[f["patience"]] == 0 and out[f["dropout"]] == "0.1" and out[f["frozen_layers"]].value == 3
    assert "3 of 6 blocks frozen" in out[tab.frozen_readout] and "400 of 1k parameters" in out[tab.frozen_readout]


def test_with_auto_what_it_searches_is_sent_only_when_set_by_hand(demo):
    from ftapp.ui.settings_tab import auto_note

    tab = demo.tabs["settings"]
    form = {name: comp.value for name, comp in tab.form.items()} | {"model": "m", "auto": True, "lr": -3.0,
                                                                    "frozen_layers": 2, "method": "full"}
    untouched = collect({**form, "touched": []})
    assert untouched["lr"] is None and untouched["frozen_layers"] is None and untouched["method"] is None
    fixed = collect({**form, "touched": ["lr"]})
    assert fixed["lr"] == pytest.approx(1e-3) and fixed["frozen_layers"] is None
    assert collect({**form, "auto": False, "touched": []})["frozen_layers"] == 2   # Auto off: all as shown
    assert "keeps what you set: learning rate" in auto_note(True, ["lr"]) and "Auto is off" in auto_note(False, [])
    touched = tab.on_touch([], True, add="frozen_layers")
    assert touched[tab.touched] == ["frozen_layers"] and "frozen blocks" in touched[tab.auto_note]
    # refilling a run tells which of Auto's settings it had fixed
    out = tab.refill({"model": "m", "auto": True, "lr": 1e-3, "frozen_layers": 1}, {}, requested={"lr": 1e-3})
    assert out[tab.touched] == ["lr"]


def test_form_api_and_cli_defaults_come_from_train_config(demo):
    """No training default is written twice: the form starts at TrainConfig's defaults, the API's
    parameters and the CLI's options default to None (= TrainConfig decides)."""
    import inspect

    from ftapp.cli import build_parser
    from ftapp.train.config import SETTINGS, TrainConfig

    tab = demo.tabs["settings"]
    defaults = TrainConfig()
    collected = collect({name: comp.value for name, comp in tab.form.items()})
    for name in tab.fields:
        if name not in ("lr", "frozen_layers"):   # these follow the data's modality and the model once known
            assert collected[name] == getattr(defaults, name), name
    args = build_parser().parse_args(["train", "--data", "d.csv", "--model", "m", "--out", "o"])
    assert all(getattr(args, name) is None for name in SETTINGS)
    from ftapp.cli import config_from_args
    assert config_from_args(args).user_settings() == defaults.user_settings()
    api = next(fn for fn in demo.fns.values() if fn.name == "start_training")
    params = inspect.signature(api.fn).parameters
    assert set(SETTINGS) <= set(params) and all(params[n].default is None for n in SETTINGS)


def test_no_training_default_literal_outside_train_config():
    """Grep-level check: the UI, API and CLI never spell out a training default."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "ftapp"
    for path in [*root.glob("ui/*.py"), root / "cli.py"]:
        text = path.read_text()
        assert not re.search(r"(epochs|batch_size|patience|weight_decay|warmup_ratio|val_fraction)\s*[:=]\s*\d", text), path
        assert "or 32" not in text and "or 5)" not in text and "or 0.2" not in text, path


def test_no_positional_output_indexing_in_the_ui():
    import re
    from pathlib import Path

    for path in (Path(__file__).resolve().parents[2] / "ftapp" / "ui").glob("*.py"):
        assert not re.search(r"\bout\[\d|N_VIEW|N_OUTPUTS|__wrapped__", path.read_text()), path
    assert len((Path(__file__).resolve().parents[2] / "ftapp" / "ui" / "app.py").read_text().splitlines()) <= 120


# ---- the Train tab's polling view and owner filtering (a real run store, no server) -------------------

def test_poll_view_skips_unchanged_parts_and_filters_owners(demo):
    tab, ctx = demo.tabs["train"], demo.ftapp
    run = ctx.store.create({"model": "m", "epochs": 2, "data_name": "d.csv"}, owner="u-" + "a" * 32)
    run.record("status", status="running")
    run.record("phase", phase="training")
    run.record("step", step=1, epoch=0.5, loss=1.0, lr=1e-4)
    owner = run.owner

    first = tab.view(owner, run.id, None)
    assert "Training" in first[tab.status] and first[tab.loss_plot].data
    assert first[tab.timer].active is True and first[tab.stop].interactive is True

    again = tab.view(owner, run.id, first[tab.seen])          # nothing new: nothing re-sent
    assert set(again) == {tab.seen}

    run.record("step", step=2, epoch=1.0, loss=0.8, lr=1e-4)
    more = tab.view(owner, run.id, again[tab.seen])
    assert list(more[tab.loss_plot].data[0].x) == [1, 2] and tab.val_plot not in more

    run.record("status", status="finished", message="done")
    done = tab.view(owner, run.id, more[tab.seen])
    assert "finished" in done[tab.status] and done[tab.timer].active is False and done[tab.stop].interactive is False

    # someone else's browser sees nothing of it
    other = "u-" + "b" * 32
    assert ctx.run(run.id, other) is None and ctx.runs(other) == []
    assert "No run yet" in tab.view(other, run.id, None)[tab.status]
    assert not ctx.stop(other, run.id)


def test_loss_chart_is_redrawn_in_steps_and_thinned(demo):
    """A long run is not redrawn on every poll, and never sends more than MAX_LOSS_POINTS points."""
    tab, ctx = demo.tabs["train"], demo.ftapp
    run = ctx.store.create({"model": "m", "epochs": 2}, owner="u-" + "c" * 32)
    run.record("status", status="running")
    for i in range(1, 2001):
        run.record("step", step=i, epoch=i / 1000, loss=1.0 / i, lr=1e-4)
    first = tab.view(run.owner, run.id, None)
    fig = first[tab.loss_plot]
    assert len(fig.data[0].x) <= charts.MAX_LOSS_POINTS and fig.data[0].x[-1] == 2000
    exact = charts._smooth([1.0 / i for i in range(1, 2001)], 0.9)
    assert fig.data[1].y[-1] == pytest.approx(exact[-1])       # the smoothed line is computed on every step
    run.record("step", step=2001, epoch=2.001, loss=0.1, lr=1e-4)
    assert tab.loss_plot not in tab.view(run.owner, run.id, first[tab.seen])   # 1 new step of 2000: not yet
    seen = first[tab.seen]
    for i in range(2002, 2101):
        run.record("step", step=i, epoch=i / 1000, loss=0.1, lr=1e-4)
    assert tab.loss_plot in tab.view(run.owner, run.id, seen)                  # 5 % more: redrawn


def test_cache_note_shown_after_the_phase_passed(demo):
    tab, ctx = demo.tabs["train"], demo.ftapp
    run = ctx.store.create({"model": "m", "epochs": 2}, owner="u-" + "d" * 32)
    run.record("status", status="running")
    run.record("info", n_blocks=6, frozen_layers=2)
    run.record("info", used_cache=True, precision="fp32")          # as Fitter._prepare reports it
    run.record("phase", phase="computing the 2 frozen blocks once")
    run.record("phase", phase="training")          # the page looks only now (or after a reload)
    run.record("step", step=1, epoch=0.5, loss=1.0, lr=1e-4)
    out = tab.view(run.owner, run.id, None)
    assert "the 2 frozen blocks (of 6) were computed once" in out[tab.cache] and "last 4 blocks" in out[tab.cache]


def test_evaluate_with_many_classes_shows_confused_pairs_instead_of_a_matrix(demo):
    """40 classes: no 40 x 40 matrix; the most confused pairs, largest first, and the per-class table."""
    from ftapp.runs import RunFolder

    tab, ctx = demo.tabs["evaluate"], demo.ftapp
    run = ctx.store.create({"model": "m"}, owner="u-" + "e" * 32)
    labels = [f"c{i}" for i in range(40)]
    matrix = [[5 if i == j else 0 for j in range(40)] for i in range(40)]
    matrix[3][7], matrix[10][2] = 4, 2
    per_class = [{"label": c, "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 5} for c in labels]
    run.files.write(RunFolder.REPORT, {"n": 206, "accuracy": 0.97, "macro_f1": 0.97, "balanced_accuracy": 0.97,
                                       "labels": labels, "confusion_matrix": matrix, "per_class": per_class,
                                       "misclassified": []})
    run.record("status", status="finished", has_model=True)
    out = tab.render(run.owner, run.id)
    assert out[tab.confusion].visible is False
    pairs = out[tab.pairs].value
    assert out[tab.pairs].visible is True
    assert pairs["data"][:2] == [["c3", "c7", 4], ["c10", "c2", 2]]
    assert len(out[tab.per_class]) == 40


def test_retention_removes_old_ended_runs_only_and_the_status_says_when(tmp_path, monkeypatch):
    import time as _time

    from ftapp.ui.core import AppContext
    from ftapp.ui.policy import Quotas, Retention, disk_problem

    monkeypatch.setenv("FTAPP_RETENTION_HOURS", "24")
    ctx = AppContext.create(tmp_path / "runs", hosted=True)
    assert ctx.quotas == Quotas(max_active_per_visitor=1, max_queue=20, max_run_minutes=30, retention_hours=24)
    old, recent, active = (ctx.store.create({"model": "m"}, owner="u-" + c * 32) for c in "abc")
    for run in (old, recent):
        run.record("status", status="finished")
    old.ended_at = _time.time() - 25 * 3600
    active.record("status", status="running")
    active.ended_at = _time.time() - 48 * 3600          # never removed while active, whatever its age
    assert Retention(ctx, ctx.quotas).sweep() == [old.id]
    assert not old.dir.exists() and recent.dir.exists() and active.dir.exists()
    assert {r.id for r in ctx.store.list()} == {recent.id, active.id}
    assert "Kept on this server until" in ctx.status_text(recent, recent.snapshot())
    assert "Kept on this server" not in ctx.status_text(active, active.snapshot())

    monkeypatch.setenv("FTAPP_MAX_RUN_MINUTES", "off")
    monkeypatch.setenv("FTAPP_MIN_FREE_DISK_GB", "1000000")
    quotas = Quotas.for_mode(True)
    assert quotas.max_run_minutes is None and Quotas.for_mode(False).max_active_per_visitor is None
    assert disk_problem(tmp_path, "m", quotas).startswith("Not enough free disk to start a run")
    monkeypatch.setenv("FTAPP_MIN_FREE_DISK_GB", "0.001")
    assert disk_problem(tmp_path, "m", Quotas.for_mode(True)) is None


def test_evaluate_lists_the_data_check_and_offers_the_cleaned_data(demo):
    from ftapp.quality import write_cleaned, write_csv
    from ftapp.runs import RunFolder

    tab, ctx = demo.tabs["evaluate"], demo.ftapp
    run = ctx.store.create({"model": "m"}, owner="u-" + "f" * 32)
    run.files.write(RunFolder.REPORT, {"n": 4, "accuracy": 0.5, "macro_f1": 0.5, "balanced_accuracy": 0.5,
                                       "labels": ["a", "b"], "confusion_matrix": [[1, 1], [1, 1]],
                                       "per_class": [], "misclassified": []})
    issues = [{"row": "t.csv row 3", "issue": "label", "given": "a", "suggested": "b", "score": 0.9,
               "detail": "", "example": "x"},
              {"row": "t.csv row 5", "issue": "outlier", "given": "b", "suggested": None, "score": 0.4,
               "detail": "", "example": "y"}]
    write_csv(issues, run.dir / RunFolder.LABEL_ISSUES)
    write_cleaned(["x", "y"], ["a", "b"], ["t.csv row 3", "t.csv row 5"], issues, run.dir / RunFolder.CLEANED_DATA)
    run.record("status", status="finished", has_model=True)
    out = tab.render(run.owner, run.id)
    assert "1 likely label error(s)" in out[tab.issues_note] and out[tab.issues].visible is True
    assert out[tab.cleaned].visible is True
    assert (run.dir / RunFolder.CLEANED_DATA).read_text().splitlines()[1] == "x,b,a,t.csv row 3"


def test_not_sure_in_evaluate_and_try_it(demo):
    """Evaluate says what the model's "not sure" threshold does and draws coverage against accuracy;
    Try it starts its slider at the model's threshold and re-answers when it moves (no model call)."""
    from ftapp.runs import RunFolder
    from ftapp.unsure import summary

    evaluate, try_it, ctx = demo.tabs["evaluate"], demo.tabs["try"], demo.ftapp
    run = ctx.store.create({"model": "m"}, owner="u-" + "9" * 32)
    unsure = summary([0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 0, 0, 1], 0.75)
    run.files.write(RunFolder.REPORT, {"n": 5, "accuracy": 0.6, "macro_f1": 0.6, "balanced_accuracy": 0.6,
                                       "labels": ["a", "b"], "confusion_matrix": [[2, 1], [1, 1]],
                                       "per_class": [], "misclassified": [], "unsure": unsure})
    run.files.write(RunFolder.MODEL_META, {"labels": ["a", "b"], "modality": "text", "unsure_below": 0.75})
    run.record("status", status="finished", has_model=True)

    note = evaluate.render(run.owner, run.id)[evaluate.unsure_note]
    assert "**75.0 %**" in note and "**40.0 %**" in note and "**100.0 %**" in note and "60.0 %" in note
    assert charts.unsure_figure(unsure).layout.shapes[0].x0 == 0.75
    from ftapp.ui.evaluate_tab import unsure_note
    assert "always answers" in unsure_note(summary([0.9, 0.8], [1, 1], 0.0), "validation")

    slider = try_it.render(run.owner, run.id)[try_it.unsure]
    assert slider.value == 0.75 and "40.0 %" in slider.info
    assert try_it.on_threshold({"a": 0.6, "b": 0.4}, 0.75).startswith("**Answer: not sure.**")
    assert try_it.on_threshold({"a": 0.6, "b": 0.4}, 0.5).startswith("**Answer: a**")
    assert try_it.on_threshold(None, 0.5) == ""
    from ftapp.ui.texts import unsure_info
    assert "predates" in unsure_info({}, 0.0) and "always answers" in unsure_info({"unsure": unsure}, 0.0)


def test_a_number_per_example_reads_as_numbers_not_shares():
    from ftapp.ui.texts import answer_for, result_text

    result = {"val_r2": 0.7, "test_r2": 0.65, "test_r2_interval": [0.5, 0.75], "n_test": 40,
              "baseline_name": "TF-IDF + ridge regression", "baseline_val_r2": 0.4}
    text = result_text(result)
    assert text.startswith("Test R² **0.650** (95 % interval 0.500–0.750) on 40 held-out examples")
    assert "validation 0.700" in text and "ridge regression: 0.400" in text and "65.0 %" not in text
    line = answer_for({"value": 5.5}, 0.0, {"task": "regression", "residual_interval": [-1.0, 0.5]})
    assert line.startswith("**Predicted: 5.5**") and "between 4.5 and 6" in line
    assert runs_rows([snap(status="finished", best={"val_r2": 0.42, "epoch": 2})])[0][4] == "0.420"
