"""Class folder benchmark: prints ONE JSON object on stdout.

    python bench/class_sync.py [--students 30] [--exchanges 200] [--adapter-mb 35]

Builds, in a temporary folder, a teacher's data folder, --students student data folders (each with
--exchanges replies carrying their recorded prompts: system prompt + the mode's wrapper + the
question, as the window records them) and one class folder. Then times:
- each student desktop writing its outbox (one segment per desktop);
- the teacher importing every segment into the review queue (the figure asked for), and importing
  again (idempotent: nothing new);
- a promoted adapter of --adapter-mb (35 MB is the size of rank-16 all-linear LoRA weights for
  Qwen2.5-0.5B in fp32) published by the teacher, and picked up by one student desktop (signature,
  every file's SHA-256, copy-in checked again, registered active). The hot-swap in the model
  afterwards is the engine's (docs/serving.md); a student desktop polls every 3 minutes, so the
  wait for an adapter is at most that plus the pick-up time;
- the review queue with every exchange pending: counting it, listing its first page (50);
- folder bytes per exchange (the outbox segments over the exchanges they carry).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # runnable as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from learner.prompts import mode_turn, system_prompt
from storage import Database, DataDir, adapters, auth, chat, classfolder, review, users

MODEL = "bench-model"
QUESTION = "My teacher says {n}/8 + 3/8 is not {m}/16. Why do we keep the denominator the same when we add?"
ANSWER = ("When the pieces are the same size, adding fractions counts pieces: {n} eighths and 3 more eighths make "
          "{m} eighths, so {n}/8 + 3/8 = {m}/8. Adding the denominators would change the size of the pieces, and "
          "the pieces did not change. Try drawing a bar cut into 8 equal parts and shading them.")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, round(time.perf_counter() - start, 4)


def student_desktop(root: Path, name: str, exchanges: int) -> Database:
    db = Database(DataDir(root).ensure().db_path)
    user = users.create_user(db, name, grade="7")
    session = chat.create_session(db, user.id, title="Fractions", topic="Fractions")
    system = system_prompt(grade="7", topic="Fractions")
    with db.transaction():
        for n in range(exchanges):
            question = QUESTION.format(n=n % 5 + 1, m=n % 5 + 4)
            chat.add_message(db, session.id, "user", question, mode="explain")
            reply = chat.add_message(db, session.id, "assistant", ANSWER.format(n=n % 5 + 1, m=n % 5 + 4),
                                     mode="explain", model_id=MODEL)
            review.record_reply_prompt(db, reply.id, [
                {"role": "system", "content": system},
                {"role": "user", "content": mode_turn("explain", question, grade="7", topic="Fractions")}])
            if n % 4 == 0:
                chat.set_feedback(db, reply.id, rating=-1 if n % 8 == 0 else 1)
    return db


def fake_adapter(folder: Path, megabytes: int) -> Path:
    """A folder shaped like a PEFT adapter whose weights file is `megabytes` of random bytes."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 16, "lora_alpha": 32}))
    data_len = megabytes * 2**20
    header = json.dumps({"w": {"dtype": "U8", "shape": [data_len], "data_offsets": [0, data_len]}}).encode()
    with open(folder / "adapter_model.safetensors", "wb") as out:
        out.write(struct.pack("<Q", len(header)) + header)
        out.writelines(os.urandom(2**20) for _ in range(megabytes))
    (folder / "recipe.json").write_text(json.dumps({"rank": 16}))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--exchanges", type=int, default=200)
    parser.add_argument("--adapter-mb", type=int, default=35)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tutorloop-class-bench-") as tmp:
        root = Path(tmp)
        share = root / "share"
        share.mkdir()
        teacher_dir = DataDir(root / "teacher").ensure()
        tdb = Database(teacher_dir.db_path)
        teacher = auth.create_teacher(tdb, None, "Bench Teacher", "bench password",
                                      params=auth.ScryptParams(n=2**8))
        member = classfolder.create_class(tdb, teacher, "7B", share / "7b", model_id=MODEL)

        setup_start = time.perf_counter()
        students = [student_desktop(root / f"s{i:02d}", f"Student {i:02d}", args.exchanges)
                    for i in range(args.students)]
        setup_s = round(time.perf_counter() - setup_start, 1)
        for db in students:
            classfolder.join_class(db, None, member.folder)
        send_times = []
        for db in students:
            report, seconds = timed(lambda db=db: classfolder.send(db))
            assert report.exchanges == args.exchanges
            send_times.append(seconds)
        outbox_bytes = sum(p.stat().st_size for p in (member.folder / "outbox").rglob("*.jsonl"))
        total = args.students * args.exchanges

        imported, import_s = timed(lambda: classfolder.import_outboxes(tdb, teacher))
        assert imported.imported == total, imported
        again, reimport_s = timed(lambda: classfolder.import_outboxes(tdb, teacher))
        queue, count_s = timed(lambda: review.count_queue(tdb, teacher))
        _, page_s = timed(lambda: review.list_queue(tdb, teacher, review.QueueFilter(limit=50)))

        folder = fake_adapter(teacher_dir.adapters_dir / "v1", args.adapter_mb)
        adapters.register_adapter(tdb, version=1, base_model_id=MODEL, path=str(folder), n_examples=1, n_heldout=0,
                                  n_replay=0, examples_approved_until=None, recipe={}, metrics={}, gate={},
                                  gate_passed=True, gate_reason="bench", run_id=None, train_ids=[], heldout_ids=[])
        adapters.promote(tdb, teacher, 1)
        report, publish_s = timed(lambda: classfolder.publish(tdb))
        assert report.published and report.version == 1
        picked, pickup_s = timed(lambda: classfolder.pick_up(students[0]))
        assert picked.changed and picked.version == 1, picked
        _, idle_sync_s = timed(lambda: classfolder.sync(students[1]))      # sends nothing new, takes v1 in
        _, nothing_new_s = timed(lambda: classfolder.sync(students[1]))    # the every-3-minutes poll
        for db in students:
            db.close()
        tdb.close()
    print(json.dumps({
        "students": args.students, "exchanges_per_student": args.exchanges, "exchanges": total,
        "setup_s": setup_s,
        "send_s": {"mean": round(sum(send_times) / len(send_times), 4), "max": max(send_times)},
        "import_s": import_s, "import_per_exchange_ms": round(import_s / total * 1000, 3),
        "reimport_s": reimport_s, "reimport_new": again.imported, "queue_pending": queue,
        "queue_count_s": count_s, "queue_first_page_s": page_s,
        "bytes_per_exchange": round(outbox_bytes / total, 1), "outbox_bytes": outbox_bytes,
        "adapter_mb": args.adapter_mb, "publish_s": publish_s, "pickup_s": pickup_s,
        "student_sync_with_new_adapter_s": idle_sync_s, "student_sync_nothing_new_s": nothing_new_s,
        "poll_interval_s": 180, "adapter_wait_worst_s": round(180 + pickup_s, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
