"""Generation settings: what the Settings dialog edits and the CLI flags set, stored as JSON."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage import Database, DataDir

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "bfloat16", "float16", "float32")
# auto: llama.cpp on the model's GGUF file where it is installed, else transformers (learner.engine.select).
ENGINES = ("auto", "llama.cpp", "transformers")
# Short names people type (`--dtype bf16`) map onto the torch names stored in settings.
DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}
MAX_NEW_TOKENS_LIMIT = 8192
MAX_WORD_PROBLEM_PROGRAMS = 5
MAX_TEMPERATURE = 2.0
# The key under which the app's Settings dialog stores GenerationSettings.to_dict() (storage.chat
# settings table); `tutorloop ask` reads the same key so the terminal uses the window's choices.
STORAGE_KEY = "generation"


@dataclass(frozen=True, kw_only=True)
class GenerationSettings:
    model_spec: str = "default"   # "default" | "embedded-1.5b" | path to HF folder | path to .gguf | hub id
    device: str = "auto"          # auto | cpu | cuda | mps
    dtype: str = "auto"           # auto = the faster one for the device (bf16 on CPU: ~1.7x fp32 here)
    engine: str = "auto"          # auto | llama.cpp | transformers: what serves replies (training is transformers)
    max_new_tokens: int = 512
    temperature: float = 0.7      # 0 = greedy (deterministic)
    # Programs the model writes for a word problem the maths engine cannot read itself (learner.grounded):
    # the first greedy, the rest sampled; a result is used only when three agree, and writing stops
    # once more programs could not change that. Measured with the embedded 0.5B model on GSM8K
    # problems 20-59 (bench/programs.py, bench/results/programs-2026-12-02-*): one greedy program right
    # 13/40; five with three agreeing: 11 right, 4 wrong, 25 left to the model, 4.4 programs per problem.
    word_problem_programs: int = 5

    def __post_init__(self) -> None:
        if not isinstance(self.model_spec, str) or not self.model_spec.strip():
            raise ValueError("model_spec must be 'default', a model folder, a .gguf file or a hub id (got an empty value).")
        object.__setattr__(self, "model_spec", self.model_spec.strip())
        device = str(self.device).strip().lower()
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)} (got {self.device!r}).")
        object.__setattr__(self, "device", device)
        dtype = str(self.dtype).strip().lower()
        dtype = DTYPE_ALIASES.get(dtype, dtype)
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (got {self.dtype!r}).")
        object.__setattr__(self, "dtype", dtype)
        engine = str(self.engine).strip().lower()
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)} (got {self.engine!r}).")
        object.__setattr__(self, "engine", engine)
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) \
                or not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT:
            raise ValueError(f"max_new_tokens must be a whole number from 1 to {MAX_NEW_TOKENS_LIMIT} "
                             f"(got {self.max_new_tokens!r}).")
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not 0.0 <= float(self.temperature) <= MAX_TEMPERATURE:
            raise ValueError(f"temperature must be a number from 0 to {MAX_TEMPERATURE:g} (got {self.temperature!r}).")
        object.__setattr__(self, "temperature", float(self.temperature))
        if isinstance(self.word_problem_programs, bool) or not isinstance(self.word_problem_programs, int) \
                or not 0 <= self.word_problem_programs <= MAX_WORD_PROBLEM_PROGRAMS:
            raise ValueError(f"word_problem_programs must be a whole number from 0 to {MAX_WORD_PROBLEM_PROGRAMS} "
                             f"(got {self.word_problem_programs!r}).")

    def to_dict(self) -> dict[str, Any]:
        return dict(sorted(asdict(self).items()))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> GenerationSettings:
        """Build from stored JSON; unknown keys (from a newer version) are ignored, missing ones default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


# -- the saved Settings: one reader for the window, the CLI and the adaptation round ---------------

def load_generation_settings(db: Database) -> tuple[GenerationSettings, str | None]:
    """The Settings dialog's saved choices, or the defaults plus why the saved ones could not be used."""
    from storage import StorageError, chat

    try:
        stored = chat.get_setting(db, STORAGE_KEY)
    except (StorageError, ValueError) as exc:  # unreadable database, damaged JSON
        return GenerationSettings(), _unreadable(exc)
    if not stored:
        return GenerationSettings(), None
    try:
        return GenerationSettings.from_dict(stored), None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return GenerationSettings(), f"The saved settings could not be used ({exc}); using the defaults instead."


def save_generation_settings(db: Database, settings: GenerationSettings) -> None:
    from storage import chat

    chat.set_setting(db, STORAGE_KEY, settings.to_dict())


def saved_generation_settings(data_dir: DataDir) -> tuple[GenerationSettings, str | None]:
    """The same, for a process that has only the data folder (the CLI, a round run by cron)."""
    if not data_dir.db_path.is_file():
        return GenerationSettings(), None
    from storage import Database, StorageError

    try:
        with Database(data_dir.db_path) as db:
            return load_generation_settings(db)
    except StorageError as exc:
        return GenerationSettings(), _unreadable(exc)


def _unreadable(exc: Exception) -> str:
    return f"The saved settings could not be read ({exc}); using the defaults instead."
