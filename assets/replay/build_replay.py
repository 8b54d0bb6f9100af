"""Build assets/replay/replay.jsonl from the hand-written exchanges in assets/replay/source/*.txt.

The exchanges were written by hand for tutorloop; this script only wraps them in the prompt the
app itself sends for a first message in that mode (rendered by `learner.prompts.build_prompt`, the
function the chat uses, so the replay set trains on exactly the students' prompt format) and writes
one JSON object per line, in a stable order.

    python assets/replay/build_replay.py           # rewrite replay.jsonl
    python assets/replay/build_replay.py --check   # exit 1 if replay.jsonl is out of date

Rerun it whenever a file in assets/prompts/ or assets/replay/source/ changes.

Source format (one block per exchange; lines starting with "#" outside a block are comments):

    ## <mode> | <subject> | <grade> | <topic> [| answer: <final answer, hint mode only>]
    > the student's message (one or more lines starting with "> ")
    the tutor's reply (every following line up to the next "## " header)
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

REPLAY_DIR = Path(__file__).resolve().parent
SOURCE_DIR = REPLAY_DIR / "source"
OUTPUT = REPLAY_DIR / "replay.jsonl"

if __package__ in (None, ""):   # run as a script: make the project importable
    sys.path.insert(0, str(REPLAY_DIR.parent.parent))

from learner.prompts import build_prompt, load_prompt_file  # noqa: E402
from learner.tutor import TutorRequest  # noqa: E402


class SourceError(ValueError):
    """A source file does not follow the format; the message names the file and line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceExchange:
    mode: str
    subject: str
    grade: str
    topic: str
    answer: str | None
    user: str
    assistant: str
    origin: str          # "file.txt:line" of the header, for error messages


def parse_source(path: Path) -> list[SourceExchange]:
    exchanges: list[SourceExchange] = []
    header: dict[str, str | None] | None = None
    origin = ""
    user_lines: list[str] = []
    reply_lines: list[str] = []

    def finish() -> None:
        if header is None:
            return
        user = "\n".join(user_lines).strip()
        reply = "\n".join(reply_lines).strip()
        if not user or not reply:
            raise SourceError(f"{origin}: an exchange needs a '> ' student line and a reply")
        exchanges.append(SourceExchange(user=user, assistant=reply, origin=origin, **header))  # type: ignore[arg-type]

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        if line.startswith("## "):
            finish()
            origin = f"{path.name}:{number}"
            fields = [f.strip() for f in line[3:].split("|")]
            if len(fields) not in (4, 5):
                raise SourceError(f"{origin}: expected '## mode | subject | grade | topic [| answer: ...]'")
            answer = None
            if len(fields) == 5:
                if not fields[4].startswith("answer:"):
                    raise SourceError(f"{origin}: the fifth field must start with 'answer:'")
                answer = fields[4].removeprefix("answer:").strip()
            header = {"mode": fields[0], "subject": fields[1], "grade": fields[2], "topic": fields[3],
                      "answer": answer}
            user_lines, reply_lines = [], []
        elif header is None:
            if line and not line.startswith("#"):
                raise SourceError(f"{path.name}:{number}: text before the first '## ' header")
        elif line.startswith("> ") and not reply_lines:
            user_lines.append(line[2:])
        elif line == ">" and not reply_lines:
            user_lines.append("")
        else:
            if line or reply_lines:      # skip blank lines between the question and the reply
                reply_lines.append(line)
    finish()
    return exchanges


def load_sources(source_dir: Path = SOURCE_DIR) -> list[SourceExchange]:
    exchanges: list[SourceExchange] = []
    for path in sorted(source_dir.glob("*.txt")):
        exchanges.extend(parse_source(path))
    return exchanges


class _WordCounter:
    """Stands in for a tokenizer so `build_prompt` can run without loading a model: the replay
    prompts are far below any context window, so only the rendered messages matter here."""

    chat_template = None

    def __call__(self, text: str) -> dict[str, list[str]]:
        return {"input_ids": text.split()}


def reply_in_prompt_format(mode: str, reply: str) -> str:
    """Practice replies in the source are "<question>\n...\nAnswer key: ..."; when the practice
    prompt asks for a "Question:" label, add it, so replay teaches the format the app asks for."""
    if mode == "practice" and "\nQuestion:" in "\n" + load_prompt_file("practice") and not reply.startswith("Question:"):
        return "Question: " + reply
    return reply


def to_record(ex: SourceExchange) -> dict[str, object]:
    request = TutorRequest(user_text=ex.user, mode=ex.mode, grade=ex.grade, topic=ex.topic)  # type: ignore[arg-type]
    prompt = build_prompt(request, _WordCounter(), context_window=1_000_000, max_new_tokens=512)
    record: dict[str, object] = {
        "messages": [*prompt.messages, {"role": "assistant", "content": reply_in_prompt_format(ex.mode, ex.assistant)}],
        "mode": ex.mode,
        "subject": ex.subject,
        "grade": ex.grade,
        "topic": ex.topic,
        "student_message": ex.user,
    }
    if ex.answer is not None:
        record["answer"] = ex.answer
    return record


def render_jsonl(exchanges: list[SourceExchange]) -> str:
    return "".join(json.dumps(to_record(ex), ensure_ascii=False) + "\n" for ex in exchanges)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that replay.jsonl is current")
    args = parser.parse_args(argv)
    try:
        text = render_jsonl(load_sources())
    except (SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python assets/replay/build_replay.py", file=sys.stderr)
            return 1
        print(f"{OUTPUT.name} is current ({text.count(chr(10))} exchanges)")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} exchanges to {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
