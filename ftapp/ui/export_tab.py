"""Step 6 — Export: download the model as a zip, or push it to the Hugging Face Hub.

The Hub token is used for the one push call only: it is never logged, stored or sent back
(the box is cleared after each attempt).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import gradio as gr

from ftapp.ui.common import Shared, guarded, run_picker, user_message
from ftapp.ui.core import AppContext, UserError
from ftapp.ui.texts import md_escape

log = logging.getLogger("ftapp.ui")

ABOUT = """\
The zip holds the model folder: weights (`model.safetensors`), its configuration, the tokenizer or
picture settings, a `README.md` model card with the validation results, and the training settings.
Transformers models load with `transformers.pipeline(…, model="model")`; every model also loads in ftapp.
"""


def make_zip(ctx: AppContext, owner: str, run_id: str | None, session_hash: str | None) -> Path:
    from ftapp.export import export_zip

    run = ctx.model_run(run_id, owner)
    dest = ctx.files.get(session_hash).dir / "exports"
    for old in dest.glob("*.zip") if dest.exists() else []:
        old.unlink(missing_ok=True)   # keep one zip per session; Gradio serves its own copy
    return Path(export_zip(run.dir, dest))


class ExportTab:
    def __init__(self, shared: Shared):
        self.shared = shared
        self.run = gr.Dropdown(label="Run", choices=[], value=None, elem_id="export-run",
                               info="The trained model to export. Pick any finished run.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                gr.Markdown("#### Download")
                self.build_zip = gr.Button("Prepare zip", elem_id="export-zip")
                self.download = gr.DownloadButton("Download model (.zip)", value=None, interactive=False,
                                                  variant="primary", elem_id="export-download")
                self.zip_info = gr.Markdown("", elem_id="export-info")
                gr.Markdown(ABOUT, elem_classes=["help"])
            with gr.Column(scale=1, min_width=320):
                gr.Markdown("#### Push to the Hugging Face Hub")
                self.repo = gr.Textbox(label="Repository name", placeholder="your-name/my-classifier",
                                       elem_id="hub-repo",
                                       info="Created if it does not exist (as a public model repository).")
                self.token = gr.Textbox(label="Access token", type="password", elem_id="hub-token",
                                        placeholder="hf_…", info="A token with write permission, from huggingface.co/"
                                                                 "settings/tokens. Used for this push only, never stored.")
                self.push = gr.Button("Push to Hub", elem_id="hub-push")
                self.push_status = gr.Markdown("", elem_id="hub-status")

    # ---- handlers ------------------------------------------------------------------------------
    def on_run(self, run_id):
        out = {self.download: gr.DownloadButton(label="Download model (.zip)", value=None, interactive=False),
               self.zip_info: ""}
        if run_id:
            out[self.shared.picked] = run_id
        return out

    @guarded()
    def on_zip(self, browser_value, run_id, request: gr.Request):
        path = make_zip(self.shared.ctx, self.shared.who(browser_value, request), run_id, request.session_hash)
        size = os.path.getsize(path) / 2**20
        return {self.download: gr.DownloadButton(label=f"Download {path.name} ({size:.1f} MB)", value=str(path),
                                                 interactive=True),
                self.zip_info: f"Ready: **{md_escape(path.name)}** ({size:.1f} MB). Unzip it to get the `model` folder."}

    def on_push(self, browser_value, run_id, repo, token, request: gr.Request):
        # the token never leaves this function: not logged, not stored, the box is cleared
        from ftapp.export import push_to_hub

        try:
            run = self.shared.ctx.model_run(run_id, self.shared.who(browser_value, request))
            if not (repo or "").strip():
                raise UserError("Enter a repository name like 'your-name/my-classifier'.")
            url = push_to_hub(run.dir, repo.strip(), (token or "").strip())
            return {self.token: "", self.push_status: f"Pushed to [{md_escape(url)}]({url})."}
        except Exception as exc:  # noqa: BLE001
            msg = user_message(exc)
            if msg is None:   # a bug of ours: the operator must see it — by type only, the token stays out
                log.error("Hub push failed unexpectedly: %s", type(exc).__name__)
                msg = "The push failed for an unexpected reason. Check the token and name."
            msg = msg.replace((token or "").strip() or "\0", "***")
            return {self.token: "", self.push_status: f"**Push failed:** {md_escape(msg)}"}

    def wire(self, tab: gr.Tab) -> None:
        sh, private = self.shared, dict(api_visibility="private")
        run_picker(sh, tab, self.run)
        self.run.change(self.on_run, inputs=[self.run], outputs=[self.download, self.zip_info, sh.picked],
                        queue=False, **private)
        self.build_zip.click(self.on_zip, inputs=[sh.owner, self.run], outputs=[self.download, self.zip_info],
                             concurrency_limit=2, show_progress_on=[self.zip_info], **private)
        self.push.click(self.on_push, inputs=[sh.owner, self.run, self.repo, self.token],
                        outputs=[self.token, self.push_status], concurrency_limit=1,
                        show_progress_on=[self.push_status], **private)
