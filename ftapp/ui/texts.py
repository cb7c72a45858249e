"""Plain-language text for the UI: status lines, readouts, labels. Pure functions, no Gradio."""
from __future__ import annotations

import html
import math
import re
import time

from ftapp.data.report import examples_noun
from ftapp.data.task import summary_lines as task_summary_lines
from ftapp.runs import TERMINAL, Candidate, Status
from ftapp.tasks import is_number, is_several, named_score
from ftapp.train.config import METHODS


def md_escape(text) -> str:
    """User-provided text (file names, labels, messages quoting them) shown in Markdown."""
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~])", r"\\\1", html.escape(str(text), quote=False))


def fmt_params(n: int | None) -> str:
    if n is None:
        return "?"
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return str(int(n))


def fmt_lr(lr: float) -> str:
    """1e-4 -> '1.0e-4' (no padded exponent)."""
    mant, exp = f"{lr:.1e}".split("e")
    return f"{mant}e{int(exp)}"


def lr_from_log(x: float) -> float:
    return float(f"{10 ** float(x):.1e}")


def log_from_lr(lr: float) -> float:
    return round(math.log10(lr), 2)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        m, s = divmod(seconds, 60)
        return f"{m} min {s:02d} s"
    h, rem = divmod(seconds, 3600)
    return f"{h} h {rem // 60:02d} min"


def fmt_time(ts: float | None) -> str:
    if not ts:
        return ""
    return time.strftime("%b %d %H:%M", time.localtime(ts))


def fmt_pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f} %"


def fmt_score(d: dict | None, prefix: str = "") -> str:
    """A dict's headline score as shown: accuracy and micro-F1 as shares, R² as the number it is."""
    name, value = named_score(d, prefix)
    return "" if value is None else f"{value:.3f}" if name == "R²" else fmt_pct(value)


def queue_text(position: int | None) -> str:
    if not position:
        return ""
    return "1 run ahead of yours" if position == 1 else f"{position} runs ahead of yours"


def current_epoch(snap: dict) -> int:
    steps = snap.get("steps") or []
    if not steps:
        return 0
    return max(1, math.ceil(float(steps[-1].get("epoch", 0)) - 1e-9))


def status_headline(snap: dict) -> str:
    status = snap.get("status", "")
    if status == Status.QUEUED:
        return "Waiting in the queue"
    if status == Status.RUNNING:
        phase = (snap.get("phase") or "working").strip()
        return phase[:1].upper() + phase[1:]
    return status.capitalize() or "Unknown"


def status_markdown(snap: dict | None, position: int | None = None, wait_minutes: int | None = None,
                    removal: float | None = None) -> str:
    """The train-status text: phase, progress, ETA, queue position and wait, device, outcome, and
    (hosted) when the run will be removed."""
    if not snap:
        return ("**No run yet.** Load data in step 1, check the settings in step 2, then press "
                "**Start training**.")
    status = snap.get("status", "")
    settings = snap.get("settings") or {}
    head = f"**{status_headline(snap)}**"
    parts = []
    if status == Status.QUEUED:
        q = queue_text(position)
        wait = f" (within about {wait_minutes} min)" if wait_minutes else ""
        parts.append(q + f"; it starts automatically{wait}." if q else "It starts in a moment.")
    elif status == Status.RUNNING:
        pct = int(100 * float(snap.get("progress") or 0))
        parts.append(f"{pct} % done")
        total = ((snap.get("info") or {}).get("plan") or {}).get("epochs") or settings.get("epochs")
        ep = current_epoch(snap)
        if ep and total and snap.get("steps"):
            parts.append(f"epoch {min(ep, total)} of at most {total}")
        eta = fmt_duration(snap.get("eta_seconds"))
        if eta:
            parts.append(f"about {eta} left")
        if settings.get("time_budget"):
            parts.append(f"time limit {float(settings['time_budget']):g} min")
    else:
        msg = snap.get("message") or ""
        if status == Status.FINISHED:
            parts.append("The run has finished. " + msg)
        elif msg:
            parts.append(msg)
    best = snap.get("best") or {}
    result = (snap.get("info") or {}).get("result") or {}
    if status in TERMINAL and result:
        parts.append(result_text(result))
    elif status in TERMINAL and named_score(best, "val_")[1] is not None:
        parts.append(f"Best validation {named_score(best, 'val_')[0]}: **{fmt_score(best, 'val_')}** "
                     f"(epoch {best.get('epoch')})")
    lines = [head + (" — " + " · ".join(p.strip() for p in parts if p.strip()) if parts else "")]
    details = []
    if snap.get("device"):
        details.append(f"Device: {snap['device']}")
    name = md_escape(snap.get("model") or "")
    data = md_escape(snap.get("data_name") or "")
    if name:
        details.append(f"Model: {name}")
    if data:
        details.append(f"Data: {data}")
    details.append(f"Run {snap.get('id', '')}")
    lines.append(" · ".join(details))
    first = (snap.get("info") or {}).get("first_model")
    if status == Status.RUNNING and first:
        lines.append(f"**{md_escape(first['message'])}** Try it in **5 · Try it**, see it in **4 · Evaluate** or "
                     "download it in **6 · Export** now; it is replaced only if fine-tuning beats it.")
    if status == Status.FINISHED:
        lines.append("Next: see how it does in **4 · Evaluate**, try it in **5 · Try it**, "
                     "download it in **6 · Export**.")
    if removal is not None and status in TERMINAL:
        lines.append(f"Kept on this server until **{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(removal))}**: "
                     "download it or push it to the Hub (step 6) before then.")
    elif status in (Status.FAILED, Status.INTERRUPTED) and snap.get("has_model"):
        lines.append("A model from before the problem was saved and can still be used.")
    notice = (snap.get("info") or {}).get("notice")
    if notice:
        lines.append(f"Note: {md_escape(notice)}")
    return "\n\n".join(lines)


