"""The quality judge on the tiny random BERT (and one slow test on the real MiniLM)."""

from __future__ import annotations

import logging
import random

import pytest
import torch
from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

from qcrd.config import JudgeConfig
from qcrd.models.judge import Judge, build_judge
from qcrd.models.judge_pretrain import (
    augment_negatives,
    corpus_vocabulary,
    mask_words,
    pretrain_judge,
    replace_words,
    words_to_change,
)

TINY = JudgeConfig(backbone="tiny-bert", hidden=16, max_tokens=64, lr=1e-3, pretrain_batch_size=8)

QUESTION = "Jack had 8 pens and Mary had 5 pens. How many pens do they have in all?"
GOOD = "Jack has 8 pens and Mary has 5 pens. Together they have 8 + 5 = 13 pens."
INPUTS = [QUESTION, "A baker made 12 cakes and sold 7. How many are left?", "What is 3 times 4?"]
RATIONALES = [GOOD, "He made 12 and sold 7, so 12 - 7 = 5 cakes are left.", "3 * 4 = 12."]


def _toy_pairs() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Word problems with on-topic arithmetic rationales (positives) against rationales that
    ignore the question (negatives): separable from the words alone."""
    positives, negatives = [], []
    for a, b in [(3, 4), (12, 5), (7, 9), (20, 6), (15, 15), (8, 2), (31, 4), (9, 11)]:
        question = f"Tom has {a} apples and buys {b} more. How many apples does he have now?"
        positives.append(
            (question, f"Tom starts with {a} apples and adds {b}, so {a} + {b} = {a + b}.")
        )
        negatives.append((question, "I like the color blue and my cat sleeps on the sofa all day."))
    return positives, negatives


@pytest.fixture
def judge() -> Judge:
    return build_judge(TINY, seed=0)


def test_logits_and_scores_shapes(judge):
    logits = judge.logits(INPUTS, RATIONALES)
    assert logits.shape == (3,) and logits.dtype == torch.float32 and logits.requires_grad
    scores = judge.scores(INPUTS, RATIONALES)
    assert scores.shape == (3,) and not scores.requires_grad
    assert ((scores >= 0) & (scores <= 1)).all()
    assert judge.training, "scores() must restore training mode"
    assert judge.logits([], []).shape == (0,)
    with pytest.raises(ValueError, match="2 inputs but 1 rationales"):
        judge.logits(INPUTS[:2], RATIONALES[:1])


def test_scores_do_not_depend_on_batching(judge):
    """Max-pooling ignores padding, so a pair scores the same alone or padded in a batch, and
    the length-sorted batches come back in the caller's order."""
    judge.eval()
    alone = torch.cat([judge.scores([x], [r]) for x, r in zip(INPUTS, RATIONALES, strict=True)])
    batched = judge.scores(INPUTS, RATIONALES, batch_size=2)
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(batched, torch.sigmoid(judge.logits(INPUTS, RATIONALES)))


def test_pairs_are_truncated_and_segmented(judge):
    long_rationale = " ".join(["step"] * 500)
    encoded = judge.encode([QUESTION], [long_rationale])
    assert encoded["input_ids"].shape == (1, TINY.max_tokens)
    # BERT tells the two texts apart by segment: the rationale's tokens are type 1.
    assert encoded["token_type_ids"][0, -1].item() == 1


def test_t5_encoder_backbone_from_a_path(tmp_path):
    """A T5 folder loads only the encoder; T5 takes no token_type_ids."""
    config = T5Config(vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2)
    torch.manual_seed(0)
    T5EncoderModel(config).save_pretrained(tmp_path)
    ByT5Tokenizer().save_pretrained(tmp_path)
    t5_judge = build_judge(JudgeConfig(backbone=str(tmp_path), hidden=8, max_tokens=64), seed=0)
    assert isinstance(t5_judge.encoder, T5EncoderModel)
    assert "token_type_ids" not in t5_judge.encode(INPUTS, RATIONALES)
    scores = t5_judge.scores(INPUTS, RATIONALES)
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()


def test_build_judge_is_seeded_and_checks_length():
    a, b = build_judge(TINY, seed=3), build_judge(TINY, seed=3)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    with pytest.raises(ValueError, match="512 positions"):
        build_judge(JudgeConfig(backbone="tiny-bert", max_tokens=1024))


