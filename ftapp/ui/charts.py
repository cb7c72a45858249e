"""Plotly figures built from run snapshots and reports. Pure functions: dict in, figure out."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ftapp.runs import TERMINAL, Candidate
from ftapp.tasks import ONE, TASKS, named_score
from ftapp.ui.texts import run_label

BLUE, ORANGE, GREEN, GREY = "#2563eb", "#ea580c", "#16a34a", "#94a3b8"
PALETTE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"]


def _layout(fig: go.Figure, title: str, height: int = 320, revision=None) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)),
        template="plotly_white", height=height, margin=dict(l=55, r=20, t=44, b=80),
        legend=dict(orientation="h", yanchor="top", y=-0.2, xanchor="left", x=0.0),
        hovermode="x unified", uirevision=revision or title,
        font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12),
    )
    return fig


def empty_figure(title: str, message: str, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font=dict(size=13, color="#64748b"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    _layout(fig, title, height)
    fig.update_layout(margin=dict(b=30))
    return fig


def _smooth(values: list[float], weight: float) -> list[float]:
    out, last = [], None
    for v in values:
        last = v if last is None else weight * last + (1 - weight) * v
        out.append(last)
    return out


MAX_LOSS_POINTS = 600   # drawn per trace; more would not show on a chart this wide


def loss_needs_redraw(drawn: int, now: int, active: bool) -> bool:
    """Redraw the loss chart once 5 % more steps (at least one) have arrived, and always once the
    run has ended: a long run costs tens of redraws, not one per poll with ever more points."""
    if now == drawn:
        return False
    return not active or now - drawn >= max(1, drawn // 20)


def _thin(n: int, limit: int = MAX_LOSS_POINTS) -> list[int]:
    """Indices of at most `limit` evenly spread points, the last one included."""
    if n <= limit:
        return list(range(n))
    stride = (n - 1) / (limit - 1)
    return sorted({round(i * stride) for i in range(limit)})


def _parts(rows: list[dict]) -> list[tuple]:
    """Events grouped by cross-validation part, in order (one group when the run has none)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(r.get("part"), []).append(r)
    return list(groups.items())


def _part_name(part) -> str:
    return "final model (all examples)" if part == "all" else f"part {part}" if part else "loss"


def loss_figure(snap: dict | None) -> go.Figure:
    """Training loss at every step (raw and smoothed), x = step, with epoch boundaries. The
    smoothed line is computed on every step, then both lines are thinned to MAX_LOSS_POINTS."""
    title = "Training loss (every step)"
    steps = (snap or {}).get("steps") or []
    if not steps:
        if not snap:
            msg = "Start a run to see its loss curve."
        elif snap.get("status") in TERMINAL:
            msg = "This run ended before its first training step."
        else:
            msg = "The curve appears with the first training step."
        return empty_figure(title, msg)
    fig = go.Figure()
    parts = _parts(steps)
    for n, (part, rows) in enumerate(parts):
        x_all = [s["step"] for s in rows]
        y_all = [s["loss"] for s in rows]
        keep = _thin(len(rows))
        x, y = [x_all[i] for i in keep], [y_all[i] for i in keep]
        many = len(y_all) >= 20
        name = _part_name(part)
        if len(parts) > 1:     # cross-validation: one line per part, smoothed when long
            shown = [_smooth(y_all, min(0.9, 1 - 10 / len(y_all)))[i] for i in keep] if many else y
            fig.add_trace(go.Scatter(x=x, y=shown, mode="lines", name=name, hovertemplate="%{y:.4f}",
                                     line=dict(color=PALETTE[n % len(PALETTE)], width=2.5 if part == "all" else 1.5)))
            continue
        raw_style = dict(color=GREY, width=1) if many else dict(color=BLUE, width=2)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines" if many else "lines+markers", name="loss",
                                 line=raw_style, marker=dict(size=4), hovertemplate="%{y:.4f}"))
        if many:
            smooth = _smooth(y_all, min(0.9, 1 - 10 / len(y_all)))
            fig.add_trace(go.Scatter(x=x, y=[smooth[i] for i in keep], mode="lines", name="smoothed",
                                     line=dict(color=BLUE, width=2.5), hovertemplate="%{y:.4f}"))
    # a dotted line where each epoch ends (one run; not for hundreds of tiny epochs: they would hide it)
    prev = 0
    for s in steps if len(parts) == 1 and int(steps[-1].get("epoch") or 0) <= 50 else []:
        ep = int(s.get("epoch") or 0)
        if ep > prev and abs(float(s.get("epoch") or 0) - ep) < 1e-6:
            fig.add_vline(x=s["step"], line=dict(color="#cbd5e1", width=1, dash="dot"))
            prev = ep
    x_all = [s["step"] for s in steps]
    fig.update_xaxes(title_text="step", rangemode="tozero", dtick=1 if x_all[-1] <= 10 else None)
    fig.update_yaxes(title_text="loss")
    return _layout(fig, title, revision=(snap or {}).get("id"))


