"""Generation benchmark: prints ONE JSON object on stdout (progress goes to stderr).

    python bench/generate.py [--model SPEC] [--data-dir DIR] [--max-new-tokens 128] [--skip-cold]

- load_s_cold: prepare (assemble + verify + convert for the embedded model) into a fresh temporary
  data folder, then load. Skipped (null) with --skip-cold, or when --data-dir already holds a cache.
- load_s_warm: prepare (cache check only) + load from the cache, as every later app start does.
- ttft_s / tokens_per_s: a fixed tutoring prompt through Tutor.reply, the app's own path (streaming
  callback, stop criterion, prompt building), greedy so runs compare.
- baseline_tokens_per_s / baseline_ttft_s: plain model.generate() on the same prompt ids in the same
  process, measured the same way (decode rate after the first token).
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # runnable as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import transformers  # noqa: E402

from learner.loading import load_model  # noqa: E402
from learner.prompts import build_prompt, render_chat  # noqa: E402
from learner.settings import GenerationSettings  # noqa: E402
from learner.sources import needs_preparation, prepare_model  # noqa: E402
from learner.tutor import Tutor, TutorRequest  # noqa: E402
from storage import DataDir, resolve_data_dir  # noqa: E402

REQUEST = TutorRequest(user_text="How do I add the fractions 1/3 and 1/4? Please explain step by step.",
                       mode="explain", grade="6", topic="Fractions")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed_load(spec: str, data_dir: DataDir, device: str, dtype: str):
    started = time.perf_counter()
    prepared = prepare_model(spec, data_dir, on_progress=lambda p: log(f"  {p.fraction:4.0%} {p.step}: {p.detail}"))
    loaded = load_model(prepared, device=device, dtype=dtype)
    return loaded, time.perf_counter() - started


def baseline(loaded, prompt_ids: list[int], max_new_tokens: int) -> dict[str, float | int]:
    """Plain generate(): time to 1 token, then to max_new_tokens; decode rate from the difference."""
    model = loaded.model
    ids = torch.tensor([prompt_ids], device=model.device)
    kwargs = {"attention_mask": torch.ones_like(ids), "do_sample": False, "temperature": 1.0, "top_p": 1.0,
              "top_k": 50, "pad_token_id": loaded.tokenizer.pad_token_id}
    with torch.inference_mode():
        started = time.perf_counter()
        model.generate(ids, max_new_tokens=1, **kwargs)
        ttft = time.perf_counter() - started
        started = time.perf_counter()
        out = model.generate(ids, max_new_tokens=max_new_tokens, **kwargs)
        total = time.perf_counter() - started
    n = int(out.shape[-1] - ids.shape[-1])
    return {"baseline_ttft_s": ttft, "baseline_n_tokens": n,
            "baseline_tokens_per_s": (n - 1) / (total - ttft) if n > 1 and total > ttft else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model spec (default: the embedded model)")
    parser.add_argument("--data-dir", help="reuse this data folder's cache (skips the cold conversion if prepared)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--skip-cold", action="store_true", help="do not measure the first conversion")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the best of each is reported")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    data_dir = resolve_data_dir(args.data_dir).ensure() if args.data_dir else None
    result: dict[str, object] = {"model_spec": args.model, "load_s_cold": None}
    with tempfile.TemporaryDirectory(prefix="tutorloop-bench-") as scratch:
        if data_dir is None:
            data_dir = DataDir(Path(scratch)).ensure()
        if not args.skip_cold and needs_preparation(args.model, data_dir):
            log(f"cold: preparing {args.model} into {data_dir.root}")
            loaded, result["load_s_cold"] = timed_load(args.model, data_dir, args.device, args.dtype)
            del loaded
            gc.collect()
        log("warm: loading from the cache")
        loaded, result["load_s_warm"] = timed_load(args.model, data_dir, args.device, args.dtype)

        settings = GenerationSettings(model_spec=args.model, device=args.device, dtype=args.dtype,
                                      max_new_tokens=args.max_new_tokens, temperature=0)
        tutor = Tutor(loaded)
        log("warm-up generation")
        tutor.reply(REQUEST, GenerationSettings(max_new_tokens=4, temperature=0))
        built = build_prompt(REQUEST, loaded.tokenizer, context_window=loaded.context_window,
                             max_new_tokens=args.max_new_tokens)
        prompt_ids = render_chat(loaded.tokenizer, built.messages)
        # Interleaved rounds, best of each: on a shared CPU other processes slow single runs down.
        replies, baselines = [], []
        for round_no in range(1, args.repeats + 1):
            log(f"round {round_no}/{args.repeats}: Tutor.reply, {args.max_new_tokens} tokens")
            pieces: list[str] = []
            replies.append((tutor.reply(REQUEST, settings, on_text=pieces.append, stop=threading.Event()),
                            len(pieces)))
            log(f"round {round_no}/{args.repeats}: plain model.generate() baseline")
            baselines.append(baseline(loaded, prompt_ids, args.max_new_tokens))
    reply, n_pieces = max(replies, key=lambda r: r[0].tokens_per_s)
    result.update(max(baselines, key=lambda b: b["baseline_tokens_per_s"]))
    result["runs"] = {"tokens_per_s": [round(r.tokens_per_s, 3) for r, _ in replies],
                      "ttft_s": [round(r.ttft_s, 3) for r, _ in replies],
                      "baseline_tokens_per_s": [round(b["baseline_tokens_per_s"], 3) for b in baselines]}
    result.update({
        "ttft_s": reply.ttft_s, "tokens_per_s": reply.tokens_per_s, "n_tokens": reply.n_tokens,
        "prompt_tokens": len(prompt_ids), "streamed_pieces": n_pieces, "dtype": loaded.dtype,
        "device": loaded.device, "model_id": loaded.model_id, "max_new_tokens": args.max_new_tokens,
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "transformers": transformers.__version__, "machine": platform.machine(),
        "reply_preview": reply.text[:160],
    })
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
