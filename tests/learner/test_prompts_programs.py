"""The chat that asks the model for a program: worked examples from assets/prompts/solve_program.md."""
from __future__ import annotations

from pathlib import Path

from learner.maths import program_from_reply
from learner.maths.program import run_program
from learner.prompts import program_messages


def test_the_worked_examples_become_turns_and_each_one_runs() -> None:
    messages = program_messages("Sam has 3 bags with 4 apples each. How many apples?")
    roles = [m["role"] for m in messages]
    assert roles[-1] == "user" and messages[-1]["content"].endswith("How many apples?")
    assert len(messages) >= 5 and roles[:-1] == ["user", "assistant"] * ((len(messages) - 1) // 2)
    assert "solution()" in messages[0]["content"]                # the instructions open the first turn
    for answer in messages[1:-1:2]:   # every example is a program the engine runs (a broken one teaches breakage)
        program = program_from_reply(answer["content"])
        assert program is not None and run_program(program).value > 0


def test_a_file_without_examples_or_with_a_placeholder_is_one_turn(tmp_path: Path) -> None:
    (tmp_path / "solve_program.md").write_text("Write def solution() for: {message} Thanks.", encoding="utf-8")
    assert program_messages("How many?", prompts_dir=tmp_path) == [
        {"role": "user", "content": "Write def solution() for: How many? Thanks."}]
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "solve_program.md").write_text("Write def solution().", encoding="utf-8")
    assert program_messages("How many?", prompts_dir=plain) == [
        {"role": "user", "content": "Write def solution().\n\nProblem: How many?"}]