def interval_text(ci) -> str:
    return f" (95 % interval {fmt_pct(ci[0])}–{fmt_pct(ci[1])})" if ci else ""


def result_text(r: dict) -> str:
    """The headline of a finished run: the held-out test score when there is one, else validation's
    (and what it is), then the baseline beside it."""
    name, val = named_score(r, "val_")
    key = {"micro-F1": "micro_f1", "R²": "r2"}.get(name, "accuracy")
    # R² is not a share of anything: shown as the number it is
    show = (lambda v: "—" if v is None else f"{v:.3f}") if key == "r2" else fmt_pct
    shown_interval = (lambda ci: f" (95 % interval {ci[0]:.3f}–{ci[1]:.3f})" if ci else "") if key == "r2" \
        else interval_text
    if r.get(f"test_{key}") is not None:
        head = (f"Test {name} **{show(r[f'test_{key}'])}**{shown_interval(r.get(f'test_{key}_interval'))} on "
                f"{r.get('n_test')} held-out examples nothing was chosen on (validation {show(val)})")
    else:
        kind = "cross-validated" if r.get("cross_validated") else "validation"
        head = (f"{name[0].upper() + name[1:]} **{show(val)}**{shown_interval(r.get(f'val_{key}_interval'))} on "
                f"{r.get('n_val')} examples ({kind}; somewhat optimistic when it also chose the settings)")
    base = r.get("baseline_name")
    if base:
        head += f" · baseline {md_escape(base)}: {fmt_score(r, 'baseline_val_')}"
    if r.get("baseline_note"):
        head += f". **{md_escape(r['baseline_note'])}**"
    return head


def cache_note(snap: dict | None) -> str:
    """Explains the frozen-prefix speed-up when the run uses it (the engine says so in the run's
    info before it computes the frozen blocks)."""
    if not snap:
        return ""
    info = snap.get("info") or {}
    k, n = info.get("frozen_layers"), info.get("n_blocks")
    if not info.get("used_cache") or k is None or n is None:
        return ""
    rest = (f"the last {n - k} block{'s' if n - k != 1 else ''} and the new head" if n > k
            else "the new head")
    return (f"**Speed-up in use:** the {k} frozen blocks (of {n}) were computed once for every example, "
            f"so epochs 2+ run only {rest}.")


def freezing_readout(opts: dict | None, k: int, method: str = METHODS.full) -> str:
    """'N of M blocks frozen — X of Y parameters train', plus the block names."""
    if not opts:
        return "Choose a model to see its blocks."
    n = int(opts["n_blocks"])
    k = max(0, min(int(k), n))
    total = opts.get("total_params")
    trainable = (opts.get("trainable_params") or [None] * (n + 1))
    t = trainable[k] if k < len(trainable) else None
    first = f"**{k} of {n} blocks frozen**"
    if t is not None and total:
        first += f" — {fmt_params(t)} of {fmt_params(total)} parameters train ({100 * t / total:.0f} %)"
    if method == METHODS.lora:
        first += ". With LoRA only small adapter matrices in the unfrozen blocks (and the new head) train"
    names = list(opts.get("block_names") or [])
    lines = [first + "."]
    if names:
        frozen = names[:k]
        free = names[k:]
        if frozen:
            lines.append("Frozen (kept as pre-trained): " + ", ".join(md_escape(x) for x in frozen))
        lines.append("Training: " + (", ".join(md_escape(x) for x in free) + " + " if free else "")
                     + "the new classification head")
    return "\n\n".join(lines)


