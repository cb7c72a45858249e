"""Step 4 — Evaluate: how the chosen run does on the held-out validation examples."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ftapp.ui import charts
from ftapp.ui.common import Shared, guarded, run_picker
from ftapp.ui.texts import fmt_pct, md_escape

EXPLAIN = ("*Precision*: when the model says this class, how often it is right. *Recall*: of the real "
           "examples of this class, how many it finds. *F1* combines both (1.0 is perfect). *Support*: "
           "validation examples of the class.")


class EvaluateTab:
    def __init__(self, shared: Shared):
        self.shared = shared
        self.run = gr.Dropdown(label="Run", choices=[], value=None, elem_id="eval-run",
                               info="A finished run with a saved model. Results are on validation examples the "
                                    "model never trained on.")
        self.summary = gr.Markdown("Pick a finished run.", elem_id="eval-summary", elem_classes=["status-box"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                self.per_class = gr.Dataframe(label="Per class", interactive=False, elem_id="eval-per-class",
                                              value=None)
                gr.Markdown(EXPLAIN, elem_classes=["help"])
            with gr.Column(scale=1, min_width=320):
                self.confusion = gr.Plot(charts.confusion_figure(None, None), show_label=False,
                                         elem_id="eval-confusion")
        gr.Markdown("#### Mistakes on validation examples (most confident first)")
        self.mis_gallery = gr.Gallery(label="Misclassified pictures: true → predicted (confidence)", visible=False,
                                      columns=6, height=320, object_fit="contain", elem_id="eval-mistakes-images")
        self.mis_table = gr.Dataframe(label="Misclassified texts", visible=False, interactive=False, wrap=True,
                                      elem_id="eval-mistakes-table", max_height=360)
        self.mis_none = gr.Markdown("", elem_id="eval-mistakes-none")

    @property
    def outputs(self) -> list:
        return [self.summary, self.per_class, self.confusion, self.mis_gallery, self.mis_table, self.mis_none]

    def _empty(self, summary: str) -> dict:
        return {self.summary: summary, self.per_class: None, self.confusion: charts.confusion_figure(None, None),
                self.mis_gallery: gr.Gallery(value=None, visible=False),
                self.mis_table: gr.Dataframe(value=None, visible=False), self.mis_none: ""}

    def render(self, owner: str, run_id: str | None) -> dict:
        if not run_id:
            return self._empty("Pick a finished run (train one in step 3 first).")
        run = self.shared.ctx.model_run(run_id, owner)
        report = run.files.report()
        if not report:
            return self._empty("This run has no evaluation report (it may have stopped before evaluating).")
        n = report.get("n", 0)
        n_wrong = report.get("n_misclassified", len(report.get("misclassified", [])))
        lines = [f"**Accuracy {fmt_pct(report.get('accuracy'))}** · macro F1 {report.get('macro_f1', 0):.3f} · "
                 f"{n} validation examples, {n_wrong} wrong.",
                 f"Model: {md_escape(run.settings.get('model', ''))} · data: "
                 f"{md_escape(run.settings.get('data_name', ''))} · run {run.id}"]
        per = report.get("per_class") or []
        weak = [c for c in per if c.get("support") and c.get("f1", 1) < 0.7]
        if weak:
            lines.append("Weakest classes: " + ", ".join(f"{md_escape(c['label'])} (F1 {c['f1']:.2f})"
                                                         for c in weak[:5])
                         + ". More or clearer examples of these usually help most.")
        table = pd.DataFrame([{"class": c["label"], "precision": round(c["precision"], 3),
                               "recall": round(c["recall"], 3), "F1": round(c["f1"], 3), "support": c["support"]}
                              for c in per])
        out = {**self._empty("\n\n".join(lines)), self.per_class: table,
               self.confusion: charts.confusion_figure(report.get("labels"), report.get("confusion_matrix"))}
        wrong = report.get("misclassified") or []
        if not wrong:
            out[self.mis_none] = "No mistakes on the validation examples."
        elif run.files.modality() == "image":
            items = [(str(run.dir / w["item"]), f"{w['true']} → {w['predicted']} ({100 * w['confidence']:.0f} %)")
                     for w in wrong[:60] if (run.dir / w["item"]).is_file()]
            out[self.mis_gallery] = gr.Gallery(value=items, visible=True)
        else:
            out[self.mis_table] = gr.Dataframe(value=pd.DataFrame(
                [{"text": w["item"], "true": w["true"], "predicted": w["predicted"],
                  "confidence": f"{100 * w['confidence']:.0f} %"} for w in wrong[:200]]), visible=True)
        return out

    @guarded()
    def on_run(self, browser_value, run_id, request: gr.Request):
        out = self.render(self.shared.who(browser_value, request), run_id)
        if run_id:
            out[self.shared.picked] = run_id
        return out

    def wire(self, tab: gr.Tab) -> None:
        run_picker(self.shared, tab, self.run)
        self.run.change(self.on_run, inputs=[self.shared.owner, self.run], outputs=self.outputs + [self.shared.picked],
                        api_visibility="private")
