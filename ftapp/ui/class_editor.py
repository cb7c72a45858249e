"""Step 1's class editor: rename, merge and drop classes, merge look-alike labels in one click,
drop small classes. Every edit is a recorded label mapping (ftapp.data.labels), kept with the
session's data and then the run; the user's file is never rewritten. The counts follow at once."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ftapp.data import labels
from ftapp.data.report import class_summary
from ftapp.train.config import TASKS
from ftapp.ui import charts
from ftapp.ui.common import Shared, guarded
from ftapp.ui.core import UserError
from ftapp.ui.texts import data_report_markdown, md_escape

COLUMNS = ["class", "examples", "an example", "rename to", "drop"]
HELP = ("Type a new name in **rename to** (the same new name for several classes merges them) or tick "
        "**drop**, then press **Apply**. Your file is not changed: the edits travel with the run and apply "
        "to validation, test and evaluation data the same way.")


class ClassEditor:
    def __init__(self, shared: Shared, status: gr.Markdown, classes_plot: gr.Plot):
        self.shared = shared
        # the Data tab's report and chart: redone on the edited classes at each edit
        self.status, self.classes_plot = status, classes_plot
        with gr.Accordion("Classes: rename, merge, drop", open=True, visible=False,
                          elem_id="data-class-editor") as self.box:
            self.summary = gr.Markdown("", elem_id="data-class-summary")
            with gr.Row():
                self.similar = gr.Button("Merge look-alike labels", visible=False, size="sm",
                                         elem_id="data-merge-similar", scale=0, min_width=220)
                self.min_examples = gr.Number(value=5, precision=0, minimum=1, label="Drop classes with fewer than",
                                              elem_id="data-min-examples", scale=0, min_width=180)
                self.drop_small = gr.Button("Drop small classes", size="sm", elem_id="data-drop-small", scale=0,
                                            min_width=160)
                self.reset = gr.Button("Undo all edits", size="sm", elem_id="data-reset-edits", scale=0,
                                       min_width=140)
            self.table = gr.Dataframe(headers=COLUMNS, datatype=["str", "number", "str", "str", "bool"],
                                      interactive=True, static_columns=[0, 1, 2], wrap=True, max_height=360,
                                      show_search="filter", elem_id="data-class-table", label="Classes")
            with gr.Row():
                self.apply = gr.Button("Apply renames and drops", variant="primary", size="sm",
                                       elem_id="data-apply-edits", scale=0, min_width=220)
                gr.Markdown(HELP, elem_classes=["help"])

    @property
    def outputs(self) -> list:
        return [self.box, self.summary, self.similar, self.table, self.status, self.classes_plot]

    def render(self, data: dict | None) -> dict:
        if not data or not data.get("ok") or data.get("task") in (TASKS.multi, TASKS.regression):   # one class each
            return {self.box: gr.Accordion(visible=False)}
        counts, label_map = data["class_counts"], data.get("label_map") or {}
        examples = data.get("class_examples") or {}
        shown: dict[str, str] = {}
        for raw, example in examples.items():          # an example of each class, through the edits
            new = label_map.get(raw, raw)
            if new is not None:
                shown.setdefault(new, example)
        rows = [[c, n, shown.get(c, ""), "", False] for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        merges = labels.similar_merges(counts)
        edits = ""
        if label_map:
            dropped = sum(1 for v in label_map.values() if v is None)
            edits = (f" · **edited:** {len(label_map) - dropped} label(s) renamed or merged, {dropped} class(es) "
                     f"dropped — {sum(counts.values())} of {sum(data['raw_counts'].values())} examples kept")
        example = next(iter(merges.items()), None)
        return {self.box: gr.Accordion(visible=True),
                self.summary: class_summary(counts).capitalize() + edits,
                self.similar: gr.Button(value=f"Merge {len(merges)} look-alike label(s), e.g. "
                                              f"'{example[0]}' → '{example[1]}'" if example else "",
                                        visible=bool(merges)),
                self.table: pd.DataFrame(rows, columns=COLUMNS),
                self.status: data_report_markdown(data.get("edited_report") or data["report"], data["name"]),
                self.classes_plot: charts.class_counts_figure(counts)}

    # ---- handlers ------------------------------------------------------------------------------
    def _edit(self, request: gr.Request, edits: dict | None) -> dict:
        return self.render(self.shared.ctx.edit_classes(request.session_hash, edits))

    def failed(self, msg: str) -> dict:
        return {self.summary: f"**Not applied:** {md_escape(msg)}"}

    def on_apply(self, table, request: gr.Request):
        def edits_from(table) -> dict:
            df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table, columns=COLUMNS)
            out = {}
            for _, row in df.iterrows():
                name, new, drop = str(row["class"]), str(row["rename to"] or "").strip(), row["drop"]
                if drop is True or str(drop).lower() == "true":
                    out[name] = None
                elif new and new != name:
                    out[name] = new
            if not out:
                raise UserError("Nothing to apply: type a new name in 'rename to' or tick 'drop' first.")
            return out
        return guarded(on_error=self.failed)(lambda r: self._edit(r, edits_from(table)))(request)

    def on_similar(self, request: gr.Request):
        def go(r):
            data = self.shared.ctx.session_data(r.session_hash) or {}
            return self._edit(r, labels.similar_merges(data.get("class_counts") or {}))
        return guarded(on_error=self.failed)(go)(request)

    def on_drop_small(self, n, request: gr.Request):
        def go(r):
            data = self.shared.ctx.session_data(r.session_hash) or {}
            small = {c: None for c, k in (data.get("class_counts") or {}).items() if k < int(n or 0)}
            if not small:
                raise UserError(f"No class has fewer than {int(n or 0)} examples.")
            return self._edit(r, small)
        return guarded(on_error=self.failed)(go)(request)

    def on_reset(self, request: gr.Request):
        return guarded(on_error=self.failed)(lambda r: self._edit(r, None))(request)

    def wire(self) -> list:
        common = dict(outputs=self.outputs, api_visibility="private", show_progress_on=[self.summary])
        return [self.apply.click(self.on_apply, inputs=[self.table], **common),
                self.similar.click(self.on_similar, inputs=None, **common),
                self.drop_small.click(self.on_drop_small, inputs=[self.min_examples], **common),
                self.reset.click(self.on_reset, inputs=None, **common)]
