"""Step 4 — Evaluate: how the chosen run does on the held-out validation examples."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ftapp.tasks import TASKS, OneLabel, is_number, is_several, named_score


from ftapp.ui import charts, review
from ftapp.ui.common import Shared, guarded, run_picker
from ftapp.ui.share_box import ShareBox
from ftapp.ui.why import WhyView, explanation
from ftapp.ui.texts import fmt_pct, fmt_score, md_escape

EXPLAIN = ("*Precision*: when the model says this class, how often it is right. *Recall*: of the real "
           "examples of this class, how many it finds. *F1* combines both (1.0 is perfect). *Support*: "
           "scored examples of the class. *Balanced accuracy*: the average recall over classes, which a model "
           "that ignores rare classes cannot fake.")


def _with_interval(value: float | None, ci) -> str:
    return fmt_pct(value) + (f" (95 % interval {fmt_pct(ci[0])}–{fmt_pct(ci[1])})" if ci else "")


def _scores(r: dict) -> str:
    ci = r.get("interval") or {}
    if is_number(r):
        within = f" (95 % interval {ci['r2'][0]:.3f}–{ci['r2'][1]:.3f})" if ci.get("r2") else ""
        return (f"R² **{r.get('r2', 0):.3f}{within}** · Spearman {r.get('spearman', 0):.3f} · MAE {r.get('mae', 0):.4g} "
                f"· RMSE {r.get('rmse', 0):.4g} (in the target's unit)")
    if is_several(r):
        return (f"micro-F1 **{_with_interval(r.get('micro_f1'), ci.get('micro_f1'))}** · macro-F1 "
                f"{r.get('macro_f1', 0):.3f} · every label right on {fmt_pct(r.get('subset_accuracy'))} of the examples "
                "(each label decided at its own threshold, chosen on validation)")
    return (f"accuracy **{_with_interval(r.get('accuracy'), ci.get('accuracy'))}** · macro-F1 "
            f"{r.get('macro_f1', 0):.3f}" + (f" ({ci['macro_f1'][0]:.3f}–{ci['macro_f1'][1]:.3f})" if ci.get("macro_f1")
                                             else "") + f" · balanced accuracy {fmt_pct(r.get('balanced_accuracy'))}")


VALIDATION_KIND = {"validation split": "Validation", "cross-validation": "Cross-validated on all examples (too few of "
                                                                        "them, or of one class, to check on a split)",
                   "training data": "On the training examples themselves (too few to check on anything else)"}


def headline(val: dict | None, test: dict | None, run) -> str:
    """Which numbers these are, honestly: the test slice nothing chose on, else the validation (or
    cross-validated) numbers, each with its 95 % interval and n, and the baselines on the same
    examples. While the run trains, these are the first model's."""
    metrics = run.files.metrics() or {}
    lines = []
    if metrics.get("stage") == "first model":
        first = TASKS.get(metrics.get("task"), OneLabel).first_model
        lines.append(f"**First model** ({first}): fine-tuning is still running. Try it and Export use this model "
                     "now; these numbers update when the run ends.")
    if test:
        lines.append(f"**Test** ({test['n']} held-out examples that nothing was chosen on): {_scores(test)}. "
                     + ("The largest errors below are on these examples." if is_number(test) else
                        f"{test.get('n_misclassified', 0)} wrong; details below are on these examples."))
    if val:
        kind = VALIDATION_KIND.get(val.get("validation"), "Validation")
        lines.append(f"{kind} ({val['n']} examples; {md_escape(metrics.get('validation', ''))}): {_scores(val)}.")
    base = (test or val or {}).get("baselines") or {}
    named = [b for key, b in base.items() if key != "headline" and isinstance(b, dict) and named_score(b)[1] is not None]
    if named:
        lines.append("Baselines on the same examples: " + " · ".join(
            f"{md_escape(b['name'])} {fmt_score(b)}" for b in named) + ".")
    if metrics.get("baseline_note"):
        lines.append(f"**{md_escape(metrics['baseline_note'])}**")
    lines.append(f"Model: {md_escape(run.settings.get('model', ''))} · data: "
                 f"{md_escape(run.settings.get('data_name', ''))} · run {run.id}")
    shown = test or val or {}
    per = shown.get("per_class") or shown.get("per_label") or []
    weak = [c for c in per if c.get("support") and (c.get("f1") or 0) < 0.7]
    if weak:
        lines.append(f"Weakest {'labels' if is_several(shown) else 'classes'}: " + ", ".join(f"{md_escape(c['label'])} (F1 {c['f1']:.2f})" for c in weak[:5])
                     + ". More or clearer examples of these usually help most.")
    return "\n\n".join(lines)


