"""Step 1 — Data: upload or pick an example, see the data report."""
from __future__ import annotations

import os

import gradio as gr
import pandas as pd

from ftapp.ui import charts, review
from ftapp.ui.class_editor import ClassEditor
from ftapp.ui.common import Shared, guarded
from ftapp.data.hub import hub_source
from ftapp.data import UPLOAD_SUFFIXES
from ftapp.train.config import TASKS
from ftapp.ui.core import UserError
from ftapp.ui.data_ops import run_task
from ftapp.ui.texts import data_report_markdown, md_escape, skipped_markdown

NONE = "— none —"
TASK_CHOICES = [("One class", TASKS.single), ("Several labels (e.g. 'billing;bug')", TASKS.multi),
                ("A number (e.g. a score or a measurement)", TASKS.regression)]
HELP = """\
**What to upload**

- **Pictures:** a `.zip` with one folder per class, e.g. `normal/…`, `fracture/…`
- **Texts:** a table (`.csv`, `.tsv`, `.xlsx`, `.jsonl`, `.parquet`) with a text column and a label column
- **Recordings:** a `.zip` with one folder per class of `.wav`, `.flac`, `.ogg` or `.mp3` files, e.g. `normal/…`, `bearing_fault/…`
  (the model hears the first 5 seconds of each)
- At least 5 examples per class; 20 or more works better.
"""


