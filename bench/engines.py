"""Serving-engine benchmark: prints ONE JSON object on stdout (progress goes to stderr).

    python bench/engines.py [--data-dir DIR] [--model SPEC] [--engines llama.cpp,transformers]
                            [--max-new-tokens 128] [--repeats 3] [--adapter PEFT_FOLDER]
                            [--alt-python onnxruntime-genai=PYTHON]

--model picks the model (default: the embedded 0.5B; "embedded-1.5b" for the larger one, whose
packages `make run MODEL=1.5b` installs). Each engine's speed and memory are also written to the
data folder's measured figures (learner.engine.figures), which Settings shows beside each model.

Each engine runs in its own child process (so its peak RSS is its own) and reports:
- load_s: from nothing to a loaded engine (for llama.cpp: finding the assembled GGUF + loading it;
  for transformers: the cache check + loading the bf16 cache);
- ttft_s: a ~300-token tutoring prompt (system prompt, one earlier exchange, the explain wrapper),
  from build_prompt to the first generated token, the KV cache empty (a conversation's first reply);
  ttft_followup_s: the next turn of the same conversation (what a chat mostly sees);
  ttft_prefilled_s: the same prompt after `Tutor.prefill` ran while the student typed (what the window
  does when a message begins), so only the message and what follows it are prefilled at Send;
  ttft_paused_s: the same after the student paused having written the question (its whole words
  prefilled too), so Send leaves the last word and the assistant header;
- tokens_per_s / tokens_per_s_adapter: greedy decoding speed after the first token, without and with
  a LoRA adapter (rank 16, every linear layer: the recipe's shape);
- adapter_swap_s: setting an adapter on the loaded model (and back to the base), first export apart;
- peak_rss_mb: the process's high-water mark after chatting with and without the adapter, taken
  before the reference is loaded;
- llama_cpp_reference_tokens_per_s / _ttft_s: plain `llama_cpp.Llama.create_completion` on the same
  GGUF, same prompt ids, same threads, interleaved with the engine's rounds in the same process;
- llama_cpp_reference_adapter_tokens_per_s: the same plain Llama with the same adapter GGUF
  (`lora_path=`): llama.cpp's own speed with the adapter;
- ratio_*: the engine's speed over the reference's (ratio_tokens_per_s_adapter: the app with the
  adapter over plain llama.cpp without one; ..._vs_reference_adapter: over plain llama.cpp with it).
Rounds are interleaved and the best of each kind is reported: on a shared CPU other processes slow
single runs down. Greedy with the embedded model's repetition penalty (1.1), as the chat replies.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # runnable as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from learner.adapt.memory import peak_rss_mb
from learner.engine.base import PromptTokenizer, SamplingSettings
from learner.prompts import build_prompt
from storage import DataDir, resolve_data_dir

HISTORY = (
    ("user", "What is a fraction?"),
    ("assistant", ("A fraction names a part of a whole. The bottom number (the denominator) says how many "
                   "equal parts the whole is cut into, and the top number (the numerator) says how many of "
                   "those parts we have. For example, 3/4 of a pizza means the pizza is cut into 4 equal "
                   "slices and we have 3 of them.")),
)
QUESTION = ("How do I add the fractions 1/3 and 1/4? Please explain step by step, and tell me why I cannot "
            "just add the tops and the bottoms.")
FOLLOW_UP = "And how would I subtract 1/4 from 1/3?"
REPETITION_PENALTY = 1.1   # the embedded model's generation default (learner.sources)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def busy_fraction(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over `seconds` (between rounds: what other processes use)."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]   # idle + iowait
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return 0.0
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


QUIET = {"max_wait_s": 0.0, "seen": []}


def settle() -> None:
    """Wait (up to --quiet-wait seconds) until other processes leave the CPUs mostly idle, so a round
    measures this machine rather than its neighbours; the load found is recorded with the result."""
    deadline = time.monotonic() + float(QUIET["max_wait_s"])  # type: ignore[arg-type]
    busy = busy_fraction()
    while busy > 0.15 and time.monotonic() < deadline:
        busy = busy_fraction(2.0)
    QUIET["seen"].append(round(busy, 2))  # type: ignore[union-attr]


def request_fields(text: str = QUESTION, history: tuple[tuple[str, str], ...] = HISTORY):
    from learner.types import Turn, TutorRequest  # torch-free

    return TutorRequest(user_text=text, mode="explain", grade="6", topic="Fractions",
                        history=tuple(Turn(role=r, content=c) for r, c in history))


# -- the child: one engine ---------------------------------------------------------------------

def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reference_round(llm, ids: list[int], max_new_tokens: int) -> dict[str, float]:
    settle()
    llm.reset()
    started = time.perf_counter()
    stamps = []
    cpu = 0.0
    for _ in llm.create_completion(ids, max_tokens=max_new_tokens, temperature=0.0,
                                   repeat_penalty=REPETITION_PENALTY, stream=True):
        stamps.append(time.perf_counter())
        if len(stamps) == 1:
            cpu = cpu_s()
    n = len(stamps)
    return {"ttft_s": stamps[0] - started if stamps else 0.0, "n_tokens": n,
            "cpu_ms_per_token": 1000 * (cpu_s() - cpu) / (n - 1) if n > 1 else 0.0,
            "tokens_per_s": (n - 1) / (stamps[-1] - stamps[0]) if n > 1 and stamps[-1] > stamps[0] else 0.0}


def engine_round(engine, settings: SamplingSettings, *, cold: bool) -> dict[str, float]:
    settle()
    if cold and hasattr(engine, "forget_cache"):
        engine.forget_cache()
    started = time.perf_counter()
    built = build_prompt(request_fields(), PromptTokenizer(engine), context_window=engine.context_window,
                         max_new_tokens=settings.max_new_tokens)
    generation = engine.stream(built.messages, settings)
    pieces, cpu = [], 0.0
    for piece in generation:
        if not pieces:
            cpu = cpu_s()
        pieces.append(piece)
    n = len(generation.token_ids)
    text = "".join(pieces)
    first = generation.first_token_at or time.perf_counter()
    result = {"ttft_s": first - started, "tokens_per_s": generation.tokens_per_s,
              "cpu_ms_per_token": 1000 * (cpu_s() - cpu) / (n - 1) if n > 1 else 0.0,
              "n_tokens": len(generation.token_ids), "prompt_tokens": generation.prompt_tokens, "text": text}
    if hasattr(engine, "warm"):
        # What the app can do after loading: prefill the system prompt while nobody waits.
        engine.forget_cache()
        engine.warm(built.messages[:1])
        started = time.perf_counter()
        built_again = build_prompt(request_fields(), PromptTokenizer(engine), context_window=engine.context_window,
                                   max_new_tokens=settings.max_new_tokens)
        warm = engine.stream(built_again.messages, SamplingSettings(max_new_tokens=1, temperature=0.0,
                                                                    repetition_penalty=REPETITION_PENALTY))
        list(warm)
        result["ttft_warmed_s"] = (warm.first_token_at or time.perf_counter()) - started
        result["warmed_tokens"] = engine.count_tokens(built.messages[:1])
    if hasattr(engine, "warm_text"):
        # What the window does (learner.tutor.Tutor.prefill): while the student types, prefill the
        # prompt up to where their message goes; the reply then prefills the message and the rest.
        from learner.settings import GenerationSettings
        from learner.tutor import Tutor

        gen_settings = GenerationSettings(temperature=0.0, max_new_tokens=settings.max_new_tokens)
        # "prefilled": the message began (the prompt before it is cached); "paused": the student paused
        # after writing it (its whole words are cached too), then pressed Send.
        for label, written in (("prefilled", "…"), ("paused", QUESTION)):
            engine.forget_cache()
            Tutor(engine).prefill(request_fields(written), gen_settings)
            started = time.perf_counter()
            built_again = build_prompt(request_fields(), PromptTokenizer(engine),
                                       context_window=engine.context_window, max_new_tokens=settings.max_new_tokens)
            typed = engine.stream(built_again.messages, SamplingSettings(max_new_tokens=1, temperature=0.0,
                                                                         repetition_penalty=REPETITION_PENALTY))
            list(typed)
            result[f"ttft_{label}_s"] = (typed.first_token_at or time.perf_counter()) - started
            result[f"{label}_tokens"] = typed.cached_tokens
    # The next turn of the same conversation: its prompt starts with this one's.
    history = (*HISTORY, ("user", QUESTION), ("assistant", text))
    built = build_prompt(request_fields(FOLLOW_UP, history), PromptTokenizer(engine),
                         context_window=engine.context_window, max_new_tokens=settings.max_new_tokens)
    started = time.perf_counter()
    follow = engine.stream(built.messages, SamplingSettings(max_new_tokens=1, temperature=0.0,
                                                            repetition_penalty=REPETITION_PENALTY))
    list(follow)
    result["ttft_followup_s"] = (follow.first_token_at or time.perf_counter()) - started
    result["followup_prompt_tokens"] = follow.prompt_tokens
    return result


def load_engine(name: str, data_dir: DataDir, threads: int, spec: str = "default"):
    if name == "llama.cpp":
        from learner.engine.gguf_source import gguf_for_spec
        from learner.engine.llama_cpp_engine import LlamaCppEngine

        model = gguf_for_spec(spec, data_dir)
        return LlamaCppEngine.load(model.path, model_id=model.model_id, n_threads=threads), model.path
    from learner.engine.gguf_source import gguf_for_spec
    from learner.engine.transformers_engine import TransformersEngine
    from learner.sources import prepare_model

    engine = TransformersEngine.load(prepare_model(spec, data_dir))
    return engine, gguf_for_spec(spec, data_dir).path


def run_child(args: argparse.Namespace) -> int:
    data_dir = DataDir(Path(args.data_dir))
    threads = args.threads
    if args.child == "transformers":
        import torch

        torch.set_num_threads(threads)
    started = time.perf_counter()
    engine, gguf_path = load_engine(args.child, data_dir, threads, args.model)
    load_s = time.perf_counter() - started
    settings = SamplingSettings(max_new_tokens=args.max_new_tokens, temperature=0.0,
                                repetition_penalty=REPETITION_PENALTY)
    log(f"[{args.child}] loaded in {load_s:.2f} s; warm-up")
    list(engine.stream(engine.render([{"role": "user", "content": "Hi"}]), SamplingSettings(max_new_tokens=4)))

    swap: dict[str, float] = {}
    adapter = Path(args.adapter) if args.adapter else None
    if adapter is not None and args.child == "llama.cpp":
        from learner.engine.lora_gguf import ensure_lora_gguf

        t = time.perf_counter()
        exported = ensure_lora_gguf(adapter, gguf_path, dtype=args.lora_dtype)
        swap["export_s"] = time.perf_counter() - t
        adapter_file = exported.path
    else:
        adapter_file = adapter

    base_rounds, adapter_rounds = [], []
    for round_no in range(1, args.repeats + 1):
        log(f"[{args.child}] round {round_no}/{args.repeats}: base")
        engine.set_adapter(None)
        base_rounds.append(engine_round(engine, settings, cold=True))
        if adapter_file is not None:
            t = time.perf_counter()
            engine.set_adapter(adapter_file)
            swap.setdefault("to_adapter_s", []).append(time.perf_counter() - t)  # type: ignore[union-attr]
            log(f"[{args.child}] round {round_no}/{args.repeats}: adapter")
            adapter_rounds.append(engine_round(engine, settings, cold=True))
            t = time.perf_counter()
            engine.set_adapter(None)
            swap.setdefault("to_base_s", []).append(time.perf_counter() - t)  # type: ignore[union-attr]
    rss = peak_rss_mb()

    log(f"[{args.child}] reference: plain llama_cpp.Llama on {gguf_path.name}")
    import llama_cpp

    built = build_prompt(request_fields(), PromptTokenizer(engine), context_window=engine.context_window,
                         max_new_tokens=args.max_new_tokens)
    ids = engine.render(built.messages)
    started = time.perf_counter()
    reference = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                                verbose=False)
    reference_load_s = time.perf_counter() - started
    reference.create_completion(ids[:8], max_tokens=2, temperature=0.0)
    references = []
    # The same plain Llama with the same adapter file applied (llama.cpp's own LoRA path): what
    # llama.cpp itself reaches with the teacher's adapter, so the app's overhead can be told apart
    # from the adapter's own cost (its extra matrix products at every adapted layer).
    reference_adapter = None
    if adapter_file is not None and args.child == "llama.cpp":
        reference_adapter = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=4096, n_threads=threads,
                                            n_threads_batch=threads, lora_path=str(adapter_file), verbose=False)
        reference_adapter.create_completion(ids[:8], max_tokens=2, temperature=0.0)
    references_adapter = []
    # Interleave again: a reference round between the engine's rounds, so both see the same load.
    for round_no in range(1, args.repeats + 1):
        log(f"[{args.child}] round {round_no}/{args.repeats}: reference and engine again")
        references.append(reference_round(reference, ids, args.max_new_tokens))
        if reference_adapter is not None:
            references_adapter.append(reference_round(reference_adapter, ids, args.max_new_tokens))
        if args.child == "llama.cpp":
            base_rounds.append(engine_round(engine, settings, cold=True))
            if adapter_file is not None:
                engine.set_adapter(adapter_file)
                adapter_rounds.append(engine_round(engine, settings, cold=True))
                engine.set_adapter(None)

    def best(rounds: list[dict], key: str, low: bool = False) -> float | None:
        values = [r[key] for r in rounds if r.get("n_tokens", 1) > 1 or key != "tokens_per_s"]
        return (min(values) if low else max(values)) if values else None

    tps = best(base_rounds, "tokens_per_s")
    tps_adapter = best(adapter_rounds, "tokens_per_s")
    ref_tps = best(references, "tokens_per_s")
    ref_adapter_tps = best(references_adapter, "tokens_per_s")
    result = {
        "engine": args.child, "model_spec": args.model, "model_id": engine.model_id, "load_s": load_s,
        "threads": threads,
        "lora_dtype": args.lora_dtype if args.child == "llama.cpp" else None,
        "prompt_tokens": base_rounds[0]["prompt_tokens"], "max_new_tokens": args.max_new_tokens,
        "n_tokens": base_rounds[0]["n_tokens"],
        "ttft_s": best(base_rounds, "ttft_s", low=True),
        "ttft_followup_s": best(base_rounds, "ttft_followup_s", low=True),
        "ttft_warmed_s": best(base_rounds, "ttft_warmed_s", low=True) if "ttft_warmed_s" in base_rounds[0] else None,
        "ttft_prefilled_s": best(base_rounds, "ttft_prefilled_s", low=True) if "ttft_prefilled_s" in base_rounds[0] else None,
        "prefilled_tokens": base_rounds[0].get("prefilled_tokens"),
        "ttft_paused_s": best(base_rounds, "ttft_paused_s", low=True) if "ttft_paused_s" in base_rounds[0] else None,
        "paused_tokens": base_rounds[0].get("paused_tokens"),
        "followup_prompt_tokens": base_rounds[0]["followup_prompt_tokens"],
        "tokens_per_s": tps, "tokens_per_s_adapter": tps_adapter,
        "ttft_s_adapter": best(adapter_rounds, "ttft_s", low=True),
        "peak_rss_mb": rss,
        "adapter_swap_s": {k: (max(v) if isinstance(v, list) else v) for k, v in swap.items()},
        "llama_cpp_reference_tokens_per_s": ref_tps,
        "llama_cpp_reference_ttft_s": best(references, "ttft_s", low=True),
        "llama_cpp_reference_load_s": reference_load_s,
        "ratio_tokens_per_s": tps / ref_tps if tps and ref_tps else None,
        "ratio_tokens_per_s_adapter": tps_adapter / ref_tps if tps_adapter and ref_tps else None,
        "llama_cpp_reference_adapter_tokens_per_s": ref_adapter_tps,
        "ratio_tokens_per_s_adapter_vs_reference_adapter":
            tps_adapter / ref_adapter_tps if tps_adapter and ref_adapter_tps else None,
        "cpu_ms_per_token": best(base_rounds, "cpu_ms_per_token", low=True),
        "cpu_ms_per_token_adapter": best(adapter_rounds, "cpu_ms_per_token", low=True),
        "llama_cpp_reference_cpu_ms_per_token": best(references, "cpu_ms_per_token", low=True),
        "runs": {"tokens_per_s": [round(r["tokens_per_s"], 2) for r in base_rounds],
                 "tokens_per_s_adapter": [round(r["tokens_per_s"], 2) for r in adapter_rounds],
                 "reference_tokens_per_s": [round(r["tokens_per_s"], 2) for r in references],
                 "reference_adapter_tokens_per_s": [round(r["tokens_per_s"], 2) for r in references_adapter],
                 "ttft_s": [round(r["ttft_s"], 3) for r in base_rounds]},
        "cpu_busy_before_rounds": QUIET["seen"],
        "reply_preview": base_rounds[0]["text"][:160],
        "reply_preview_adapter": adapter_rounds[0]["text"][:160] if adapter_rounds else None,
    }
    engine.unload()
    print(json.dumps(result, ensure_ascii=False))
    return 0


def run_ort_child(args: argparse.Namespace) -> int:
    """onnxruntime-genai on an int4 model built from the bf16 cache by its model builder
    (`python -m onnxruntime_genai.models.builder -i <cache> -o <dir> -p int4 -e cpu`), the same
    prompt ids, greedy with the same repetition penalty; no adapter (its LoRA support needs the
    model built with adapter inputs and adapters converted to its own format)."""
    import onnxruntime_genai as og

    ids = json.loads(Path(args.prompt_ids).read_text())
    started = time.perf_counter()
    config = og.Config(args.ort_model)
    config.clear_providers()
    model = og.Model(config)
    load_s = time.perf_counter() - started

    def ort_round() -> dict[str, float]:
        settle()
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(ids) + args.max_new_tokens, do_sample=False,
                                  repetition_penalty=REPETITION_PENALTY)
        generator = og.Generator(model, params)
        begun = time.perf_counter()
        generator.append_tokens(ids)
        stamps, tokens = [], []
        while not generator.is_done() and len(tokens) < args.max_new_tokens:
            generator.generate_next_token()
            tokens.append(int(generator.get_next_tokens()[0]))
            stamps.append(time.perf_counter())
        n = len(stamps)
        return {"ttft_s": stamps[0] - begun, "n_tokens": n, "tokens": tokens,
                "tokens_per_s": (n - 1) / (stamps[-1] - stamps[0]) if n > 1 else 0.0}

    log("[onnxruntime-genai] warm-up")
    ort_round()
    rounds = [ort_round()]
    rss = peak_rss_mb()
    import llama_cpp

    reference = llama_cpp.Llama(model_path=args.gguf, n_ctx=4096, n_threads=args.threads,
                                n_threads_batch=args.threads, verbose=False)
    reference.create_completion(ids[:8], max_tokens=2, temperature=0.0)
    references = []
    for round_no in range(1, args.repeats + 1):
        log(f"[onnxruntime-genai] round {round_no}/{args.repeats} and the reference")
        references.append(reference_round(reference, ids, args.max_new_tokens))
        rounds.append(ort_round())
    tps = max(r["tokens_per_s"] for r in rounds)
    ref_tps = max(r["tokens_per_s"] for r in references)
    print(json.dumps({
        "engine": "onnxruntime-genai", "model": args.ort_model, "load_s": load_s, "prompt_tokens": len(ids),
        "n_tokens": rounds[0]["n_tokens"], "ttft_s": min(r["ttft_s"] for r in rounds), "tokens_per_s": tps,
        "tokens_per_s_adapter": None, "peak_rss_mb": rss,
        "llama_cpp_reference_tokens_per_s": ref_tps,
        "llama_cpp_reference_ttft_s": min(r["ttft_s"] for r in references),
        "ratio_tokens_per_s": tps / ref_tps if ref_tps else None,
        "runs": {"tokens_per_s": [round(r["tokens_per_s"], 2) for r in rounds],
                 "reference_tokens_per_s": [round(r["tokens_per_s"], 2) for r in references]},
        "cpu_busy_before_rounds": QUIET["seen"],
        "first_tokens": rounds[0]["tokens"][:32],
    }))
    return 0


# -- the parent --------------------------------------------------------------------------------

def make_random_adapter(model_dir: Path, out: Path, *, seed: int = 0, scale: float = 0.004) -> Path:
    """A PEFT adapter in the recipe's shape (rank 16, alpha 32, every linear layer) with random
    non-zero B, small enough that the replies stay fluent but differ from the base model's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from learner.adapt.recipe import DEFAULT_TARGETS

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, bias="none",
                                                  target_modules=list(DEFAULT_TARGETS), task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, scale)
    peft_model.save_pretrained(out)
    return out


