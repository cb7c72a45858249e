"""Every sentence a run says about its result, as functions of the numbers beside it.

Kept in one place so each can be checked against its numbers (tests/engine/test_words.py runs a
table of cases through all of them): "beat" only when the number is higher, "above the model"
only when a paired test says the difference is more than chance, the language advice only when
the tokenizer check flagged the language, and every number on the examples it was measured on.
"""
from __future__ import annotations

from ftapp import tasks
from ftapp.runs import Candidate
from ftapp.train.config import LEARNED_LOSS, SELECTS
from ftapp.train.loop import Why
from ftapp.train.selection import score_of

FIRST = f"the first model ({Candidate.FIRST_MODEL})"


def first_words(first_model: str = Candidate.FIRST_MODEL) -> str:
    """'the first model (frozen features + logistic regression)', or its task's fit (tasks.py)."""
    return f"the first model ({first_model})"
WHY = {Why.FINISHED: "trained to the planned end", Why.EARLY: "stopped early: validation had stopped improving",
       Why.ANNEALED: "stopped early: validation had stopped improving, so the learning rate was brought down to zero "
                     "over a short last stretch",
       Why.LEARNED: f"stopped early: the training examples were learned (training loss under {LEARNED_LOSS:g}) and "
                    "validation had stopped improving",
       Why.TIME: "stopped at the time budget", Why.STOPPED: "stopped by request",
       Why.DIVERGED: "stopped: the loss became infinite (learning rate too high)"}
DIVERGED = ("Fine-tuning stopped: the training loss became infinite or not-a-number, which usually means the "
            "learning rate is too high — try a 10x lower learning rate.")


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def interval_words(lo: float, hi: float) -> str:
    return f"95 % interval {pct(lo)}–{pct(hi)}"


def first_model(score: float, n: int, lo: float | None, hi: float | None, where: str, more_coming: bool,
                score_name: str = "accuracy") -> str:
    """The anytime model's line: ready, how good on examples it was not chosen on, what comes next."""
    tail = "; fine-tuning to improve it…" if more_coming else "."
    if score_name == "R²":   # not a share of anything: the number itself
        within = f" (95 % interval {lo:.3f}–{hi:.3f})" if lo is not None else ""
        return f"A first model is ready — R² {score:.3f} on {n} {where}{within}{tail}"
    what = "" if score_name == "accuracy" else f" {score_name}"
    return f"A first model is ready — {pct(score)}{what} on {n} {where} ({interval_words(lo, hi)}){tail}"


def compared(ft: dict, probe: dict, chosen: str = "checkpoint") -> str:
    """'0.912 against 0.887 for the first model on 225 examples, each scored by the checkpoint that
    the others chose (cross-fitted)' (selection.crossfit)."""
    a, b = score_of(ft), score_of(probe)
    name = "" if "accuracy" in ft else f"{score_name(ft)} "
    text = f"{name}{a:.3f} against {b:.3f} for the first model"
    if abs(a - b) < 1e-9:
        text += f" (log loss {ft['loss']:.3f} against {probe['loss']:.3f})"
    return text + f" on {ft['n']} examples, each scored by the {chosen} that the others chose (cross-fitted)"


def beat(ft: dict, probe: dict) -> str:
    """How fine-tuning did against the first model, in the words its numbers allow."""
    a, b = score_of(ft), score_of(probe)
    if a > b + 1e-9:
        return "beat"
    if a < b - 1e-9:
        return "did worse than"
    return f"matched the {score_name(ft)} of"   # compared() then quotes both log losses


def score_name(scores: dict) -> str:
    """What the task's score is called: accuracy, or micro-F1 with several labels per example."""
    return next(t.score_name for t in tasks.TASKS.values() if t.score_key in scores or f"val_{t.score_key}" in scores)