def test_words_to_change():
    """round(fraction · n), at least one word when the fraction is positive."""
    assert words_to_change(10, 0.15) == 2  # round(1.5) = 2 (banker's rounding)
    assert words_to_change(10, 0.3) == 3
    assert words_to_change(4, 0.01) == 1
    assert words_to_change(4, 0.0) == 0
    assert words_to_change(0, 0.5) == 0


def test_mask_words_changes_the_right_fraction():
    """10 words, fraction 0.3 -> exactly 3 become [MASK]; spacing and line breaks are kept."""
    text = "one two three four five\nsix seven  eight nine ten"
    masked = mask_words(text, 0.3, "[MASK]", random.Random(0))
    before, after = text.split(), masked.split()
    assert len(after) == 10
    changed = [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y]
    assert len(changed) == 3 and all(after[i] == "[MASK]" for i in changed)
    assert "\n" in masked and "  " in masked


def test_replace_words_draws_other_corpus_words():
    """10 words, fraction 0.5 -> exactly 5 differ, each replaced by a corpus word."""
    text = "the cat sat on the mat and ate the fish"
    vocabulary = corpus_vocabulary([text, "a dog ran to a tree"])
    replaced = replace_words(text, 0.5, vocabulary, random.Random(1))
    before, after = text.split(), replaced.split()
    changed = [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y]
    assert len(changed) == 5
    assert all(after[i] in vocabulary for i in changed)


def test_augment_negatives_balances_from_positives():
    """Needing 5 negatives from 2 positives: inputs are kept, every rationale is corrupted,
    and the same seed gives the same negatives."""
    positives, _ = _toy_pairs()
    positives = positives[:2]
    vocabulary = corpus_vocabulary(r for _, r in positives)

    def make(seed: int) -> list[tuple[str, str]]:
        return augment_negatives(positives, 5, TINY, "[MASK]", vocabulary, random.Random(seed))

    made = make(0)
    assert len(made) == 5
    sources = {x: r for x, r in positives}
    assert all(x in sources and r != sources[x] for x, r in made)
    assert make(0) == made
    off = TINY.model_copy(update={"augment_mask_prob": 0.0, "augment_replace_prob": 0.0})
    assert augment_negatives(positives, 5, off, "[MASK]", vocabulary, random.Random(0)) == []


def test_pretraining_separates_a_toy_set():
    """10 steps at lr 3e-3 on a separable set: the loss falls and positives outscore
    negatives; the same seed repeats the run; every parameter trains."""
    positives, negatives = _toy_pairs()
    cfg = TINY.model_copy(update={"pretrain_steps": 10, "lr": 3e-3})
    judge = build_judge(cfg, seed=0)
    before = {n: p.detach().clone() for n, p in judge.named_parameters()}
    losses = pretrain_judge(judge, positives, negatives, cfg, seed=0, progress=False, bf16=False)
    assert len(losses) == 10
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3
    pairs = positives + negatives
    scores = judge.scores([x for x, _ in pairs], [r for _, r in pairs])
    assert scores[:8].min() > scores[8:].max()
    unchanged = [n for n, p in judge.named_parameters() if torch.equal(p, before[n])]
    assert not unchanged

    short = cfg.model_copy(update={"pretrain_steps": 2})
    runs = [
        pretrain_judge(
            build_judge(short, seed=0), positives, negatives, short, seed=5, progress=False
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_pretraining_in_bf16_runs():
    positives, negatives = _toy_pairs()
    cfg = TINY.model_copy(update={"pretrain_steps": 2})
    losses = pretrain_judge(build_judge(cfg, seed=0), positives, negatives, cfg, seed=0, bf16=True)
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))


def test_pretraining_stops_when_there_is_nothing_to_contrast(judge, caplog):
    """No data at all; or positives with augmentation off and no negatives: no step, a log."""
    caplog.set_level(logging.INFO, logger="qcrd.models.judge_pretrain")
    assert pretrain_judge(judge, [], [], TINY, seed=0) == []
    assert "nothing to contrast" in caplog.text
    positives, _ = _toy_pairs()
    off = TINY.model_copy(update={"augment_mask_prob": 0.0, "augment_replace_prob": 0.0})
    assert pretrain_judge(judge, positives, [], off, seed=0) == []


@pytest.mark.slow
def test_real_minilm_scores_a_pair():
    judge = build_judge(JudgeConfig(), seed=0)
    assert judge.encoder.config.hidden_size == 384
    scores = judge.scores([QUESTION], [GOOD])
    assert scores.shape == (1,) and 0.0 <= scores.item() <= 1.0
