"""Chat models end to end (`prompt_style: chat`) on the built-in SmolLM2-135M-Instruct (ChatML):
prompts as chat turns, LLaMA-Factory's template rendering exactly what generation renders, chat
datasets with a system column, the Qwen recipe's plan and configs, a real LLaMA-Factory SFT step
with the chat template, and real vLLM generation with chat prompts and `\\boxed{}` extraction."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from w2s_lf.generation import prompts as P
from w2s_lf.lf.templates import chat_template_for, register
from w2s_lf.tasks import get_task
from w2s_lf.tasks.prepare import load_embedded, prepare

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def demo(i: int, answer: int) -> P.Demo:
    return P.Demo(i, f"What is {i} + {i}?", f"{i} + {i} = {answer}.\nThe answer is \\boxed{{{answer}}}")


def write_chat_results(split: Path, out: Path, names: tuple[str, str, str], k: int) -> list[str]:
    """Synthetic weak, ICL and sample results over a split's questions, as chat-style generation
    writes them (with their `chat` turns), saved as `out/<name>.jsonl`; returns the questions."""
    from w2s_lf.builders.synthetic import synthetic_results
    from w2s_lf.io import read_jsonl, write_jsonl

    questions = [r["question"] for r in read_jsonl(split)]
    sets = synthetic_results(len(questions), k=k, seed=1, prompts=["<chat>"] * len(questions))
    for name, records in zip(names, sets):
        for r, q in zip(records, questions):
            r["chat"] = P.chat_fields(q)
        write_jsonl(out / f"{name}.jsonl", records)
    return questions


@pytest.fixture(scope="module")
def chat_data(tmp_path_factory) -> Path:
    """The embedded GSM8K-style task prepared for chat models (train_1 12, train_2 8, test 6)."""
    out = tmp_path_factory.mktemp("chat_data")
    task = get_task("gsm8k")
    prepare(task, load_embedded(task, (12, 8, 6), seed=42), out, prompt_style="chat")
    return out


@pytest.mark.slow
def test_few_shot_demos_are_chat_turns(smollm2):
    render = P.chat_renderer(str(smollm2))
    text = render(P.chat_messages("What is 3 + 3?", [demo(1, 2), demo(2, 4)]))
    assert text == (f"<|im_start|>system\n{P.CHAT_SYSTEM}<|im_end|>\n"
                    "<|im_start|>user\nWhat is 1 + 1?<|im_end|>\n"
                    "<|im_start|>assistant\n1 + 1 = 2.\nThe answer is \\boxed{2}<|im_end|>\n"
                    "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n"
                    "<|im_start|>assistant\n2 + 2 = 4.\nThe answer is \\boxed{4}<|im_end|>\n"
                    "<|im_start|>user\nWhat is 3 + 3?<|im_end|>\n<|im_start|>assistant\n")


def test_chat_targets_end_with_the_boxed_answer():
    from w2s_lf.tasks import Example
    gsm8k, math_task = get_task("gsm8k"), get_task("math")
    assert gsm8k.chat_target(Example("q", "2 * 3 = <<2*3=6>>6 apples.\n#### 6", "6")) == \
        "2 * 3 = 6 apples.\nThe answer is \\boxed{6}"
    boxed = "So $x = \\boxed{5}$."   # MATH solutions box their answer already: kept as they are
    assert math_task.chat_target(Example("q", boxed, "5")) == boxed
    assert math_task.chat_target(Example("q", "So $x = 5$.", "5")) == "So $x = 5$.\nThe answer is \\boxed{5}"


@pytest.mark.slow
def test_llamafactory_template_renders_what_generation_renders(smollm2):
    """Training (LLaMA-Factory's template) and generation (the tokenizer's chat template) must
    see the same tokens for the same turns, and the target must end with the end-of-turn token
    the model stops at."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    register()
    tok = AutoTokenizer.from_pretrained(smollm2)
    name = chat_template_for(str(smollm2))
    assert name == "smollm2"
    template = get_template_and_fix_tokenizer(tok, DataArguments(template=name))
    question, answer = "What is 3 + 3?", "3 + 3 = 6.\nThe answer is \\boxed{6}"
    prompt_ids, answer_ids = template.encode_oneturn(
        tok, [{"role": "user", "content": question}, {"role": "assistant", "content": answer}], system=P.CHAT_SYSTEM)
    rendered = P.chat_renderer(str(smollm2))(P.chat_messages(question))
    assert prompt_ids == tok.encode(rendered, add_special_tokens=False)
    assert answer_ids == tok.encode(answer, add_special_tokens=False) + tok.encode("<|im_end|>\n", add_special_tokens=False)
    assert tok.convert_tokens_to_ids("<|im_end|>") == tok.eos_token_id   # generation stops there


