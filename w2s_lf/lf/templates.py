"""LLaMA-Factory templates: our raw template with EOS, and the chat template of each model family.

Raw prompts (the paper's `Question: ...\\nAnswer:`) carry their own format, so the template must
add nothing around them; but the response must end with EOS so that a trained model learns to
stop. LLaMA-Factory 0.9.5's `empty` adds no EOS; the paper's LLaMA-Factory 0.5.0 `vanilla`
(`efficient_eos=False`: the assistant formatter appends EOS) put one after the response, as 0.6.2's
`vanilla` (`efficient_eos=True`) does for single-turn data. `w2s_vanilla` does the same in 0.9.5:

    prompt ids   = encode(prompt)                (no BOS, no separator, no system text)
    response ids = encode(response) + [EOS]      (EOS labelled: the model learns to stop)

LLaMA-Factory only knows templates registered in its own process, so every LLaMA-Factory process
we start registers ours first (`w2s_lf.lf.cli`, `w2s_lf.lf.validate`).

Chat models (`prompt_style: chat`) train with their own family's LLaMA-Factory template, which
must render a conversation exactly as the model's tokenizer chat template does (generation renders
prompts with the tokenizer, training with LLaMA-Factory). `chat_template_for` maps a model name to
that template; a recipe's `training.template` overrides it.
"""

from __future__ import annotations

from pathlib import Path

from w2s_lf.errors import W2SError

RAW_TEMPLATE = "w2s_vanilla"

# Model family (matched in the lower-cased model name or path) -> LLaMA-Factory template, first
# match wins. The built-in models all use SmolLM2-135M-Instruct's tokenizer (ChatML).
CHAT_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("smollm2", "smollm2"),
    ("tiny-llama", "smollm2"),
    ("tiny-gsm", "smollm2"),
    ("qwen3", "qwen3_nothink"),
    ("qwen", "qwen"),          # Qwen2 / Qwen2.5 / Qwen2.5-Math (ChatML)
    ("llama-3", "llama3"),
    ("llama3", "llama3"),
    ("mistral", "mistral"),
    ("gemma", "gemma"),
    ("phi-3", "phi"),
)


def register() -> None:
    """Add `w2s_vanilla` to LLaMA-Factory's template registry (idempotent)."""
    from llamafactory.data.formatter import StringFormatter
    from llamafactory.data.template import TEMPLATES, register_template

    if RAW_TEMPLATE in TEMPLATES:
        return
    register_template(
        name=RAW_TEMPLATE,
        format_user=StringFormatter(slots=["{{content}}"]),
        format_assistant=StringFormatter(slots=["{{content}}", {"eos_token"}]),
    )


def chat_template_for(model: str) -> str:
    """The LLaMA-Factory template of a model's chat format, from its name or folder name."""
    name = model.lower()
    for family, template in CHAT_TEMPLATES:
        if family in name:
            return template
    known = ", ".join(sorted({f for f, _ in CHAT_TEMPLATES}))
    raise W2SError(f"no LLaMA-Factory chat template known for model '{Path(model).name}' (families: {known}); "
                   f"set `training.template` in the recipe to the template matching its tokenizer's chat template")


def template_for(model: str, prompt_style: str, override: str | None = None) -> str:
    """The template a training (or export) config uses for `model` under `prompt_style`."""
    if override:
        return override
    return chat_template_for(model) if prompt_style == "chat" else RAW_TEMPLATE
