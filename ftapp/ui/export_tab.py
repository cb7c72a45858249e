"""Step 6 — Export: download the model as a zip, or push it to the Hugging Face Hub.

The Hub token is used for the one push call only: it is never logged, stored or sent back
(the box is cleared after each attempt).
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from ftapp.ui.core import AppContext, UserError
from ftapp.ui.texts import md_escape

ABOUT = """\
The zip holds the model folder: weights (`model.safetensors`), its configuration, the tokenizer or
picture settings, a `README.md` model card with the validation results, and the training settings.
Transformers models load with `transformers.pipeline(…, model="model")`; every model also loads in ftapp.
"""


def build(ctx: AppContext) -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.run = gr.Dropdown(label="Run", choices=[], value=None, elem_id="export-run",
                         info="The trained model to export. Pick any finished run.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            gr.Markdown("#### Download")
            ui.build_zip = gr.Button("Prepare zip", elem_id="export-zip")
            ui.download = gr.DownloadButton("Download model (.zip)", value=None, interactive=False,
                                            variant="primary", elem_id="export-download")
            ui.zip_info = gr.Markdown("", elem_id="export-info")
            gr.Markdown(ABOUT, elem_classes=["help"])
        with gr.Column(scale=1, min_width=320):
            gr.Markdown("#### Push to the Hugging Face Hub")
            ui.repo = gr.Textbox(label="Repository name", placeholder="your-name/my-classifier", elem_id="hub-repo",
                                 info="Created if it does not exist (as a public model repository).")
            ui.token = gr.Textbox(label="Access token", type="password", elem_id="hub-token",
                                  placeholder="hf_…", info="A token with write permission, from huggingface.co/"
                                                           "settings/tokens. Used for this push only, never stored.")
            ui.push = gr.Button("Push to Hub", elem_id="hub-push")
            ui.push_status = gr.Markdown("", elem_id="hub-status")
    return ui


def make_zip(ctx: AppContext, owner: str, run_id: str | None, session_hash: str | None) -> Path:
    from ftapp.export import export_zip

    run = ctx.model_run(run_id, owner)
    dest = ctx.files.get(session_hash).dir / "exports"
    for old in dest.glob("*.zip") if dest.exists() else []:
        old.unlink(missing_ok=True)   # keep one zip per session; Gradio serves its own copy
    return Path(export_zip(run.dir, dest))


def zip_outputs(path: Path) -> tuple:
    size = os.path.getsize(path) / 2**20
    return (gr.DownloadButton(label=f"Download {path.name} ({size:.1f} MB)", value=str(path), interactive=True),
            f"Ready: **{md_escape(path.name)}** ({size:.1f} MB). Unzip it to get the `model` folder.")


def push(ctx: AppContext, owner: str, run_id: str | None, repo: str, token: str) -> str:
    from ftapp.export import push_to_hub

    run = ctx.model_run(run_id, owner)
    if not (repo or "").strip():
        raise UserError("Enter a repository name like 'your-name/my-classifier'.")
    url = push_to_hub(run.dir, repo.strip(), (token or "").strip())
    return url