def test_chat_gold_data_and_built_sets_carry_the_system_turn(chat_data, tmp_path):
    from w2s_lf.builders.files import full_weak_files, pairs_files, stage1_files
    from w2s_lf.io import read_jsonl

    gold = json.loads((chat_data / "gsm8k_train_1.json").read_text())
    question = read_jsonl(chat_data / "test.jsonl")[0]["question"]
    assert set(gold[0]) == {"id", "content", "output", "system"} and gold[0]["system"] == P.CHAT_SYSTEM
    assert not gold[0]["content"].startswith("Question:") and question not in gold[0]["content"]
    assert all(r["output"].endswith("}") and "\\boxed{" in r["output"] and "####" not in r["output"] for r in gold)
    info = json.loads((chat_data / "dataset_info.json").read_text())
    assert info["gsm8k_train_1_gold"]["columns"]["system"] == "system"

    # chat-style results carry their turns; every set built from them keeps the system turn
    questions = write_chat_results(chat_data / "train_2.jsonl", tmp_path, ("weak", "icl", "samples"), k=6)
    full_weak_files(tmp_path / "weak.jsonl", chat_data, "gsm8k_full_weak")
    stage1_files(tmp_path / "weak.jsonl", tmp_path / "icl.jsonl", chat_data, "gsm8k_iter1")
    pairs_files(tmp_path / "weak.jsonl", tmp_path / "samples.jsonl", chat_data, "gsm8k_pairs",
                full_weak_path=chat_data / "gsm8k_full_weak.json", keep=0.0, flip=0.0)
    for name in ("gsm8k_full_weak", "gsm8k_iter1_hybrid"):
        records = json.loads((chat_data / f"{name}.json").read_text())
        assert records and all(r["system"] == P.CHAT_SYSTEM and r["content"] in questions for r in records)
    pairs = json.loads((chat_data / "gsm8k_pairs.json").read_text())
    assert pairs and all(p["system"] == P.CHAT_SYSTEM and p["instruction"] in questions for p in pairs)
    info = json.loads((chat_data / "dataset_info.json").read_text())
    assert info["gsm8k_pairs"]["columns"]["system"] == "system" and info["gsm8k_pairs"]["ranking"]


def test_qwen_recipe_plans_with_chat_templates_and_its_configs_validate(tmp_path, cli):
    """The modern pair's recipe: `--dry-run` works, every config uses LLaMA-Factory's `qwen`
    template, and with the data built (embedded MATH-style data, synthetic chat outputs)
    `w2s-lf validate` passes every config."""
    import yaml

    from w2s_lf.run.execute import run_recipe
    from w2s_lf.run.recipe import load_recipe

    path = REPO / "recipes/math_qwen2.5_1.5b_to_qwen2.5_7b.yaml"
    overrides = {"run_dir": str(tmp_path / "run"), "data.source": "embedded", "data.sizes": [20, 20, 10]}
    result = cli("run", path, *[f"{k}={json.dumps(v)}" for k, v in overrides.items()], "--dry-run")
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    assert "--prompt-style chat" in result.output   # prepare: gold targets as chat turns
    engines = [yaml.safe_load(f.read_text())["engine"] for f in (run / "configs/generate").glob("*.yaml")]
    assert engines and all(e["prompt_style"] == "chat" and e["grader"] == "robust" for e in engines)
    configs = sorted((run / "configs").glob("*.yaml"))
    assert {yaml.safe_load(c.read_text())["template"] for c in configs} == {"qwen"}

    recipe = load_recipe(path, overrides)
    run_recipe(recipe, only=("prepare",), progress=False, echo=lambda m: None)
    write_chat_results(run / "data/train_2.jsonl", run / "gen",
                       ("weak_train_2", "strong_icl_train_2", "mplus_samples_train_2"), k=10)
    run_recipe(recipe, only=("full_weak", "stage1", "vote", "pairs"), progress=False, echo=lambda m: None)
    result = cli("validate", *configs)
    assert result.exit_code == 0, result.output
    assert result.output.count(": OK") == len(configs)


