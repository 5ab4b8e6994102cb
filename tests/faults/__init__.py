"""Broken models and data as users meet them, built on disk for the fault tests."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from models.data.builtin import generate_summarization
from models.tokenization import train_bpe_tokenizer

HERE = Path(__file__).parent


_BUILT: dict[str, Path] = {}  # one saved copy per configuration, for the whole test session


def tiny_bart(directory: Path, **config_values: object) -> Path:
    """A saved tiny BART with its tokenizer: a stand-in for a downloaded checkpoint. Built once per
    test process and configuration (a tokenizer trained, a model saved), then copied."""
    key = json.dumps(config_values, sort_keys=True)
    if key not in _BUILT:
        _BUILT[key] = _build_tiny_bart(Path(tempfile.mkdtemp(prefix="tiny-bart-")) / "model", **config_values)
    shutil.copytree(_BUILT[key], directory, dirs_exist_ok=True)
    return directory


def _build_tiny_bart(directory: Path, **config_values: object) -> Path:
    from transformers import BartConfig, BartForConditionalGeneration

    rows = generate_summarization(64, seed=3)
    tokenizer = train_bpe_tokenizer([r["dialogue"] for r in rows] + [r["summary"] for r in rows], 800, "seq2seq")
    config = BartConfig(
        vocab_size=len(tokenizer), d_model=64, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, max_position_embeddings=512, **config_values,
    )
    BartForConditionalGeneration(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def faulty_bart(
    directory: Path, fault: str = "none", step: int = 3, memory_per_example_mb: int = 0, marker: Path | None = None,
    path: str | None = None, rank: int | None = None, once: bool = False,
) -> Path:
    """A checkpoint whose own code (trust_remote_code) hangs, exits, raises or eats memory."""
    tiny_bart(directory)
    shutil.copy(HERE / "modeling_faulty.py", directory / "modeling_faulty.py")
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    config.update(
        model_type="faulty-bart", fault=fault, fault_step=step, architectures=["FaultyModel"],
        memory_per_example_mb=memory_per_example_mb, fault_marker=str(marker) if marker else None, fault_path=path,
        fault_rank=rank, fault_once=once,
        auto_map={"AutoConfig": "modeling_faulty.FaultyConfig",
                  "AutoModelForSeq2SeqLM": "modeling_faulty.FaultyModel"},
    )
    config_path.write_text(json.dumps(config, indent=2))
    return directory


def corrupt_weights(directory: Path) -> Path:
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    return directory


def drop_tokenizer(directory: Path) -> Path:
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (directory / name).unlink(missing_ok=True)
    return directory
