"""Step 4 — Evaluate: how the chosen run does on the held-out validation examples."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pandas as pd

from ftapp.ui import charts
from ftapp.ui.core import AppContext, read_json, run_modality
from ftapp.ui.texts import fmt_pct, md_escape

EXPLAIN = ("*Precision*: when the model says this class, how often it is right. *Recall*: of the real "
           "examples of this class, how many it finds. *F1* combines both (1.0 is perfect). *Support*: "
           "validation examples of the class.")


def build(ctx: AppContext) -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.run = gr.Dropdown(label="Run", choices=[], value=None, elem_id="eval-run",
                         info="A finished run with a saved model. Results are on validation examples the model "
                              "never trained on.")
    ui.summary = gr.Markdown("Pick a finished run.", elem_id="eval-summary", elem_classes=["status-box"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            ui.per_class = gr.Dataframe(label="Per class", interactive=False, elem_id="eval-per-class",
                                        value=None)
            gr.Markdown(EXPLAIN, elem_classes=["help"])
        with gr.Column(scale=1, min_width=320):
            ui.confusion = gr.Plot(charts.confusion_figure(None, None), show_label=False, elem_id="eval-confusion")
    gr.Markdown("#### Mistakes on validation examples (most confident first)")
    ui.mis_gallery = gr.Gallery(label="Misclassified pictures: true → predicted (confidence)", visible=False,
                                columns=6, height=320, object_fit="contain", elem_id="eval-mistakes-images")
    ui.mis_table = gr.Dataframe(label="Misclassified texts", visible=False, interactive=False, wrap=True,
                                elem_id="eval-mistakes-table", max_height=360)
    ui.mis_none = gr.Markdown("", elem_id="eval-mistakes-none")
    return ui


def outputs(ui) -> list:
    return [ui.summary, ui.per_class, ui.confusion, ui.mis_gallery, ui.mis_table, ui.mis_none]


def render(ctx: AppContext, owner: str, run_id: str | None) -> tuple:
    if not run_id:
        return ("Pick a finished run (train one in step 3 first).", None, charts.confusion_figure(None, None),
                gr.Gallery(value=None, visible=False), gr.Dataframe(value=None, visible=False), "")
    run = ctx.model_run(run_id, owner)
    report = read_json(run.dir / "report.json")
    if not report:
        return ("This run has no evaluation report (it may have stopped before evaluating).", None,
                charts.confusion_figure(None, None), gr.Gallery(value=None, visible=False),
                gr.Dataframe(value=None, visible=False), "")
    n = report.get("n", 0)
    n_wrong = report.get("n_misclassified", len(report.get("misclassified", [])))
    lines = [f"**Accuracy {fmt_pct(report.get('accuracy'))}** · macro F1 {report.get('macro_f1', 0):.3f} · "
             f"{n} validation examples, {n_wrong} wrong.",
             f"Model: {md_escape(run.settings.get('model', ''))} · data: {md_escape(run.settings.get('data_name', ''))}"
             f" · run {run.id}"]
    per = report.get("per_class") or []
    weak = [c for c in per if c.get("support") and c.get("f1", 1) < 0.7]
    if weak:
        lines.append("Weakest classes: " + ", ".join(f"{md_escape(c['label'])} (F1 {c['f1']:.2f})" for c in weak[:5])
                     + ". More or clearer examples of these usually help most.")
    table = pd.DataFrame([{"class": c["label"], "precision": round(c["precision"], 3), "recall": round(c["recall"], 3),
                           "F1": round(c["f1"], 3), "support": c["support"]} for c in per])
    fig = charts.confusion_figure(report.get("labels"), report.get("confusion_matrix"))
    wrong = report.get("misclassified") or []
    modality = run_modality(run)
    gallery = gr.Gallery(value=None, visible=False)
    texts = gr.Dataframe(value=None, visible=False)
    none = "" if wrong else "No mistakes on the validation examples."
    if wrong and modality == "image":
        items = []
        for w in wrong[:60]:
            path = run.dir / w["item"]
            if path.is_file():
                items.append((str(path), f"{w['true']} → {w['predicted']} ({100 * w['confidence']:.0f} %)"))
        gallery = gr.Gallery(value=items, visible=True)
    elif wrong:
        texts = gr.Dataframe(value=pd.DataFrame(
            [{"text": w["item"], "true": w["true"], "predicted": w["predicted"],
              "confidence": f"{100 * w['confidence']:.0f} %"} for w in wrong[:200]]), visible=True)
    return ("\n\n".join(lines), table, fig, gallery, texts, none)
