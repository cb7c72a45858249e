"""The run store owns the run folder: statuses, file names, events, and reading a run back."""
from __future__ import annotations

import pytest

from ftapp.runs import ACTIVE, EVENTS, TERMINAL, RunFolder, RunStore, read_run


def test_a_restored_run_equals_the_live_one(tmp_path):
    store = RunStore(tmp_path)
    run = store.create({"model": "m", "lr": None, "data_name": "d.csv"}, owner="u-1")
    run.record("status", status="running")
    run.record("info", n_blocks=6, frozen_layers=2)
    run.record("settings", lr=1e-4, frozen_layers=2)
    run.record("step", step=1, epoch=0.5, loss=1.0, lr=1e-4)
    run.record("progress", progress=0.5, eta_seconds=3)
    run.record("epoch", epoch=1, train_loss=0.9, val_loss=0.8, val_accuracy=0.7, val_macro_f1=0.6)
    run.record("best", epoch=1, val_loss=0.8, val_accuracy=0.7)
    run.record("status", status="finished", message="done", has_model=True)
    back = read_run(run.dir)
    for key in ("status", "message", "info", "effective", "best", "has_model", "steps", "epochs", "owner"):
        assert getattr(back, key) == getattr(run, key), key
    assert back.effective_settings == run.effective_settings == {"model": "m", "lr": 1e-4, "frozen_layers": 2,
                                                                 "data_name": "d.csv"}
    assert back.ended and not back.active and set(ACTIVE).isdisjoint(TERMINAL)
    assert RunFolder(run.dir).effective_settings()["lr"] == 1e-4


def test_a_run_cut_off_while_active_is_interrupted(tmp_path):
    run = RunStore(tmp_path).create({"model": "m"})
    run.record("status", status="running")
    again = RunStore(tmp_path).get(run.id)
    assert again.status == "interrupted" and again.restored and again.ended


def test_unknown_event_kinds_are_refused(tmp_path):
    run = RunStore(tmp_path).create({"model": "m"})
    with pytest.raises(ValueError):
        run.record("stpe", step=1)
    assert set(EVENTS) >= {"status", "phase", "progress", "step", "epoch", "best", "info", "settings"}


def test_demo_links_are_unguessable_revocable_and_survive_a_restart(tmp_path):
    store = RunStore(tmp_path)
    run = store.create({"model": "m"}, owner="u-" + "a" * 32)
    other = store.create({"model": "m"}, owner="u-" + "b" * 32)
    for r in (run, other):
        r.record("status", status="finished", has_model=True)
    share = run.share(allow_download=False)
    assert len(share["token"]) >= 32 and share["token"] != other.share()["token"]
    assert run.share(allow_download=True)["token"] == share["token"]      # one link a run; the option updates
    assert store.shared(share["token"])[0].id == run.id

    restarted = RunStore(tmp_path)                                       # kept in the run folder
    found, why = restarted.shared(share["token"])
    assert why == "ok" and found.id == run.id and found.files.read(RunFolder.SHARE)["allow_download"] is True
    wrong = share["token"][:-1] + ("y" if share["token"].endswith("x") else "x")      # one character off
    assert restarted.shared(wrong) == (None, "unknown")
    assert restarted.shared(None) == (None, "unknown") and restarted.shared("") == (None, "unknown")

    assert found.revoke_share() and not found.revoke_share()
    assert RunStore(tmp_path).shared(share["token"]) == (None, "revoked")
    again = found.share()
    assert again["token"] != share["token"] and restarted.shared(again["token"])[1] == "ok"
    assert restarted.shared(share["token"]) == (None, "unknown")         # the old link stays dead
