"""Step 6 — Export & share: download the model (model folder, ONNX or a demo Space), share a demo
link, push the model or publish its demo Space to the Hugging Face Hub.

The Hub token is used for the one push call only: it is never logged, stored or sent back
(the box is cleared after each attempt).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import gradio as gr

from ftapp.ui.common import Shared, guarded, run_picker, user_message
from ftapp.ui.core import AppContext, UserError
from ftapp.ui.share_box import ShareBox
from ftapp.ui.texts import md_escape

log = logging.getLogger("ftapp.ui")

FORMATS = [("Model folder (loads with transformers, SetFit or timm)", "zip"),
           ("ONNX (runs with onnxruntime alone; checked against the model)", "onnx"),
           ("Demo Space (a small Gradio app; python app.py serves it)", "space")]
ABOUT = """\
The **model folder** holds the weights (`model.safetensors`), configuration, tokenizer or picture
settings, the training settings and a `README.md` model card with the results beside the baselines
and snippets that load it without ftapp. **ONNX** adds nothing to install but onnxruntime. The
**demo Space** is a ready-to-upload Hugging Face Space (or run it on your own machine).
"""


def make_export(ctx: AppContext, owner: str, run_id: str | None, session_hash: str | None, fmt: str = "zip") -> Path:
    """The chosen export of one of `owner`'s runs, as one zip in the session's folder."""
    from ftapp.export import export_space, export_zip
    from ftapp.export.bundle import zip_folder
    from ftapp.export.onnx import zip_onnx

    run = ctx.model_run(run_id, owner)
    dest = ctx.files.get(session_hash).dir / "exports"
    for old in dest.glob("*.zip") if dest.exists() else []:
        old.unlink(missing_ok=True)   # keep one zip per session; Gradio serves its own copy
    if fmt == "onnx":
        return zip_onnx(run.dir, dest)
    if fmt == "space":
        with tempfile.TemporaryDirectory() as tmp:
            folder = export_space(run.dir, Path(tmp) / "space")
            out = zip_folder(folder, dest / f"ftapp-space-{run.id}.zip", "space")
            shutil.rmtree(folder, ignore_errors=True)
            return out
    return Path(export_zip(run.dir, dest))


class ExportTab:
    def __init__(self, shared: Shared):
        self.shared = shared
        self.run = gr.Dropdown(label="Run", choices=[], value=None, elem_id="export-run",
                               info="The trained model to export or share. Pick any finished run.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                gr.Markdown("#### Download")
                self.format = gr.Radio(FORMATS, value="zip", label="Format", elem_id="export-format")
                self.build_zip = gr.Button("Prepare the download", elem_id="export-zip")
                self.download = gr.DownloadButton("Download (.zip)", value=None, interactive=False,
                                                  variant="primary", elem_id="export-download")
                self.zip_info = gr.Markdown("", elem_id="export-info")
                gr.Markdown(ABOUT, elem_classes=["help"])
            with gr.Column(scale=1, min_width=320):
                gr.Markdown("#### Share a demo link")
                self.share = ShareBox(shared, self.run, "share", full=True)
        gr.Markdown("#### On the Hugging Face Hub")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                self.repo = gr.Textbox(label="Model repository", placeholder="your-name/my-classifier",
                                       elem_id="hub-repo", info="Created if it does not exist (public).")
                self.space_repo = gr.Textbox(label="Demo Space repository", placeholder="your-name/my-classifier-demo",
                                             elem_id="space-repo", info="For Publish demo Space.")
            with gr.Column(scale=1, min_width=320):
                self.token = gr.Textbox(label="Access token", type="password", elem_id="hub-token",
                                        placeholder="hf_…", info="A token with write permission, from huggingface.co/"
                                                                 "settings/tokens. Used for this push only, never stored.")
                with gr.Row():
                    self.push = gr.Button("Push the model", elem_id="hub-push")
                    self.publish = gr.Button("Publish demo Space", elem_id="space-publish")
                self.push_status = gr.Markdown("", elem_id="hub-status")

    # ---- handlers ------------------------------------------------------------------------------
    def on_run(self, run_id):
        out = {self.download: gr.DownloadButton(label="Download (.zip)", value=None, interactive=False),
               self.zip_info: "", **self.share.cleared()}
        if run_id:
            out[self.shared.picked] = run_id
        return out

    @guarded()
    def on_zip(self, browser_value, run_id, fmt, request: gr.Request):
        path = make_export(self.shared.ctx, self.shared.who(browser_value, request), run_id, request.session_hash,
                           fmt or "zip")
        size = os.path.getsize(path) / 2**20
        info = f"Ready: **{md_escape(path.name)}** ({size:.1f} MB)."
        if (fmt or "zip") == "onnx":   # what the int8 copy inside costs and gives, as measured
            import zipfile

            from ftapp.export.onnx import int8_line
            from ftapp.files import ONNX_CHECK

            with zipfile.ZipFile(path) as zf:
                info += " " + int8_line(json.loads(zf.read(f"onnx/{ONNX_CHECK}"))["int8"])
        return {self.download: gr.DownloadButton(label=f"Download {path.name} ({size:.1f} MB)", value=str(path),
                                                 interactive=True),
                self.zip_info: info}

    def _hub(self, action, browser_value, run_id, repo, token, request):
        # the token never leaves this function: not logged, not stored, the box is cleared
        from ftapp.export import publish_space, push_to_hub

        try:
            run = self.shared.ctx.model_run(run_id, self.shared.who(browser_value, request))
            if not (repo or "").strip():
                raise UserError("Enter a repository name like 'your-name/my-classifier'.")
            fn = push_to_hub if action == "model" else publish_space
            url = fn(run.dir, repo.strip(), (token or "").strip())
            return {self.token: "", self.push_status: f"Published: [{md_escape(url)}]({url})."}
        except Exception as exc:  # noqa: BLE001
            msg = user_message(exc)
            if msg is None:   # a bug of ours: the operator must see it — by type only, the token stays out
                log.error("Hub push failed unexpectedly: %s", type(exc).__name__)
                msg = "The push failed for an unexpected reason. Check the token and name."
            msg = msg.replace((token or "").strip() or "\0", "***")
            return {self.token: "", self.push_status: f"**Push failed:** {md_escape(msg)}"}

    def on_push(self, browser_value, run_id, repo, token, request: gr.Request):
        return self._hub("model", browser_value, run_id, repo, token, request)

    def on_publish(self, browser_value, run_id, repo, token, request: gr.Request):
        return self._hub("space", browser_value, run_id, repo, token, request)

    def wire(self, tab: gr.Tab) -> None:
        sh, private = self.shared, dict(api_visibility="private")
        run_picker(sh, tab, self.run)
        self.run.change(self.on_run, inputs=[self.run],
                        outputs=[self.download, self.zip_info, self.share.link, self.share.status, sh.picked],
                        queue=False, **private)
        self.build_zip.click(self.on_zip, inputs=[sh.owner, self.run, self.format],
                             outputs=[self.download, self.zip_info], concurrency_limit=2,
                             show_progress_on=[self.zip_info], **private)
        self.share.wire()
        for button, fn, repo in ((self.push, self.on_push, self.repo), (self.publish, self.on_publish, self.space_repo)):
            button.click(fn, inputs=[sh.owner, self.run, repo, self.token], outputs=[self.token, self.push_status],
                         concurrency_limit=1, show_progress_on=[self.push_status], **private)

