"""Step 1 — Data: upload or pick an example, see the data report."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pandas as pd

from ftapp.ui import charts
from ftapp.ui.common import guarded
from ftapp.ui.core import DATA_SUFFIXES, AppContext
from ftapp.ui.texts import data_report_markdown, md_escape, skipped_markdown

NONE = "— none —"
HELP = """\
**What to upload**

- **Pictures:** a `.zip` with one folder per class, e.g. `normal/…`, `fracture/…`
- **Texts:** a table (`.csv`, `.tsv`, `.xlsx`, `.jsonl`) with a text column and a label column
- At least 5 examples per class; 20 or more works better.
"""


def build(ctx: AppContext) -> SimpleNamespace:
    ui = SimpleNamespace()
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            ui.upload = gr.File(label="Your labelled data", file_types=list(DATA_SUFFIXES), file_count="single",
                                elem_id="data-upload", height=150)
            gr.Markdown(HELP, elem_classes=["help"])
            gr.Markdown("**No data at hand?** Try a bundled example:")
            with gr.Row():
                ui.example_text = gr.Button("Support tickets (text)", size="sm", elem_id="data-example-text")
                ui.example_image = gr.Button("Shapes (pictures)", size="sm", elem_id="data-example-image")
        with gr.Column(scale=3, min_width=360):
            ui.status = gr.Markdown("Upload your data or pick an example to see what ftapp found in it.",
                                    elem_id="data-status", elem_classes=["status-box"])
            ui.classes_plot = gr.Plot(charts.class_counts_figure(None), show_label=False, elem_id="data-classes")
    with gr.Row(visible=False) as ui.columns_row:
        ui.text_col = gr.Dropdown(label="Text column", choices=[], elem_id="data-text-column",
                                  info="The column holding the text the model should read.")
        ui.label_col = gr.Dropdown(label="Label column", choices=[], elem_id="data-label-column",
                                   info="The column holding the right answer (the class) for each row.")
        ui.path_col = gr.Dropdown(label="Picture-file column", choices=[], elem_id="data-path-column",
                                  info="Only for tables that list picture files instead of texts.")
        ui.apply_cols = gr.Button("Use these columns", elem_id="data-apply-columns", scale=0, min_width=160)
    ui.preview_gallery = gr.Gallery(label="A few pictures per class", visible=False, columns=8, height=260,
                                    object_fit="contain", elem_id="data-preview-images", allow_preview=True)
    ui.preview_table = gr.Dataframe(label="A few rows per class", visible=False, wrap=True, interactive=False,
                                    elem_id="data-preview-table", max_height=320)
    with gr.Accordion("Skipped files and rows", open=False, visible=False, elem_id="data-skipped") as ui.skipped_acc:
        ui.skipped = gr.Markdown()
    return ui


def outputs(ui) -> list:
    return [ui.status, ui.classes_plot, ui.columns_row, ui.text_col, ui.label_col, ui.path_col,
            ui.preview_gallery, ui.preview_table, ui.skipped_acc, ui.skipped]


N_OUTPUTS = 10


def render(data: dict, ds, report: dict) -> tuple:
    """Turn a load result into the Data tab's outputs."""
    status = data_report_markdown(report, data["name"])
    columns = data.get("columns") or []
    is_table = bool(columns)
    col_choices = [(c, c) for c in columns]
    text_col = gr.Dropdown(choices=col_choices, value=data.get("text_column"), visible=is_table)
    label_col = gr.Dropdown(choices=col_choices, value=data.get("label_column"), visible=is_table)
    path_col = gr.Dropdown(choices=[(NONE, NONE)] + col_choices, value=data.get("path_column") or NONE,
                           visible=is_table)
    gallery = gr.Gallery(value=None, visible=False)
    table = gr.Dataframe(value=None, visible=False)
    if ds is not None and ds.modality == "image":
        gallery = gr.Gallery(value=_image_preview(ds), visible=True)
    elif ds is not None:
        table = gr.Dataframe(value=_text_preview(ds), visible=True)
    skipped_text, n_skipped = skipped_markdown(report)
    acc = gr.Accordion(label=f"Skipped files and rows ({n_skipped})", visible=n_skipped > 0)
    return (status, charts.class_counts_figure(data.get("class_counts")), gr.Row(visible=is_table),
            text_col, label_col, path_col, gallery, table, acc, skipped_text)


def _image_preview(ds, per_class: int = 4) -> list:
    seen: dict[str, int] = {}
    out = []
    for path, label in zip(ds.items, ds.labels):
        if seen.get(label, 0) < per_class:
            seen[label] = seen.get(label, 0) + 1
            out.append((path, label))
    return sorted(out, key=lambda pl: pl[1])


def _text_preview(ds, per_class: int = 3, max_chars: int = 240) -> pd.DataFrame:
    seen: dict[str, int] = {}
    rows = []
    for text, label in zip(ds.items, ds.labels):
        if seen.get(label, 0) < per_class:
            seen[label] = seen.get(label, 0) + 1
            rows.append((label, text if len(text) <= max_chars else text[:max_chars] + "…"))
    rows.sort(key=lambda r: r[0])
    return pd.DataFrame(rows, columns=["class", "text"])


def failed(msg: str) -> tuple:
    return (f"**Could not load the data:** {md_escape(msg)}",) + tuple(gr.skip() for _ in range(N_OUTPUTS - 1))


def wire(ctx: AppContext, ui) -> dict:
    """Returns the events that change the data, so the app can chain the model/settings update."""

    @guarded(N_OUTPUTS, on_error=failed)
    def on_upload(file, request: gr.Request):
        if not file:
            return tuple(gr.skip() for _ in range(N_OUTPUTS))
        data, ds, report = ctx.load_data(request.session_hash, source=file)
        return render(data, ds, report)

    @guarded(N_OUTPUTS, on_error=failed)
    def on_example(name: str, request: gr.Request):
        data, ds, report = ctx.load_data(request.session_hash, example=name)
        return render(data, ds, report)

    @guarded(N_OUTPUTS, on_error=failed)
    def on_columns(text_col, label_col, path_col, request: gr.Request):
        current = ctx.session_data(request.session_hash)
        path_col = None if path_col in (None, "", NONE) else path_col
        data, ds, report = ctx.load_data(request.session_hash, keep=current, text_column=text_col,
                                         label_column=label_col, path_column=path_col)
        return render(data, ds, report)

    def example_text(request: gr.Request):
        return on_example("support_tickets", request)

    def example_image(request: gr.Request):
        return on_example("shapes", request)

    outs = outputs(ui)
    common = dict(outputs=outs, api_visibility="private", show_progress_on=[ui.status])
    return {
        "upload": ui.upload.upload(on_upload, inputs=[ui.upload], **common),
        "example_text": ui.example_text.click(example_text, inputs=None, **common),
        "example_image": ui.example_image.click(example_image, inputs=None, **common),
        "columns": ui.apply_cols.click(on_columns, inputs=[ui.text_col, ui.label_col, ui.path_col], **common),
    }
