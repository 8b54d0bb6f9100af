"""A tiny, randomly initialised Qwen2 model and a byte-level BPE tokenizer, built in code.

Saved as an ordinary local Hugging Face folder (config.json, model.safetensors, tokenizer files),
so tests exercise the same "local folder" model source a user can choose. No downloads.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

if TYPE_CHECKING:
    from learner.sources import PreparedModel

# The same chat template family as the embedded Qwen2.5 model, trimmed to what tutorloop uses.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "A fraction names a part of a whole. The numerator counts parts; the denominator says how many make a whole.",
    "Photosynthesis lets plants turn light, water and carbon dioxide into sugar and oxygen.",
    "To solve 2x + 3 = 7, subtract 3 from both sides, then divide by 2.",
    "What do you notice about the denominators? Try drawing the pizza slices.",
    "Question: What is 3/4 + 1/8? Answer key: 7/8",
    "The mitochondria release energy from food. Verbs describe actions; nouns name things.",
    "Explain hint practice student teacher tutor grade topic lesson example answer question",
    "0123456789 + - * / = ( ) . , ; : ! ? ' \" # ` ```python print('hello') ```",
]


def build_tokenizer(vocab_size: int = 400) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(folder: Path, *, seed: int = 0, context: int = 512) -> Path:
    """Write a tiny Qwen2 model + tokenizer to `folder` and return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=context,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None, tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)  # safetensors by default
    tokenizer.save_pretrained(folder)
    return folder


def perturb_lora_b(model: torch.nn.Module, *, seed: int, std: float) -> None:
    """Draw the LoRA B factors from N(0, std) with this torch seed: a fresh adapter has B = 0, so it
    would change nothing and pass no gradient to A."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, std)


def save_noisy_adapter(prepared: PreparedModel, folder: Path, *, seed: int = 1, std: float = 0.02) -> Path:
    """A rank-4 LoRA adapter on `prepared` with random non-zero B factors (perturb_lora_b), saved to `folder`."""
    from learner.adapt.recipe import Recipe
    from learner.adapt.train import add_fresh_adapter, save_adapter
    from learner.loading import load_model

    recipe = Recipe(rank=4, alpha=8, dropout=0.0)
    model = add_fresh_adapter(load_model(prepared, device="cpu", dtype="float32").model, recipe)
    perturb_lora_b(model, seed=seed, std=std)
    return save_adapter(model, folder, recipe)
