"""Training speed of one adaptation round's loop against a plain Hugging Face Trainer.

Same model, same exchanges, same LoRA settings, same examples per optimiser step. Data: the
school-facts training exchanges rendered as approved examples are (`--data facts`: they share the
system prompt and mode wrapper, as a class's approved examples do) or the first N replay
exchanges (`--data replay`: every prompt differs). Ours: shared-prefix packing / length-grouped
batches, loss and LM head on completion tokens only, the frozen base in `--base-dtype` (auto by
default: bf16 where native, else fp32) with fp32 LoRA weights, and `--replay N` replay exchanges
trained as the distillation anchor against the base's top-k cached once (`--replay-topk K`; 0: a
second base forward every step). Baseline: `transformers.Trainer` with a padding collator and the model's own loss (head
over every position). Prints one JSON object, with the peak RSS of our loop (before the baseline
runs) and tokens/s.

    .venv/bin/python bench/adapt.py --model /path/to/hf-folder --n-examples 16 --steps 4
    .venv/bin/python bench/adapt.py --model default        # the embedded model (prepared cache)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="model spec (default: the embedded model)")
    parser.add_argument("--data-dir", default=None, help="data folder holding the prepared model cache")
    parser.add_argument("--data", choices=("facts", "replay"), default="facts")
    parser.add_argument("--n-examples", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--batch-tokens", type=int, default=None, help="default: the Recipe's (448)")
    parser.add_argument("--replay", type=int, default=0, help="replay exchanges trained as the anchor")
    parser.add_argument("--replay-topk", type=int, default=20, help="0: a second base forward every step")
    parser.add_argument("--base-dtype", choices=("auto", "bfloat16", "float32"), default="auto")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    from learner.adapt import memory

    memory.give_back_large_blocks()   # as the round's own process does (learner.adapt.__main__)
    peak_rss_mb = memory.peak_rss_mb

    import torch
    from peft import get_peft_model
    from transformers import Trainer, TrainingArguments

    from learner.adapt.dataset import IGNORE_INDEX, encode_exchange
    from learner.adapt.recipe import Recipe
    from learner.adapt.train import add_fresh_adapter, lora_config, plan_batches, train_adapter, training_dtype
    from learner.loading import load_model, resolve_device
    from learner.replay import load_replay
    from learner.sources import prepare_model
    from storage import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir).ensure()
    device = resolve_device("auto")
    recipe = Recipe(rank=args.rank, alpha=2 * args.rank, dropout=0.0, epochs=1, max_steps=args.steps,
                    batch_tokens=args.batch_tokens or Recipe().batch_tokens, warmup_ratio=0.0, base_dtype=args.base_dtype,
                    replay_topk=args.replay_topk or None)
    dtype = training_dtype(recipe, device)
    prepared = prepare_model(args.model, data_dir)
    if args.data == "replay":
        exchanges = [(r.prompt_messages, r.completion) for r in load_replay()[: args.n_examples]]
    else:
        from learner.prompts import mode_turn, system_prompt

        facts = json.loads((Path(__file__).parent / "data" / "school_facts.json").read_text(encoding="utf-8"))
        exchanges = [([{"role": "system", "content": system_prompt(grade="8", topic=t["topic"])},
                       {"role": "user", "content": mode_turn(t["mode"], t["user"], grade="8", topic=t["topic"])}],
                      t["assistant"]) for t in facts["train"][: args.n_examples]]

    loaded = load_model(prepared, device=device, dtype=dtype)
    tok = loaded.tokenizer
    samples = [encode_exchange(tok, prompt, completion, max_length=1024, key=f"{args.data}:{i}")
               for i, (prompt, completion) in enumerate(exchanges)]
    first_replay = args.n_examples if args.data == "replay" else 0   # the anchor never repeats a trained exchange
    samples += [encode_exchange(tok, r.prompt_messages, r.completion, max_length=1024, key=f"replay:{i}", replay=True)
                for i, r in enumerate(load_replay()[first_replay: first_replay + args.replay])]
    batches = plan_batches(samples, recipe)[0]
    used = [s for b in batches for s in b]
    per_batch = max(1, round(len(used) / len(batches)))
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    model = add_fresh_adapter(loaded.model, recipe)
    stats = train_adapter(model, samples, recipe, pad_id=pad_id)
    ours_rss = peak_rss_mb()
    example_tokens = sum(len(s.input_ids) for s in used)   # the data trained on (packing computes fewer)
    result = {
        "model": prepared.model_id, "data": args.data, "device": device, "dtype": dtype, "threads": torch.get_num_threads(),
        "n_examples": len(used), "steps": stats.steps, "mean_batch_examples": round(len(used) / len(batches), 2),
        "tokens": example_tokens, "computed_tokens": stats.tokens, "trained_tokens": stats.trained_tokens,
        "seconds": round(stats.seconds, 2), "train_tokens_per_s": round(example_tokens / stats.seconds, 1),
        "examples_per_s": round(len(used) / stats.seconds, 3) if stats.seconds else None,
        "peak_rss_mb": round(ours_rss, 1), "replay": args.replay, "replay_topk": recipe.replay_topk,
        "anchor_seconds": round(stats.anchor_seconds, 2), "anchor_positions": stats.anchor_positions,
        "lora_dtype": str(next(p for p in model.parameters() if p.requires_grad).dtype).removeprefix("torch."),
    }

    if not args.skip_baseline:
        base = model.unload()  # the same base weights, LoRA layers removed
        del model
        torch.manual_seed(recipe.seed)
        baseline_model = get_peft_model(base, lora_config(recipe, base))
        rows = [{"input_ids": list(s.input_ids), "labels": s.labels()} for s in used]

        def collate(features: list[dict]) -> dict[str, torch.Tensor]:
            width = max(len(f["input_ids"]) for f in features)
            ids = torch.full((len(features), width), pad_id, dtype=torch.long)
            labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
            mask = torch.zeros((len(features), width), dtype=torch.long)
            for i, f in enumerate(features):
                n = len(f["input_ids"])
                ids[i, :n] = torch.tensor(f["input_ids"])
                labels[i, :n] = torch.tensor(f["labels"])
                mask[i, :n] = 1
            return {"input_ids": ids, "attention_mask": mask, "labels": labels}

        with tempfile.TemporaryDirectory() as out:
            targs = TrainingArguments(output_dir=out, per_device_train_batch_size=per_batch, max_steps=stats.steps,
                                      learning_rate=recipe.learning_rate, report_to=[], save_strategy="no",
                                      logging_strategy="no", use_cpu=device == "cpu", bf16=device == "cuda",
                                      dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True,
                                      max_grad_norm=recipe.max_grad_norm, seed=recipe.seed)
            trainer = Trainer(model=baseline_model, args=targs, train_dataset=rows, data_collator=collate)
            started = time.perf_counter()
            out_stats = trainer.train()
            seconds = time.perf_counter() - started
        seen = min(len(rows), per_batch * stats.steps)
        # Trainer shuffles; tokens per step are estimated from the mean example length.
        mean_len = sum(len(r["input_ids"]) for r in rows) / len(rows)
        result.update({
            "baseline_seconds": round(seconds, 2),
            "baseline_train_runtime_s": round(out_stats.metrics.get("train_runtime", math.nan), 2),
            "baseline_train_tokens_per_s": round(mean_len * per_batch * stats.steps / seconds, 1),
            "baseline_examples_per_s": round(per_batch * stats.steps / seconds, 3),
            "baseline_batch_examples": per_batch, "baseline_examples_seen": seen,
            "baseline_peak_rss_mb": round(peak_rss_mb(), 1),
        })
        result["speedup"] = round(result["train_tokens_per_s"] / result["baseline_train_tokens_per_s"], 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
