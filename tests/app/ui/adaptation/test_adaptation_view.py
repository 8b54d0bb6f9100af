"""The Adaptation window with real parts: a QProcess round with the tiny model, the chat's model
worker (a real QThread) hot-swapping the promoted adapter, side-by-side answers on that worker,
cancel, and the must-pass editor."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.ui.adaptation.adaptation_view import AdaptationView, AdapterSync
from app.ui.context import AppContext
from app.ui.worker import ModelHost
from learner.settings import GenerationSettings
from learner.types import TutorRequest
from storage import Database, DataDir
from storage import adapters
from tests.learner.adapt.test_round import TINY_SETTINGS, noisy_adapter

ROUND_TIMEOUT_MS = 300_000


@pytest.fixture
def ctx(data_dir: DataDir, db: Database, teacher) -> AppContext:
    return AppContext(data_dir=data_dir, db=db)


@pytest.fixture
def host(qtbot, data_dir: DataDir, tiny_model_dir: Path):
    model_host = ModelHost(data_dir)
    model_host.load(GenerationSettings(model_spec=str(tiny_model_dir), device="cpu", max_new_tokens=12,
                                       temperature=0))
    qtbot.waitUntil(lambda: model_host.state == "ready", timeout=60_000)
    yield model_host
    model_host.shutdown()


def make_view(qtbot, ctx: AppContext, host, tiny_model_dir: Path, replay_file: Path, *extra: str) -> AdaptationView:
    view = AdaptationView(ctx, host, model_spec=lambda: str(tiny_model_dir),
                          extra_args=["--replay", str(replay_file), "--no-nice", *TINY_SETTINGS, *extra])
    qtbot.addWidget(view)
    return view


def test_train_now_runs_a_round_and_promotion_hot_swaps_the_chat_model(
        qtbot, ctx: AppContext, host: ModelHost, approved: int, replay_file: Path, tiny_model_dir: Path,
        teacher) -> None:
    _sync = AdapterSync(ctx, host)   # held: it keeps the host on the active adapter, as the window does
    view = make_view(qtbot, ctx, host, tiny_model_dir, replay_file, "--set", "epochs=1")
    with qtbot.waitSignal(view.round_finished, timeout=ROUND_TIMEOUT_MS) as finished:
        view.train_button.click()
        assert not view.train_button.isEnabled() and view.cancel_button.isEnabled()
    assert finished.args == [0], view.status_label.text()
    assert "New version v1" in view.status_label.text()
    assert view.table.rowCount() == 1 and view.table.item(0, 0).text() == "v1"
    assert view.progress.value() == view.progress.maximum()
    assert view.selected_version() == 1 and "Gate:" in view.details.toPlainText()

    # Whatever the tiny model's verdict, make v1 promotable so the hot-swap path is exercised.
    with ctx.db.transaction() as t:
        t.execute("UPDATE adapters SET gate_passed = 1, status = 'candidate' WHERE version = 1")
    view.refresh()
    view.select_version(1)

    view.promote_selected()                                 # nobody signed in: refused, nothing changes
    assert "Sign in as a teacher" in view.status_label.text()
    assert adapters.active_adapter(ctx.db) is None

    ctx.teacher = teacher
    with qtbot.waitSignal(host.adapter_changed, timeout=60_000) as swapped:
        view.promote_selected()
    assert swapped.args == [1] and host.adapter_version == 1
    assert adapters.active_adapter(ctx.db).version == 1

    with qtbot.waitSignal(host.worker.finished, timeout=60_000) as answered:
        host.generate(TutorRequest(user_text="What is a fraction?", mode="explain"),
                      GenerationSettings(model_spec=str(tiny_model_dir), temperature=0, max_new_tokens=6))
    assert answered.args[1].adapter_version == 1              # each answer records its version

    adapters.add_must_pass(ctx.db, teacher, "What is 2 + 2?", must_match=["4"])   # at least one prompt to compare
    view.compare_max_new_tokens, view.compare_heldout_limit = 6, 2          # the tiny model never stops by itself
    with qtbot.waitSignal(view.compare_finished, timeout=120_000):
        view.use_base()                                      # the chat goes back to the base model …
        view.select_version(1)
        view.compare_selected()                              # … and compares base vs v1 on its worker
    assert host.adapter_version is None, view.compare_status.text()
    rows = view.compare_table.rowCount()
    assert rows == len(view.compare_results) and rows > 0
    assert "base model" in view.compare_table.horizontalHeaderItem(1).text()


def test_cancel_terminates_the_round_and_nothing_is_registered(
        qtbot, ctx: AppContext, approved: int, replay_file: Path, tiny_model_dir: Path) -> None:
    view = make_view(qtbot, ctx, None, tiny_model_dir, replay_file, "--set", "epochs=100")
    with qtbot.waitSignal(view.round_finished, timeout=ROUND_TIMEOUT_MS) as finished:
        view.train_button.click()
        qtbot.waitUntil(lambda: view.phase_label.text().startswith("training"), timeout=ROUND_TIMEOUT_MS)
        assert "ETA" in view.phase_label.text()              # an ETA is shown
        view.cancel_button.click()
    assert finished.args == [130]
    assert "cancelled" in view.status_label.text()
    assert adapters.list_adapters(ctx.db) == [] and [r.status for r in adapters.list_runs(ctx.db)] == ["cancelled"]
    assert view.train_button.isEnabled()


def test_the_must_pass_editor_is_for_teachers_and_validates_patterns(
        qtbot, ctx: AppContext, replay_file: Path, tiny_model_dir: Path, teacher) -> None:
    view = make_view(qtbot, ctx, None, tiny_model_dir, replay_file)
    view.must_prompt.setText("Who is the head teacher?")
    view.must_match.setPlainText("Quarrington")
    view.add_must_pass()
    assert "Sign in" in view.status_label.text() and adapters.list_must_pass(ctx.db) == []

    ctx.teacher = teacher
    view.must_match.setPlainText("(unclosed")
    view.add_must_pass()
    assert "not a valid regular expression" in view.status_label.text()

    view.must_match.setPlainText("Quarrington\nDr")
    view.must_not.setPlainText("I don't know")
    view.add_must_pass()
    (item,) = adapters.list_must_pass(ctx.db)
    assert item.must_match == ("Quarrington", "Dr") and item.must_not_match == ("I don't know",)
    assert view.must_list.count() == 1

    view.must_list.setCurrentRow(0)
    view.must_prompt.setText("Who leads Brackenfield?")
    view.save_must_pass()
    assert adapters.list_must_pass(ctx.db)[0].prompt == "Who leads Brackenfield?"
    view.must_list.setCurrentRow(0)
    view.delete_must_pass()
    assert adapters.list_must_pass(ctx.db) == []


def test_the_chat_never_applies_an_adapter_trained_on_another_model(
        qtbot, ctx: AppContext, host: ModelHost, data_dir: DataDir, tiny_model_dir: Path, teacher) -> None:
    """A teacher switched the chat's model after promoting v1: v1 stays out (it would fail to load or,
    worse, answer nonsense), the teacher is told once, and an adapter for this model goes in at once."""
    for version, base_model in ((1, "another-model"), (2, host.model_id)):
        path = noisy_adapter(tiny_model_dir, data_dir, data_dir.adapters_dir / f"v{version}", seed=version)
        adapters.register_adapter(ctx.db, version=version, base_model_id=base_model, path=str(path), n_examples=1,
                               n_heldout=0, n_replay=0, examples_approved_until=None, recipe={}, metrics={},
                               gate={}, gate_passed=True, gate_reason="All checks passed.", run_id=None,
                               train_ids=[], heldout_ids=[])
    adapters.promote(ctx.db, teacher, 1)
    sync = AdapterSync(ctx, host)
    with qtbot.waitSignal(sync.problem, timeout=10_000) as failed:
        sync.sync()
    assert "trained on another-model" in failed.args[0] and host.model_id in failed.args[0]
    assert host.adapter_version is None
    with qtbot.assertNotEmitted(sync.problem):           # said once, not at every change
        sync.sync()
    view = AdaptationView(ctx, host, model_spec=lambda: str(tiny_model_dir))
    qtbot.addWidget(view)
    view.refresh()
    view.select_version(1)
    with qtbot.waitSignal(view.compare_finished, timeout=10_000):
        view.compare_selected()                              # nor does it compare v1 on this model
    assert "trained on another-model" in view.compare_status.text() and view.compare_table.rowCount() == 0

    adapters.promote(ctx.db, teacher, 2)
    with qtbot.waitSignal(host.adapter_changed, timeout=60_000) as swapped:
        sync.sync()
    assert swapped.args == [2] and host.adapter_version == 2
