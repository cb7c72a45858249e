"""build_demo(): the whole ftapp web app (Gradio Blocks), wired to the engine.

Six numbered steps in tabs. Training never runs in a Gradio handler: Start submits a run to the
Runner (its own background thread) and a gr.Timer polls the run store while the shown run is
active. A page reload re-attaches through demo.load + the owner id kept in gr.BrowserState.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import gradio as gr

from ftapp.ui import api, data_tab, evaluate_tab, export_tab, settings_tab, train_tab, try_tab
from ftapp.ui.common import choose, guarded, skips
from ftapp.ui.core import AppContext, UserError
from ftapp.ui.common import user_message
from ftapp.ui.session import new_owner_id, valid_owner_id
from ftapp.ui.texts import md_escape, run_label

log = logging.getLogger("ftapp.ui")

CSS_PATH = Path(__file__).with_name("style.css")
TITLE = "ftapp — fine-tune a classifier on your own data"
HEADER = """\
# ftapp
**Teach a pre-trained model to sort your own pictures or texts into your categories** — upload labelled \
examples, train, check the results and download the model. No code needed.
"""


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate", radius_size="md").set(
        button_primary_background_fill="*primary_600", button_primary_background_fill_hover="*primary_700",
        button_primary_text_color="white", button_primary_text_color_hover="white")


def launch_kwargs(demo: gr.Blocks | None = None) -> dict:
    """What `launch()` needs besides the address: theme, CSS, upload cap, servable run folder."""
    kw = {"theme": theme(), "css": CSS_PATH.read_text(), "max_file_size": os.environ.get("FTAPP_MAX_FILE_SIZE", "200mb"),
          "footer_links": ["api", "gradio"]}
    ctx = getattr(demo, "ftapp", None)
    if ctx is not None:
        kw["allowed_paths"] = [str(ctx.runs_dir)]
    return kw


def build_demo(runs_dir: str | os.PathLike | None = None, hosted: bool | None = None) -> gr.Blocks:
    ctx = AppContext.create(runs_dir, hosted)
    secret = os.environ.get("FTAPP_STATE_SECRET") or None

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 6 * 3600), fill_width=False) as demo:
        gr.Markdown(HEADER, elem_id="header")
        if ctx.hosted:
            gr.Markdown("Public demo: only you see your runs. The disk is temporary — export what you want to "
                        "keep.", elem_classes=["note"], elem_id="mode-note")
        owner_bs = gr.BrowserState(None, storage_key="ftapp-owner", secret=secret)
        modality_state = gr.State(None)
        modality_changed = gr.State(False)
        run_state = gr.State(None)
        picked_state = gr.State(None)

        with gr.Tabs(elem_id="steps"):
            with gr.Tab("1 · Data", id="data", elem_id="tab-data"):
                d = data_tab.build(ctx)
            with gr.Tab("2 · Model & settings", id="settings", elem_id="tab-settings") as tab_settings:
                s = settings_tab.build(ctx)
            with gr.Tab("3 · Train", id="train", elem_id="tab-train"):
                t = train_tab.build(ctx)
            with gr.Tab("4 · Evaluate", id="evaluate", elem_id="tab-evaluate") as tab_eval:
                e = evaluate_tab.build(ctx)
            with gr.Tab("5 · Try it", id="try", elem_id="tab-try") as tab_try:
                y = try_tab.build(ctx)
            with gr.Tab("6 · Export", id="export", elem_id="tab-export") as tab_export:
                x = export_tab.build(ctx)
        t.timer.render()
        api.build(ctx)

        def owner(browser_value, request: gr.Request | None) -> str:
            return ctx.owner(browser_value, getattr(request, "session_hash", None))

        # ---- 1 → 2: the data decides the model list, default model and learning rate ----------------
        data_events = data_tab.wire(ctx, d)
        s_wired = settings_tab.wire(ctx, s, modality_state)

        @guarded(9)
        def on_data_loaded(model, previous_modality, request: gr.Request):
            data = ctx.session_data(request.session_hash) or {}
            modality = data.get("modality")
            upd = settings_tab.for_modality(modality, model, previous_modality, ctx.hosted)
            ok = bool(data.get("ok"))
            if ok:
                kind = "pictures" if modality == "image" else "texts"
                hint = (f"Ready: **{md_escape(data['name'])}** — {data['n_items']} {kind}, "
                        f"{len(data.get('class_counts') or {})} classes. Settings come from step 2.")
            elif data:
                hint = "The data has errors that block training: see step 1."
            else:
                hint = "Load data in step 1 first."
            changed = modality != previous_modality
            return upd + (changed, gr.Button(interactive=ok), hint)

        @guarded(3, on_error=lambda m: (gr.skip(), f"Problem: {md_escape(m)}", gr.skip()))
        def after_data(model, modality, frozen, method, changed, request: gr.Request):
            if not model:
                return skips(3)
            fn = s_wired["on_model"] if changed else s_wired["on_open"]
            return fn.__wrapped__(model, modality, frozen, method, request)

        for ev in data_events.values():
            ev.then(on_data_loaded, inputs=[s.model, modality_state],
                    outputs=[s.model, s.model_info, s.lr, s.lr_readout, s.augment, modality_state, modality_changed,
                             t.start, t.hint], api_visibility="private", show_progress="hidden") \
              .then(after_data, inputs=[s.model, modality_state, s.frozen, s.method, modality_changed],
                    outputs=s_wired["freeze_outs"], api_visibility="private", show_progress_on=[s.frozen_readout])

        tab_settings.select(s_wired["on_open"], inputs=s_wired["freeze_inputs"], outputs=s_wired["freeze_outs"],
                            api_visibility="private", show_progress_on=[s.frozen_readout])

        # ---- 3: train -------------------------------------------------------------------------------
        view_outs = train_tab.view_outputs(t)
        refill_outs = settings_tab.refill_outputs(s)
        n_view = train_tab.N_VIEW

        @guarded(1 + n_view + 1)
        def on_start(browser_value, model, method, frozen, lr_log, epochs, batch, weight_decay, warmup, patience,
                     val_fraction, seed, dropout, augment, seen, request: gr.Request):
            who = owner(browser_value, request)
            data = ctx.session_data(request.session_hash)
            settings = settings_tab.collect(model, method, frozen, lr_log, epochs, batch, weight_decay, warmup,
                                            patience, val_fraction, seed, dropout, augment)
            run = ctx.start(who, data, settings)
            ctx.sweep()
            pos = ctx.position(run)
            if pos:
                gr.Info(f"Your run is queued: {pos} run{'s' if pos > 1 else ''} ahead of it.")
            return (run.id,) + train_tab.view(ctx, who, run.id, seen, force=True) + (run.id,)

        t.start.click(on_start, inputs=[owner_bs] + settings_tab.settings_inputs(s) + [t.seen],
                      outputs=[run_state] + view_outs + [picked_state], api_visibility="private",
                      concurrency_limit=4, show_progress_on=[t.status])

        @guarded(n_view)
        def on_stop(browser_value, run_id, seen, request: gr.Request):
            who = owner(browser_value, request)
            if ctx.stop(who, run_id):
                gr.Info("Stopping… the best model so far is kept.")
            else:
                raise UserError("This run is not running any more.")
            return train_tab.view(ctx, who, run_id, seen)

        t.stop.click(on_stop, inputs=[owner_bs, run_state, t.seen], outputs=view_outs, api_visibility="private",
                     concurrency_limit=None)

        @guarded(n_view)
        def on_poll(browser_value, run_id, seen, request: gr.Request):
            who = owner(browser_value, request)
            out = train_tab.view(ctx, who, run_id, seen)
            if not out[6].get("active"):
                ctx.sweep()
            return out

        t.timer.tick(on_poll, inputs=[owner_bs, run_state, t.seen], outputs=view_outs, api_visibility="private",
                     show_progress="hidden", concurrency_limit=16, concurrency_id="poll")

        def show_run(who: str, run_id: str | None, seen, refill_form: bool) -> tuple:
            run = ctx.run(run_id, who)
            view = train_tab.view(ctx, who, run.id if run else None, seen, force=True)
            if run is not None and refill_form:
                refill = settings_tab.refill(run.settings, run.info)
            else:
                refill = skips(len(refill_outs))
            return (run.id if run else None,) + view + tuple(refill) + ((run.id if run else gr.skip()),)

        select_outs = [run_state] + view_outs + refill_outs + [picked_state]
        n_select = len(select_outs)

        @guarded(n_select)
        def on_select(browser_value, run_id, seen, request: gr.Request):
            who = owner(browser_value, request)
            if not run_id:
                return skips(n_select)
            out = show_run(who, run_id, seen, refill_form=True)
            gr.Info("Showing this run; its settings were copied into step 2.")
            return out

        t.run_select.input(on_select, inputs=[owner_bs, t.run_select, t.seen], outputs=select_outs,
                           api_visibility="private")

        @guarded(n_select)
        def on_table_select(browser_value, seen, evt: gr.SelectData, request: gr.Request):
            row = evt.row_value or []
            run_id = row[-1] if row else None
            return on_select.__wrapped__(browser_value, run_id, seen, request)

        t.runs_table.select(on_table_select, inputs=[owner_bs, t.seen], outputs=select_outs, api_visibility="private")

        @guarded(1)
        def on_compare(browser_value, run_ids, request: gr.Request):
            return train_tab.compare_view(ctx, owner(browser_value, request), run_ids)

        t.compare.change(on_compare, inputs=[owner_bs, t.compare], outputs=[t.compare_plot], api_visibility="private")

        # ---- 4–6: tabs about one finished run --------------------------------------------------------
        def refresh_runs(browser_value, current, picked, request: gr.Request):
            who = owner(browser_value, request)
            choices = [(run_label(r.summary()), r.id) for r in ctx.runs_with_model(who)]
            value = choose(picked, choices, default=choose(current, choices))
            return gr.Dropdown(choices=choices, value=value)

        for tab, dd in ((tab_eval, e.run), (tab_try, y.run), (tab_export, x.run)):
            tab.select(guarded(1)(refresh_runs), inputs=[owner_bs, dd, picked_state], outputs=[dd],
                       api_visibility="private", show_progress="hidden")

        @guarded(len(evaluate_tab.outputs(e)) + 1)
        def on_eval_run(browser_value, run_id, request: gr.Request):
            return evaluate_tab.render(ctx, owner(browser_value, request), run_id) + ((run_id or gr.skip()),)

        e.run.change(on_eval_run, inputs=[owner_bs, e.run], outputs=evaluate_tab.outputs(e) + [picked_state],
                     api_visibility="private")

        @guarded(len(try_tab.outputs(y)) + 1)
        def on_try_run(browser_value, run_id, request: gr.Request):
            return try_tab.render(ctx, owner(browser_value, request), run_id) + ((run_id or gr.skip()),)

        y.run.change(on_try_run, inputs=[owner_bs, y.run], outputs=try_tab.outputs(y) + [picked_state],
                     api_visibility="private")

        @guarded(1)
        def on_predict(browser_value, run_id, text, image, request: gr.Request):
            return try_tab.predict(ctx, owner(browser_value, request), run_id, text, image)

        predict_args = dict(inputs=[owner_bs, y.run, y.text, y.image], outputs=[y.output], api_visibility="private",
                            concurrency_limit=4, concurrency_id="predict")
        y.submit.click(on_predict, **predict_args)
        y.text.submit(on_predict, **predict_args)

        @guarded(2)
        def on_text_example(browser_value, run_id, index, examples, request: gr.Request):
            if index is None or not examples or index >= len(examples):
                return skips(2)
            text = examples[index]
            return text, try_tab.predict(ctx, owner(browser_value, request), run_id, text, None)

        y.text_examples.click(on_text_example, inputs=[owner_bs, y.run, y.text_examples, y.examples_state],
                              outputs=[y.text, y.output], api_visibility="private")

        @guarded(2)
        def on_image_example(browser_value, run_id, examples, evt: gr.SelectData, request: gr.Request):
            if evt.index is None or not examples or evt.index >= len(examples):
                return skips(2)
            path = examples[evt.index]
            return path, try_tab.predict(ctx, owner(browser_value, request), run_id, None, path)

        y.image_examples.select(on_image_example, inputs=[owner_bs, y.run, y.examples_state],
                                outputs=[y.image, y.output], api_visibility="private")

        def on_export_run(_run_id):
            return (gr.DownloadButton(label="Download model (.zip)", value=None, interactive=False), "",
                    gr.skip() if not _run_id else _run_id)

        x.run.change(on_export_run, inputs=[x.run], outputs=[x.download, x.zip_info, picked_state],
                     api_visibility="private", queue=False)

        @guarded(2)
        def on_zip(browser_value, run_id, request: gr.Request):
            path = export_tab.make_zip(ctx, owner(browser_value, request), run_id, request.session_hash)
            return export_tab.zip_outputs(path)

        x.build_zip.click(on_zip, inputs=[owner_bs, x.run], outputs=[x.download, x.zip_info],
                          api_visibility="private", concurrency_limit=2, show_progress_on=[x.zip_info])

        def on_push(browser_value, run_id, repo, token, request: gr.Request):
            # the token never leaves this function: not logged, not stored, the box is cleared
            try:
                url = export_tab.push(ctx, owner(browser_value, request), run_id, repo, token)
                return "", f"Pushed to [{md_escape(url)}]({url})."
            except Exception as exc:  # noqa: BLE001
                msg = user_message(exc)
                if msg is None:   # a bug of ours: the operator must see it — by type only, the token stays out
                    log.error("Hub push failed unexpectedly: %s", type(exc).__name__)
                    msg = "The push failed for an unexpected reason. Check the token and name."
                if token:
                    msg = msg.replace(token.strip() or "\0", "***")
                return "", f"**Push failed:** {md_escape(msg)}"

        x.push.click(on_push, inputs=[owner_bs, x.run, x.repo, x.token], outputs=[x.token, x.push_status],
                     api_visibility="private", concurrency_limit=1, show_progress_on=[x.push_status])

        # ---- page load: owner id, re-attach to the latest run, redraw its history ----------------------
        load_outs = [owner_bs, run_state] + view_outs + refill_outs

        @guarded(len(load_outs))
        def on_load(browser_value, request: gr.Request):
            value = browser_value
            if not valid_owner_id(browser_value):   # every browser gets its own id, in both modes
                value = new_owner_id()
            who = owner(value, request)
            latest = ctx.latest_run(who)
            out = show_run(who, latest.id if latest else None, None, refill_form=latest is not None)
            return (value,) + out[:-1]

        demo.load(on_load, inputs=[owner_bs], outputs=load_outs, api_visibility="private")

        def on_unload(request: gr.Request):
            try:
                ctx.release_session(request.session_hash)
            except Exception:  # noqa: BLE001
                log.exception("unload cleanup failed")

        demo.unload(on_unload)

    demo.ftapp = ctx
    demo.queue(default_concurrency_limit=2, max_size=64)
    calm_queue_polling(demo)
    return demo


def calm_queue_polling(demo: gr.Blocks) -> None:
    """Gradio's queue polls for new events every 1 ms and for progress-bar updates every 10 ms,
    even when idle, waking a thread and taking the GIL over a thousand times a second. Next to a
    training thread on a 2-core machine that made training ~10 % slower inside the app than from
    the CLI (measured with benchmarks/bench_vs_trainer.py --app). Every 20 ms for events and
    10 times a second for progress bars are still instant for a person. Gradio has no public
    setting for these, so they are set only where the attributes exist."""
    queue = getattr(demo, "_queue", None)
    for attr, seconds in (("sleep_when_free", 0.02), ("progress_update_sleep_when_free", 0.1)):
        if queue is not None and getattr(queue, attr, seconds) < seconds:
            setattr(queue, attr, seconds)