def per_class_table(report: dict) -> pd.DataFrame:
    """Precision, recall, F1 and support per class; several labels per example: per label, with its
    decision threshold."""
    def num(v):
        return "no examples" if v is None else round(v, 3)
    if is_number(report):   # one number: its scores in a row each
        return pd.DataFrame([{"measure": name, "value": round(report[key], 4)} for key, name in NUMBER_SCORES
                             if report.get(key) is not None])
    if is_several(report):
        return pd.DataFrame([{"label": c["label"], "threshold": round(c["threshold"], 3), "precision": num(c["precision"]),
                              "recall": num(c["recall"]), "F1": num(c["f1"]), "support": c["support"]}
                             for c in report.get("per_label") or []])
    return pd.DataFrame([{"class": c["label"], "precision": num(c["precision"]), "recall": num(c["recall"]),
                          "F1": num(c["f1"]), "support": c["support"]} for c in report.get("per_class") or []])


def unsure_note(u: dict | None, where: str) -> str:
    """What the model's "not sure" threshold does on the examples shown (chosen on validation)."""
    if not u:
        return "This run predates the \"not sure\" answer: its model always answers."
    if not u.get("threshold"):
        return (f"This model always answers: on validation, every answer it could drop was more often right "
                f"than wrong. On these {u['n']} {where} examples it is right {fmt_pct(u.get('accuracy_all'))} of the "
                "time. You can still set a threshold in **5 · Try it**.")
    if not u.get("answered"):
        return (f"Under **{fmt_pct(u['threshold'])}** confidence the model answers \"not sure\"; on these {u['n']} "
                f"{where} examples it was never that sure. Lower it in **5 · Try it**.")
    would = u.get("unsure_would_be_right")
    return (f"Under **{fmt_pct(u['threshold'])}** confidence the model answers \"not sure\" (a threshold chosen on "
            f"validation, where its answers below it were more often wrong than right). On these {u['n']} {where} "
            f"examples it answers **{fmt_pct(u['coverage'])}** of them and **{fmt_pct(u['accuracy'])}** of those "
            f"answers are right, against {fmt_pct(u.get('accuracy_all'))} when it always answers"
            + (f"; the ones it is not sure about would have been right {fmt_pct(would)} of the time." if would is not None
               else ".") + " Change it in **5 · Try it**; exports carry it.")


MAX_MATRIX_CLASSES = 30
NUMBER_SCORES = (("r2", "R²"), ("spearman", "Spearman's rank correlation"), ("mae", "mean absolute error"),
                 ("rmse", "root mean squared error"))


