"""Generation benchmark: the app's reply path per serving engine and per model, against plain
llama.cpp on the same GGUF in the same run. Prints ONE JSON object on stdout.

    python bench/generate.py [--engines llama.cpp,transformers] [--model SPEC] [--repeats 3] ...

It is `bench/engines.py` (see its docstring for every figure: load_s, ttft_s on a ~300-token
tutoring prompt with an empty cache, after prefilling while typing, and for a follow-up turn;
tokens_per_s with and without an adapter; peak_rss_mb; adapter_swap_s;
llama_cpp_reference_tokens_per_s and the ratios to it), kept under this name for `make bench`.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engines import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
