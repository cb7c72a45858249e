"""The data check's table, shared by step 1 ("Check my data") and Evaluate (the run's
label_issues.csv): what was found, and the user's decisions (a new label, or drop) per row."""
from __future__ import annotations

import pandas as pd

ISSUE_COLUMNS = ["issue", "row", "example", "given", "suggested", "score", "new label", "drop"]
STATIC = [0, 1, 2, 3, 4, 5]   # only the decisions are editable
SHOWN = 500


def issues_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([[r["issue"], r["row"], r["example"], r["given"], r["suggested"] or "", r["score"], "", False]
                         for r in rows[:SHOWN]], columns=ISSUE_COLUMNS)


NUMBER_NOTE = ("A number has no likely label to suggest, so the check lists near-duplicates whose numbers differ "
               "by more than a standard deviation, and outliers.")


def issues_note(rows: list[dict], then: str, number: bool = False) -> str:
    """What the check found, in a line (`number`: a number per example, where no label is suggested)."""
    count = lambda kind: sum(r["issue"] == kind for r in rows)   # noqa: E731
    if number:
        found = (f"**{count('near-duplicate')} near-duplicate(s) with a far-apart number**, {count('outlier')} "
                 f"outlier(s). {then}" if rows else "Nothing suspicious found.")
        return f"{NUMBER_NOTE} {found}"
    if not rows:
        return "Nothing suspicious found in the labels."
    return (f"**{count('label')} likely label error(s)**, {count('near-duplicate')} near-duplicate(s) with another "
            f"label, {count('outlier')} outlier(s). {then}")


def row_edits_from(table) -> dict:
    """The table's decisions: row -> new label, or None to drop it."""
    df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table, columns=ISSUE_COLUMNS)
    out = {}
    for _, r in df.iterrows():
        new, drop = str(r["new label"] or "").strip(), r["drop"]
        if drop is True or str(drop).lower() == "true":
            out[str(r["row"])] = None
        elif new and new != r["given"]:
            out[str(r["row"])] = new
    return out


def accept_suggestions(table) -> pd.DataFrame:
    df = (table if isinstance(table, pd.DataFrame) else pd.DataFrame(table, columns=ISSUE_COLUMNS)).copy()
    suggested = (df["issue"] == "label") & (df["suggested"].astype(str) != "")
    df.loc[suggested, "new label"] = df.loc[suggested, "suggested"]
    return df
