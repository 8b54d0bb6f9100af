"""Measured figures per model on this machine: bench and the chat write them, Settings reads them."""
from __future__ import annotations

import json

from learner.engine.figures import (
    MIN_REPLY_TOKENS,
    NOT_MEASURED,
    describe,
    figures_for,
    figures_path,
    read_figures,
    record_bench,
    record_reply,
)
from storage import DataDir

SMALL, LARGE = "Qwen2.5-Coder-0.5B (test)", "Qwen2.5-Coder-1.5B (test)"


def test_nothing_measured_says_so(data_dir: DataDir) -> None:
    assert read_figures(data_dir) == {} and figures_for(data_dir, SMALL) is None
    assert describe(None) == NOT_MEASURED == "speed and memory not measured on this machine"


def test_chat_replies_give_the_median_of_the_latest_and_skip_short_ones(data_dir: DataDir) -> None:
    assert record_reply(data_dir, model_id=SMALL, engine="llama.cpp", n_tokens=MIN_REPLY_TOKENS - 1,
                        tokens_per_s=90.0) is None
    assert not figures_path(data_dir).exists()
    for speed in (20.0, 30.0, 10.0, 40.0, 25.0, 28.0):
        figures = record_reply(data_dir, model_id=SMALL, engine="llama.cpp", n_tokens=100, tokens_per_s=speed,
                               memory_mb=900.0)
    assert figures is not None and figures.recent_tokens_per_s == (30.0, 10.0, 40.0, 25.0, 28.0)  # the last five
    assert figures_for(data_dir, SMALL).tokens_per_s == 28.0
    assert describe(figures_for(data_dir, SMALL)) == \
        "28 tokens/s, 0.9 GB memory (llama.cpp, measured while chatting on this machine)"


def test_each_model_keeps_its_own_figures_and_llama_cpp_is_preferred(data_dir: DataDir) -> None:
    record_bench(data_dir, model_id=LARGE, engine="transformers", tokens_per_s=6.0, memory_mb=4000.0)
    record_bench(data_dir, model_id=LARGE, engine="llama.cpp", tokens_per_s=14.5, memory_mb=1500.0)
    record_reply(data_dir, model_id=SMALL, engine="llama.cpp", n_tokens=64, tokens_per_s=33.0, memory_mb=800.0)
    assert figures_for(data_dir, LARGE).tokens_per_s == 14.5 and figures_for(data_dir, SMALL).tokens_per_s == 33.0
    assert set(read_figures(data_dir)[LARGE]) == {"transformers", "llama.cpp"}
    assert describe(figures_for(data_dir, LARGE)).endswith("(llama.cpp, measured by bench on this machine)")


def test_a_damaged_or_foreign_file_reads_as_not_measured(data_dir: DataDir) -> None:
    figures_path(data_dir).parent.mkdir(parents=True, exist_ok=True)
    figures_path(data_dir).write_text("{not json")
    assert read_figures(data_dir) == {}
    figures_path(data_dir).write_text(json.dumps({"format": 99, "models": {SMALL: {}}}))
    assert figures_for(data_dir, SMALL) is None
    record_bench(data_dir, model_id=SMALL, engine="llama.cpp", tokens_per_s=30.0, memory_mb=700.0)  # rewrites it
    assert figures_for(data_dir, SMALL).memory_mb == 700.0
    assert not [p for p in figures_path(data_dir).parent.iterdir() if ".partial-" in p.name]