def lr_readout(x: float) -> str:
    lr = lr_from_log(x)
    return f"Learning rate: **{fmt_lr(lr)}** (= {lr:.7f}".rstrip("0").rstrip(".") + ")"


def short_model(name: str | None) -> str:
    """Local folders by their last part; catalog names and Hub ids as they are."""
    name = (name or "").strip()
    if name.startswith(("/", ".", "~")) or "\\" in name:
        return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or name
    return name


def run_label(snap: dict) -> str:
    acc = fmt_score(snap.get("best"), "val_")
    bits = [fmt_time(snap.get("created")), short_model(snap.get("model")) or "?"]
    if snap.get("data_name"):
        bits.append(snap["data_name"])
    label = " · ".join(bits) + f" — {snap.get('status', '')}"
    if snap.get("id"):
        label = f"#{str(snap['id'])[-6:]} " + label
    if acc and snap.get("status") in TERMINAL:
        label += f" ({acc})"
    return label


RUNS_HEADERS = ["Started", "Model", "Data", "Status", "Best val. score (accuracy, micro-F1 or R²)", "Run id"]


def runs_rows(snaps: list[dict]) -> list[list]:
    rows = []
    for s in snaps:
        acc = fmt_score(s.get("best"), "val_")
        status = s.get("status", "")
        rows.append([fmt_time(s.get("created")), short_model(s.get("model")), s.get("data_name") or "", status,
                     acc, s.get("id", "")])
    return rows


def data_report_markdown(report: dict, name: str) -> str:
    """Summary of a DataReport.to_dict() for the Data tab."""
    counts = report.get("class_counts") or {}
    modality = report.get("modality")
    name = md_escape(name)
    lines = []
    details = report.get("details") or {}
    kind = examples_noun(modality)
    if report.get("ok") and is_number(details) and details.get("task_detail"):
        d = details["task_detail"]
        lines.append(f"**Ready to train** — {name}: {d['rows']} {kind}, each with a number from {d['min']:g} to "
                     f"{d['max']:g} to predict. Next: **2 · Model & settings**.")
    elif report.get("ok") and is_several(details):   # the counts are per label: a row counts once per label
        lines.append(f"**Ready to train** — {name}: {details['task_detail']['rows']} {kind} with {len(counts)} labels "
                     f"(several per example). Next: **2 · Model & settings**.")
    elif report.get("ok"):
        lines.append(f"**Ready to train** — {name}: {sum(counts.values())} {kind} in {len(counts)} classes. "
                     f"Next: **2 · Model & settings**.")
    else:
        fix = ("pick the right columns below and press **Use these columns**, or fix the file and upload it again"
               if report.get("columns") else "fix the errors below and upload it again")
        lines.append(f"**Cannot train on {name} yet** — {fix}.")
    cols = []
    if report.get("text_column"):
        cols.append(f"text from column **{md_escape(report['text_column'])}**")
    if report.get("path_column"):
        cols.append(f"{'recordings' if modality == 'audio' else 'pictures'} from column "
                    f"**{md_escape(report['path_column'])}**")
    if report.get("label_column"):
        cols.append(f"{'numbers' if is_number(details) else 'labels' if is_several(details) else 'classes'} from column "
                    f"**{md_escape(report['label_column'])}**")
    if details.get("flag_columns"):
        cols.append("labels from the 0/1 columns " + ", ".join(f"**{md_escape(c)}**" for c in details["flag_columns"]))
    if cols:
        lines.append("Using " + ", ".join(cols) + ".")
    detail = details.get("task_detail")
    if detail:   # several labels per row, or numbers: what the column holds, in that task's words
        first, *rest = task_summary_lines(detail)
        lines.append(md_escape(first) + "".join(f"\n- {md_escape(line.strip())}" for line in rest))
    if details.get("audio"):   # recordings: rates, lengths per class, what the model will hear
        from ftapp.data.audio import summary_lines as audio_lines

        first, *rest = audio_lines(details["audio"])
        lines.append(md_escape(first) + "".join(f"\n- {md_escape(line.strip())}" for line in rest))
    dropped = report.get("dropped") or {}
    if dropped:
        lines.append("Left out: " + ", ".join(f"{n} ({md_escape(why)})" for why, n in dropped.items()) + ".")
    errors = [p for p in report.get("problems", []) if p.get("level") == "error"]
    warnings = [p for p in report.get("problems", []) if p.get("level") == "warning"]
    if errors:
        lines.append("**Errors (training is blocked):**\n" + _bullets(errors))
    if warnings:
        lines.append("**Warnings (training can go on, but have a look):**\n" + _bullets(warnings))
    return "\n\n".join(lines)


