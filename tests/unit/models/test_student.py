"""Student adapters: the NLL they report is the model's own, whatever the batching."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from qcrd.config import StudentConfig
from qcrd.models.student import CausalStudent, _score_pairs, load_student


@pytest.fixture(scope="module", params=["tiny-t5", "tiny-llama"])
def student(request: pytest.FixtureRequest):
    s = load_student(StudentConfig(name=request.param))
    s.model.eval()
    return s


def test_causal_nll_matches_full_forward() -> None:
    """NLL over target tokens only = mean CE of the full model's logits at those positions,
    computed the plain way (no left padding, all logits)."""
    s = load_student(StudentConfig(name="tiny-llama"))
    assert isinstance(s, CausalStudent)
    s.model.eval()
    x, y = "predict: 2 + 3", "( 2.0 + 3.0 )"
    prompt = s.tokenizer(x + "\n", add_special_tokens=False)["input_ids"]
    target = s.tokenizer(y, add_special_tokens=False)["input_ids"] + [s.tokenizer.eos_token_id]
    ids = torch.tensor([prompt + target])
    with torch.no_grad():
        logits = s.model(input_ids=ids).logits[0]  # (T, V)
        expected = F.cross_entropy(logits[len(prompt) - 1 : -1], torch.tensor(target))
        got = s.nll([x], [y])[0]
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_nll_does_not_depend_on_batch_mates(student) -> None:
    """Padding must not leak: a pair scores the same alone and next to a much longer pair."""
    with torch.no_grad():
        alone = student.nll(["explain: short"], ["a b"])[0]
        batched = student.nll(
            ["explain: short", "explain: a far longer input " * 4], ["a b", "x y z " * 10]
        )[0]
    assert batched.item() == pytest.approx(alone.item(), rel=1e-4)


def test_score_candidates_equals_per_pair_nll(student) -> None:
    """The seq2seq fast path (encoder once per input) and the generic path agree."""
    inputs = ["explain: a b c", "explain: hello there"]
    cands = [["r1 x", "r2 yy", "r3"], ["q", "qq q"]]
    with torch.no_grad():
        fast = student.score_candidates(inputs, cands, batch_size=2)
        plain = _score_pairs(student, inputs, cands, batch_size=2)
    for f_row, p_row in zip(fast, plain, strict=True):
        assert f_row == pytest.approx(p_row, rel=1e-4)


def test_nll_has_gradient(student) -> None:
    student.model.train()
    loss = student.nll(["predict: 1"], ["( 1.0 )"]).sum()
    loss.backward()
    grads = [p.grad for p in student.model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    student.model.zero_grad()
    student.model.eval()


def test_generate_returns_one_string_per_input(student) -> None:
    out = student.generate(["predict: 1", "predict: 2 + 2"], max_new_tokens=4)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    hot = student.generate(["predict: 1"], max_new_tokens=4, temperature=1.5, generator_seed=3)
    again = student.generate(["predict: 1"], max_new_tokens=4, temperature=1.5, generator_seed=3)
    assert hot == again
