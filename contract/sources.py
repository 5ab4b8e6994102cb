"""Where a candidate's weights come from, read from its `source` setting alone: a `scratch:`
preset (a tiny model of a real architecture, built from a transformers config, so the default run
and the tests need no model hub), a local directory, or a hub id. The driver reads it to check a
config, to fingerprint a candidate and to describe it; the actor to build or load the model
(`models.sources` resolves a source to what `from_pretrained` gets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from contract.names import Registry


@dataclass(frozen=True)
class Preset:
    """A tiny model: a transformers `model_type`, its config values, and the tokenizer size."""

    family: str  # a row of contract.families
    model_type: str
    config: dict[str, Any] = field(default_factory=dict)
    vocab_size: int = 3000


# BART's defaults (embeddings initialised with std 0.02, unscaled) suit d_model 768+. At d_model
# 128 the encoder's signal is so small next to the decoder's own language model that a
# from-scratch BART learns to ignore its input (measured: the same summary for every dialogue);
# a wider init and scaled embeddings let it learn to read the dialogue within a few hundred steps.
_SMALL_BART = dict(init_std=0.1, scale_embedding=True, max_position_embeddings=512)

PRESETS: Registry[Preset] = Registry("preset", {
    "bart-tiny": Preset("seq2seq", "bart", dict(
        d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256, **_SMALL_BART)),
    "bart-small": Preset("seq2seq", "bart", dict(
        d_model=256, encoder_layers=3, decoder_layers=3, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=512, decoder_ffn_dim=512, **_SMALL_BART)),
    "t5-tiny": Preset("seq2seq", "t5", dict(
        d_model=128, d_ff=256, d_kv=32, num_layers=2, num_decoder_layers=2, num_heads=4,
        feed_forward_proj="gated-gelu")),
    "gpt2-tiny": Preset("causal", "gpt2", dict(
        n_embd=128, n_layer=2, n_head=4, n_positions=768)),
    "llama-tiny": Preset("causal", "llama", dict(
        hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=768, tie_word_embeddings=True)),
    "bert-tiny": Preset("classifier", "bert", dict(
        hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=512)),
    "bert-small": Preset("classifier", "bert", dict(
        hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
        max_position_embeddings=512)),
})


@dataclass(frozen=True)
class Source:
    """Where a candidate's weights come from: a scratch preset, a local directory, or a hub id."""

    kind: Literal["scratch", "local", "hub"]
    value: str


def parse_source(source: str) -> Source:
    text = source.strip()
    if text.lower().startswith("scratch:"):
        return Source("scratch", text.split(":", 1)[1].strip())
    if text.startswith(("/", "./", "../", "~")) or Path(text).expanduser().exists():
        return Source("local", str(Path(text).expanduser()))
    return Source("hub", text)