class DataTab:
    def __init__(self, shared: Shared):
        self.shared = shared
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                self.upload = gr.File(label="Your labelled data", file_types=list(UPLOAD_SUFFIXES), file_count="single",
                                      elem_id="data-upload", height=150)
                gr.Markdown(HELP, elem_classes=["help"])
                gr.Markdown("**No data at hand?** Try a bundled example:")
                with gr.Row():
                    self.example_text = gr.Button("Support tickets (text)", size="sm", elem_id="data-example-text")
                    self.example_image = gr.Button("Shapes (pictures)", size="sm", elem_id="data-example-image")
                    self.example_audio = gr.Button("Drum sounds (recordings)", size="sm", elem_id="data-example-audio")
                with gr.Accordion("…or a dataset on the Hugging Face Hub", open=False, elem_id="data-hub"):
                    self.hub_id = gr.Textbox(label="Dataset", placeholder="owner/name, as on huggingface.co/datasets",
                                             elem_id="data-hub-id")
                    with gr.Row():
                        self.hub_config = gr.Textbox(label="Config (if it has several)", elem_id="data-hub-config")
                        self.hub_split = gr.Textbox(label="Split", placeholder="train", elem_id="data-hub-split")
                    self.hub_load = gr.Button("Load from the Hub", size="sm", elem_id="data-hub-load")
            with gr.Column(scale=3, min_width=360):
                self.status = gr.Markdown("Upload your data or pick an example to see what ftapp found in it.",
                                          elem_id="data-status", elem_classes=["status-box"])
                self.task = gr.Radio(TASK_CHOICES, label="Each example has", elem_id="data-task", visible=False,
                                     info="Read off the label column: labels such as 'billing;bug' mean several per "
                                          "example, measurements a number. Change it if ftapp read it wrong.")
                self.classes_plot = gr.Plot(charts.class_counts_figure(None), show_label=False, elem_id="data-classes")
        with gr.Row(visible=False) as self.columns_row:
            self.text_col = gr.Dropdown(label="Text column", choices=[], elem_id="data-text-column",
                                        info="The column holding the text the model should read.")
            self.label_col = gr.Dropdown(label="Label column", choices=[], elem_id="data-label-column",
                                         info="The column holding the right answer (the class) for each row.")
            self.path_col = gr.Dropdown(label="File column", choices=[], elem_id="data-path-column",
                                        info="Only for tables that list picture or recording files instead of texts.")
            self.apply_cols = gr.Button("Use these columns", elem_id="data-apply-columns", scale=0, min_width=160)
        self.editor = ClassEditor(shared, self.status, self.classes_plot)
        with gr.Accordion("Check my data: likely label errors, near-duplicates, outliers", open=False,
                          elem_id="data-check-box"):
            gr.Markdown("The bundled model reads every example once and a small classifier, trained on the "
                        "other examples, says which labels look wrong (takes seconds to a minute).",
                        elem_classes=["help"])
            with gr.Row():
                self.check = gr.Button("Check my data", size="sm", elem_id="data-check", scale=0, min_width=160)
                self.apply_fixes = gr.Button("Use these fixes in the next run", size="sm", elem_id="data-apply-fixes",
                                             scale=0, min_width=240)
            self.check_note = gr.Markdown("", elem_id="data-check-note")
            self.check_table = gr.Dataframe(headers=review.ISSUE_COLUMNS, interactive=True, static_columns=review.STATIC,
                                            wrap=True, visible=False, max_height=360, show_search="filter",
                                            elem_id="data-check-table")
        self.preview_gallery = gr.Gallery(label="A few pictures per class", visible=False, columns=8, height=260,
                                          object_fit="contain", elem_id="data-preview-images", allow_preview=True)
        self.preview_table = gr.Dataframe(label="A few rows per class", visible=False, wrap=True, interactive=False,
                                          elem_id="data-preview-table", max_height=320)
        with gr.Accordion("Skipped files and rows", open=False, visible=False,
                          elem_id="data-skipped") as self.skipped_acc:
            self.skipped = gr.Markdown()
        self.events: list = []   # the events that change the data; other tabs follow them

    @property
    def outputs(self) -> list:
        return [self.status, self.task, self.classes_plot, self.columns_row, self.text_col, self.label_col, self.path_col,
                self.preview_gallery, self.preview_table, self.skipped_acc, self.skipped,
                *[c for c in self.editor.outputs if c not in (self.status, self.classes_plot)]]

    def render(self, data: dict, ds, report: dict) -> dict:
        """A load result → the tab's updates."""
        columns = data.get("columns") or []
        is_table = bool(columns)
        col_choices = [(c, c) for c in columns]
        skipped_text, n_skipped = skipped_markdown(report)
        out = {self.status: data_report_markdown(report, data["name"]),
               self.classes_plot: (charts.number_histogram_figure(report.get("details", {}).get("task_detail"))
                                   if run_task(data) == TASKS.regression else charts.class_counts_figure(
                                       data.get("class_counts"), "label" if run_task(data) == TASKS.multi else "class")),
               self.columns_row: gr.Row(visible=is_table),
               self.task: gr.Radio(value=run_task(data), visible=is_table and ds is not None),
               self.text_col: gr.Dropdown(choices=col_choices, value=data.get("text_column"), visible=is_table),
               self.label_col: gr.Dropdown(choices=col_choices, value=data.get("label_column"), visible=is_table),
               self.path_col: gr.Dropdown(choices=[(NONE, NONE)] + col_choices, value=data.get("path_column") or NONE,
                                          visible=is_table),
               self.preview_gallery: gr.Gallery(value=None, visible=False),
               self.preview_table: gr.Dataframe(value=None, visible=False),
               self.skipped_acc: gr.Accordion(label=f"Skipped files and rows ({n_skipped})", visible=n_skipped > 0),
               self.skipped: skipped_text}
        if ds is not None and ds.modality == "image":
            out[self.preview_gallery] = gr.Gallery(value=_a_few_per_class(ds), visible=True)
        elif ds is not None and ds.modality == "audio":
            out[self.preview_gallery] = gr.Gallery(value=_spectrograms(ds), visible=True)
            out[self.preview_table] = gr.Dataframe(value=_audio_preview(ds), visible=True,
                                                   label="A few recordings per class")
        elif ds is not None:
            out[self.preview_table] = gr.Dataframe(value=_text_preview(ds), visible=True,
                                                   label="A few rows per combination of labels" if ds.separator
                                                   else "A few rows" if ds.numeric else "A few rows per class")
        out.update(self.editor.render(data))
        return out

    def failed(self, msg: str) -> dict:
        return {self.status: f"**Could not load the data:** {md_escape(msg)}"}

    # ---- handlers ------------------------------------------------------------------------------
    def on_upload(self, file, request: gr.Request):
        if not file:
            return gr.skip()
        return guarded(on_error=self.failed)(self._load)(request, source=file)

    def on_example_text(self, request: gr.Request):
        return guarded(on_error=self.failed)(self._load)(request, example="support_tickets")

    def on_example_image(self, request: gr.Request):
        return guarded(on_error=self.failed)(self._load)(request, example="shapes")

    def on_example_audio(self, request: gr.Request):
        return guarded(on_error=self.failed)(self._load)(request, example="drums")

    def on_hub(self, dataset_id, config, split, request: gr.Request):
        def load(request):
            if not (dataset_id or "").strip():
                raise UserError("Type a dataset name like 'owner/name' first.")
            return self._load(request, hub=hub_source(dataset_id, config, split))
        return guarded(on_error=self.failed)(load)(request)

    def on_check(self, request: gr.Request):
        def check(request):
            rows = self.shared.ctx.check_data(request.session_hash)
            number = run_task(self.shared.ctx.session_data(request.session_hash)) == TASKS.regression
            note = review.issues_note(rows, "Type a new label or tick drop, then **Use these fixes in the next run** "
                                            "(your file is not changed).", number=number)
            return {self.check_note: note,
                    self.check_table: gr.Dataframe(value=review.issues_table(rows), visible=bool(rows))}
        return guarded(on_error=lambda m: {self.check_note: f"**Check failed:** {md_escape(m)}"})(check)(request)

    def on_apply_fixes(self, table, request: gr.Request):
        def apply(request):
            data = self.shared.ctx.session_data(request.session_hash)
            if not data:
                raise UserError("Load your data first.")
            data["row_edits"] = review.row_edits_from(table)
            n = len(data["row_edits"])
            return {self.check_note: f"{n} row fix(es) will be used by the next run (step 3)." if n else
                    "No fixes: type a new label or tick drop first."}
        return guarded(on_error=lambda m: {self.check_note: md_escape(m)})(apply)(request)

    def on_columns(self, text_col, label_col, path_col, request: gr.Request):
        keep = self.shared.ctx.session_data(request.session_hash)
        path_col = None if path_col in (None, "", NONE) else path_col
        return guarded(on_error=self.failed)(self._load)(request, keep=keep, text_column=text_col,
                                                          label_column=label_col, path_column=path_col)

    def on_task(self, task, request: gr.Request):
        keep = self.shared.ctx.session_data(request.session_hash)
        if not keep or task == run_task(keep):
            return gr.skip()
        return guarded(on_error=self.failed)(self._load)(request, keep=keep, task=task,
                                                          text_column=keep.get("text_column"),
                                                          label_column=keep.get("label_column"),
                                                          path_column=keep.get("path_column"))

    def _load(self, request: gr.Request, **kw) -> dict:
        return self.render(*self.shared.ctx.load_data(request.session_hash, **kw))

    def wire(self) -> None:
        common = dict(outputs=self.outputs, api_visibility="private", show_progress_on=[self.status])
        self.events = [
            self.upload.upload(self.on_upload, inputs=[self.upload], **common),
            self.example_text.click(self.on_example_text, inputs=None, **common),
            self.example_image.click(self.on_example_image, inputs=None, **common),
            self.example_audio.click(self.on_example_audio, inputs=None, **common),
            self.hub_load.click(self.on_hub, inputs=[self.hub_id, self.hub_config, self.hub_split], **common),
            self.apply_cols.click(self.on_columns, inputs=[self.text_col, self.label_col, self.path_col], **common),
            self.task.input(self.on_task, inputs=[self.task], **common),
            *self.editor.wire(),
        ]
        private = dict(api_visibility="private")
        self.check.click(self.on_check, inputs=None, outputs=[self.check_note, self.check_table],
                         concurrency_limit=1, show_progress_on=[self.check_note], **private)
        self.apply_fixes.click(self.on_apply_fixes, inputs=[self.check_table], outputs=[self.check_note], **private)


