"""Parity of the two engines on the real model: prints ONE JSON object on stdout.

    python bench/engine_parity.py [--data-dir DIR] [--adapter PEFT_FOLDER] [--tokens 32]

For 10 fixed tutoring prompts (system prompt + the mode's wrapper, as the chat builds them), greedy
with the embedded model's repetition penalty: the llama.cpp engine on the Q4_K_M GGUF with the
adapter exported to a GGUF LoRA, against the transformers engine on the bf16 de-quantisation of the
same file with the PEFT adapter. Reported per prompt: how many of the first N tokens agree before
the first difference (`leading`) and in the same positions (`positional`), for the base model and
with the adapter. The weights are the same numbers (bf16-rounded on one side, quantised blocks read
directly on the other), so most should agree; after a first difference greedy replies diverge.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from learner.adapt.dataset import common_prefix_length
from learner.engine import SamplingSettings
from learner.prompts import build_prompt
from learner.types import TutorRequest
from storage import DataDir, resolve_data_dir

PROMPTS = [
    ("explain", "Fractions", "How do I add 1/3 and 1/4?"),
    ("explain", "Science", "Why do plants need sunlight?"),
    ("hint", "Algebra", "How do I solve 2x + 3 = 11?"),
    ("hint", "Geometry", "What is the area of a triangle with base 6 cm and height 4 cm?"),
    ("explain", "Grammar", "What is the difference between a noun and a verb?"),
    ("practice", "Fractions", "Give me a question about equivalent fractions."),
    ("explain", "History", "Why did the Romans build roads?"),
    ("hint", "Percentages", "What is 15% of 80?"),
    ("explain", "Programming", "What does a for loop do in Python?"),
    ("practice", "Multiplication", "Give me a question about the 7 times table."),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir")
    parser.add_argument("--adapter", help="a PEFT adapter folder (default: a random one in the recipe's shape)")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--adapter-only", action="store_true", help="skip the base model's comparison")
    args = parser.parse_args(argv)

    from learner.engine.gguf_source import gguf_for_spec
    from learner.engine.llama_cpp_engine import LlamaCppEngine
    from learner.engine.transformers_engine import TransformersEngine
    from learner.sources import prepare_model

    data_dir = resolve_data_dir(args.data_dir).ensure() if args.data_dir else \
        DataDir(Path(tempfile.mkdtemp(prefix="tutorloop-parity-"))).ensure()
    gguf = gguf_for_spec("default", data_dir)
    prepared = prepare_model("default", data_dir)
    adapter = Path(args.adapter) if args.adapter else data_dir.root / "bench-adapter"
    if not (adapter / "adapter_model.safetensors").is_file():
        from bench.engines import make_random_adapter

        make_random_adapter(prepared.path, adapter)
    log("loading both engines")
    ours = LlamaCppEngine.load(gguf.path, model_id=gguf.model_id)
    theirs = TransformersEngine.load(prepared, device="cpu")   # bf16 on CPU: what the chat runs today
    settings = SamplingSettings(max_new_tokens=args.tokens, temperature=0.0, repetition_penalty=1.1)

    result: dict[str, object] = {"adapter": str(adapter), "tokens": args.tokens, "transformers_dtype": theirs.loaded.dtype}
    for label, path in (("base", None), ("adapter", adapter)):
        if args.adapter_only and path is None:
            continue
        ours.set_adapter(path)
        theirs.set_adapter(path)
        rows = []
        for mode, topic, text in PROMPTS:
            request = TutorRequest(user_text=text, mode=mode, grade="6", topic=topic)  # type: ignore[arg-type]
            built = build_prompt(request, theirs.loaded.tokenizer, context_window=4096, max_new_tokens=args.tokens)
            ids = theirs.render(built.messages)
            assert ours.render(built.messages) == ids, "the engines tokenized the prompt differently"
            a, b = ours.stream(ids, settings), theirs.stream(ids, settings)
            text_a, text_b = "".join(a), "".join(b)
            ta = a.token_ids + ([-1] if a.finish_reason == "end_of_turn" else [])
            tb = b.token_ids + ([-1] if b.finish_reason == "end_of_turn" else [])
            n = min(args.tokens, max(len(ta), len(tb)))
            rows.append({"prompt": text, "leading": common_prefix_length(ta, tb), "positional": sum(x == y for x, y in zip(ta, tb)),
                         "of": n, "llama_cpp": text_a[:100], "transformers": text_b[:100]})
            log(f"{label}: {rows[-1]['leading']:2d}/{n} {text}")
        result[label] = {
            "leading_agree": sum(r["leading"] for r in rows), "positional_agree": sum(r["positional"] for r in rows),
            "of": sum(r["of"] for r in rows), "identical_replies": sum(r["leading"] == r["of"] for r in rows),
            "prompts": rows,
        }
    ours.unload()
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
