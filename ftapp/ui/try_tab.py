"""Step 5 — Try it: feed the trained model a new text or picture."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from ftapp.ui.core import AppContext, UserError, read_json, run_modality
from ftapp.ui.texts import md_escape


def build(ctx: AppContext) -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.run = gr.Dropdown(label="Run", choices=[], value=None, elem_id="try-run",
                         info="The trained model to ask. Pick any finished run.")
    ui.info = gr.Markdown("Pick a finished run.", elem_id="try-info")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            ui.text = gr.Textbox(label="Text to classify", lines=4, elem_id="try-text", visible=True,
                                 placeholder="Type or paste a text like the ones you trained on…")
            ui.image = gr.Image(label="Picture to classify", sources=["upload", "webcam"], type="filepath",
                                elem_id="try-image", visible=False, height=280)
            ui.submit = gr.Button("Classify", variant="primary", elem_id="try-submit")
        with gr.Column(scale=1, min_width=320):
            ui.output = gr.Label(label="Prediction (most likely first)", num_top_classes=5, elem_id="try-output")
    gr.Markdown("#### Examples from the validation data (click one)")
    ui.text_examples = gr.Dataset(components=[ui.text], samples=[], label="Example texts", visible=False,
                                  elem_id="try-examples", samples_per_page=8, type="index")
    ui.image_examples = gr.Gallery(label="Example pictures", visible=False, columns=8, height=180,
                                   object_fit="contain", allow_preview=False, elem_id="try-examples-images")
    ui.examples_state = gr.State([])
    return ui


def outputs(ui) -> list:
    return [ui.info, ui.text, ui.image, ui.output, ui.text_examples, ui.image_examples, ui.examples_state]


def render(ctx: AppContext, owner: str, run_id: str | None) -> tuple:
    if not run_id:
        return ("Pick a finished run (train one in step 3 first).", gr.Textbox(visible=True),
                gr.Image(visible=False), None, gr.Dataset(samples=[], visible=False),
                gr.Gallery(value=None, visible=False), [])
    run = ctx.model_run(run_id, owner)
    modality = run_modality(run)
    report = read_json(run.dir / "report.json") or {}
    examples = report.get("examples") or []
    meta = read_json(run.dir / "ftapp_model.json") or {}
    labels = meta.get("labels") or report.get("labels") or []
    info = (f"Model from run {run.id} ({md_escape(run.settings.get('model', ''))}); classes: "
            + ", ".join(md_escape(x) for x in labels[:30]) + ("…" if len(labels) > 30 else "") + ".")
    if modality == "image":
        items = [(str(run.dir / e["item"]), e["label"]) for e in examples if (run.dir / e["item"]).is_file()]
        return (info, gr.Textbox(visible=False), gr.Image(visible=True, value=None), None,
                gr.Dataset(samples=[], visible=False), gr.Gallery(value=items, visible=bool(items)),
                [p for p, _ in items])
    samples = [[e["item"]] for e in examples]
    return (info, gr.Textbox(visible=True), gr.Image(visible=False, value=None), None,
            gr.Dataset(samples=samples, visible=bool(samples)), gr.Gallery(value=None, visible=False),
            [e["item"] for e in examples])


def predict(ctx: AppContext, owner: str, run_id: str | None, text: str | None, image) -> dict:
    from ftapp.inference import predict_run

    run = ctx.model_run(run_id, owner)
    modality = run_modality(run)
    if modality == "image":
        if not image:
            raise UserError("Upload a picture or take one with the webcam first.")
        item = image
    else:
        if not (text or "").strip():
            raise UserError("Type some text first.")
        item = text
    return predict_run(run.dir, item, top_k=5)