def make_random_adapter_from_gguf(gguf: Path, out: Path, *, seed: int = 0, scale: float = 0.004) -> Path:
    """The same adapter shape for a model with no bf16 cache (the 1.5B one: converting it would take
    6 GB and minutes): the architecture is read from the GGUF's metadata and the base weights are left
    uninitialised (never read: only the LoRA weights are saved)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    from learner.adapt.recipe import DEFAULT_TARGETS

    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model = model.to_empty(device="cpu")
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, bias="none",
                                                  target_modules=list(DEFAULT_TARGETS), task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_A" in name:
                parameter.normal_(0.0, 1.0 / 16)
            elif "lora_B" in name:
                parameter.normal_(0.0, scale)
    peft_model.save_pretrained(out)
    return out


def record_measured(data_dir: DataDir, engines: dict[str, object]) -> None:
    """Each engine's best decoding speed and peak memory, for Settings to show beside the model."""
    from learner.engine.figures import record_bench

    for name, measured in engines.items():
        if isinstance(measured, dict) and measured.get("tokens_per_s") and measured.get("model_id"):
            record_bench(data_dir, model_id=str(measured["model_id"]), engine=name,
                         tokens_per_s=float(measured["tokens_per_s"]), memory_mb=float(measured["peak_rss_mb"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="a data folder holding (or to hold) the prepared model")
    parser.add_argument("--model", default="default",
                        help="model spec: default (the embedded 0.5B model), embedded-1.5b, or a .gguf file")
    parser.add_argument("--engines", default="llama.cpp,transformers")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: every core this process may use")
    parser.add_argument("--adapter", help="a PEFT adapter folder (default: a random one in the recipe's shape)")
    parser.add_argument("--ort-model", help="also measure onnxruntime-genai on this built model folder")
    parser.add_argument("--ort-python", help="the Python that has onnxruntime-genai (default: this one)")
    parser.add_argument("--quiet-wait", type=float, default=0.0,
                        help="before each round wait up to this many seconds for other processes to go idle")
    parser.add_argument("--lora-dtype", choices=("f32", "f16"), default="f32",
                        help="the GGUF LoRA's number format (the engine's: f32; f16 measured slower on CPU)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--prompt-ids", help=argparse.SUPPRESS)
    parser.add_argument("--gguf", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is None:
        from learner.engine.llama_cpp_engine import default_threads

        args.threads = default_threads()
    QUIET["max_wait_s"] = args.quiet_wait
    if args.child == "onnxruntime-genai":
        return run_ort_child(args)
    if args.child:
        return run_child(args)

    data_dir = resolve_data_dir(args.data_dir).ensure() if args.data_dir else \
        DataDir(Path(tempfile.mkdtemp(prefix="tutorloop-bench-"))).ensure()
    from learner.engine.gguf_source import gguf_for_spec
    from learner.sources import prepare_model

    log(f"preparing the model {args.model!r} in {data_dir.root}")
    gguf = gguf_for_spec(args.model, data_dir)
    # The bf16 cache only for the transformers engine, or to shape the default model's adapter as before.
    wants_cache = "transformers" in args.engines.split(",") or args.model == "default" or gguf is None
    prepared = prepare_model(args.model, data_dir) if wants_cache else None
    default_adapter = "bench-adapter" if args.model == "default" else f"bench-adapter-{Path(args.model).name}"
    adapter = Path(args.adapter) if args.adapter else data_dir.root / default_adapter
    if not (adapter / "adapter_model.safetensors").is_file():
        log(f"making a random rank-16 adapter in {adapter}")
        if prepared is not None:
            make_random_adapter(prepared.path, adapter)
        else:
            make_random_adapter_from_gguf(gguf.path, adapter)

    result: dict[str, object] = {"model_spec": args.model, "machine": platform.machine(), "cpu": _cpu_name(),
                                 "threads": args.threads,
                                 "python": platform.python_version(), "engines": {}}
    try:
        import llama_cpp

        result["llama_cpp_python"] = llama_cpp.__version__
    except ImportError:
        result["llama_cpp_python"] = None
    for name in filter(None, args.engines.split(",")):
        cmd = [sys.executable, __file__, "--child", name, "--model", args.model, "--data-dir", str(data_dir.root),
               "--adapter", str(adapter),
               "--max-new-tokens", str(args.max_new_tokens), "--repeats", str(args.repeats),
               "--threads", str(args.threads), "--quiet-wait", str(args.quiet_wait), "--lora-dtype", args.lora_dtype]
        log(f"engine {name}")
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0:
            result["engines"][name] = {"error": f"exit {done.returncode}"}  # type: ignore[index]
            continue
        result["engines"][name] = json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[index]
    if args.ort_model:
        result["engines"]["onnxruntime-genai"] = _run_ort(args, data_dir)  # type: ignore[index]
    record_measured(data_dir, result["engines"])  # type: ignore[arg-type]
    print(json.dumps(_rounded(result), ensure_ascii=False))
    return 0


def _run_ort(args: argparse.Namespace, data_dir: DataDir) -> dict[str, object]:
    """The prompt ids come from the llama.cpp engine's rendering, which equals transformers' for Qwen."""
    from learner.engine.gguf_source import gguf_for_spec
    from learner.engine.llama_cpp_engine import LlamaCppEngine

    model = gguf_for_spec(args.model, data_dir)
    engine = LlamaCppEngine.load(model.path, model_id=model.model_id, n_threads=1)
    built = build_prompt(request_fields(), PromptTokenizer(engine), context_window=engine.context_window,
                         max_new_tokens=args.max_new_tokens)
    ids_file = data_dir.root / "bench-prompt-ids.json"
    ids_file.write_text(json.dumps(engine.render(built.messages)))
    engine.unload()
    cmd = [args.ort_python or sys.executable, __file__, "--child", "onnxruntime-genai", "--ort-model", args.ort_model,
           "--prompt-ids", str(ids_file), "--gguf", str(model.path), "--max-new-tokens", str(args.max_new_tokens),
           "--repeats", str(args.repeats), "--threads", str(args.threads), "--quiet-wait", str(args.quiet_wait)]
    log("engine onnxruntime-genai")
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
