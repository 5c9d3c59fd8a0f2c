"""LoRA students: only adapter weights train, and the saved student is plain merged weights."""

from __future__ import annotations

from pathlib import Path

import torch

from qcrd.config import StudentConfig
from qcrd.models.student import load_student
from qcrd.training.loop import save_model


def test_lora_trains_adapters_only_and_saves_merged(tmp_path: Path) -> None:
    cfg = StudentConfig(name="tiny-llama", lora=True, lora_r=4)
    student = load_student(cfg)
    trainable = {n for n, p in student.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)

    opt = torch.optim.AdamW([p for p in student.model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        student.nll(["predict: 2 + 2"], ["( 2.0 + 2.0 )"]).mean().backward()
        opt.step()
        opt.zero_grad()
    student.model.eval()
    with torch.no_grad():
        before = student.nll(["predict: 7"], ["( 7.0 )"])

    save_model(student, tmp_path / "best")
    saved = set(p.name for p in (tmp_path / "best").iterdir())
    assert "config.json" in saved and "adapter_config.json" not in saved  # merged, not adapter
    reloaded = load_student(cfg, path=tmp_path / "best")
    reloaded.model.eval()
    with torch.no_grad():
        after = reloaded.nll(["predict: 7"], ["( 7.0 )"])
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