def holdout_message(kept_fine_tuned: bool, why: str | None, recipe: str | None, best_epoch, auto: bool,
                    check: dict | None, select: str = SELECTS.accuracy, score_word: str = "accuracy",
                    first: str = FIRST) -> str:
    """The end of a run trained on a validation split. `check`: fine-tuning (cross-fitted) and the
    first model on the validation examples ({"ft": {"accuracy", "loss", "n"}, "probe": …}), or None
    when fine-tuning produced no checkpoint to compare."""
    if why == Why.DIVERGED:
        return DIVERGED + (f" Kept {first}, which does not depend on it." if not kept_fine_tuned
                           else f" Kept the checkpoint from epoch {best_epoch}.")
    how = WHY.get(why or "", "ended")
    if not kept_fine_tuned:
        if check is None:
            return f"Fine-tuning ({how}) produced no checkpoint to compare; kept {first}."
        return (f"Fine-tuning ({how}) {beat(check['ft'], check['probe'])} {first}: "
                f"{compared(check['ft'], check['probe'])}; the first model was kept.")
    best = "lowest validation loss" if select == SELECTS.loss else f"best validation {score_word}"
    kept = f"{recipe}: {how}; kept the check with the {best} (epoch {best_epoch})"
    if check is None:
        return kept + "."
    if not auto:
        return kept + f" (Auto is off, so it is kept as asked; {compared(check['ft'], check['probe'])})."
    return kept + f"; fine-tuning {beat(check['ft'], check['probe'])} {first}: {compared(check['ft'], check['probe'])}."


TOO_FEW = "too few to set some aside"


def too_few_of(label: str, n: int) -> str:
    """Why a split was not used although it was large enough: one class had too few examples in it."""
    some = "no validation example" if n == 0 else f"only {n} validation example{'' if n == 1 else 's'}"
    return f"{some} of '{label}', too few to check that class on a split"


def cross_validating(reason: str) -> str:
    return f"Cross-validating on all the examples instead of checking on the validation split: {reason}."


def cv_message(kept_fine_tuned: bool, n_folds: int, folds_run: int, check: dict | None, decided_early: bool,
               final_note: str = "", first: str = FIRST, reason: str = TOO_FEW) -> str:
    """The end of a run decided by cross-validation (`reason`: why a split was not used)."""
    cv = f"a {n_folds}-fold cross-validation on all the examples ({reason})"
    partial = ""
    if folds_run < n_folds:
        why = ("one side was clearly ahead after the first part, so the others were skipped" if decided_early
               else "the time budget or a stop request ended it")
        partial = f" The cross-validation was cut short: {folds_run} of its {n_folds} parts ran ({why})."
    if check is None:
        return f"Kept {first}: fine-tuning could not be checked in {cv}." + partial + final_note
    if kept_fine_tuned:
        return (f"Fine-tuned on all the examples for the length that {cv} found best. There fine-tuning "
                f"{beat(check['ft'], check['probe'])} the first model: "
                f"{compared(check['ft'], check['probe'], 'length')}." + partial + final_note)
    return (f"Kept {first}: in {cv}, fine-tuning {beat(check['ft'], check['probe'])} it: "
            f"{compared(check['ft'], check['probe'], 'length')}." + partial + final_note)


FINAL_STOPPED = (" The final training on all the examples was stopped before it finished, so the first model, "
                 "which was compared, was kept.")


def final_shortened(steps: int, planned: int) -> str:
    return (f" The time left allowed {steps} of the {planned} steps the cross-validation found best; that shorter "
            "length was compared too.")


STOPPED_BEFORE_FINAL = (" The run was stopped before the final training on all the examples, so the first model "
                        "was kept.")
NO_TIME_FOR_FINAL = (" The time left was too short for the final training on all the examples, so the first model, "
                     "which was compared, was kept.")


def baseline_note(model_acc: float, base_name: str, base_acc: float, test: dict | None, modality: str,
                  language_flagged: bool, score_name: str = "accuracy") -> str:
    """A line only when the baseline is ahead of the model by more than chance on the same examples
    (`test`: selection.paired(baseline correct, model correct)), with what to try."""
    from ftapp.train.selection import ALPHA

    if test is None or not (test["only_a"] > test["only_b"] and test["p_value"] < ALPHA and base_acc > model_acc):
        return ""
    if modality == "text" and language_flagged:
        what = ("The model's vocabulary fits these texts poorly (see the language warning): try a multilingual "
                "model (e.g. intfloat/multilingual-e5-small).")
    elif modality == "text":
        what = (f"Try another model, more examples{' per class' if score_name == 'accuracy' else ''}, or a longer "
                "time budget.")
    elif modality == "audio":
        what = "Try another model, or more recordings per class."
    else:
        what = "Try another model, more pictures per class, or augmentation."
    what_score = "" if score_name == "accuracy" else f"{score_name} "
    return (f"The baseline ({base_name}) scored {what_score}{base_acc:.3f} on the same {test['n']} examples, above the "
            f"model's {model_acc:.3f}, by more than chance explains (paired test, p = {test['p_value']:.3f}). {what}")


