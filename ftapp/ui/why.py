"""Explanations as components (ftapp/explain.py does the work): the words that pushed a text's
prediction as highlighted text, or a picture's heatmap. Used by Try it and Evaluate."""
from __future__ import annotations

import gradio as gr

from ftapp.ui.core import AppContext


def explanation(ctx: AppContext, owner: str, run_id: str | None, item, target: str | None = None) -> dict:
    from ftapp.inference import explain_run

    run = ctx.model_run(run_id, owner)
    return explain_run(run.dir, item, target)


HEATMAP_LABEL = "Why: where the picture drove the prediction (red)"


class WhyView:
    """A HighlightedText for texts and an Image for pictures; `show(result)` fills the right one."""

    def __init__(self, prefix: str):
        self.words = gr.HighlightedText(label="Why: the words that pushed the prediction (red) or against it (blue)",
                                        visible=False, show_legend=False, combine_adjacent=False,
                                        elem_id=f"{prefix}-explanation")
        self.heatmap = gr.Image(label=HEATMAP_LABEL, visible=False,
                                interactive=False, height=280, elem_id=f"{prefix}-heatmap")

    @property
    def outputs(self) -> list:
        return [self.words, self.heatmap]

    def show(self, result: dict) -> dict:
        if "heatmap" in result:
            return {self.heatmap: gr.Image(value=result["heatmap"], visible=True,
                                           label=result.get("caption") or HEATMAP_LABEL),
                    self.words: gr.HighlightedText(visible=False)}
        top = max((abs(w) for _, w in result["words"]), default=0) or 1.0
        value = [(word + " ", round(w / top, 3)) for word, w in result["words"]]
        label = (f"Why {result['number']:.4g}: the words that pushed the number up (red) or down (blue)"
                 if "number" in result else
                 f"Why '{result['label']}': the words that pushed the prediction (red) or against it (blue)")
        return {self.words: gr.HighlightedText(value=value, visible=True, label=label),
                self.heatmap: gr.Image(visible=False)}

    def hidden(self) -> dict:
        return {self.words: gr.HighlightedText(value=None, visible=False), self.heatmap: gr.Image(value=None, visible=False)}
