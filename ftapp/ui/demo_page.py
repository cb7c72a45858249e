"""The demo page a share link opens (/demo?token=…): one run, read-only, clean enough to show to
stakeholders — what the model sorts, how well it does, and a box to try it. Nothing else of the
owner's session is reachable from it: no data, no other runs, no Stop, no export unless the owner
allowed the download. A revoked or unknown link says so."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from ftapp.data.report import examples_noun
from ftapp.export.public import public_name
from ftapp.ui import charts
from ftapp.ui.common import guarded, model_threshold
from ftapp.ui.core import AppContext, UserError
from ftapp.tasks import is_number, is_several, named_score
from ftapp.ui.texts import answer_for, fmt_pct, md_escape
from ftapp.unsure import UNSURE

DEMO_PATH = "demo"
GONE = {"revoked": "This demo link was turned off by its owner.",
        "unknown": "This demo link is not valid. Ask its owner for a new one."}


class DemoPage:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.title = gr.Markdown("Loading the demo…", elem_id="demo-title")
        with gr.Row(equal_height=False, visible=False) as self.body:
            with gr.Column(scale=1, min_width=320):
                self.text = gr.Textbox(label="Text to classify", lines=4, elem_id="demo-try-text", visible=False)
                self.image = gr.Image(label="Picture to classify", sources=["upload", "webcam"], type="filepath",
                                      elem_id="demo-try-image", visible=False, height=280)
                self.audio = gr.Audio(label="Recording to classify (upload, or record with the microphone)",
                                      sources=["upload", "microphone"], type="filepath", elem_id="demo-try-audio",
                                      visible=False)
                self.submit = gr.Button("Classify", variant="primary", elem_id="demo-try-submit")
                self.answer = gr.Markdown("", elem_id="demo-try-answer")
                self.output = gr.Label(label="Prediction", num_top_classes=5, elem_id="demo-try-output")
            with gr.Column(scale=1, min_width=320):
                self.metrics = gr.Markdown("", elem_id="demo-metrics")
                self.confusion = gr.Plot(show_label=False, elem_id="demo-confusion")
        self.text_examples = gr.Dataset(components=[self.text], samples=[], label="Examples (click one)",
                                        visible=False, elem_id="demo-examples", type="index")
        self.image_examples = gr.Gallery(label="Examples (click one)", visible=False, columns=8, height=180,
                                         object_fit="contain", allow_preview=False, elem_id="demo-examples-images")
        with gr.Row(visible=False) as self.download_row:
            self.download = gr.Button("Prepare the model for download", elem_id="demo-download", scale=0)
            self.download_file = gr.DownloadButton("Download (.zip)", value=None, interactive=False,
                                                   elem_id="demo-download-file", scale=0)
        self.token = gr.State(None)
        self.examples = gr.State([])

    @property
    def outputs(self) -> list:
        return [self.title, self.body, self.text, self.image, self.audio, self.metrics, self.confusion, self.output,
                self.text_examples, self.image_examples, self.download_row, self.token, self.examples]

    def _run(self, token: str | None):
        run, why = self.ctx.store.shared(token)
        if run is None:
            raise UserError(GONE[why])
        return run

    def render(self, token: str | None) -> dict:
        run, why = self.ctx.store.shared(token)
        if run is None:
            return {self.title: f"### {GONE[why]}", self.body: gr.Row(visible=False), self.token: None}
        meta = run.files.model_meta() or {}
        report = run.files.read(run.files.TEST_REPORT) or run.files.report() or {}
        share = run.files.read(run.files.SHARE) or {}
        labels = meta.get("labels") or []
        modality = meta.get("modality")
        thing = examples_noun(modality)
        several, number = is_several(meta), is_number(meta)
        what = (f"Predicting a number from {thing}" if number else
                f"Labelling {thing} with {len(labels)} labels (several may apply)" if several else
                f"Sorting {thing} into {len(labels)} classes")
        title = (f"## {what}\n\n"
                 + ", ".join(f"**{md_escape(l)}**" for l in labels[:40]) + ("…" if len(labels) > 40 else "")
                 + f"\n\nA model fine-tuned with ftapp from {md_escape(public_name(run.settings.get('model', '')))}.")
        kind = "held-out test examples" if run.files.read(run.files.TEST_REPORT) else "validation examples"
        name, score = named_score(report)
        ci = (report.get("interval") or {}).get("micro_f1" if several else "accuracy")
        within = f" (95 % interval {fmt_pct(ci[0])}–{fmt_pct(ci[1])})" if ci else ""
        metrics = (f"**{name[0].upper() + name[1:]} {fmt_pct(score)}**{within} · macro-F1 "
                   f"{report.get('macro_f1', 0):.3f} on {report.get('n', 0)} {kind}." if report else "")
        if number and report:
            metrics = (f"**R² {report.get('r2', 0):.3f}** · Spearman {report.get('spearman', 0):.3f} · mean absolute "
                       f"error {report.get('mae', 0):.4g} on {report.get('n', 0)} {kind}.")
        unsure = report.get("unsure") or {}
        if unsure.get("threshold"):
            metrics += (f" It answers \"{UNSURE}\" when it is less than {fmt_pct(unsure['threshold'])} sure: on "
                        f"these examples it then answered {fmt_pct(unsure.get('coverage'))} of them, "
                        f"{fmt_pct(unsure.get('accuracy'))} of those answers right.")
        examples = report.get("examples") or (run.files.report() or {}).get("examples") or []
        out = {self.title: title, self.body: gr.Row(visible=True), self.metrics: metrics,
               self.confusion: gr.Plot(charts.confusion_figure(report.get("labels"), report.get("confusion_matrix"))
                                       if len(labels) <= 30 else charts.confusion_figure(None, None),
                                       visible=not (several or number)),   # several labels or a number: no matrix
               self.output: gr.Label(value=None, num_top_classes=len(labels) if several else 5, visible=not number),
               self.text: gr.Textbox(visible=modality == "text"), self.image: gr.Image(visible=modality == "image"),
               self.audio: gr.Audio(visible=modality == "audio"),
               self.download_row: gr.Row(visible=bool(share.get("allow_download"))), self.token: token}
        if modality == "image":
            items = [(str(run.dir / e["item"]), e["label"]) for e in examples if (run.dir / e["item"]).is_file()]
            out.update({self.image_examples: gr.Gallery(value=items, visible=bool(items)),
                        self.examples: [p for p, _ in items]})
        elif modality == "text":
            out.update({self.text_examples: gr.Dataset(samples=[[e["item"]] for e in examples], visible=bool(examples)),
                        self.examples: [e["item"] for e in examples]})
        return out

    # ---- handlers ------------------------------------------------------------------------------
    @guarded()
    def on_load(self, request: gr.Request):
        return self.render(dict(request.query_params).get("token"))

    @guarded()
    def on_predict(self, token, text, image, audio=None):
        from ftapp.inference import predict_run
        from ftapp.ui.try_tab import item_for

        run = self._run(token)
        probabilities = predict_run(run.dir, item_for(run.files.modality(), text, image, audio), top_k=5)
        return {self.output: probabilities,
                self.answer: answer_for(probabilities, model_threshold(run), run.files.model_meta() or {})}

    @guarded()
    def on_text_example(self, token, index, examples):
        if index is None or not examples or index >= len(examples):
            return gr.skip()
        return {self.text: examples[index], **self.on_predict(token, examples[index], None)}

    @guarded()
    def on_image_example(self, token, examples, evt: gr.SelectData):
        if evt.index is None or not examples or evt.index >= len(examples):
            return gr.skip()
        path = examples[evt.index]
        return {self.image: path, **self.on_predict(token, None, path)}

    @guarded()
    def on_download(self, token):
        from ftapp.export import export_zip

        run = self._run(token)
        if not (run.files.read(run.files.SHARE) or {}).get("allow_download"):
            raise UserError("The owner of this demo did not allow downloading the model.")
        path = export_zip(run.dir, Path(tempfile.mkdtemp(prefix="ftapp-demo-")))
        return gr.DownloadButton(value=str(path), interactive=True)

    def wire(self, demo: gr.Blocks) -> None:
        private = dict(api_visibility="private")
        demo.load(self.on_load, inputs=None, outputs=self.outputs, **private)
        predict = dict(inputs=[self.token, self.text, self.image, self.audio], outputs=[self.output, self.answer], concurrency_limit=4,
                       concurrency_id="predict", **private)
        self.submit.click(self.on_predict, **predict)
        self.text.submit(self.on_predict, **predict)
        self.text_examples.click(self.on_text_example, inputs=[self.token, self.text_examples, self.examples],
                                 outputs=[self.text, self.output, self.answer], **private)
        self.image_examples.select(self.on_image_example, inputs=[self.token, self.examples],
                                   outputs=[self.image, self.output, self.answer], **private)
        self.download.click(self.on_download, inputs=[self.token], outputs=[self.download_file], concurrency_limit=2,
                            **private)


def build(demo: gr.Blocks, ctx: AppContext) -> DemoPage:
    """The demo page, as a page of the app that the navigation bar does not show."""
    with demo.route("Demo", f"/{DEMO_PATH}", show_in_navbar=False):
        page = DemoPage(ctx)
        page.wire(demo)
    return page