def no_search(n_val: int, needed: int) -> str:
    return (f"Auto: {n_val} validation examples are too few to rank settings reliably (it takes about {needed}), so "
            "the default settings train and are compared with the first model.")


def learning_curve_advice(gain: float, per_class: dict[str, float], threshold: float, score_name: str = "accuracy") -> str:
    """Whether more examples would likely help, from the head's score at 75 % and 100 % of the data
    (`score_name`: accuracy, micro-F1 — shown in per cent — or R², shown as is)."""
    change = f"{gain:+.3f}" if score_name == "R²" else pct(gain)
    if gain > threshold:
        rising = [c for c, g in sorted(per_class.items(), key=lambda kv: -kv[1]) if g > threshold][:5]
        which = f", most for {', '.join(rising)}" if rising else ""
        return (f"More examples would likely help: the {score_name} still rose by {change} from three quarters to "
                f"all of the training data{which}.")
    return (f"More examples of the same kind would likely help little: the {score_name} changed by {change} from "
            "three quarters to all of the training data.")


def with_interval(value: float, ci, n: int | None = None) -> str:
    """'0.947 (95 % interval 0.754–0.991, n = 19)'."""
    inner = f"95 % interval {ci[0]:.3f}–{ci[1]:.3f}" if ci else ""
    if n is not None:
        inner += (", " if inner else "") + f"n = {n}"
    return f"{value:.3f}" + (f" ({inner})" if inner else "")


def result_lines(m: dict) -> list[str]:
    """The end of a run in a few lines: the headline numbers with their intervals and what they are
    measured on, then the baselines on the same examples."""
    lines = []
    if m.get("task") == tasks.NUMBER:
        k, name, more = "r2", "R²", lambda p: (f", Spearman {m[p + '_spearman']:.3f}, MAE {m[p + '_mae']:.4g}, RMSE "
                                                f"{m[p + '_rmse']:.4g} (in the target's unit)")
    elif m.get("task") == tasks.SEVERAL:
        k, name, more = "micro_f1", "micro-F1", lambda p: (f", macro-F1 {m[p + '_macro_f1']:.3f}, every label right "
                                                           f"on {m[p + '_subset_accuracy']:.3f} of the examples")
    else:
        k, name, more = "accuracy", "accuracy", lambda p: f", macro-F1 {m[p + '_macro_f1']:.3f}"
    if f"test_{k}" in m:
        lines.append(f"Test {name} {with_interval(m[f'test_{k}'], m.get(f'test_{k}_interval'), m['n_test'])}"
                     f"{more('test')} — {m['test_source']}; nothing was chosen on it.")
    if f"file_test_{k}" in m and m.get("test_source") != "test file":
        lines.append(f"Test file {name} {with_interval(m[f'file_test_{k}'], m.get(f'file_test_{k}_interval'), m['n_file_test'])}"
                     f"{more('file_test')}.")
    lines.append(f"Validation {name} {with_interval(m[f'val_{k}'], m.get(f'val_{k}_interval'), m.get('n_val'))}"
                 f"{more('val')} — on {m['validation']}.")
    if m.get("baseline_name"):
        base = f"Best baseline ({m['baseline_name']}) on the same examples: {m[f'baseline_val_{k}']:.3f}."
        lines.append(base + (f" {m['baseline_note']}" if m.get("baseline_note") else ""))
    if m.get("unsure_below") and m.get("unsure_answered_accuracy") is not None:
        lines.append(f"It answers \"not sure\" under {m['unsure_below']:.2f} confidence (chosen on validation: "
                     f"answers below it were more often wrong than right); there it answered "
                     f"{m['unsure_coverage']:.0%} of the examples, {m['unsure_answered_accuracy']:.3f} of them right.")
    return lines
