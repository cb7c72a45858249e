"""build_demo(): the whole ftapp web app (Gradio Blocks) — layout and shared state only.

Six numbered steps in tabs; each tab module builds its components and wires its own events.
Training never runs in a Gradio handler: Start submits a run to the Runner (its own background
thread) and a gr.Timer polls the run store while the shown run is active. A page reload
re-attaches through demo.load + the owner id kept in gr.BrowserState.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from ftapp.server_load import CountRequests
from ftapp.ui import api, demo_page
from ftapp.ui.common import Shared
from ftapp.ui.core import AppContext
from ftapp.ui.data_tab import DataTab
from ftapp.ui.evaluate_tab import EvaluateTab
from ftapp.ui.export_tab import ExportTab
from ftapp.ui.settings_tab import SettingsTab
from ftapp.ui.train_tab import TrainTab
from ftapp.ui.try_tab import TryTab

log = logging.getLogger("ftapp.ui")

CSS_PATH = Path(__file__).with_name("style.css")
TITLE = "ftapp — fine-tune a classifier on your own data"
HEADER = """\
# ftapp
**Teach a pre-trained model to sort your own pictures, texts or recordings into your categories** — upload labelled \
examples, train, check the results and download the model. No code needed.
"""


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate", radius_size="md").set(
        button_primary_background_fill="*primary_600", button_primary_background_fill_hover="*primary_700",
        button_primary_text_color="white", button_primary_text_color_hover="white")


def launch_kwargs(demo: gr.Blocks | None = None) -> dict:
    """What `launch()` needs besides the address: theme, CSS, upload cap, servable run folder, the
    count of requests in flight (server_load.py)."""
    kw = {"theme": theme(), "css": CSS_PATH.read_text(), "max_file_size": os.environ.get("FTAPP_MAX_FILE_SIZE", "200mb"),
          "footer_links": ["api", "gradio"]}
    ctx = getattr(demo, "ftapp", None)
    if ctx is not None:
        kw["allowed_paths"] = [str(ctx.runs_dir)]
        if ctx.runner.server_load is not None:   # its training processes wait while it is busy
            kw["app_kwargs"] = {"middleware": [Middleware(CountRequests, load=ctx.runner.server_load)]}
    return kw


def build_demo(runs_dir: str | os.PathLike | None = None, hosted: bool | None = None) -> gr.Blocks:
    ctx = AppContext.create(runs_dir, hosted)
    secret = os.environ.get("FTAPP_STATE_SECRET") or None

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 6 * 3600), fill_width=False) as demo:
        gr.Markdown(HEADER, elem_id="header")
        if ctx.hosted:
            gr.Markdown("Public demo: only you see your runs. The disk is temporary — export what you want to "
                        "keep.", elem_classes=["note"], elem_id="mode-note")
        shared = Shared(ctx=ctx, owner=gr.BrowserState(None, storage_key="ftapp-owner", secret=secret),
                        run=gr.State(None), picked=gr.State(None), modality=gr.State(None))
        with gr.Tabs(elem_id="steps"):
            with gr.Tab("1 · Data", id="data", elem_id="tab-data"):
                data = DataTab(shared)
            with gr.Tab("2 · Model & settings", id="settings", elem_id="tab-settings") as tab_settings:
                settings = SettingsTab(shared)
            with gr.Tab("3 · Train", id="train", elem_id="tab-train"):
                train = TrainTab(shared)
            with gr.Tab("4 · Evaluate", id="evaluate", elem_id="tab-evaluate") as tab_eval:
                evaluate = EvaluateTab(shared)
            with gr.Tab("5 · Try it", id="try", elem_id="tab-try") as tab_try:
                try_it = TryTab(shared)
            with gr.Tab("6 · Export", id="export", elem_id="tab-export") as tab_export:
                export = ExportTab(shared)
        train.timer.render()
        api.build(ctx)

        data.wire()
        settings.wire(tab_settings)
        settings.follow_data(data.events)
        train.wire(demo)
        train.follow_data(data.events)
        evaluate.wire(tab_eval)
        try_it.wire(tab_try)
        export.wire(tab_export)

        def on_unload(request: gr.Request):
            try:
                ctx.release_session(request.session_hash)   # the upload folder, never a run
            except Exception:  # noqa: BLE001
                log.exception("unload cleanup failed")

        demo.unload(on_unload)

    demo_page.build(demo, ctx)     # /demo?token=…: what a share link opens
    demo.ftapp = ctx
    demo.tabs = {"data": data, "settings": settings, "train": train, "evaluate": evaluate, "try": try_it,
                 "export": export}
    demo.queue(default_concurrency_limit=2, max_size=64)
    calm_queue_polling(demo)
    return demo


def calm_queue_polling(demo: gr.Blocks) -> None:
    """Gradio's queue polls for new events every 1 ms and for progress-bar updates every 10 ms,
    even when idle, taking the GIL over a thousand times a second; next to a training thread on
    2 cores that made training ~10 % slower inside the app than from the CLI (measured with
    benchmarks/bench_vs_trainer.py --app). 20 ms and 100 ms are still instant for a person.
    Gradio has no public setting for these, so they are set only where the attributes exist."""
    queue = getattr(demo, "_queue", None)
    for attr, seconds in (("sleep_when_free", 0.02), ("progress_update_sleep_when_free", 0.1)):
        if queue is not None and getattr(queue, attr, seconds) < seconds:
            setattr(queue, attr, seconds)
