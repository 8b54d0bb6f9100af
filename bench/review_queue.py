"""Review-queue benchmark: prints ONE JSON object on stdout.

    python bench/review_queue.py [--students 100] [--exchanges 100] [--session-approvals 3000]

Builds a temporary database with students x exchanges chat replies, then times what a teacher
waits for: listing the pending queue (all, and one filtered page), the counts, one approval,
a bulk approval of 500, exporting every approved example, and importing that export again.
Password hashing (scrypt, the production parameters) is timed too: it is what sign-in costs.

The long-session case: one student's single session of --session-approvals exchanges, every reply
approved in one bulk action with the untrimmed-history prompt builder. Each snapshot's prompt is
that whole history, so stored whole they grow quadratically; `long_session` reports the time and
how much the database grew (targets: under 10 s and 20 MB for 3,000).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # runnable as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from learner.review_prompt import prompt_messages_for  # noqa: E402
from storage import Database, auth, exchange, review  # noqa: E402
from storage.db import utcnow  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, round(time.perf_counter() - start, 4)


def database_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def long_session_case(path: Path, approvals: int) -> dict[str, object]:
    """One session of `approvals` exchanges, all approved in one bulk action (see the module)."""
    db = Database(path)
    teacher = auth.create_teacher(db, None, "Long Teacher", "bench password", params=auth.ScryptParams(n=2**8))
    now = utcnow()
    with db.transaction() as t:
        uid = t["users"].insert({"name": "Long Student", "name_key": "long student", "role": "student",
                                 "grade": "7", "created_at": now}).last_pk
        sid = t["sessions"].insert({"user_id": uid, "title": "all year", "topic": "Arithmetic", "private": 0,
                                    "created_at": now, "updated_at": now}).last_pk
        rows = []
        for e in range(approvals):
            rows.append({"session_id": sid, "role": "user", "content": f"Question {e}: what is {e} + {e + 1}?",
                         "mode": "explain", "status": "complete", "created_at": now})
            rows.append({"session_id": sid, "role": "assistant", "content": f"Answer {e}: add the ones first, then "
                         f"the tens; {e} + {e + 1} = {2 * e + 1}.", "mode": "explain", "status": "complete",
                         "created_at": now})
        t["messages"].insert_all(rows)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = database_bytes(path)
    keys = [i.key for i in review.list_queue(db, teacher, review.QueueFilter(student_id=uid))]
    decisions, approve_s = timed(lambda: review.approve_many(db, teacher, keys, prompt_for=prompt_messages_for))
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    grown = database_bytes(path) - before
    examples, list_s = timed(lambda: review.list_examples(db))
    longest = max(len(e.prompt) for e in examples)
    db.close()
    return {"approvals": len(decisions), "approve_all_s": approve_s, "db_growth_mb": round(grown / 1e6, 2),
            "list_examples_s": list_s, "longest_prompt_messages": longest,
            "targets": {"approve_all_s": 10, "db_growth_mb": 20}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--exchanges", type=int, default=100)
    parser.add_argument("--session-approvals", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        teacher = auth.create_teacher(db, None, "Bench Teacher", "bench password", params=auth.ScryptParams(n=2**8))
        now = utcnow()
        with db.transaction() as t:   # bulk-load rows directly: the chat API's per-call transactions are not timed here
            for s in range(args.students):
                uid = t["users"].insert({"name": f"student{s}", "name_key": f"student{s}", "role": "student",
                                         "grade": "7", "created_at": now}).last_pk
                sid = t["sessions"].insert({"user_id": uid, "title": "t", "topic": f"topic{s % 7}", "private": 0,
                                            "created_at": now, "updated_at": now}).last_pk
                rows = []
                for e in range(args.exchanges):
                    rows.append({"session_id": sid, "role": "user", "content": f"question {e} " * 10, "mode": "explain",
                                 "status": "complete", "created_at": now})
                    rows.append({"session_id": sid, "role": "assistant", "content": f"answer {e} " * 30,
                                 "mode": "explain", "status": "complete", "created_at": now})
                t["messages"].insert_all(rows)
        replies = args.students * args.exchanges
        items, list_s = timed(lambda: review.list_queue(db, teacher))
        _, page_s = timed(lambda: review.list_queue(db, teacher, review.QueueFilter(topic="topic3", limit=50)))
        _, counts_s = timed(lambda: review.counts(db, teacher))
        _, detail_s = timed(lambda: review.get_detail(db, teacher, items[len(items) // 2].key))
        _, approve_s = timed(lambda: review.approve(db, teacher, items[0].key, prompt_for=prompt_messages_for))
        bulk_keys = [i.key for i in items[1:501]]
        _, bulk_s = timed(lambda: review.approve_many(db, teacher, bulk_keys, prompt_for=prompt_messages_for))
        out = Path(tmp) / "export.jsonl"
        exported, export_s = timed(lambda: exchange.export_examples(db, teacher, out))
        other = Database(Path(tmp) / "other.db")
        other_teacher = auth.create_teacher(other, None, "T", "bench password", params=auth.ScryptParams(n=2**8))
        report, import_s = timed(lambda: exchange.import_file(other, other_teacher, out, as_status="approved"))
        _, hash_s = timed(lambda: auth.hash_password("bench password"))
        long_session = long_session_case(Path(tmp) / "long.db", args.session_approvals)
        print(json.dumps({
            "bench": "review_queue", "python": platform.python_version(), "machine": platform.machine(),
            "replies": replies, "pending_listed": len(items),
            "list_all_s": list_s, "list_filtered_page_s": page_s, "counts_s": counts_s, "detail_s": detail_s,
            "approve_one_s": approve_s, "approve_500_s": bulk_s, "export_s": export_s, "exported": exported,
            "export_bytes": out.stat().st_size, "import_approved_s": import_s, "imported": report.imported,
            "scrypt_hash_s": hash_s, "scrypt_params": {"n": auth.DEFAULT_PARAMS.n, "r": auth.DEFAULT_PARAMS.r,
                                                       "p": auth.DEFAULT_PARAMS.p},
            "long_session": long_session,
        }, indent=2))
        other.close()
        db.close()


if __name__ == "__main__":
    main()
