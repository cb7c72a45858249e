"""Named API endpoints for gradio_client (and scripts): the same operations as the tabs, with
plain JSON in and out. Each client session (one `gradio_client.Client`) is one owner in hosted
mode; in local mode every client sees every run, as the page does.

    load_data, start_training, run_status, stop_training, resume_training, list_runs, predict, export_model
"""

import inspect
from typing import Optional

import gradio as gr

from ftapp.data import Problem
from ftapp.data.hub import hub_source, is_hub_source
from ftapp.export import FORMATS
from ftapp.train.config import SETTINGS
from ftapp.ui import export_tab, try_tab
from ftapp.ui.common import guarded
from ftapp.ui.core import AppContext, UserError
from ftapp.ui.policy import removal_time


def _problems(report: dict, level: str) -> list[str]:
    return [str(Problem(**p)) for p in report.get("problems", []) if p.get("level") == level]


def with_settings_parameters(fn):
    """Give `fn(request, model, **settings)` the signature gradio_client shows: `model` and one
    parameter per training setting (from TrainConfig), each None by default (= TrainConfig's default)."""
    params = [inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, default="", annotation=str)]
    params += [inspect.Parameter(s.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                 annotation=Optional[s.kind]) for s in SETTINGS.values()]
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                    annotation=gr.Request))

    def endpoint(*values):
        named = dict(zip([p.name for p in params], values))
        return fn(named.pop("request"), named.pop("model"), **named)

    endpoint.__name__, endpoint.__doc__ = fn.__name__, fn.__doc__
    endpoint.__signature__ = inspect.Signature(params, return_annotation=dict)
    endpoint.__annotations__ = {p.name: p.annotation for p in params} | {"return": dict}
    return endpoint


def status_dict(ctx: AppContext, run) -> dict:
    snap = run.snapshot()
    pos = ctx.position(run)
    steps = snap.get("steps") or []
    info = snap.get("info") or {}
    return {
        "id": snap["id"], "status": snap["status"], "phase": snap["phase"], "message": snap["message"],
        "finished": run.ended,
        "progress": round(float(snap.get("progress") or 0), 4), "eta_seconds": snap.get("eta_seconds"),
        "queue_position": pos, "device": snap.get("device"), "model": snap.get("model"),
        "data_name": snap.get("data_name"), "has_model": snap.get("has_model"), "best": snap.get("best"),
        "n_steps": len(steps), "last_loss": steps[-1]["loss"] if steps else None,
        "epochs": snap.get("epochs"),
        "info": {k: info.get(k) for k in ("n_train", "n_val", "n_test", "classes", "n_blocks", "frozen_layers",
                                          "trainable_params", "total_params", "used_cache", "notice", "plan",
                                          "chosen", "result", "language_warning", "first_model")
                 if k in info},
        "effective_settings": snap.get("effective"), "candidates": snap.get("candidates"),
        "created": snap.get("created"), "status_text": ctx.status_text(run, snap),
        "expected_wait_minutes": ctx.expected_wait_minutes(run) if pos else 0,
        "removed_at": removal_time(run, ctx.quotas),
    }


