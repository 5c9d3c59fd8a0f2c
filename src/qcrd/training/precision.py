"""Mixed precision: bf16 autocast where the hardware computes it fast, fp32 elsewhere."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX or AVX-512 BF16 units, where bf16 matmuls beat fp32.

    On CPUs without them (AVX2 only) torch emulates bf16 and autocast is slower than fp32.
    """
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    return bool(amx() or avx512_bf16())


def resolve_precision(precision: Literal["auto", "bf16", "fp32"], device: torch.device) -> str:
    """'bf16' or 'fp32' for this device; 'auto' picks bf16 only where it is fast."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    if precision == "bf16":
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
