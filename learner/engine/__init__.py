"""Serving engines: one interface (`ServingEngine`) over llama.cpp (`llama_cpp_engine`, GGUF files,
the chat's default) and transformers (`transformers_engine`, today's path and the fallback).

Importing this package never imports torch; only `learner.engine.transformers_engine` does.
"""
from __future__ import annotations

from learner.engine.base import (
    EngineUnavailable,
    Generation,
    SamplingSettings,
    ServingEngine,
)

__all__ = ["EngineUnavailable", "Generation", "SamplingSettings", "ServingEngine"]