def build(ctx: AppContext) -> None:
    def owner_of(request: gr.Request | None) -> str:
        return ctx.owner(None, getattr(request, "session_hash", None))

    def pick(run_id: str | None, request: gr.Request | None):
        owner = owner_of(request)
        if run_id:
            run = ctx.run(run_id, owner)
            if run is None:
                raise UserError(f"No run '{run_id}' in this session.")
            return run, owner
        run = ctx.latest_run(owner)
        if run is None:
            raise UserError("This session has no runs yet: call start_training first.")
        return run, owner

    # ---- endpoints with files: hidden components do the (safe) file handling ----------------------
    with gr.Column(visible=False, elem_id="api-only"):
        a_file = gr.File(label="file")
        a_example = gr.Textbox(label="example")
        a_text_col = gr.Textbox(label="text_column")
        a_label_col = gr.Textbox(label="label_column")
        a_task = gr.Textbox(label="task")
        a_path_col = gr.Textbox(label="path_column")
        a_hub = gr.Textbox(label="hub_dataset")
        a_report = gr.JSON(label="report")
        a_run = gr.Textbox(label="run_id")
        a_text = gr.Textbox(label="text")
        a_image = gr.Image(label="image", type="filepath")
        a_audio = gr.Audio(label="audio", type="filepath")
        a_label = gr.Label(label="prediction")
        a_zip = gr.File(label="model_zip")
        a_format = gr.Textbox(label="export_format", value="zip")
        a_trigger = gr.Button("api")

    @guarded(api=True)
    def load_data(file=None, example=None, text_column=None, label_column=None, path_column=None,
                  hub_dataset=None, task=None, request: gr.Request = None) -> dict:
        """Load a table/zip/Parquet file, example='support_tickets' | 'shapes' | 'drums', or a Hub dataset
        (hub_dataset='owner/name' or 'hf://datasets/owner/name?config=C&split=S') for this session.
        task: 'single' | 'multi' (several labels per example, e.g. 'billing;bug'); empty: read off the labels."""
        sh = getattr(request, "session_hash", None)
        hub = (hub_dataset or "").strip() or None
        if hub and not is_hub_source(hub):
            hub = hub_source(hub)
        data, _ds, report = ctx.load_data(sh, source=file or None, example=(example or "").strip() or None, hub=hub,
                                          text_column=text_column or None, label_column=label_column or None,
                                          path_column=path_column or None, task=task or None)
        return {"ok": data["ok"], "name": data["name"], "modality": data["modality"], "task": data["task"],
                "class_counts": data["class_counts"], "n_items": data["n_items"], "columns": data["columns"],
                "text_column": data["text_column"], "label_column": data["label_column"],
                "path_column": data["path_column"], "errors": _problems(report, "error"),
                "warnings": _problems(report, "warning"), "skipped": _problems(report, "skipped")}

    a_trigger.click(load_data, inputs=[a_file, a_example, a_text_col, a_label_col, a_path_col, a_hub, a_task],
                    outputs=a_report,
                    api_name="load_data", concurrency_limit=4)

    @guarded(api=True)
    def predict(run_id=None, text=None, image=None, audio=None, request: gr.Request = None) -> dict:
        """Top-5 classes for a text, a picture or a recording, from a finished run (default: the latest)."""
        run, owner = pick(run_id, request)
        return try_tab.predict(ctx, owner, run.id, text, image, audio)

    a_trigger.click(predict, inputs=[a_run, a_text, a_image, a_audio], outputs=a_label, api_name="predict",
                    concurrency_limit=4)

    @guarded(api=True)
    def export_model(run_id=None, export_format="zip", request: gr.Request = None):
        """A finished run's export as a zip (default: the latest run). export_format: "zip" (the model
        folder), "onnx" (checked with onnxruntime) or "space" (a demo Space bundle)."""
        if (export_format or "zip") not in FORMATS:
            raise UserError(f"export_format must be one of {', '.join(FORMATS)} (got {export_format!r}).")
        run, owner = pick(run_id, request)
        return str(export_tab.make_export(ctx, owner, run.id, getattr(request, "session_hash", None),
                                          export_format or "zip"))

    a_trigger.click(export_model, inputs=[a_run, a_format], outputs=a_zip, api_name="export_model", concurrency_limit=2)

    # ---- JSON-only endpoints ---------------------------------------------------------------------
    @with_settings_parameters
    @guarded(api=True)
    def start_training(request: gr.Request, model: str, **settings) -> dict:
        """Queue a training run on this session's data (load_data first). Empty model = the bundled default
        for the data; a setting left out (None) takes TrainConfig's default."""
        data = ctx.session_data(getattr(request, "session_hash", None))
        run = ctx.start(owner_of(request), data, {"model": model, **settings})
        return status_dict(ctx, run)

    gr.api(start_training, api_name="start_training", concurrency_limit=4)

    @guarded(api=True)
    def run_status(run_id: str = "", request: gr.Request = None) -> dict:
        """Status, progress, queue position and curves of a run (default: this session's latest)."""
        run, _ = pick(run_id, request)
        return status_dict(ctx, run)

    gr.api(run_status, api_name="run_status", concurrency_limit=None)

    @guarded(api=True)
    def stop_training(run_id: str = "", request: gr.Request = None) -> dict:
        """Ask a run to stop (its best model so far is kept). Only this session's runs."""
        owner = owner_of(request)
        run = ctx.run(run_id, owner) if run_id else ctx.latest_run(owner)
        if run is None:
            return {"stopped": False, "message": "No such run in this session."}
        ok = ctx.stop(owner, run.id)
        return {"stopped": ok, "id": run.id,
                "message": "Stopping: the best model so far is kept." if ok else f"The run is already {run.status}."}

    gr.api(stop_training, api_name="stop_training", concurrency_limit=None)

    @guarded(api=True)
    def resume_training(run_id: str = "", request: gr.Request = None) -> dict:
        """Go on with a run whose training process died, from its last checkpoint."""
        owner = owner_of(request)
        run = ctx.resume(owner, run_id or getattr(ctx.latest_run(owner), "id", None))
        return status_dict(ctx, run)

    gr.api(resume_training, api_name="resume_training", concurrency_limit=4)

    @guarded(api=True)
    def list_runs(request: gr.Request = None) -> list:
        """This session's runs, newest first (in local mode: all runs)."""
        return [{k: s.get(k) for k in ("id", "created", "status", "phase", "model", "data_name", "has_model", "best")}
                for s in (r.summary() for r in ctx.runs(owner_of(request)))]

    gr.api(list_runs, api_name="list_runs", concurrency_limit=None)
