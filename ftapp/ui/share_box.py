"""The Share control: a link to the clean demo page of one run (demo_page.py), from Export (with
"allow download" and "turn the link off") and, compact, from Evaluate and Try it."""
from __future__ import annotations

import gradio as gr

from ftapp.ui.common import Shared, guarded
from ftapp.ui.core import UserError
from ftapp.ui.demo_page import DEMO_PATH

HELP = ("A link to a clean demo page of this run: the model's classes, its results and a box to try it — "
        "nothing else of yours. Anyone with the link can use it until you turn it off (step 6).")
# the link is made absolute in the browser, which knows the address it reached the app at
ABSOLUTE_LINK = ("(link) => (link && link.startsWith('/')) ? "
                 "window.location.origin + window.location.pathname.replace(/\\/$/, '') + link : link")


class ShareBox:
    def __init__(self, shared: Shared, run: gr.Dropdown, prefix: str = "share", full: bool = True):
        """`run`: the tab's run picker. `full`: also "allow download" and "turn the link off"."""
        self.shared, self.run, self.full = shared, run, full
        if full:
            gr.Markdown(HELP, elem_classes=["help"])
            self.allow_download = gr.Checkbox(label="Let people with the link download the model", value=False,
                                              elem_id=f"{prefix}-allow-download")
        with gr.Row():
            self.button = gr.Button("Share" if full else "Share a demo link", variant="primary" if full else
                                    "secondary", size="md" if full else "sm", elem_id=f"{prefix}-create", scale=0,
                                    min_width=110 if full else 200)
            if full:
                self.revoke = gr.Button("Turn the link off", elem_id=f"{prefix}-revoke", scale=0, min_width=150)
        self.link = gr.Textbox(label="Demo link", interactive=False, elem_id=f"{prefix}-link", buttons=["copy"],
                               placeholder="Press Share to make a link", visible=full)
        self.status = gr.Markdown("", elem_id=f"{prefix}-status")

    def cleared(self) -> dict:
        """What a newly picked run shows: no link yet."""
        return {self.link: gr.Textbox(value="", visible=self.full), self.status: ""}

    @guarded()
    def on_share(self, browser_value, run_id, allow_download, request: gr.Request):
        run = self.shared.ctx.model_run(run_id, self.shared.who(browser_value, request))
        if allow_download is None:            # the compact box keeps what the owner chose in Export
            allow_download = bool((run.files.read(run.files.SHARE) or {}).get("allow_download"))
        share = run.share(allow_download=bool(allow_download))
        who = "can download the model" if share["allow_download"] else "can try it, not download it"
        return {self.link: gr.Textbox(value=f"/{DEMO_PATH}?token={share['token']}", visible=True),
                self.status: f"Anyone with this link {who}. **Turn the link off** (step 6) stops it at once."}

    def on_share_compact(self, browser_value, run_id, request: gr.Request):
        return self.on_share(browser_value, run_id, None, request)

    @guarded()
    def on_revoke(self, browser_value, run_id, request: gr.Request):
        run = self.shared.ctx.model_run(run_id, self.shared.who(browser_value, request))
        if not run.revoke_share():
            raise UserError("This run has no demo link that is on.")
        return {self.link: "", self.status: "The link is off: it now says so to anyone who opens it."}

    def wire(self) -> None:
        sh, private = self.shared, dict(api_visibility="private")
        allow = [self.allow_download] if self.full else []
        share = self.on_share if self.full else self.on_share_compact
        self.button.click(share, inputs=[sh.owner, self.run, *allow], outputs=[self.link, self.status], **private) \
            .then(None, inputs=[self.link], outputs=[self.link], js=ABSOLUTE_LINK, **private)
        if self.full:
            self.revoke.click(self.on_revoke, inputs=[sh.owner, self.run], outputs=[self.link, self.status],
                              **private)
