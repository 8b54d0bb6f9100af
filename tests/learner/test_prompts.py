from __future__ import annotations

import re
from pathlib import Path

import pytest

from learner.loading import LoadedModel
from learner.prompts import PROMPTS_DIR, TRIM_MARKER, build_prompt, mode_turn, render_chat, system_prompt
from learner.types import Turn, TutorRequest


def test_prompt_files_exist_for_every_mode() -> None:
    for name in ("system", "explain", "hint", "practice"):
        assert (PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8").strip()


@pytest.mark.parametrize(("mode", "phrase"), [
    ("explain", "Explain"),
    ("hint", "do NOT give the answer"),
    ("practice", "Answer key:"),
])
def test_the_newest_message_is_wrapped_in_its_mode(mode: str, phrase: str) -> None:
    text = mode_turn(mode, "What is 1/2 + 1/4?", grade="grade 7", topic="Fractions")
    assert phrase in text
    assert "What is 1/2 + 1/4?" in text and "grade 7" in text
    assert "{grade}" not in text and "{topic}" not in text and "{message}" not in text
    others = {"explain", "hint", "practice"} - {mode}
    assert all(mode_turn(other, "x") != text for other in others)


def test_system_prompt_names_grade_and_topic() -> None:
    text = system_prompt(grade="grade 7", topic="Fractions")
    assert "grade 7" in text and "Fractions" in text


def test_missing_grade_and_topic_read_naturally() -> None:
    text = system_prompt()
    assert "not specified" in text and "general" in text and "{" not in text


def test_placeholders_inside_the_message_are_left_alone() -> None:
    assert "my {grade} and {topic}" in mode_turn("explain", "my {grade} and {topic}", grade="9")


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        mode_turn("lecture", "hi")


def test_build_prompt_orders_system_history_user(tiny_loaded: LoadedModel) -> None:
    request = TutorRequest(user_text="And 1/3?", mode="hint", grade="5", topic="Fractions",
                           history=(Turn(role="user", content="What is 1/2?"),
                                    Turn(role="assistant", content="Half of a whole.")))
    built = build_prompt(request, tiny_loaded.tokenizer, context_window=4096, max_new_tokens=64)
    assert [m["role"] for m in built.messages] == ["system", "user", "assistant", "user"]
    assert built.messages[-1]["content"] == mode_turn("hint", "And 1/3?", grade="5", topic="Fractions")
    assert built.messages[1]["content"] == "What is 1/2?"   # history stays as it was said
    assert "5" in built.messages[0]["content"] and "Fractions" in built.messages[0]["content"]
    assert not built.trimmed and built.notice is None


def test_huge_paste_is_trimmed_to_the_window_with_a_notice(tiny_loaded: LoadedModel) -> None:
    paste = "".join(f"line {i}: the numerator counts parts.\n" for i in range(3000))[:100_000]
    assert len(paste) == 100_000
    request = TutorRequest(user_text=paste, mode="explain")
    built = build_prompt(request, tiny_loaded.tokenizer, context_window=2048, max_new_tokens=256)
    assert built.trimmed
    assert built.notice is not None and "trimmed" in built.notice and "of 100,000 characters" in built.notice
    user = built.messages[-1]["content"]
    n_kept = int(re.search(r"kept the last ([\d,]+) of", built.notice).group(1).replace(",", ""))
    assert 1000 < n_kept < 100_000
    assert user == mode_turn("explain", TRIM_MARKER + paste[-n_kept:])
    n_prompt = len(render_chat(tiny_loaded.tokenizer, built.messages))
    assert 2048 - 256 - 50 < n_prompt <= 2048 - 256   # uses the room, never more


def test_old_history_is_dropped_before_the_message_is_cut(tiny_loaded: LoadedModel) -> None:
    history = tuple(Turn(role="user" if i % 2 == 0 else "assistant", content=f"turn {i} " + "word " * 150)
                    for i in range(8))
    request = TutorRequest(user_text="What about the last step?", mode="explain", history=history)
    built = build_prompt(request, tiny_loaded.tokenizer, context_window=2048, max_new_tokens=256)
    assert "What about the last step?" in built.messages[-1]["content"]
    kept = [m["content"] for m in built.messages[1:-1]]
    assert 0 < len(kept) < 8 and kept[-1].startswith("turn 7")   # newest kept, oldest gone
    assert built.notice is not None and "left out" in built.notice


def test_prompts_dir_can_be_swapped(tmp_path: Path) -> None:
    for name, body in {"system": "SYS {grade}", "explain": "EXP {topic}: {message}!", "hint": "H", "practice": "P"}.items():
        (tmp_path / f"{name}.md").write_text(body, encoding="utf-8")
    assert system_prompt(grade="9", topic="Cells", prompts_dir=tmp_path) == "SYS 9"
    assert mode_turn("explain", "why?", topic="Cells", prompts_dir=tmp_path) == "EXP Cells: why?!"
    assert mode_turn("hint", "why?", prompts_dir=tmp_path) == "H\n\nwhy?"