class EvaluateTab:
    def __init__(self, shared: Shared):
        self.shared = shared
        self.run = gr.Dropdown(label="Run", choices=[], value=None, elem_id="eval-run",
                               info="A finished run with a saved model. Results are on validation examples the "
                                    "model never trained on.")
        self.summary = gr.Markdown("Pick a finished run.", elem_id="eval-summary", elem_classes=["status-box"])
        self.share = ShareBox(shared, self.run, "eval-share", full=False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                self.per_class = gr.Dataframe(label="Per class (click a column to sort)", interactive=False,
                                              elem_id="eval-per-class", value=None, max_height=420,
                                              show_search="filter")
                gr.Markdown(EXPLAIN, elem_classes=["help"])
            with gr.Column(scale=1, min_width=320):
                self.confusion = gr.Plot(charts.confusion_figure(None, None), show_label=False,
                                         elem_id="eval-confusion")
                self.pairs = gr.Dataframe(label="Most confused pairs", interactive=False, visible=False,
                                          elem_id="eval-confused-pairs", max_height=420)
        gr.Markdown("#### Would more examples help?")
        with gr.Row(equal_height=False):
            self.curve = gr.Plot(charts.learning_curve_figure(None), show_label=False, elem_id="eval-learning-curve",
                                 scale=1)
            self.curve_note = gr.Markdown("", elem_id="eval-learning-note", elem_classes=["readout"])
        gr.Markdown("#### When should it say \"not sure\"?")
        with gr.Row(equal_height=False):
            self.unsure = gr.Plot(charts.unsure_figure(None), show_label=False, elem_id="eval-unsure", scale=1)
            self.unsure_note = gr.Markdown("", elem_id="eval-unsure-note", elem_classes=["readout"])
        gr.Markdown("#### Mistakes on validation examples (most confident first)")
        self.mis_gallery = gr.Gallery(label="Misclassified pictures: true → predicted (confidence)", visible=False,
                                      columns=6, height=320, object_fit="contain", elem_id="eval-mistakes-images")
        self.mis_table = gr.Dataframe(label="Misclassified texts", visible=False, interactive=False, wrap=True,
                                      elem_id="eval-mistakes-table", max_height=360)
        self.mis_none = gr.Markdown("", elem_id="eval-mistakes-none")
        self.mis_audio = gr.Audio(label="The recording clicked above", visible=False, interactive=False,
                                  elem_id="eval-mistake-audio")
        gr.Markdown("Click a mistake to see why the model said what it said (recordings: to hear it).",
                    elem_classes=["help"])
        self.why = WhyView("eval")
        gr.Markdown("#### Review the data: likely label errors, near-duplicates with another label, outliers")
        self.issues_note = gr.Markdown("", elem_id="eval-issues-note")
        self.issues = gr.Dataframe(label="Found in the training and validation data: type a new label or tick drop",
                                   headers=review.ISSUE_COLUMNS, interactive=True, static_columns=review.STATIC,
                                   wrap=True, visible=False, elem_id="eval-label-issues", max_height=360,
                                   show_search="filter")
        with gr.Row():
            self.accept = gr.Button("Accept all suggested labels", size="sm", elem_id="eval-accept-suggestions",
                                    scale=0, min_width=220)
            self.retrain = gr.Button("Retrain with these fixes", size="sm", variant="primary",
                                     elem_id="eval-retrain", scale=0, min_width=200)
            self.cleaned = gr.DownloadButton("Download the data with the suggested labels (.csv)", value=None,
                                             visible=False, size="sm", elem_id="eval-cleaned-data")
        self.retrain_status = gr.Markdown("", elem_id="eval-retrain-status")

    @property
    def outputs(self) -> list:
        return [self.summary, self.per_class, self.confusion, self.pairs, self.curve, self.curve_note,
                self.unsure, self.unsure_note, self.mis_gallery, self.mis_table, self.mis_audio,
                self.mis_none, self.issues_note, self.issues, self.cleaned, self.share.link, self.share.status,
                *self.why.outputs]

    def _empty(self, summary: str) -> dict:
        return {self.summary: summary, self.per_class: None, self.confusion: gr.Plot(charts.confusion_figure(None, None),
                                                                                       visible=True),
                self.pairs: gr.Dataframe(value=None, visible=False),
                self.curve: gr.Plot(charts.learning_curve_figure(None)), self.curve_note: "",
                self.unsure: gr.Plot(charts.unsure_figure(None)), self.unsure_note: "",
                self.issues_note: "", self.issues: gr.Dataframe(value=None, visible=False), **self.why.hidden(),
                self.cleaned: gr.DownloadButton(value=None, visible=False),
                self.mis_gallery: gr.Gallery(value=None, visible=False),
                self.mis_table: gr.Dataframe(value=None, visible=False), self.mis_none: "",
                self.mis_audio: gr.Audio(value=None, visible=False)}

    def render(self, owner: str, run_id: str | None) -> dict:
        if not run_id:
            return self._empty("Pick a finished run (train one in step 3 first).")
        run = self.shared.ctx.model_run(run_id, owner)
        val, test = run.files.report(), run.files.read(run.files.TEST_REPORT)
        report = test or val
        if not report:
            return self._empty("This run has no evaluation report (it may have stopped before evaluating).")
        from ftapp.evaluate import most_confused   # the engine's (imports torch: not at app start)

        labels, matrix = report.get("labels") or [], report.get("confusion_matrix")
        pairs = pd.DataFrame(most_confused(labels, matrix), columns=["true", "predicted", "count"])
        out = {**self._empty(headline(val, test, run)), self.per_class: per_class_table(report),
               self.pairs: gr.Dataframe(value=pairs, visible=len(pairs) > 0 and len(labels) > 8)}
        if is_number(report):   # a number per example: predicted against actual instead of a matrix
            out[self.confusion] = gr.Plot(charts.scatter_figure(report.get("scatter")), visible=True)
        elif matrix and len(labels) <= MAX_MATRIX_CLASSES:   # several labels per example: no one-answer matrix
            out[self.confusion] = gr.Plot(charts.confusion_figure(labels, matrix), visible=True)
        else:   # a matrix of hundreds of rows is unreadable: the pairs and the sortable table say more
            out[self.confusion] = gr.Plot(visible=False)
        out.update(self._issues(run, is_number(report)))
        curve = run.files.read(run.files.LEARNING_CURVE)
        if curve:
            out[self.curve] = gr.Plot(charts.learning_curve_figure(curve))
            head = curve.get("head", "frozen features + logistic regression")
            out[self.curve_note] = (md_escape(curve["advice"]) + f"\n\n*The curve is the first model ({head}) trained "
                                    "on a quarter, half, three quarters and all of the training data, scored on the "
                                    "same validation examples.*")
        else:
            out[self.curve_note] = "The learning curve is drawn when the run ends."
        if is_number(report):
            spread = report.get("residual_interval") or [0, 0]
            out[self.unsure] = gr.Plot(visible=False)
            out[self.unsure_note] = (f"On these examples 90 % of the true values lay between {spread[0]:+.4g} and "
                                     f"{spread[1]:+.4g} of the prediction (Try it gives that range with each number).")
        elif is_several(report):
            out[self.unsure] = gr.Plot(visible=False)
            out[self.unsure_note] = ("Each label has its own decision threshold (in the table above), chosen on "
                                     "validation where that label's F1 is best; \"not sure\" applies to one answer "
                                     "per example, so it is not used here.")
        else:
            out[self.unsure] = gr.Plot(charts.unsure_figure(report.get("unsure")))
            out[self.unsure_note] = unsure_note(report.get("unsure"), "held-out test" if test else "validation")
        wrong = report.get("misclassified") or report.get("largest_errors") or []
        if not wrong:
            out[self.mis_none] = "No mistakes on these examples."
        elif run.files.modality() == "image":
            items = [(str(run.dir / w["item"]), f"{answer(w['true'])} → {answer(w['predicted'])} "
                                                f"({100 * w['confidence']:.0f} %)")
                     for w in wrong[:60] if (run.dir / w["item"]).is_file()]
            out[self.mis_gallery] = gr.Gallery(value=items, visible=True)
        elif is_number(report):   # the largest errors first
            out[self.mis_table] = gr.Dataframe(value=pd.DataFrame(
                [{"text": w["item"], "true": f"{w['true']:.4g}", "predicted": f"{w['predicted']:.4g}",
                  "error": f"{w['error']:+.4g}"} for w in report.get("largest_errors", [])[:200]]), visible=True)
        elif is_several(report):   # which labels were missed or extra, the surest mistakes first
            out[self.mis_table] = gr.Dataframe(value=pd.DataFrame(
                [{"text": w["item"], "true": answer(w["true"]), "predicted": answer(w["predicted"]),
                  "missed": answer(w["missed"]), "extra": answer(w["extra"])} for w in wrong[:200]]), visible=True)
        else:   # texts, or the recordings' file names (click one to hear it)
            what = "recording" if run.files.modality() == "audio" else "text"
            out[self.mis_table] = gr.Dataframe(value=pd.DataFrame(
                [{what: w["item"].rsplit("/", 1)[-1] if what == "recording" else w["item"], "true": w["true"],
                  "predicted": w["predicted"],
                  "confidence": f"{100 * w['confidence']:.0f} %"} for w in wrong[:200]]), visible=True)
        return out

    def _issues(self, run, number: bool = False) -> dict:
        """label_issues.csv of the run (ftapp/quality.py), most likely first, and the cleaned data."""
        from ftapp.quality import read_csv

        rows = read_csv(run.dir / run.files.LABEL_ISSUES)
        if not (run.dir / run.files.LABEL_ISSUES).is_file():
            return {self.issues_note: "This run has no data check (it is older, or stopped before it)."}
        labels = sum(r["issue"] == "label" for r in rows)
        note = review.issues_note(rows, "Type a new label or tick drop (or **Accept all suggested labels**), then "
                                        "**Retrain with these fixes**; or download the data with the suggested "
                                        "labels. This run and your file stay as they are.", number=number)
        table = review.issues_table(rows)
        cleaned = run.dir / run.files.CLEANED_DATA
        return {self.issues_note: note, self.issues: gr.Dataframe(value=table, visible=bool(rows)),
                self.cleaned: gr.DownloadButton(value=str(cleaned), visible=labels > 0 and cleaned.is_file())}

    def _mistakes(self, run) -> list[dict]:
        report = run.files.read(run.files.TEST_REPORT) or run.files.report() or {}
        wrong = report.get("misclassified") or []
        if run.files.modality() != "text":   # as the gallery shows them (and the recordings kept)
            wrong = [w for w in wrong[:60] if (run.dir / w["item"]).is_file()]
        return wrong

    @guarded()
    def on_mistake(self, browser_value, run_id, evt: gr.SelectData, request: gr.Request):
        owner = self.shared.who(browser_value, request)
        run = self.shared.ctx.model_run(run_id, owner)
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        wrong = self._mistakes(run)
        if row is None or row >= len(wrong):
            return gr.skip()
        w = wrong[row]
        item = str(run.dir / w["item"]) if run.files.modality() != "text" else w["item"]
        target = w["predicted"] if isinstance(w["predicted"], str) else (w["extra"] or w["missed"])[0]
        out = self.why.show(explanation(self.shared.ctx, owner, run_id, item, target=target))
        if run.files.modality() == "audio":   # hear it too
            out[self.mis_audio] = gr.Audio(value=item, visible=True)
        return out

    @guarded()
    def on_accept(self, table):
        return gr.Dataframe(value=review.accept_suggestions(table))

    @guarded()
    def on_retrain(self, browser_value, run_id, table, request: gr.Request):
        owner = self.shared.who(browser_value, request)
        run = self.shared.ctx.retrain_with_fixes(owner, request.session_hash, run_id, review.row_edits_from(table))
        return (f"Started run **{run.id}** with {len(run.settings.get('row_edits') or {})} fixed row(s); "
                "watch it in **3 · Train**. The first run and your file are unchanged.")

    @guarded()
    def on_run(self, browser_value, run_id, request: gr.Request):
        out = {**self.render(self.shared.who(browser_value, request), run_id), **self.share.cleared()}
        if run_id:
            out[self.shared.picked] = run_id
        return out

    def wire(self, tab: gr.Tab) -> None:
        run_picker(self.shared, tab, self.run)
        self.run.change(self.on_run, inputs=[self.shared.owner, self.run], outputs=self.outputs + [self.shared.picked],
                        api_visibility="private")
        self.share.wire()
        for view in (self.mis_table, self.mis_gallery):
            view.select(self.on_mistake, inputs=[self.shared.owner, self.run], outputs=self.why.outputs + [self.mis_audio],
                        concurrency_limit=2, concurrency_id="explain", api_visibility="private")
        self.accept.click(self.on_accept, inputs=[self.issues], outputs=[self.issues], api_visibility="private")
        self.retrain.click(self.on_retrain, inputs=[self.shared.owner, self.run, self.issues],
                           outputs=[self.retrain_status], api_visibility="private")


def answer(labels) -> str:
    """A class, or several labels joined ("billing, bug"; "none" for no label)."""
    return labels if isinstance(labels, str) else ", ".join(labels) or "none"
