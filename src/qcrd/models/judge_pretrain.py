"""Judge pre-training (method.md §3): teacher positives against negatives, before distillation.

Teacher negatives (minority-vote rationales) are usually fewer than positives, so extra
negatives are made from positives by corrupting words, as the paper does: *masking* (a
fraction of words become the tokenizer's mask token) and *replacement* (a fraction become
random words drawn uniformly from the distinct words of all the rationales). The classes are
then balanced and the judge is trained with the BCE judge loss for up to
``JudgeConfig.pretrain_steps`` steps.

    judge = build_judge(cfg.judge, seed=0)
    losses = pretrain_judge(judge, positives, negatives, cfg.judge, seed=0)
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable, Iterator, Sequence

import torch

from qcrd.config import JudgeConfig
from qcrd.losses.contrastive import judge_loss
from qcrd.models.judge import Judge
from qcrd.progress import progress_bar
from qcrd.training.precision import resolve_precision

log = logging.getLogger(__name__)

Pair = tuple[str, str]
"""(task input, rationale)."""

MASK_FALLBACK = "[MASK]"
MAX_GRAD_NORM = 1.0
_WHITESPACE = re.compile(r"(\s+)")


def _split(text: str) -> tuple[list[str], list[int]]:
    # Keep the separators, so a corrupted rationale keeps its line breaks and spacing and
    # differs from the original in the chosen words only.
    parts = _WHITESPACE.split(text)
    words = [i for i in range(0, len(parts), 2) if parts[i]]
    return parts, words


def words_to_change(n_words: int, fraction: float) -> int:
    """How many of ``n_words`` a corruption touches: round(fraction · n), at least 1 if > 0."""
    if n_words == 0 or fraction <= 0.0:
        return 0
    return min(n_words, max(1, round(fraction * n_words)))


def mask_words(text: str, fraction: float, mask_token: str, rng: random.Random) -> str:
    """Replace ``words_to_change(n, fraction)`` randomly chosen words with ``mask_token``."""
    parts, words = _split(text)
    for i in rng.sample(words, words_to_change(len(words), fraction)):
        parts[i] = mask_token
    return "".join(parts)


def replace_words(text: str, fraction: float, vocabulary: Sequence[str], rng: random.Random) -> str:
    """Replace ``words_to_change(n, fraction)`` random words with other words of ``vocabulary``.

    A replacement never equals the word it replaces (unless the vocabulary holds nothing
    else), so the count of changed words is exact. ``vocabulary`` must hold distinct words.
    """
    parts, words = _split(text)
    if not vocabulary:
        return text
    position = {w: k for k, w in enumerate(vocabulary)}
    for i in rng.sample(words, words_to_change(len(words), fraction)):
        own = position.get(parts[i])
        if own is None:
            parts[i] = vocabulary[rng.randrange(len(vocabulary))]
        elif len(vocabulary) > 1:
            # Draw from the vocabulary minus the word itself: skip over its index.
            k = rng.randrange(len(vocabulary) - 1)
            parts[i] = vocabulary[k + (k >= own)]
    return "".join(parts)


def corpus_vocabulary(texts: Iterable[str]) -> list[str]:
    """The distinct whitespace-separated words of ``texts``, sorted (so draws are seedable)."""
    return sorted({w for text in texts for w in text.split()})


def augment_negatives(
    positives: Sequence[Pair],
    count: int,
    cfg: JudgeConfig,
    mask_token: str,
    vocabulary: Sequence[str],
    rng: random.Random,
) -> list[Pair]:
    """Make ``count`` negatives by corrupting the rationales of positives (inputs unchanged).

    Positives are used in a shuffled cycle so each is corrupted about equally often; each
    negative gets one corruption, masking or replacement, drawn at random among those whose
    fraction (``cfg.augment_mask_prob``, ``cfg.augment_replace_prob``) is above 0.
    """
    kinds = [
        kind
        for kind, fraction in (
            ("mask", cfg.augment_mask_prob),
            ("replace", cfg.augment_replace_prob),
        )
        if fraction > 0.0
    ]
    if count <= 0 or not positives or not kinds:
        return []
    made: list[Pair] = []
    order: list[int] = []
    while len(made) < count:
        if not order:
            order = rng.sample(range(len(positives)), len(positives))
        source, rationale = positives[order.pop()]
        if rng.choice(kinds) == "mask":
            corrupted = mask_words(rationale, cfg.augment_mask_prob, mask_token, rng)
        else:
            corrupted = replace_words(rationale, cfg.augment_replace_prob, vocabulary, rng)
        made.append((source, corrupted))
    return made


def _batches(
    examples: list[tuple[str, str, bool]], batch_size: int, rng: random.Random
) -> Iterator[list[tuple[str, str, bool]]]:
    # Endless reshuffled epochs; a short last batch is dropped unless the data is smaller
    # than one batch, so every step sees the same number of pairs.
    while True:
        shuffled = rng.sample(examples, len(examples))
        for start in range(0, max(1, len(shuffled) - batch_size + 1), batch_size):
            yield shuffled[start : start + batch_size]


def pretrain_judge(
    judge: Judge,
    pairs_pos: Sequence[Pair],
    pairs_neg: Sequence[Pair],
    cfg: JudgeConfig,
    seed: int,
    progress: bool = True,
    bf16: bool | None = None,
) -> list[float]:
    """Pre-train the judge: BCE of positives (→ 1) against negatives (→ 0).

    Extra negatives are made from positives (see :func:`augment_negatives`) until the
    classes are balanced. Training stops before it starts, with a log line saying why, when
    a class is empty afterwards: without positives nothing can make one, and a judge fitted
    to one class only would score everything alike.

    Args:
        judge: the judge to train in place (on its current device).
        pairs_pos: (input, rationale) teacher positives.
        pairs_neg: (input, rationale) teacher negatives.
        cfg: judge settings: steps, batch size, lr, augmentation fractions.
        seed: seeds augmentation, batch order and dropout (the global RNG is left as it was).
        progress: show a progress bar (when bars are enabled at all).
        bf16: bf16 autocast; ``None`` turns it on where the hardware runs bf16 natively.

    Returns:
        The loss of every step taken (empty when training was skipped).
    """
    rng = random.Random(seed)
    tokenizer = judge.tokenizer
    mask_token = tokenizer.mask_token or tokenizer.unk_token or MASK_FALLBACK
    vocabulary = corpus_vocabulary(r for pairs in (pairs_pos, pairs_neg) for _, r in pairs)
    extra = augment_negatives(
        pairs_pos, len(pairs_pos) - len(pairs_neg), cfg, mask_token, vocabulary, rng
    )
    negatives = [*pairs_neg, *extra]
    log.info(
        "judge pretraining: %d positives, %d teacher negatives + %d augmented",
        len(pairs_pos),
        len(pairs_neg),
        len(extra),
    )
    if not pairs_pos or not negatives:
        log.warning(
            "judge pretraining skipped: %d positives and %d negatives, nothing to contrast",
            len(pairs_pos),
            len(negatives),
        )
        return []
    if cfg.pretrain_steps == 0:
        log.info("judge pretraining skipped: judge.pretrain_steps=0")
        return []

    examples = [(x, r, True) for x, r in pairs_pos] + [(x, r, False) for x, r in negatives]
    batches = _batches(examples, cfg.pretrain_batch_size, rng)
    # None follows train.precision=auto: bf16 only where the hardware computes it natively
    # (without AMX / AVX512-BF16, CPU autocast is emulated and about 15x slower than fp32).
    use_bf16 = resolve_precision("auto", judge.device) == "bf16" if bf16 is None else bf16
    optimizer = torch.optim.AdamW(judge.parameters(), lr=cfg.lr)
    judge.train()
    losses: list[float] = []
    cuda = [judge.device.index or 0] if judge.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), progress_bar() as bar:
        torch.manual_seed(seed)
        task = bar.add_task("judge", total=cfg.pretrain_steps, status="", visible=progress)
        for _ in range(cfg.pretrain_steps):
            batch = next(batches)
            is_pos = torch.tensor([p for _, _, p in batch], device=judge.device)  # (B,)
            with torch.autocast(judge.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = judge.logits([x for x, _, _ in batch], [r for _, r, _ in batch])  # (B,)
            loss = judge_loss(logits[is_pos], logits[~is_pos])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(judge.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.update(task, advance=1, status=f"loss {losses[-1]:.3f}")
    tail = losses[-min(20, len(losses)) :]
    log.info(
        "judge pretraining: %d steps (bf16=%s), loss %.4f -> %.4f (mean of last %d)",
        len(losses),
        use_bf16,
        losses[0],
        sum(tail) / len(tail),
        len(tail),
    )
    return losses