def skipped_markdown(report: dict, limit: int = 50) -> tuple[str, int]:
    skipped = [p for p in report.get("problems", []) if p.get("level") == "skipped"]
    if not skipped:
        return "Nothing was skipped.", 0
    text = _bullets(skipped[:limit])
    if len(skipped) > limit:
        text += f"\n- … and {len(skipped) - limit} more"
    return text, len(skipped)


def _bullets(problems: list[dict]) -> str:
    out = []
    for p in problems:
        where = p.get("where") or ""
        msg = p.get("message") or ""
        out.append(f"- {md_escape(where) + ': ' if where else ''}{md_escape(msg)}")
    return "\n".join(out)


CANDIDATE_HEADERS = ["Settings", "Status", "Val. score (accuracy, micro-F1 or R²)", "Val. loss", "Steps"]
STATUS_WORDS = {Candidate.FIRST: "first model", Candidate.TRAINING: "trying", Candidate.DROPPED: "dropped",
                Candidate.CHOSEN: "chosen ✓", Candidate.CHECKED: "checked (cross-validation)"}


def candidate_rows(candidates: list[dict]) -> list[list]:
    return [[c["name"], STATUS_WORDS.get(c.get("status"), c.get("status", "")),
             fmt_score(c, "val_"), "" if c.get("val_loss") is None else f"{c['val_loss']:.3f}",
             c.get("steps", "")] for c in candidates]


def answer_line(probabilities: dict[str, float] | None, threshold: float) -> str:
    """What the model answers, or why it says "not sure" (Try it and the demo page)."""
    from ftapp.unsure import UNSURE, answer

    if not probabilities:
        return ""
    top, p = max(probabilities.items(), key=lambda kv: kv[1])
    if answer(probabilities, threshold) != UNSURE:
        return f"**Answer: {md_escape(top)}** ({fmt_pct(p)} sure)."
    return (f"**Answer: {UNSURE}.** The most likely class, *{md_escape(top)}*, is at {fmt_pct(p)}, under the "
            f"{fmt_pct(threshold)} this model needs before it answers.")


def answer_for(probabilities: dict[str, float] | None, threshold: float, meta: dict) -> str:
    """Try it's and the demo page's answer line for the model `meta` describes."""
    if is_number(meta) and probabilities:
        value, spread = next(iter(probabilities.values())), meta.get("residual_interval")
        return (f"**Predicted: {value:.4g}**" + (f" (on validation, 90 % of the true values lay between "
                                                  f"{value + spread[0]:.4g} and {value + spread[1]:.4g} around such "
                                                  "a prediction)." if spread else "."))
    if is_several(meta):
        return labels_line(probabilities, dict(zip(meta.get("labels") or [], meta.get("thresholds") or [])))
    return answer_line(probabilities, threshold)


def labels_line(probabilities: dict[str, float] | None, thresholds: dict[str, float]) -> str:
    """Several labels per example: every label at or above its own threshold (chosen on validation)."""
    if not probabilities:
        return ""
    on = [(k, p) for k, p in sorted(probabilities.items(), key=lambda kv: -kv[1]) if p >= thresholds.get(k, 0.5)]
    if on:
        return (f"**Labels: {', '.join(md_escape(k) for k, _ in on)}** (each at or above its own threshold: "
                + ", ".join(f"{md_escape(k)} {fmt_pct(p)} ≥ {fmt_pct(thresholds.get(k, 0.5))}" for k, p in on) + ").")
    k, p = max(probabilities.items(), key=lambda kv: kv[1] - thresholds.get(kv[0], 0.5))
    return (f"**No label.** None reaches its threshold; the closest is *{md_escape(k)}* at {fmt_pct(p)} (it needs "
            f"{fmt_pct(thresholds.get(k, 0.5))}).")


def unsure_info(report: dict | None, threshold: float) -> str:
    """How the "not sure" threshold was chosen and what it does on the examples it was chosen on."""
    u = (report or {}).get("unsure") or {}
    if not u:
        return ("This run's model predates the \"not sure\" answer, so it always answers. Raise this to make it "
                "say \"not sure\" instead of guessing.")
    if not threshold:
        return ("This model always answers: on its validation examples, answering every time was right more "
                "often than saying \"not sure\" would have helped. Raise this to make it say \"not sure\" instead "
                "of guessing.")
    return (f"Chosen on validation: under {fmt_pct(threshold)} the model's answers there were more often wrong "
            f"than right. At it, it answered {fmt_pct(u.get('coverage'))} of those examples and "
            f"{fmt_pct(u.get('accuracy'))} of those answers were right. 0 = always answer.")