def score_axis(score: str) -> tuple[dict, str]:
    """The y-axis and hover format of a validation score: shares in %, R² as a number (it can be negative)."""
    if score == "R²":
        return {"tickformat": ".2f"}, "%{y:.3f}"
    return {"range": [0, 1.02], "tickformat": ".0%"}, "%{y:.1%}"


def curve_score(epochs: list[dict]) -> tuple[str, str, dict, str]:
    """What the validation curve's right axis shows: the run's score (accuracy, micro-F1), or for a
    number its mean absolute error in the target's own unit — the number users read; R² (what
    checkpoints are ranked by) stays in the run's status. (name, key, axis, hover format)."""
    if "val_mae" in epochs[-1]:
        return "MAE", "val_mae", {"tickformat": ".3g", "rangemode": "tozero"}, "%{y:.4g}"
    task = next((t for t in TASKS.values() if f"val_{t.score_key}" in epochs[-1]), TASKS[ONE])
    return (task.score_name, f"val_{task.score_key}", *score_axis(task.score_name))


def validation_figure(snap: dict | None) -> go.Figure:
    """Per epoch: training and validation loss (left axis), validation accuracy, micro-F1 or (a
    number) mean absolute error (right axis)."""
    title = "Validation (after each epoch)"
    epochs = (snap or {}).get("epochs") or []
    if not epochs:
        if not snap:
            msg = "Start a run to see its validation curves."
        elif snap.get("status") in TERMINAL:
            msg = "This run ended before its first validation."
        else:
            msg = "Validation results appear after epoch 1."
        return empty_figure(title, msg)
    x = [e["epoch"] for e in epochs]
    score, key, axis, hover = curve_score(epochs)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    parts = _parts(epochs)
    if len(parts) > 1 or parts[0][0] is not None:     # cross-validation: accuracy and loss per part
        title = "Validation of each cross-validation part"
        for n, (part, rows) in enumerate(parts):
            color = PALETTE[n % len(PALETTE)]
            px = [e["epoch"] for e in rows]
            fig.add_trace(go.Scatter(x=px, y=[e.get("val_loss") for e in rows], mode="lines", showlegend=False,
                                     name=f"{_part_name(part)} loss", line=dict(color=color, width=1, dash="dot"),
                                     hovertemplate="%{y:.4f}"), secondary_y=False)
            fig.add_trace(go.Scatter(x=px, y=[e.get(key) for e in rows], mode="lines",
                                     name=f"{_part_name(part)} {score}", line=dict(color=color, width=2),
                                     hovertemplate=hover), secondary_y=True)
        fig.update_xaxes(title_text="epoch")
        fig.update_yaxes(title_text="loss (dotted)", secondary_y=False)
        fig.update_yaxes(title_text=score, **axis, secondary_y=True, showgrid=False)
        return _layout(fig, title, revision=(snap or {}).get("id"))
    fig.add_trace(go.Scatter(x=x, y=[e.get("train_loss") for e in epochs], mode="lines+markers",
                             name="training loss", line=dict(color=GREY, width=2), hovertemplate="%{y:.4f}"),
                  secondary_y=False)
    fig.add_trace(go.Scatter(x=x, y=[e.get("val_loss") for e in epochs], mode="lines+markers",
                             name="validation loss", line=dict(color=ORANGE, width=2.5), hovertemplate="%{y:.4f}"),
                  secondary_y=False)
    fig.add_trace(go.Scatter(x=x, y=[e.get(key) for e in epochs], mode="lines+markers",
                             name=f"validation {score}", line=dict(color=GREEN, width=2.5),
                             hovertemplate=hover), secondary_y=True)
    best = (snap or {}).get("best") or {}
    if best.get("epoch") is not None:
        fig.add_vline(x=best["epoch"], line=dict(color=GREEN, width=1, dash="dash"))
    fig.update_xaxes(title_text="epoch", dtick=1 if len(x) <= 20 else None)
    fig.update_yaxes(title_text="loss", secondary_y=False)
    fig.update_yaxes(title_text=score, **axis, secondary_y=True, showgrid=False)
    return _layout(fig, title, revision=(snap or {}).get("id"))


