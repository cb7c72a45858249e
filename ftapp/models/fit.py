"""Does the chosen text model's tokenizer fit the texts? A cheap check before training.

A tokenizer cuts words of the language it was built for into few pieces (English with an English
WordPiece vocabulary: about 1.3 per word); texts in another language fall apart into many short
pieces or unknown tokens, and the model then understands little of them (measured here: German
and other European languages 1.7–2.8 pieces per word with the bundled English MiniLM, which then
lost to a TF-IDF baseline). The texts are compared with a reference paragraph of plain English,
so a multilingual tokenizer, which cuts both alike, is never flagged.
"""
from __future__ import annotations

import random
import re

from ftapp.models.catalog import multilingual_suggestion

REFERENCE = (
    "The quick delivery of the order was appreciated, but the package arrived with a broken corner and "
    "one of the items was missing. I called the support line twice and nobody answered, so I am writing "
    "here to ask for a refund or a replacement. The product itself works well and the battery lasts for "
    "several days. Please let me know what information you need from me to solve this problem quickly. "
    "Our team reviewed the report and found that the new version of the application crashes when the user "
    "opens a large file from the network folder, while the previous release handled the same file without "
    "any trouble.")
WORD = re.compile(r"\w+")
RATIO = 1.35        # more pieces per word than this times the English reference: a poor fit
UNKNOWN = 0.01      # or more than 1 % unknown tokens


def pieces_per_word(tokenizer, texts: list[str]) -> tuple[float, float]:
    words = [w for t in texts for w in WORD.findall(t)]
    if not words:
        return 0.0, 0.0
    ids = tokenizer(words, add_special_tokens=False)["input_ids"]
    pieces = sum(len(i) for i in ids)
    unk = tokenizer.unk_token_id
    unknown = sum(1 for seq in ids for i in seq if unk is not None and i == unk)
    return pieces / len(words), unknown / max(pieces, 1)


def tokenizer_fit(tokenizer, texts: list[str], sample: int = 300, seed: int = 0) -> dict:
    """Word pieces per word and the unknown-token rate of (a sample of) the texts, beside the same
    for the English reference."""
    picked = random.Random(seed).sample(texts, min(sample, len(texts)))
    ppw, unk = pieces_per_word(tokenizer, picked)
    ref, _ = pieces_per_word(tokenizer, [REFERENCE])
    return {"pieces_per_word": round(ppw, 2), "unknown_rate": round(unk, 4), "reference_pieces_per_word": round(ref, 2),
            "poor": bool(ppw > RATIO * ref or unk > UNKNOWN)}


def language_warning(model_name: str, fit: dict) -> str | None:
    """The plain-language warning (with a better-suited model) when the fit is poor, else None."""
    if not fit.get("poor"):
        return None
    what = (f"{fit['unknown_rate']:.0%} of the word pieces are unknown to it" if fit["unknown_rate"] > UNKNOWN
            else f"it cuts each word into {fit['pieces_per_word']:.1f} pieces on average, against "
                 f"{fit['reference_pieces_per_word']:.1f} for plain English")
    return (f"The texts look like a language or kind the model '{model_name}' was not trained on: {what}. "
            f"A multilingual model usually does much better here — for example {multilingual_suggestion()} "
            f"(downloads from the Hugging Face Hub). Compare with the baseline shown after training.")
