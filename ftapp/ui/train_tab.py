"""Step 3 — Train: start/stop, live status and curves, the run list.

A run flows one way: the Runner's thread trains and records into the run store; this tab only
reads snapshots — on a gr.Timer tick (about once a second) while the shown run is active, and
once on page load, so a reload re-attaches and redraws the whole history.
"""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from ftapp.ui import charts
from ftapp.ui.core import AppContext
from ftapp.ui.texts import (RUNS_HEADERS, cache_note, md_escape, run_label, runs_rows, status_markdown)

POLL_SECONDS = 1.0


def build(ctx: AppContext) -> SimpleNamespace:
    ui = SimpleNamespace()
    with gr.Row(equal_height=True, elem_classes=["train-actions"]):
        ui.start = gr.Button("▶ Start training", variant="primary", interactive=False, elem_id="train-start",
                             scale=0, min_width=190)
        ui.stop = gr.Button("■ Stop", variant="stop", interactive=False, elem_id="train-stop", scale=0,
                            min_width=110)
        ui.hint = gr.Markdown("Load data in step 1 first.", elem_id="train-hint")
    ui.status = gr.Markdown(status_markdown(None), elem_id="train-status", elem_classes=["status-box"])
    ui.cache = gr.Markdown("", elem_id="cache-note")
    with gr.Row(equal_height=True):
        ui.loss_plot = gr.Plot(charts.loss_figure(None), show_label=False, elem_id="loss-plot")
        ui.val_plot = gr.Plot(charts.validation_figure(None), show_label=False, elem_id="val-plot")
    gr.Markdown("### Your runs" if ctx.hosted else "### Runs", elem_classes=["section-title"])
    ui.runs_table = gr.Dataframe(headers=RUNS_HEADERS, value=[], interactive=False, wrap=True,
                                 elem_id="runs-table", max_height=260,
                                 label="Click a row to show that run and copy its settings into step 2")
    with gr.Row(equal_height=False):
        ui.run_select = gr.Dropdown(label="Show run", choices=[], value=None, elem_id="run-select", scale=1,
                                    info="Shows the run's curves above and copies its settings into step 2.")
        ui.compare = gr.Dropdown(label="Compare runs", choices=[], value=[], multiselect=True, elem_id="compare-runs",
                                 scale=1, info="Overlay the validation curves of several runs.")
    ui.compare_plot = gr.Plot(charts.compare_figure([]), show_label=False, elem_id="compare-plot", visible=False)
    if ctx.hosted:
        note = ("**On Spaces the disk is temporary: download or push your model** (step 6). Runs are "
                "lost when the Space restarts or goes to sleep. Only you can see your runs.")
    else:
        note = f"Runs are saved in `{md_escape(str(ctx.runs_dir))}` and listed again after a restart."
    gr.Markdown(note, elem_id="disk-note", elem_classes=["note"])
    # rendered outside the tabs by the app, so it keeps ticking while another step is open
    ui.timer = gr.Timer(POLL_SECONDS, active=False, render=False)
    ui.seen = gr.State({})
    return ui


def view_outputs(ui) -> list:
    return [ui.status, ui.cache, ui.loss_plot, ui.val_plot, ui.stop, ui.timer, ui.seen, ui.runs_table,
            ui.run_select, ui.compare]


N_VIEW = 10


def view(ctx: AppContext, owner: str, run_id: str | None, seen: dict | None, force: bool = False) -> tuple:
    """Everything the Train tab shows for one run; unchanged parts are skipped (cheap polling)."""
    run = ctx.run(run_id, owner)
    snap = run.snapshot() if run else None
    pos = ctx.position(run) if run else None
    old = dict(seen or {})
    rid = run.id if run else None
    same = (not force) and old.get("run", "∅") == rid
    new = {"run": rid}

    new["status_text"] = status_markdown(snap, pos)
    status = new["status_text"] if not same or new["status_text"] != old.get("status_text") else gr.skip()

    new["cache_text"] = cache_note(snap)
    cache = new["cache_text"] if not same or new["cache_text"] != old.get("cache_text") else gr.skip()

    new["steps"] = len(snap["steps"]) if snap else 0
    new["epochs"] = len(snap["epochs"]) if snap else 0
    new["state"] = snap["status"] if snap else None
    loss = charts.loss_figure(snap) if not same or new["steps"] != old.get("steps") else gr.skip()
    val = (charts.validation_figure(snap)
           if not same or new["epochs"] != old.get("epochs") or new["state"] != old.get("state") else gr.skip())

    active = bool(run and run.active)
    new["active"] = active
    stop = gr.Button(interactive=active) if not same or active != old.get("active") else gr.skip()
    timer = gr.Timer(active=active) if not same or active != old.get("active") else gr.skip()

    runs = ctx.runs(owner)
    new["runs_sig"] = [[r.id, r.status, r.has_model] for r in runs]
    if not same or new["runs_sig"] != old.get("runs_sig"):
        snaps = [r.summary() for r in runs]
        choices = [(run_label(s), s["id"]) for s in snaps]
        table = runs_rows(snaps)
        runs_table = gr.Dataframe(value=table if table else None, headers=RUNS_HEADERS)
        run_select = gr.Dropdown(choices=choices, value=rid)
        compare = gr.Dropdown(choices=choices)
    else:
        runs_table = run_select = compare = gr.skip()
    return (status, cache, loss, val, stop, timer, new, runs_table, run_select, compare)


def compare_view(ctx: AppContext, owner: str, run_ids: list[str] | None):
    snaps = []
    for rid in run_ids or []:
        run = ctx.run(rid, owner)
        if run is not None:
            snaps.append(run.snapshot())
    return gr.Plot(value=charts.compare_figure(snaps), visible=bool(run_ids))