def compare_figure(snaps: list[dict]) -> go.Figure:
    """Several runs' validation accuracy and loss per epoch, overlaid."""
    title = ""
    snaps = [s for s in snaps if s]
    if not snaps:
        return empty_figure("Compare runs", "Pick two or more runs above to compare them.", height=360)
    scores = {named_score((s.get("epochs") or [{}])[-1], "val_")[0] for s in snaps}   # accuracy and/or micro-F1
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"validation {' / '.join(sorted(scores))}", "validation loss"))
    for i, s in enumerate(snaps):
        color = PALETTE[i % len(PALETTE)]
        epochs = s.get("epochs") or []
        x = [e["epoch"] for e in epochs]
        name = run_label(s)
        fig.add_trace(go.Scatter(x=x, y=[named_score(e, "val_")[1] for e in epochs], mode="lines+markers", name=name,
                                 legendgroup=s.get("id"), line=dict(color=color), hovertemplate="%{y:.1%}"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=[e.get("val_loss") for e in epochs], mode="lines+markers", name=name,
                                 legendgroup=s.get("id"), showlegend=False, line=dict(color=color),
                                 hovertemplate="%{y:.4f}"), row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], row=1, col=1)
    _layout(fig, title, height=400)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0), hovermode="closest",
                      margin=dict(t=40, b=110))
    return fig


def class_counts_figure(counts: dict[str, int] | None, per: str = "class") -> go.Figure:
    """Examples per class (`per` "label": several labels per example, a row counted once per label)."""
    title = f"Examples per {per}"
    if not counts:
        return empty_figure(title, "Load data to see how many examples each class has.", height=280)
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    names = [k for k, _ in items]
    values = [v for _, v in items]
    top = max(values)
    colors = [ORANGE if v < 0.2 * top or v < 5 else BLUE for v in values]
    fig = go.Figure(go.Bar(x=names, y=values, marker_color=colors, text=values, textposition="outside",
                           hovertemplate="%{x}: %{y}<extra></extra>", cliponaxis=False))
    fig.update_yaxes(title_text="examples", rangemode="tozero")
    fig.update_xaxes(type="category")
    _layout(fig, title, height=300)
    fig.update_layout(hovermode="closest", showlegend=False, margin=dict(b=45))
    return fig


def number_histogram_figure(detail: dict | None) -> go.Figure:
    """A number per example: how the values to predict are spread (the data report's histogram)."""
    title = "The numbers to predict"
    if not detail or "histogram" not in detail:
        return empty_figure(title, "Load data to see the numbers.", height=280)
    counts, edges = detail["histogram"]["counts"], detail["histogram"]["edges"]
    fig = go.Figure(go.Bar(x=[(a + b) / 2 for a, b in zip(edges, edges[1:])], y=counts,
                           width=[b - a for a, b in zip(edges, edges[1:])], marker_color=BLUE,
                           hovertemplate="%{y} examples<extra></extra>"))
    fig.update_xaxes(title_text="value")
    fig.update_yaxes(title_text="examples")
    return _layout(fig, title, height=300)


def scatter_figure(points: list[list[float]] | None) -> go.Figure:
    """A number per example: predicted against actual, with the line where they are equal."""
    title = "Predicted against actual (on the line = right)"
    if not points:
        return empty_figure(title, "Pick a finished run.", height=360)
    actual, predicted = [p[0] for p in points], [p[1] for p in points]
    low, high = min(actual + predicted), max(actual + predicted)
    fig = go.Figure([go.Scatter(x=[low, high], y=[low, high], mode="lines", line=dict(color=GREY, dash="dash"),
                                name="predicted = actual", hoverinfo="skip"),
                     go.Scatter(x=actual, y=predicted, mode="markers", marker=dict(color=BLUE, size=6, opacity=0.6),
                                name="examples", hovertemplate="actual %{x:.4g}<br>predicted %{y:.4g}<extra></extra>")])
    fig.update_xaxes(title_text="actual")
    fig.update_yaxes(title_text="predicted")
    return _layout(fig, title, height=380)


