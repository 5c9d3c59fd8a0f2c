"""Students: one small interface over encoder-decoder and decoder-only Hugging Face models.

Training needs exactly two things of a student: the mean token negative log-likelihood of a
target given an input (per pair, teacher-forced) and sampling. Both families implement them:

    student = load_student(cfg.student)
    nll = student.nll(["predict: 2 + 3?"], ["( 2.0 + 3.0 )"])      # (B,) with grad
    texts = student.generate(["predict: 2 + 3?"], max_new_tokens=16)  # greedy
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch import Tensor, nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    LlamaConfig,
    PreTrainedTokenizerBase,
    T5Config,
)

from qcrd.config import StudentConfig
from qcrd.losses.sequence import sequence_nll

log = logging.getLogger(__name__)

Family = Literal["seq2seq", "causal"]
TINY_ALIASES = ("tiny-t5", "tiny-llama")


class Student(Protocol):
    """What the trainer and evaluator use of a student model."""

    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    family: Family

    def nll(self, inputs: list[str], targets: list[str]) -> Tensor:
        """Mean token NLL of each target given its input, shape (B,); differentiable."""
        ...

    def generate(
        self,
        inputs: list[str],
        max_new_tokens: int,
        temperature: float = 0.0,
        generator_seed: int | None = None,
    ) -> list[str]:
        """Greedy (temperature 0) or sampled continuations, one per input."""
        ...

    def score_candidates(
        self, inputs: list[str], candidates: list[list[str]], batch_size: int
    ) -> list[list[float]]:
        """NLL of every candidate target of every input, without gradient."""
        ...


def _score_pairs(
    student: Student, inputs: list[str], candidates: list[list[str]], batch_size: int
) -> list[list[float]]:
    """Score (input, candidate) pairs in length-sorted batches (little padding per batch)."""
    pairs = [
        (b, k, inputs[b], c) for b, cands in enumerate(candidates) for k, c in enumerate(cands)
    ]
    pairs.sort(key=lambda p: len(p[2]) + len(p[3]))
    out = [[0.0] * len(c) for c in candidates]
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        values = student.nll([p[2] for p in chunk], [p[3] for p in chunk]).float().tolist()
        for (b, k, _, _), v in zip(chunk, values, strict=True):
            out[b][k] = v
    return out


def _sampling_kwargs(temperature: float) -> dict[str, Any]:
    if temperature <= 0:
        return {"do_sample": False}
    # Plain temperature sampling: the model's own top-k / top-p defaults would cut exactly the
    # low-probability tail that hot self-adversarial negatives are meant to visit.
    return {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}


@dataclass
class Seq2SeqStudent:
    """An encoder-decoder student (T5 family)."""

    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    max_input_tokens: int
    max_target_tokens: int
    family: Family = "seq2seq"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _encode_inputs(self, inputs: list[str]) -> dict[str, Tensor]:
        enc = self.tokenizer(
            inputs,
            max_length=self.max_input_tokens,
            truncation=True,
            padding=True,
            return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in enc.items()}

    def nll(self, inputs: list[str], targets: list[str]) -> Tensor:
        enc = self._encode_inputs(inputs)
        lab = self.tokenizer(
            text_target=targets,
            max_length=self.max_target_tokens,
            truncation=True,
            padding=True,
            return_tensors="pt",
        )
        labels = lab["input_ids"].masked_fill(lab["attention_mask"].eq(0), -100).to(self.device)
        out = self.model(**enc, labels=labels)
        return sequence_nll(out.logits, labels)

    @torch.no_grad()
    def score_candidates(
        self, inputs: list[str], candidates: list[list[str]], batch_size: int
    ) -> list[list[float]]:
        """Run the encoder once per input and the decoder once per candidate."""
        enc = self._encode_inputs(inputs)
        states = self.model.get_encoder()(**enc).last_hidden_state  # type: ignore[operator]
        pairs = [(b, k) for b, cands in enumerate(candidates) for k in range(len(cands))]
        pairs.sort(key=lambda p: len(candidates[p[0]][p[1]]))
        out = [[0.0] * len(c) for c in candidates]
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            rows = torch.tensor([b for b, _ in chunk], device=self.device)
            lab = self.tokenizer(
                text_target=[candidates[b][k] for b, k in chunk],
                max_length=self.max_target_tokens,
                truncation=True,
                padding=True,
                return_tensors="pt",
            )
            labels = lab["input_ids"].masked_fill(lab["attention_mask"].eq(0), -100)
            labels = labels.to(self.device)
            logits = self.model(  # (C, L, V)
                encoder_outputs=(states[rows],),
                attention_mask=enc["attention_mask"][rows],
                labels=labels,
            ).logits
            for (b, k), v in zip(chunk, sequence_nll(logits, labels).tolist(), strict=True):
                out[b][k] = v
        return out

    @torch.no_grad()
    def generate(
        self,
        inputs: list[str],
        max_new_tokens: int,
        temperature: float = 0.0,
        generator_seed: int | None = None,
    ) -> list[str]:
        if generator_seed is not None:
            torch.manual_seed(generator_seed)
        enc = self._encode_inputs(inputs)
        out = self.model.generate(  # type: ignore[operator]
            **enc, max_new_tokens=max_new_tokens, **_sampling_kwargs(temperature)
        )
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


@dataclass
class CausalStudent:
    """A decoder-only student (Llama, SmolLM, Qwen, ...): the input is a prompt, the target its
    continuation; only target tokens are scored."""

    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    max_input_tokens: int
    max_target_tokens: int
    family: Family = "causal"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _prompt_ids(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text + "\n", add_special_tokens=False)["input_ids"]
        # Keep the end of a long prompt: that is where the question is.
        return ids[-self.max_input_tokens :]

    def nll(self, inputs: list[str], targets: list[str]) -> Tensor:
        eos = self.tokenizer.eos_token_id
        rows: list[tuple[list[int], list[int]]] = []
        for x, y in zip(inputs, targets, strict=True):
            tgt: list[int] = self.tokenizer(y, add_special_tokens=False)["input_ids"]
            tgt = [*tgt[: self.max_target_tokens - 1], eos]
            rows.append((self._prompt_ids(x), tgt))
        width = max(len(p) + len(t) for p, t in rows)
        tgt_width = max(len(t) for _, t in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), tgt_width), -100, dtype=torch.long)
        for i, (p, t) in enumerate(rows):
            seq = p + t
            # Left padding puts every target flush with the end, so the logits needed are the
            # last tgt_width + 1 positions for every row: the LM head (the costliest matmul of
            # a small model with a large vocabulary) runs on those only.
            ids[i, width - len(seq) :] = torch.tensor(seq)
            mask[i, width - len(seq) :] = 1
            labels[i, tgt_width - len(t) :] = torch.tensor(t)
        position_ids = (mask.cumsum(1) - 1).clamp_min(0)
        out = self.model(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=position_ids.to(self.device),
            logits_to_keep=tgt_width + 1,
        )
        logits = out.logits[:, :-1]  # (B, tgt_width, V): position t predicts token t + 1
        return sequence_nll(logits, labels.to(self.device))

    @torch.no_grad()
    def score_candidates(
        self, inputs: list[str], candidates: list[list[str]], batch_size: int
    ) -> list[list[float]]:
        return _score_pairs(self, inputs, candidates, batch_size)

    @torch.no_grad()
    def generate(
        self,
        inputs: list[str],
        max_new_tokens: int,
        temperature: float = 0.0,
        generator_seed: int | None = None,
    ) -> list[str]:
        if generator_seed is not None:
            torch.manual_seed(generator_seed)
        prompts = [self._prompt_ids(x) for x in inputs]
        width = max(len(p) for p in prompts)
        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, p in enumerate(prompts):
            ids[i, width - len(p) :] = torch.tensor(p)
            mask[i, width - len(p) :] = 1
        out = self.model.generate(  # type: ignore[operator]
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            max_new_tokens=max_new_tokens,
            pad_token_id=pad,
            eos_token_id=eos,
            **_sampling_kwargs(temperature),
        )
        new = out[:, width:]
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]


def _byte_tokenizer() -> PreTrainedTokenizerBase:
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


def _tiny_model(name: str) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """Randomly initialised tiny models for tests and CI; built in-process, no download."""
    tokenizer = _byte_tokenizer()
    torch.manual_seed(0)
    vocab = len(tokenizer)
    if name == "tiny-t5":
        t5 = T5Config(  # type: ignore[call-arg]
            vocab_size=vocab,
            d_model=128,
            d_kv=32,
            d_ff=256,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=4,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
        return AutoModelForSeq2SeqLM.from_config(t5), tokenizer
    llama = LlamaConfig(
        vocab_size=vocab,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    return AutoModelForCausalLM.from_config(llama), tokenizer


def resolve_family(name_or_path: str, family: str) -> Family:
    if family in ("seq2seq", "causal"):
        return family  # type: ignore[return-value]
    if name_or_path == "tiny-t5":
        return "seq2seq"
    if name_or_path in ("tiny-llama", "smollm2-135m"):
        return "causal"
    config = AutoConfig.from_pretrained(name_or_path)
    return "seq2seq" if config.is_encoder_decoder else "causal"


def load_pretrained(name_or_path: str, family: Family) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """Weights and tokenizer by alias, hub id or local folder (with no network: local only)."""
    if name_or_path in TINY_ALIASES:
        return _tiny_model(name_or_path)
    if name_or_path == "smollm2-135m":
        from qcrd.models.smollm import smollm2_path

        name_or_path = str(smollm2_path())
    auto = AutoModelForSeq2SeqLM if family == "seq2seq" else AutoModelForCausalLM
    try:
        model = auto.from_pretrained(name_or_path, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except OSError as err:
        raise OSError(
            f"cannot load student {name_or_path!r}: {err}. Without internet, use a local folder "
            "or the offline alias student.name=smollm2-135m"
        ) from err
    return model, tokenizer


def wrap(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, family: Family, cfg: StudentConfig
) -> Student:
    cls = Seq2SeqStudent if family == "seq2seq" else CausalStudent
    return cls(model, tokenizer, cfg.max_input_tokens, cfg.max_target_tokens)


def add_lora(model: nn.Module, family: Family, cfg: StudentConfig) -> nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model

    task = TaskType.SEQ_2_SEQ_LM if family == "seq2seq" else TaskType.CAUSAL_LM
    lora = LoraConfig(
        task_type=task,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules="all-linear",
    )
    return get_peft_model(model, lora)


def load_student(cfg: StudentConfig, path: str | Path | None = None) -> Student:
    """Build the configured student, or reload a trained one saved at ``path``."""
    family = resolve_family(cfg.name, cfg.family)
    source = str(path) if path is not None else cfg.name
    model, tokenizer = load_pretrained(source, family)
    if cfg.lora and path is None:
        model = add_lora(model, family, cfg)
    return wrap(model, tokenizer, family, cfg)