@pytest.mark.slow
def test_chat_sft_step_then_vllm_chat_generation(smollm2, tiny_model, chat_data, tmp_path, monkeypatch):
    """A real LLaMA-Factory SFT step on chat data with the ChatML template of SmolLM2 (through
    our launcher; on the tiny Llama, which has SmolLM2's tokenizer and chat template, so the
    step takes seconds), then vLLM generation by SmolLM2-135M-Instruct with chat few-shot
    prompts, graded from `\\boxed{}`."""
    from support.generation import generate

    from w2s_lf import grading
    from w2s_lf.io import read_jsonl, write_jsonl
    from w2s_lf.lf import train
    from w2s_lf.lf.configs import make_train_config
    from w2s_lf.lf.templates import template_for

    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # a busy 2-core machine: one thread is faster
    config = make_train_config("sft", "cpu", str(tiny_model), "gsm8k_train_1_gold", str(chat_data),
                               str(tmp_path / "adapter"), template=template_for(str(tiny_model), "chat"),
                               overrides={"max_steps": 2, "cutoff_len": 384})
    assert config["template"] == "smollm2"
    out = train.train(config, tmp_path / "sft.yaml", tmp_path / "sft.log")
    assert (out / "adapter_model.safetensors").exists()
    losses = [json.loads(x)["loss"] for x in (out / "trainer_log.jsonl").read_text().splitlines() if "loss" in x]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    example = (tmp_path / "sft.log").read_text()   # LLaMA-Factory prints the first tokenized example
    assert f"<|im_start|>system\n{P.CHAT_SYSTEM}<|im_end|>\n<|im_start|>user\n" in example
    assert "}<|im_end|>" in example   # the target: ... \boxed{answer} then the end of the turn

    # Demonstrations answer in \boxed{}, as the chat gold targets do.
    gold = json.loads((chat_data / "gsm8k_train_1.json").read_text())
    write_jsonl(tmp_path / "demos.jsonl", [{"id": r["id"], "question": r["content"], "response": r["output"]}
                                           for r in gold[:2]])
    results = tmp_path / "chat.jsonl"
    generate(model=str(smollm2), output=str(results), task="gsm8k", data_dir=str(chat_data),
                         split="test", limit=4, mode="few-shot", demos=str(tmp_path / "demos.jsonl"), demo_strategy="first",
                         shots=2, prompt_style="chat", max_new_tokens=80, backend="vllm",
                         options={"dtype": "float32", "max_model_len": 2048})
    records = read_jsonl(results)
    info = json.loads(Path(f"{results}.run.json").read_text())["settings"]
    assert info["prompt_style"] == "chat" and info["stop"] == []    # chat turns end at EOS, not "Answer"
    assert len(records) == 4
    for r, q in zip(records, read_jsonl(chat_data / "test.jsonl")):
        assert r["chat"] == P.chat_fields(q["question"])
        assert r["prompt"].startswith(f"<|im_start|>system\n{P.CHAT_SYSTEM}<|im_end|>\n<|im_start|>user\n")
        assert r["prompt"].endswith(f"<|im_start|>user\n{q['question']}<|im_end|>\n<|im_start|>assistant\n")
        assert "<|im_end|>" not in r["response"]
        assert r["pred"] == grading.extract_answer(r["response"], "gsm8k")
    assert any(r["num_tokens"] < 80 for r in records)   # the turn ended at EOS (<|im_end|>)
    boxed = [r for r in records if "\\boxed{" in r["response"]]
    assert boxed, [r["response"] for r in records]     # the model follows the demos' \boxed{} answers
    assert all(r["pred"] != "" for r in boxed)
