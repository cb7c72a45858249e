"""Step 5 — Try it: feed the trained model a new text, picture or recording."""
from __future__ import annotations

import gradio as gr

from ftapp.ui.common import Shared, guarded, model_threshold, run_picker
from ftapp.ui.share_box import ShareBox
from ftapp.ui.why import WhyView, explanation
from ftapp.ui.core import AppContext
from ftapp.tasks import is_number, is_several
from ftapp.ui.texts import answer_for, answer_line, md_escape, unsure_info


def predict(ctx: AppContext, owner: str, run_id: str | None, text: str | None, image, audio=None) -> dict:
    """Top-5 classes (several labels per example: every label) for a text, a picture or a recording
    from one of `owner`'s finished runs."""
    from ftapp.inference import predict_run

    run = ctx.model_run(run_id, owner)
    return predict_run(run.dir, item_for(run.files.modality(), text, image, audio), top_k=5)


def item_for(modality: str, text, image, audio):
    """What the model reads: the input box of the run's kind of data."""
    return {"image": image, "audio": audio}.get(modality, text)


class TryTab:
    def __init__(self, shared: Shared):
        self.shared = shared
        self.run = gr.Dropdown(label="Run", choices=[], value=None, elem_id="try-run",
                               info="The trained model to ask. Pick any finished run.")
        self.info = gr.Markdown("Pick a finished run.", elem_id="try-info")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320):
                self.text = gr.Textbox(label="Text to classify", lines=4, elem_id="try-text", visible=True,
                                       placeholder="Type or paste a text like the ones you trained on…")
                self.image = gr.Image(label="Picture to classify", sources=["upload", "webcam"], type="filepath",
                                      elem_id="try-image", visible=False, height=280)
                self.audio = gr.Audio(label="Recording to classify (upload, or record with the microphone)",
                                      sources=["upload", "microphone"], type="filepath", elem_id="try-audio",
                                      visible=False)
                self.submit = gr.Button("Classify", variant="primary", elem_id="try-submit")
            with gr.Column(scale=1, min_width=320):
                self.answer = gr.Markdown("", elem_id="try-answer")
                self.output = gr.Label(label="Prediction (most likely first)", num_top_classes=5, elem_id="try-output")
                self.unsure = gr.Slider(0, 1, value=0, step=0.01, label="Answer \"not sure\" below this confidence",
                                        elem_id="try-unsure", info="Pick a run to see how its threshold was chosen.")
                self.explain = gr.Button("Why?", size="sm", elem_id="try-explain", scale=0, min_width=120)
                self.why = WhyView("try")
                self.share = ShareBox(shared, self.run, "try-share", full=False)
        self.examples_heading = gr.Markdown("#### Examples from the validation data (click one)")
        self.text_examples = gr.Dataset(components=[self.text], samples=[], label="Example texts", visible=False,
                                        elem_id="try-examples", samples_per_page=8, type="index")
        self.image_examples = gr.Gallery(label="Example pictures", visible=False, columns=8, height=180,
                                         object_fit="contain", allow_preview=False, elem_id="try-examples-images")
        self.examples_state = gr.State([])

    @property
    def outputs(self) -> list:
        return [self.info, self.text, self.image, self.audio, self.output, self.answer, self.unsure, self.explain,
                self.examples_heading, self.text_examples,
                self.image_examples,
                self.examples_state, self.share.link, self.share.status, *self.why.outputs]

    def render(self, owner: str, run_id: str | None) -> dict:
        out = {self.info: "Pick a finished run (train one in step 3 first).", self.text: gr.Textbox(visible=True),
               self.image: gr.Image(visible=False, value=None), self.audio: gr.Audio(visible=False, value=None),
               self.output: None, self.answer: "",
               self.unsure: gr.Slider(value=0, info="Pick a run to see how its threshold was chosen."),
               self.explain: gr.Button(visible=True), self.examples_heading: gr.Markdown(visible=True),
               self.text_examples: gr.Dataset(samples=[], visible=False),
               self.image_examples: gr.Gallery(value=None, visible=False), self.examples_state: [],
               **self.why.hidden()}
        if not run_id:
            return out
        run = self.shared.ctx.model_run(run_id, owner)
        examples = (run.files.report() or {}).get("examples") or []
        meta = run.files.model_meta() or {}
        labels = meta.get("labels") or []
        threshold = model_threshold(run)
        several, number = is_several(meta), is_number(meta)
        out[self.unsure] = gr.Slider(value=threshold, info=unsure_info(run.files.report(), threshold),
                                     visible=not (several or number))   # several labels: each has its own threshold
        out[self.output] = gr.Label(value=None, num_top_classes=len(labels) if several else 5, visible=not number,
                                    label="Each label's probability (its own yes or no)" if several
                                    else "Prediction (most likely first)")
        out[self.info] = (f"Model from run {run.id} ({md_escape(run.settings.get('model', ''))}); "
                          + ("labels (several may apply; each has a threshold chosen on validation): " if several
                             else "classes: ")
                          + ", ".join(md_escape(x) for x in labels[:30]) + ("…" if len(labels) > 30 else "") + ".")
        if run.files.modality() == "image":
            items = [(str(run.dir / e["item"]), e["label"]) for e in examples if (run.dir / e["item"]).is_file()]
            out.update({self.text: gr.Textbox(visible=False), self.image: gr.Image(visible=True, value=None),
                        self.image_examples: gr.Gallery(value=items, visible=bool(items)),
                        self.examples_state: [p for p, _ in items]})
        elif run.files.modality() == "audio":   # no clickable examples for sounds yet
            out.update({self.text: gr.Textbox(visible=False), self.audio: gr.Audio(visible=True, value=None),
                        self.examples_heading: gr.Markdown(visible=False)})
        else:
            out.update({self.text_examples: gr.Dataset(samples=[[e["item"]] for e in examples],
                                                       visible=bool(examples)),
                        self.examples_state: [e["item"] for e in examples]})
        return out

    # ---- handlers ------------------------------------------------------------------------------
    @guarded()
    def on_run(self, browser_value, run_id, request: gr.Request):
        out = {**self.render(self.shared.who(browser_value, request), run_id), **self.share.cleared()}
        if run_id:
            out[self.shared.picked] = run_id
        return out

    @guarded()
    def on_predict(self, browser_value, run_id, text, image, audio, threshold, request: gr.Request):
        owner = self.shared.who(browser_value, request)
        probabilities = predict(self.shared.ctx, owner, run_id, text, image, audio)
        meta = self.shared.ctx.model_run(run_id, owner).files.model_meta() or {}
        return {self.output: probabilities, self.answer: answer_for(probabilities, threshold or 0.0, meta)}

    @guarded()
    def on_explain(self, browser_value, run_id, text, image, audio, request: gr.Request):
        owner = self.shared.who(browser_value, request)
        run = self.shared.ctx.model_run(run_id, owner)
        item = item_for(run.files.modality(), text, image, audio)
        return self.why.show(explanation(self.shared.ctx, owner, run_id, item))

    @guarded()
    def on_threshold(self, probabilities, threshold):
        """The answer under a new threshold, from the probabilities already shown (no model call)."""
        return answer_line(probabilities if isinstance(probabilities, dict) else None, threshold or 0.0)

    @guarded()
    def on_text_example(self, browser_value, run_id, threshold, index, examples, request: gr.Request):
        if index is None or not examples or index >= len(examples):
            return gr.skip()
        text = examples[index]
        return {self.text: text, **self.on_predict(browser_value, run_id, text, None, None, threshold, request)}

    @guarded()
    def on_image_example(self, browser_value, run_id, threshold, examples, evt: gr.SelectData, request: gr.Request):
        if evt.index is None or not examples or evt.index >= len(examples):
            return gr.skip()
        path = examples[evt.index]
        return {self.image: path, **self.on_predict(browser_value, run_id, None, path, None, threshold, request)}

    def wire(self, tab: gr.Tab) -> None:
        sh, private = self.shared, dict(api_visibility="private")
        run_picker(sh, tab, self.run)
        self.run.change(self.on_run, inputs=[sh.owner, self.run], outputs=self.outputs + [sh.picked], **private)
        answer = [self.output, self.answer]
        predict_args = dict(inputs=[sh.owner, self.run, self.text, self.image, self.audio, self.unsure], outputs=answer,
                            concurrency_limit=4, concurrency_id="predict", **private)
        self.submit.click(self.on_predict, **predict_args)
        self.text.submit(self.on_predict, **predict_args)
        self.unsure.change(self.on_threshold, inputs=[self.output, self.unsure], outputs=[self.answer], **private)
        self.text_examples.click(self.on_text_example,
                                 inputs=[sh.owner, self.run, self.unsure, self.text_examples, self.examples_state],
                                 outputs=[self.text, *answer], **private)
        self.image_examples.select(self.on_image_example, inputs=[sh.owner, self.run, self.unsure, self.examples_state],
                                   outputs=[self.image, *answer], **private)
        self.share.wire()
        self.explain.click(self.on_explain, inputs=[sh.owner, self.run, self.text, self.image, self.audio],
                           outputs=self.why.outputs, concurrency_limit=2, concurrency_id="explain", **private)