def confusion_figure(labels: list[str] | None, matrix: list[list[int]] | None) -> go.Figure:
    title = "Confusion matrix (rows: true class, columns: predicted class)"
    if not labels or not matrix:
        return empty_figure(title, "Pick a finished run.", height=360)
    n = len(labels)
    rows_total = [sum(r) or 1 for r in matrix]
    share = [[v / rows_total[i] for v in row] for i, row in enumerate(matrix)]
    text = [[str(v) for v in row] for row in matrix]
    fig = go.Figure(go.Heatmap(z=share, x=labels, y=labels, text=text, texttemplate="%{text}",
                               colorscale="Blues", zmin=0, zmax=1, showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_xaxes(title_text="predicted", type="category", side="bottom")
    fig.update_yaxes(title_text="true", type="category", autorange="reversed")
    height = max(320, min(720, 140 + 36 * n))
    _layout(fig, title, height=height)
    fig.update_layout(hovermode="closest", margin=dict(b=50))
    return fig


def lr_figure(result: dict | None) -> go.Figure:
    title = "Learning-rate test: loss while the rate grows"
    if not result or not result.get("lrs"):
        return empty_figure(title, "Press Suggest to run a short test.", height=260)
    fig = go.Figure(go.Scatter(x=result["lrs"], y=result["losses"], mode="lines", line=dict(color=BLUE, width=2),
                               hovertemplate="lr %{x:.1e}: loss %{y:.3f}<extra></extra>"))
    fig.add_vline(x=result["lr"], line=dict(color=GREEN, dash="dash"))
    fig.update_xaxes(type="log", title_text="learning rate", exponentformat="e")
    fig.update_yaxes(title_text="loss (smoothed)")
    _layout(fig, title, height=260)
    fig.update_layout(hovermode="closest", showlegend=False, margin=dict(b=45))
    return fig


def candidates_figure(candidates: list[dict] | None) -> go.Figure:
    """Auto's candidates: validation accuracy over training steps, one line each (the first model as
    a dashed level line)."""
    title = "Auto: the settings tried (validation accuracy)"
    rows = [c for c in candidates or [] if c.get("curve") or c.get("status") == Candidate.FIRST]
    if not rows:
        return empty_figure(title, "Auto's candidates appear here while it tries them.", height=300)
    fig = go.Figure()
    last_step = max((p[0] for c in rows for p in c.get("curve") or []), default=1)
    for i, c in enumerate(rows):
        if c.get("status") == Candidate.FIRST:
            fig.add_trace(go.Scatter(x=[0, last_step], y=[named_score(c, "val_")[1]] * 2, mode="lines", name=c["name"],
                                     line=dict(color=GREY, dash="dash"), hovertemplate="%{y:.1%}"))
            continue
        curve = c["curve"]
        style = dict(color=PALETTE[i % len(PALETTE)], width=3 if c.get("status") == Candidate.CHOSEN else 1.5,
                     dash="dot" if c.get("status") == Candidate.DROPPED else "solid")
        fig.add_trace(go.Scatter(x=[p[0] for p in curve], y=[p[2] for p in curve], mode="lines+markers",
                                 name=f"{c['name']} ({c.get('status', '')})", line=style, hovertemplate="%{y:.1%}"))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="validation accuracy", tickformat=".0%")
    _layout(fig, title, height=320)
    fig.update_layout(hovermode="closest", margin=dict(b=110))
    return fig


def learning_curve_figure(curve: dict | None) -> go.Figure:
    """The first model's head at growing shares of the training data: its score (accuracy,
    micro-F1 or R²) on the same validation examples (ftapp/train/learning_curve.py)."""
    name = (curve or {}).get("score_name", "accuracy")
    share = name != "R²"      # accuracy and F1 read as per cent; R² as a number (it can go below 0)
    title = f"{name[0].upper() + name[1:]} with more training examples"
    points = (curve or {}).get("points") or []
    if not points:
        return empty_figure(title, "Drawn when the run ends.", height=260)
    score = [p.get("score", p.get("accuracy")) for p in points]   # "accuracy": runs from before 2026-12-07
    fig = go.Figure(go.Scatter(x=[p["n_train"] for p in points], y=score, mode="lines+markers",
                               line=dict(color=BLUE, width=2),
                               hovertemplate="%{x} examples: %{y:" + (".1%" if share else ".3f") + "}<extra></extra>"))
    fig.update_xaxes(title_text="training examples used", rangemode="tozero")
    fig.update_yaxes(title_text=f"validation {name}", tickformat=".0%" if share else ".2f")
    _layout(fig, title, height=260)
    fig.update_layout(hovermode="closest", showlegend=False, margin=dict(b=45))
    return fig


def unsure_figure(unsure: dict | None) -> go.Figure:
    """Coverage (share answered) and the accuracy of those answers at each "not sure" threshold,
    with the model's own threshold marked (ftapp/unsure.py)."""
    title = "Answering less often, but more often right"
    points = [p for p in (unsure or {}).get("curve") or [] if p["answered"]]
    if not points:
        return empty_figure(title, "Drawn when the run ends.", height=260)
    x = [p["threshold"] for p in points]
    fig = go.Figure([go.Scatter(x=x, y=[p["coverage"] for p in points], name="answered (not \"not sure\")",
                                mode="lines+markers", line=dict(color=GREY, width=2)),
                     go.Scatter(x=x, y=[p["accuracy"] for p in points], name="of those, right", mode="lines+markers",
                                line=dict(color=BLUE, width=2))])
    fig.add_vline(x=unsure["threshold"], line=dict(color=ORANGE, dash="dash"),
                  annotation_text="this model", annotation_position="top right")
    fig.update_xaxes(title_text="\"not sure\" below this confidence", range=[0, 1], tickformat=".0%")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    _layout(fig, title, height=260)
    fig.update_layout(margin=dict(b=70))
    return fig