def _a_few_per_class(ds, per_class: int = 4) -> list:
    seen: dict[str, int] = {}
    out = []
    for path, label in zip(ds.items, ds.labels):
        if seen.get(label, 0) < per_class:
            seen[label] = seen.get(label, 0) + 1
            out.append((path, label))
    return sorted(out, key=lambda pl: pl[1])


def _spectrograms(ds, per_class: int = 2) -> list:
    """Pictures of a few recordings per class (time to the right, low pitches at the bottom)."""
    import tempfile

    from ftapp.data.audio import spectrogram_picture

    folder = tempfile.mkdtemp(prefix="ftapp-spectrograms-")
    return [(spectrogram_picture(path, os.path.join(folder, f"{i}.png")), f"{label} — {os.path.basename(path)}")
            for i, (path, label) in enumerate(_a_few_per_class(ds, per_class))]


def _audio_preview(ds, per_class: int = 3) -> pd.DataFrame:
    """A few recordings per class: file name, length, sample rate, channels, silent or clipped."""
    from ftapp.data.audio import inspect

    rows = []
    for path, label in _a_few_per_class(ds, per_class):   # the first few of each class, as for pictures
        d = inspect(path)[1]
        notes = ", ".join(n for n, on in (("silent", d["silent"]), ("clipped", d["clipped"])) if on)
        rows.append((label, os.path.basename(path), f"{d['seconds']:.1f} s", f"{d['rate']:,} Hz",
                     "stereo" if d["channels"] == 2 else f"{d['channels']} channel(s)", notes))
    return pd.DataFrame(rows, columns=["class", "file", "length", "sample rate", "channels", "notes"])


def _text_preview(ds, per_class: int = 3, max_chars: int = 240, numbers: int = 12) -> pd.DataFrame:
    if ds.numeric:   # a number per example: rows from the lowest value to the highest, evenly spread
        order = sorted(range(len(ds)), key=lambda i: float(ds.labels[i]))
        picks = [order[round(k * (len(order) - 1) / max(numbers - 1, 1))] for k in range(min(numbers, len(order)))]
        return pd.DataFrame([(ds.labels[i], ds.items[i][:max_chars]) for i in dict.fromkeys(picks)],
                            columns=["number", "text"])
    seen: dict[str, int] = {}
    rows = []
    for text, label in zip(ds.items, ds.labels):
        if seen.get(label, 0) < per_class:
            seen[label] = seen.get(label, 0) + 1
            rows.append((label, text if len(text) <= max_chars else text[:max_chars] + "…"))
    rows.sort(key=lambda r: r[0])
    return pd.DataFrame(rows, columns=["class", "text"])
