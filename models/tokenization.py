"""Tokenizer policy, in one place: where tokenizers come from, padding, and special tokens.

- A `scratch:` model gets a byte-level BPE tokenizer trained on the experiment's own training
  text: it round-trips Korean exactly and never produces unknown tokens.
- A model keeps its own pad token. Where it has none (most decoder-only checkpoints), a real
  `<pad>` is added and the embeddings grow, rather than reusing EOS: a causal LM trained with
  pad == EOS learns to ignore EOS and never stops generating.
- Padding is on the right for training; decoder-only generation pads on the left so every
  prompt ends where generation starts. Which families are decoder-only is their row's
  `decoder_only` in `contract.families`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from contract.families import family

SPECIAL_TOKENS = {
    "pad_token": "<pad>",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, family_name: str) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer fitted to `texts`, with the specials each family expects:
    `<s> text </s>` for encoders and classifiers, `<s> text` for decoder-only prompts."""
    specials = list(SPECIAL_TOKENS.values())
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    bos, eos = SPECIAL_TOKENS["bos_token"], SPECIAL_TOKENS["eos_token"]
    decoder_only = family(family_name).decoder_only
    template = f"{bos} $A" if decoder_only else f"{bos} $A {eos}"
    tokenizer.post_processor = processors.TemplateProcessing(
        single=template,
        pair=f"{template} $B" if decoder_only else f"{template} $B {eos}",
        special_tokens=[(bos, tokenizer.token_to_id(bos)), (eos, tokenizer.token_to_id(eos))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_input_names=["input_ids", "attention_mask"],
        **SPECIAL_TOKENS,
    )


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Give the tokenizer a dedicated pad token if it has none. True when one was added, in
    which case the model's embeddings must be resized (see `families.base`)."""
    if tokenizer.pad_token is not None:
        return False
    tokenizer.add_special_tokens({"pad_token": SPECIAL_TOKENS["pad_token"]})
    return True


def padding_side_for(family_name: str, purpose: Literal["train", "generate"]) -> Literal["left", "right"]:
    return "left" if family(family_name).decoder_only and purpose == "generate" else "right"
