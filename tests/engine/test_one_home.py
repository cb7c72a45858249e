"""Each piece of knowledge is declared once (issue 23). These read ftapp's source as Python syntax
trees and fail when a file name, a status or a setting's choice is spelled a second time outside
its home, or a setting's range is checked by hand instead of from the schema."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ftapp import files
from ftapp.runs import Candidate, Status
from ftapp.train.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2] / "ftapp"
SOURCES = {p.relative_to(ROOT).as_posix(): ast.parse(p.read_text()) for p in ROOT.rglob("*.py")}


def literals(tree) -> list[str]:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def where(value: str) -> set[str]:
    return {name for name, tree in SOURCES.items() if value in literals(tree)}


FILE_NAMES = sorted(v for k, v in vars(files).items() if k.isupper() and isinstance(v, str) and "." in v)


@pytest.mark.parametrize("name", FILE_NAMES)
def test_every_file_name_is_spelled_only_in_files_py(name):
    assert where(name) == {"files.py"}, name


def _mentions(node, word: str) -> bool:
    return any(isinstance(n, (ast.Name, ast.Attribute, ast.Constant)) and word in str(
        getattr(n, "id", None) or getattr(n, "attr", None) or getattr(n, "value", "")) for n in ast.walk(node))


def _compared_literals(tree, word: str) -> list[tuple[int, str]]:
    """String literals compared with (or passed as) something named like `word`: x.status == "y",
    status="y", config.method in ("a", "b")."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and _mentions(node.left, word):
            out += [(node.lineno, v) for comp in node.comparators for v in literals(comp)]
        elif isinstance(node, ast.keyword) and node.arg == word:
            out += [(node.value.lineno, v) for v in literals(node.value)]
    return out


STATUSES = {v for k, v in vars(Status).items() if k.isupper()} | {v for k, v in vars(Candidate).items()
                                                                   if k.isupper() and isinstance(v, str)}


@pytest.mark.parametrize("source", sorted(n for n in SOURCES if n != "runs.py"))
def test_statuses_are_compared_through_their_names(source):
    found = [(line, v) for line, v in _compared_literals(SOURCES[source], "status") if v in STATUSES]
    assert not found, f"{source}: spell statuses as runs.Status / runs.Candidate: {found}"


TEXT_SETTINGS = {name: s for name, s in SETTINGS.items() if s.choices}


@pytest.mark.parametrize("source", sorted(n for n in SOURCES if n != "train/config.py"))
def test_setting_choices_are_compared_through_their_names(source):
    found = [(name, line, v) for name, s in TEXT_SETTINGS.items()
             for line, v in _compared_literals(SOURCES[source], name) if v in s.choices]
    assert not found, f"{source}: spell choices as config.METHODS.lora etc.: {found}"


def test_ranges_are_checked_from_the_schema_only():
    """problems() has no hand-written range: each comes from the setting's declared minimum / maximum."""
    from ftapp.train.config import TrainConfig

    for name, s in SETTINGS.items():
        if s.maximum is not None:
            assert TrainConfig(**{name: s.maximum}).problems() == [], name
            assert s.label in " ".join(TrainConfig(**{name: s.maximum * 2 + 1}).problems()), name
        if s.minimum is not None and s.minimum > 0:
            assert s.label in " ".join(TrainConfig(**{name: s.minimum / 2 if s.kind is float else s.minimum - 1})
                                       .problems()), name
    for name, s in TEXT_SETTINGS.items():
        assert s.label in " ".join(TrainConfig(**{name: "nonsense"}).problems()), name


def test_what_auto_searches_is_declared_once():
    from ftapp.train.config import AUTO_SEARCHED
    from ftapp.ui import settings_tab

    assert set(AUTO_SEARCHED) == {"frozen_layers", "lr", "method"}
    assert settings_tab.AUTO_FIELDS is AUTO_SEARCHED


def test_no_class_over_250_lines_and_the_run_orchestrator_stays_short():
    """Issue 23: `job.execute` ≤ 80 lines and no class over 250 (one purpose each)."""
    classes = {f"{name}:{n.name}": n.end_lineno - n.lineno + 1 for name, tree in SOURCES.items()
               for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    assert max(classes.values()) <= 250, sorted(classes.items(), key=lambda kv: -kv[1])[:3]
    (execute,) = [n for n in ast.walk(SOURCES["train/job.py"]) if isinstance(n, ast.FunctionDef) and n.name == "execute"]
    assert execute.end_lineno - execute.lineno + 1 <= 80
