"""Step 3 — Train: start/stop, live status and curves, the run list.

A run flows one way: the Runner's thread trains and records into the run store; this tab only
reads snapshots — on a gr.Timer tick (about once a second) while the shown run is active, and
once on page load, so a reload re-attaches and redraws the whole history.
"""
from __future__ import annotations

import gradio as gr

from ftapp.data.report import examples_noun
from ftapp.ui import charts
from ftapp.ui.common import Shared, guarded
from ftapp.ui.core import UserError, resumable
from ftapp.ui.session import new_owner_id, valid_owner_id
from ftapp.ui.texts import (CANDIDATE_HEADERS, RUNS_HEADERS, cache_note, candidate_rows, md_escape, run_label,
                            runs_rows, status_markdown)

POLL_SECONDS = 1.0


class TrainTab:
    def __init__(self, shared: Shared):
        self.shared = shared
        ctx = shared.ctx
        with gr.Row(equal_height=True, elem_classes=["train-actions"]):
            self.start = gr.Button("▶ Start training", variant="primary", interactive=False, elem_id="train-start",
                                   scale=0, min_width=190)
            self.stop = gr.Button("■ Stop", variant="stop", interactive=False, elem_id="train-stop", scale=0,
                                  min_width=110)
            self.resume = gr.Button("↻ Resume", visible=False, elem_id="train-resume", scale=0, min_width=120)
            self.hint = gr.Markdown("Load data in step 1 first.", elem_id="train-hint")
        self.status = gr.Markdown(status_markdown(None), elem_id="train-status", elem_classes=["status-box"])
        self.cache = gr.Markdown("", elem_id="cache-note")
        with gr.Row(equal_height=True):
            self.loss_plot = gr.Plot(charts.loss_figure(None), show_label=False, elem_id="loss-plot")
            self.val_plot = gr.Plot(charts.validation_figure(None), show_label=False, elem_id="val-plot")
        with gr.Row(equal_height=False, visible=False) as self.auto_row:
            self.candidates_table = gr.Dataframe(headers=CANDIDATE_HEADERS, value=[], interactive=False, wrap=True,
                                                 elem_id="auto-candidates", label="What the run compared", scale=1)
            self.candidates_plot = gr.Plot(charts.candidates_figure(None), show_label=False,
                                           elem_id="auto-candidates-plot", scale=1)
        gr.Markdown("### Your runs" if ctx.hosted else "### Runs", elem_classes=["section-title"])
        self.runs_table = gr.Dataframe(headers=RUNS_HEADERS, value=[], interactive=False, wrap=True,
                                       elem_id="runs-table", max_height=260,
                                       label="Click a row to show that run and copy its settings into step 2")
        with gr.Row(equal_height=False):
            self.run_select = gr.Dropdown(label="Show run", choices=[], value=None, elem_id="run-select", scale=1,
                                          info="Shows the run's curves above and copies its settings into step 2.")
            self.compare = gr.Dropdown(label="Compare runs", choices=[], value=[], multiselect=True,
                                       elem_id="compare-runs", scale=1,
                                       info="Overlay the validation curves of several runs.")
        self.compare_plot = gr.Plot(charts.compare_figure([]), show_label=False, elem_id="compare-plot", visible=False)
        if ctx.hosted:
            q = ctx.quotas
            kept = f" and removed {q.retention_hours:g} hours after they end" if q.retention_hours else ""
            note = ("**On Spaces the disk is temporary: download or push your model** (step 6). Runs are "
                    f"lost when the Space restarts or goes to sleep{kept}. Only you can see your runs.")
        else:
            note = f"Runs are saved in `{md_escape(str(ctx.runs_dir))}` and listed again after a restart."
        gr.Markdown(note, elem_id="disk-note", elem_classes=["note"])
        # rendered outside the tabs by the app, so it keeps ticking while another step is open
        self.timer = gr.Timer(POLL_SECONDS, active=False, render=False)
        self.seen = gr.State({})

    @property
    def view_outputs(self) -> list:
        return [self.status, self.cache, self.loss_plot, self.val_plot, self.stop, self.resume, self.timer, self.seen,
                self.runs_table, self.run_select, self.compare, self.auto_row, self.candidates_table,
                self.candidates_plot]

    # ---- the view ------------------------------------------------------------------------------
    def view(self, owner: str, run_id: str | None, seen: dict | None, force: bool = False) -> dict:
        """Everything this tab shows for one run, as updates; parts unchanged since `seen` are left out
        (cheap polling: the loss chart is redrawn only when enough new steps arrived)."""
        ctx = self.shared.ctx
        run = ctx.run(run_id, owner)
        snap = run.snapshot() if run else None
        old = dict(seen or {})
        rid = run.id if run else None
        same = (not force) and old.get("run", "∅") == rid
        new = {"run": rid, "status_text": ctx.status_text(run, snap),
               "cache_text": cache_note(snap), "epochs": len(snap["epochs"]) if snap else 0,
               "state": snap["status"] if snap else None, "active": bool(run and run.active),
               "runs_sig": [[r.id, r.status, r.has_model] for r in ctx.runs(owner)],
               "candidates_sig": [[c["name"], c.get("status"), c.get("steps")] for c in snap["candidates"]] if snap
               else []}
        n_steps = len(snap["steps"]) if snap else 0
        redraw_loss = not same or charts.loss_needs_redraw(old.get("steps_drawn", 0), n_steps, new["active"])
        new["steps_drawn"] = n_steps if redraw_loss else old.get("steps_drawn", 0)

        def changed(key):
            return not same or new[key] != old.get(key)

        out = {self.seen: new}
        if changed("status_text"):
            out[self.status] = new["status_text"]
        if changed("cache_text"):
            out[self.cache] = new["cache_text"]
        if redraw_loss:
            out[self.loss_plot] = charts.loss_figure(snap)
        if changed("epochs") or changed("state"):
            out[self.val_plot] = charts.validation_figure(snap)
        if changed("candidates_sig"):
            cands = snap["candidates"] if snap else []
            out[self.auto_row] = gr.Row(visible=bool(cands))
            out[self.candidates_table] = gr.Dataframe(value=candidate_rows(cands) or None, headers=CANDIDATE_HEADERS)
            out[self.candidates_plot] = charts.candidates_figure(cands)
        if changed("active") or changed("state"):
            out[self.stop] = gr.Button(interactive=new["active"])
            out[self.resume] = gr.Button(visible=bool(run and resumable(run)))
            out[self.timer] = gr.Timer(active=new["active"])
        if changed("runs_sig"):
            snaps = [r.summary() for r in ctx.runs(owner)]
            choices = [(run_label(s), s["id"]) for s in snaps]
            table = runs_rows(snaps)
            out[self.runs_table] = gr.Dataframe(value=table if table else None, headers=RUNS_HEADERS)
            out[self.run_select] = gr.Dropdown(choices=choices, value=rid)
            out[self.compare] = gr.Dropdown(choices=choices)
        return out

    def show_run(self, owner: str, run_id: str | None, seen, refill_form: bool) -> dict:
        run = self.shared.ctx.run(run_id, owner)
        out = {self.shared.run: run.id if run else None, **self.view(owner, run.id if run else None, seen, force=True)}
        if run is not None:
            out[self.shared.picked] = run.id
            if refill_form:
                out.update(self.shared["settings.refill"](run.effective_settings, run.info, run.settings))
        return out

    # ---- handlers ------------------------------------------------------------------------------
    @guarded()
    def on_start(self, browser_value, seen, request: gr.Request, **form):
        ctx = self.shared.ctx
        who = self.shared.who(browser_value, request)
        run = ctx.start(who, ctx.session_data(request.session_hash), self.shared["settings.collect"](form))
        ctx.sweep()
        pos = ctx.position(run)
        if pos:
            gr.Info(f"Your run is queued: {pos} run{'s' if pos > 1 else ''} ahead of it.")
        return {self.shared.run: run.id, self.shared.picked: run.id, **self.view(who, run.id, seen, force=True)}

    @guarded()
    def on_stop(self, browser_value, run_id, seen, request: gr.Request):
        who = self.shared.who(browser_value, request)
        if not self.shared.ctx.stop(who, run_id):
            raise UserError("This run is not running any more.")
        gr.Info("Stopping… the best model so far is kept.")
        return self.view(who, run_id, seen)

    @guarded()
    def on_resume(self, browser_value, run_id, seen, request: gr.Request):
        who = self.shared.who(browser_value, request)
        self.shared.ctx.resume(who, run_id)
        gr.Info("Going on from the last checkpoint…")
        return self.view(who, run_id, seen, force=True)

    @guarded()
    def on_poll(self, browser_value, run_id, seen, request: gr.Request):
        out = self.view(self.shared.who(browser_value, request), run_id, seen)
        if not out[self.seen]["active"]:
            self.shared.ctx.sweep()
        return out

    @guarded()
    def on_select(self, browser_value, run_id, seen, request: gr.Request):
        if not run_id:
            return gr.skip()
        out = self.show_run(self.shared.who(browser_value, request), run_id, seen, refill_form=True)
        gr.Info("Showing this run; its settings were copied into step 2.")
        return out

    def on_table_select(self, browser_value, seen, evt: gr.SelectData, request: gr.Request):
        row = evt.row_value or []
        return self.on_select(browser_value, row[-1] if row else None, seen, request)

    @guarded()
    def on_compare(self, browser_value, run_ids, request: gr.Request):
        who = self.shared.who(browser_value, request)
        snaps = [run.snapshot() for run in (self.shared.ctx.run(rid, who) for rid in run_ids or []) if run]
        return gr.Plot(value=charts.compare_figure(snaps), visible=bool(run_ids))

    @guarded()
    def on_load(self, browser_value, request: gr.Request):
        """Page (re)load: every browser gets its own owner id, then re-attach to its latest run."""
        value = browser_value if valid_owner_id(browser_value) else new_owner_id()
        who = self.shared.who(value, request)
        latest = self.shared.ctx.latest_run(who)
        return {self.shared.owner: value,
                **self.show_run(who, latest.id if latest else None, None, refill_form=latest is not None)}

    @guarded()
    def on_data(self, request: gr.Request):
        data = self.shared.ctx.session_data(request.session_hash) or {}
        if data.get("ok"):
            kind = examples_noun(data.get("modality"))
            hint = (f"Ready: **{md_escape(data['name'])}** — {data['n_items']} {kind}, "
                    f"{len(data.get('class_counts') or {})} classes. Settings come from step 2.")
            ctx = self.shared.ctx
            wait = ctx.expected_wait_minutes()
            if wait:
                hint += f" Other runs are ahead: yours would start within about {wait} min."
            if ctx.quotas.max_run_minutes:
                hint += f" Runs here are limited to {ctx.quotas.max_run_minutes:g} minutes."
        elif data:
            hint = "The data has errors that block training: see step 1."
        else:
            hint = "Load data in step 1 first."
        return {self.start: gr.Button(interactive=bool(data.get("ok"))), self.hint: hint}

    # ---- wiring --------------------------------------------------------------------------------
    def wire(self, demo: gr.Blocks) -> None:
        sh, private = self.shared, dict(api_visibility="private")
        poll_in = [sh.owner, sh.run, self.seen]
        select_out = [sh.run, sh.picked, *self.view_outputs, *sh["settings.refill_outputs"]]
        self.start.click(self.on_start, inputs=[sh.owner, self.seen], inputs_kwargs=sh["settings.form"],
                         outputs=[sh.run, sh.picked, *self.view_outputs], concurrency_limit=4,
                         show_progress_on=[self.status], **private)
        self.stop.click(self.on_stop, inputs=poll_in, outputs=self.view_outputs, concurrency_limit=None, **private)
        self.resume.click(self.on_resume, inputs=poll_in, outputs=self.view_outputs, concurrency_limit=4, **private)
        self.timer.tick(self.on_poll, inputs=poll_in, outputs=self.view_outputs, show_progress="hidden",
                        concurrency_limit=16, concurrency_id="poll", **private)
        self.run_select.input(self.on_select, inputs=[sh.owner, self.run_select, self.seen], outputs=select_out,
                              **private)
        self.runs_table.select(self.on_table_select, inputs=[sh.owner, self.seen], outputs=select_out, **private)
        self.compare.change(self.on_compare, inputs=[sh.owner, self.compare], outputs=[self.compare_plot], **private)
        demo.load(self.on_load, inputs=[sh.owner], outputs=[sh.owner, *select_out], **private)

    def follow_data(self, events: list) -> None:
        for ev in events:
            ev.then(self.on_data, inputs=None, outputs=[self.start, self.hint], api_visibility="private",
                    show_progress="hidden")
