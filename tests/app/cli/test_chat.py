"""`tutorloop ask` / `prepare-model` run as real subprocesses against the tiny model folder."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "TUTORLOOP_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("QT_QPA_PLATFORM", None)
    return env


def tutorloop(home: Path, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", "--data-dir", str(home), *args], cwd=ROOT, env=_env(home),
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def test_ask_streams_an_answer_to_stdout(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = tutorloop(tmp_path, "ask", "What is a fraction?", "--model", str(tiny_model_dir),
                       "--max-new-tokens", "24", "--temperature", "1.0", "--grade", "5", "--topic", "Fractions")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "the answer should be on stdout"
    assert "tiny-qwen2" in result.stderr and "tokens/s" in result.stderr   # status goes to stderr
    assert "tiny-qwen2" not in result.stdout
    assert_no_traceback(result)


def test_ask_reads_the_question_from_stdin(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = tutorloop(tmp_path, "ask", "-", "--model", str(tiny_model_dir), "--max-new-tokens", "4",
                       "--mode", "practice", stdin="Give me a practice question on fractions\n")
    assert result.returncode == 0, result.stderr
    assert "answer key" in result.stderr.lower()


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_question_is_refused(text: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    result = tutorloop(tmp_path, "ask", text, "--model", str(tiny_model_dir))
    assert result.returncode == 2
    assert "empty" in result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize(("args", "code", "phrase"), [
    (["--model", "/no/such/model"], 1, "does not exist"),
    (["--temperature", "9"], 2, "temperature"),
    (["--max-new-tokens", "0"], 2, "max_new_tokens"),
    (["--mode", "lecture"], 2, "invalid choice"),
    (["--device", "cuda"], 1, "CUDA"),
])
def test_bad_options_give_a_clear_message(args: list[str], code: int, phrase: str, tiny_model_dir: Path,
                                          tmp_path: Path) -> None:
    if "--device" in args:
        import torch
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    if "--model" not in args:
        args = [*args, "--model", str(tiny_model_dir)]
    result = tutorloop(tmp_path, "ask", "What is 1/2?", *args)
    assert result.returncode == code, result.stderr
    assert phrase in result.stderr
    assert_no_traceback(result)


def test_hub_id_offline_is_explained(tmp_path: Path) -> None:
    result = tutorloop(tmp_path, "prepare-model", "--model", "Qwen/Qwen2.5-0.5B-Instruct")
    assert result.returncode == 1
    assert "offline" in result.stderr
    assert_no_traceback(result)


def test_prepare_model_on_a_folder_reports_it_ready(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = tutorloop(tmp_path, "prepare-model", "--model", str(tiny_model_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tiny_model_dir.resolve())
    assert "Already prepared: tiny-qwen2" in result.stderr


@pytest.mark.parametrize(("command", "options"), [
    ("ask", ["--mode", "--model", "--grade", "--topic", "--max-new-tokens", "--temperature", "--device"]),
    ("prepare-model", ["--model"]),
])
def test_help(command: str, options: list[str], tmp_path: Path) -> None:
    result = tutorloop(tmp_path, command, "--help")
    assert result.returncode == 0
    for option in options:
        assert option in result.stdout


def test_ctrl_c_stops_the_answer_cleanly(tiny_model_dir: Path, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "--data-dir", str(tmp_path), "ask", "Tell me a long story",
         "--model", str(tiny_model_dir), "--max-new-tokens", "4000", "--temperature", "1.0"],
        cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.read(1)          # blocks until the answer has started streaming
        assert first, "no answer started"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert "stopped" in err
    assert "Traceback" not in err


def test_the_chat_commands_do_not_import_qt(tmp_path: Path) -> None:
    code = ("import sys, app.cli.chat, learner.tutor, learner.sources; "
            "sys.exit(1 if any(m.split('.')[0] == 'PySide6' for m in sys.modules) else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(tmp_path), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_ask_uses_the_settings_saved_by_the_window(tiny_model_dir: Path, tmp_path: Path) -> None:
    from learner.settings import STORAGE_KEY, GenerationSettings
    from storage import Database, DataDir, chat

    home = DataDir(tmp_path / "home").ensure()
    db = Database(home.db_path)
    try:
        saved = GenerationSettings(model_spec=str(tiny_model_dir), max_new_tokens=3, temperature=1.0)
        chat.set_setting(db, STORAGE_KEY, saved.to_dict())
    finally:
        db.close()
    result = tutorloop(home.root, "ask", "What is a fraction?")           # no --model: the saved one
    assert result.returncode == 0, result.stderr
    assert "tiny-qwen2" in result.stderr and 1 <= _n_tokens(result.stderr) <= 3
    result = tutorloop(home.root, "ask", "What is a fraction?", "--max-new-tokens", "2")   # flags win
    assert result.returncode == 0, result.stderr
    assert 1 <= _n_tokens(result.stderr) <= 2


def test_ask_says_when_it_works_a_word_problem_out_first(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Programs are written for a word problem before the answer streams: stderr says why it waits."""
    problem = "Natalia sold 48 clips in April and half as many in May. How many clips did she sell altogether?"
    result = tutorloop(tmp_path, "ask", problem, "--model", str(tiny_model_dir), "--max-new-tokens", "8")
    assert result.returncode == 0, result.stderr
    stage = "(working the problem out…)"
    assert result.stderr.count(stage) == 1 and stage not in result.stdout
    result = tutorloop(tmp_path, "ask", "What is 1/2 + 1/4?", "--model", str(tiny_model_dir), "--max-new-tokens", "8")
    assert result.returncode == 0, result.stderr
    assert "working the problem out" not in result.stderr   # the engine read the sum itself


def _n_tokens(stderr: str) -> int:
    match = re.search(r"\[(\d+) tokens", stderr)
    assert match, stderr
    return int(match.group(1))


def test_prepare_model_converts_a_gguf_file_with_a_progress_bar(tiny_model_dir: Path, tmp_path: Path) -> None:
    from tests.learner.tiny_gguf import write_tiny_gguf

    gguf_file = write_tiny_gguf(tiny_model_dir, tmp_path / "tiny.gguf")
    home = tmp_path / "home"
    result = tutorloop(home, "prepare-model", "--model", str(gguf_file))
    assert result.returncode == 0, result.stderr
    cache = Path(result.stdout.strip())
    assert cache.parent == home / "models" and (cache / "model.safetensors").is_file()
    assert "Prepared: tiny (GGUF→bfloat16)" in result.stderr and "100%" in result.stderr   # the bar, finished
    assert "de-quantizing GGUF tensors" not in result.stderr      # transformers' own bar stays quiet
    assert_no_traceback(result)
    again = tutorloop(home, "prepare-model", "--model", str(gguf_file))
    assert again.returncode == 0 and "Already prepared" in again.stderr
