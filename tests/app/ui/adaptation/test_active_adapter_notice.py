"""An active adapter whose files are missing or changed since it was registered (not only a missing
folder) is caught by storage.adapters.check_active: the Adaptation window shows the notice, and the
chat's model is switched to the base model with the same notice. No model is loaded: a stand-in host."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.ui.adaptation.adaptation_view import AdaptationView, AdapterSync
from app.ui.context import AppContext, ChangeKind
from app.ui.worker import READY
from storage import Database, DataDir
from storage import adapters
from storage.users import User
from tests.storage.fake_adapter import write_fake_adapter


class StandInHost(QObject):
    """What AdapterSync uses of ModelHost: the state, the model id and set_adapter."""
    state_changed = Signal(str)
    adapter_failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.state, self.model_id = READY, "tiny"
        self.applied: list[tuple[str | None, int | None]] = []

    def set_adapter(self, path: str | None, version: int | None) -> None:
        self.applied.append((path, version))


def promoted_v1(db: Database, data_dir: DataDir, teacher: User) -> Path:
    folder = write_fake_adapter(data_dir.adapters_dir / "v1", seed=1)
    adapters.register_adapter(
        db, version=1, base_model_id="tiny", path=str(folder), n_examples=1, n_heldout=0, n_replay=0,
        examples_approved_until=None, recipe={}, metrics={}, gate={}, gate_passed=True,
        gate_reason="All checks passed.", run_id=None, train_ids=[], heldout_ids=[])
    adapters.promote(db, teacher, 1)
    return folder / "adapter_model.safetensors"


def change_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF                       # same size, same folder: only the hash tells
    path.write_bytes(bytes(data))


def test_the_window_shows_the_notice_for_changed_adapter_files(qtbot, data_dir: DataDir, db: Database,
                                                               teacher: User) -> None:
    weights = promoted_v1(db, data_dir, teacher)
    ctx = AppContext(data_dir=data_dir, db=db, teacher=teacher)
    view = AdaptationView(ctx, None, model_spec=lambda: "tiny")
    qtbot.addWidget(view)
    assert view.active_notice is None and "base model" not in view.status_label.text()
    change_one_byte(weights)
    ctx.changes.notify(ChangeKind.ADAPTERS)
    assert view.active_notice and "active adapter v1 cannot be used" in view.active_notice
    assert view.status_label.text() == view.active_notice and "base model" in view.active_notice


def test_the_chat_falls_back_to_the_base_model_with_the_notice(qtbot, data_dir: DataDir, db: Database,
                                                              teacher: User) -> None:
    weights = promoted_v1(db, data_dir, teacher)
    ctx = AppContext(data_dir=data_dir, db=db)
    host = StandInHost()
    sync = AdapterSync(ctx, host)  # type: ignore[arg-type]
    problems: list[str] = []
    sync.problem.connect(problems.append)
    sync.sync()
    assert host.applied[-1][1] == 1 and problems == []
    change_one_byte(weights)
    ctx.changes.notify(ChangeKind.ADAPTERS)
    assert host.applied[-1] == (None, None)                      # the base model answers
    assert problems == [adapters.check_active(db).notice]
