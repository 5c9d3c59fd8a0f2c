"""Teacher backend running a Hugging Face causal LM in this process (no server, no network).

The offline default is SmolLM2-135M-Instruct (``teacher.local_model=smollm2-135m``), far too
weak to be a useful teacher but enough to run the pipeline end to end; any local model
folder works. Samples are drawn in batches of ``local_batch_size`` (prompt, sample index)
rows, left-padded, under bf16 autocast where the CPU computes bf16 fast (AMX / AVX-512 BF16).

Seeding: each batch reseeds a forked RNG from (seed, the batch's first row), so a rerun with
the same batches gives the same samples; a resumed run batches differently and its samples
are other, equally valid draws.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import torch

from qcrd.config import TeacherConfig
from qcrd.teacher.backend import (
    Response,
    Sample,
    SampleRequest,
    SamplingParams,
    chars_per_token_estimate,
)
from qcrd.training.precision import cpu_has_fast_bf16

log = logging.getLogger(__name__)

SMOLLM2_ALIAS = "smollm2-135m"


def _batch_seed(seed: int | None, prompt: str, index: int) -> int:
    digest = hashlib.sha256(f"{seed}:{index}:{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class LocalBackend:
    """The ``local`` teacher backend.

    Args:
        cfg: the teacher settings (``local_model``, ``local_batch_size``).
        model, tokenizer: an already loaded pair (tests); by default loaded on first use.
    """

    name = "local"
    billed = False

    def __init__(self, cfg: TeacherConfig, *, model: Any = None, tokenizer: Any = None) -> None:
        self.cfg = cfg
        self.source = f"local:{cfg.local_model}"
        self.precision = "bf16" if cpu_has_fast_bf16() else "fp32"
        self._model = model
        self._tokenizer = tokenizer

    def key_fields(
        self, request: SampleRequest, template_ref: str, params: SamplingParams
    ) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.cfg.local_model,
            "precision": self.precision,
            "template": template_ref,
            "prompt": request.prompt,
            **params.key_fields(),
        }

    def estimate_prompt_tokens(self, prompt: str) -> int:
        if self._tokenizer is not None:
            return len(self._tokenizer(self._chat(prompt))["input_ids"])
        return chars_per_token_estimate(prompt)

    def describe(self) -> dict[str, Any]:
        return {"model": self.cfg.local_model, "precision": self.precision}

    async def aclose(self) -> None:
        self._model = None

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path: Any = self.cfg.local_model
        if path == SMOLLM2_ALIAS:
            from qcrd.models.smollm import smollm2_path

            path = smollm2_path()
        log.info("loading the local teacher %s", path)
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        self._model.eval()

    def _chat(self, prompt: str) -> str:
        assert self._tokenizer is not None
        if getattr(self._tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": prompt}]
            text = self._tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            return str(text)
        return prompt

    async def generate(
        self, requests: Sequence[SampleRequest], params: SamplingParams
    ) -> AsyncIterator[Response]:
        await asyncio.to_thread(self._load)
        rows = [(request, index) for request in requests for index in request.indices]
        size = self.cfg.local_batch_size
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            outputs = await asyncio.to_thread(self._sample_batch, batch, params)
            for (request, index), (text, finish, n_prompt, n_completion) in zip(
                batch, outputs, strict=True
            ):
                yield Response(
                    request,
                    samples=(Sample(index, text, finish),),
                    prompt_tokens=n_prompt,
                    completion_tokens=n_completion,
                )

    @torch.no_grad()
    def _sample_batch(
        self, batch: list[tuple[SampleRequest, int]], params: SamplingParams
    ) -> list[tuple[str, str, int, int]]:
        """(text, finish_reason, prompt tokens, completion tokens) per (request, index) row."""
        tok, model = self._tokenizer, self._model
        assert tok is not None and model is not None
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        enc = tok([self._chat(r.prompt) for r, _ in batch], return_tensors="pt", padding=True)
        prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()  # (B,)
        first_request, first_index = batch[0]
        sampling = params.temperature > 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_batch_seed(params.seed, first_request.prompt, first_index))
            autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")
            with autocast:
                out = model.generate(
                    **enc,
                    do_sample=sampling,
                    temperature=params.temperature if sampling else None,
                    top_p=params.top_p if sampling else None,
                    max_new_tokens=params.max_tokens,
                    pad_token_id=tok.pad_token_id,
                )
        new_tokens = out[:, enc["input_ids"].shape[1] :]  # (B, T_new)
        results = []
        for row, n_prompt in zip(new_tokens.tolist(), prompt_lengths, strict=True):
            finish = "length"
            if tok.eos_token_id in row:
                row = row[: row.index(tok.eos_token_id)]
                finish = "stop"
            text = tok.decode(row, skip_special_tokens=True)
            cuts = [text.find(s) for s in params.stop if s in text]
            if cuts:  # what a server does with stop sequences (generated past them, though)
                text, finish = text[: min(cuts)], "stop"
            results.append((text.strip(), finish, int(n_prompt), len(row)))
        return results
