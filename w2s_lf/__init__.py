"""w2s-lf: the weak-to-strong reasoning recipe on LLaMA-Factory and vLLM."""

__version__ = "0.1.0"
