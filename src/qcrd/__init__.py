"""qcrd: quality-guided contrastive rationale distillation (Wang et al., arXiv 2405.13014)."""

__version__ = "0.1.0"
