"""Generation logic without a model: prompts, demo choice, resume, shards, export, checks."""

from __future__ import annotations

import json
import random

import pytest
from support.ports import free_port

from w2s_lf.errors import InputError, W2SError
from w2s_lf.generation import export_seeds, merge, parse_shard, question_seed, resume
from w2s_lf.generation import prompts as P
from w2s_lf.generation.shards import shard_ids
from w2s_lf.tasks import get_task

# ---- prompts ---------------------------------------------------------------------------------

def test_few_shot_prompt_is_byte_exact_to_spec():
    demos = [P.Demo(0, "What is 1+1?", "1+1=2\n#### 2"), P.Demo(5, "Q2?", "no idea")]
    expected = ("Question: What is 1+1?\nAnswer: 1+1=2\n#### 2"
                "\n\n"
                "Question: Q2?\nAnswer: no idea"
                "\n\n"
                "Question: How many?\nAnswer:")
    assert P.few_shot_prompt(demos, "How many?") == expected


def test_question_of_prompt_roundtrip_and_error():
    q = "Line one\nline two: Answer: tricky"
    assert P.question_of_prompt(f"Question: {q}\nAnswer:") == q
    with pytest.raises(InputError, match="zero-shot prompt"):
        P.question_of_prompt("<|im_start|>user\nhi")


def test_clean_response_strips_whitespace_then_dots():
    assert P.clean_response("  ..The answer is 5.. \n") == "The answer is 5"
    assert P.clean_response(" . x . ") == " x "


def _pool(n):
    return [P.Demo(i, f"q{i}", f"r{i}") for i in range(n)]


def test_paper_strategy_is_seeded_shuffle_first_four():
    ids = list(range(7000))
    random.seed(42)
    random.shuffle(ids)
    chosen = P.choose_demos(_pool(7000), "paper")
    assert [d.id for d in chosen] == ids[:4] == [434, 2772, 3401, 173]
    assert [d.id for d in P.choose_demos(_pool(10), "first")] == [0, 1, 2, 3]
    assert [d.id for d in P.choose_demos(_pool(7000), ids=[2619, 456, 102, 3037])] == [2619, 456, 102, 3037]
    with pytest.raises(W2SError, match="not in the demo file"):
        P.choose_demos(_pool(5), ids=[9])
    with pytest.raises(W2SError, match="4 demonstrations needed"):
        P.choose_demos(_pool(3), "paper")


def test_paper_strategy_keeps_the_first_shuffled_responses_with_the_answer_key(capsys):
    """The paper's helper walks the seed-42 shuffle and keeps responses holding the answer key."""
    order = list(range(7000))
    random.Random(42).shuffle(order)
    without_key = set(order[1:3])            # the 2nd and 3rd shuffled records have no `####`
    pool = [P.Demo(i, f"q{i}", f"r{i}" if i in without_key else f"r{i}\n#### {i}") for i in range(7000)]
    chosen = P.choose_demos(pool, "paper", answer_key="####")
    assert [d.id for d in chosen] == [order[0], *order[3:6]]
    assert [d.id for d in P.choose_demos(pool, "paper")] == order[:4]      # no key: no filter
    assert [d.id for d in P.choose_demos(pool, "first", answer_key="####")] == [0, 1, 2, 3]
    few = [P.Demo(i, "q", "#### 1" if i < 2 else "x") for i in range(5)]
    assert {d.id for d in P.choose_demos(few, "paper", answer_key="####")} == {0, 1}   # as the helper: fewer
    assert "only 2 of the demo file's 5 responses contain the answer key" in capsys.readouterr().err
    shuffled = list(few)
    random.Random(42).shuffle(shuffled)
    fallback = P.choose_demos(few, "paper", answer_key="The answer is:")   # none holds it: the shuffle's first 4
    assert [d.id for d in fallback] == [d.id for d in shuffled[:4]]
    assert "none of the demo file's 5 responses contains the answer key" in capsys.readouterr().err
    assert P.answer_marker(get_task("math"), "raw") == "The answer is:"
    assert P.answer_marker(get_task("gsm8k"), "chat") == "\\boxed{"


@pytest.mark.shared
def test_paper_strategy_on_released_weak_outputs(gair):
    """On the released Llama-2-7B outputs the first four shuffled records all hold `####`, so the
    filter keeps the unfiltered choice; on Mistral-7B's too (checked, not assumed)."""
    runs = gair / "outputs/gsm8k_train_2/zero_shot"
    llama = P.load_demo_pool(runs / "llama2_7b_gsm8k_1/zero-shot/direct/results.jsonl")
    assert [d.id for d in P.choose_demos(llama, "paper", answer_key="####")] == [434, 2772, 3401, 173]
    mistral = P.load_demo_pool(runs / "mistral_7b_gsm8k_1/zero-shot/direct/results.jsonl")
    assert P.choose_demos(mistral, "paper", answer_key="####") == P.choose_demos(mistral, "paper")


@pytest.mark.shared
def test_paper_demos_from_released_weak_outputs(gair, tmp_path):
    """The paper's Llama-2-7B GSM8K demonstrations (ids 2619, 456, 102, 3037): 1 of 4 correct."""
    weak = gair / "outputs/gsm8k_train_2/zero_shot/llama2_7b_gsm8k_1/zero-shot/direct/results.jsonl"
    pool = P.load_demo_pool(weak)
    chosen = P.choose_demos(pool, ids=[2619, 456, 102, 3037])
    rows = {json.loads(line)["id"]: json.loads(line) for line in weak.open()}
    assert sum(rows[d.id]["result"] for d in chosen) == 1
    prompt = P.few_shot_prompt(chosen, "Q?")
    assert prompt.startswith("Question: " + rows[2619]["prompt"][len("Question: "):-len("\nAnswer:")]
                             + "\nAnswer: " + rows[2619]["response"] + "\n\nQuestion: ")


# ---- resume ------------------------------------------------------------------------------------

def _lines(*ids):
    return "".join(json.dumps({"id": i, "prompt": f"p{i}"}) + "\n" for i in ids)


def test_recover_drops_a_torn_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(_lines(0, 1, 2) + '{"id": 3, "prom')
    done = resume.recover(out)
    assert sorted(done) == [0, 1, 2]
    assert out.read_text() == _lines(0, 1, 2)        # truncated to the last complete line
    resume.append(out, [{"id": 3, "prompt": "p3"}])
    assert out.read_text() == _lines(0, 1, 2, 3)


def test_recover_drops_a_garbage_last_line_but_not_a_middle_one(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(_lines(0) + "\x00\x00\x00\n")
    assert sorted(resume.recover(out)) == [0] and out.read_text() == _lines(0)
    out.write_text(_lines(0) + "not json\n" + _lines(1))
    with pytest.raises(InputError, match="malformed JSON"):
        resume.recover(out)
    out.write_text(_lines(0, 1, 0))
    with pytest.raises(InputError, match="duplicated id 0"):
        resume.recover(out)
    assert resume.recover(tmp_path / "absent.jsonl") == {}


def test_finalize_sorts_only_when_needed(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(_lines(0, 2, 1))
    resume.finalize(out)
    assert out.read_text() == _lines(0, 1, 2)


def test_one_writer_per_checkpoint(tmp_path):
    out = tmp_path / "out.jsonl"
    with resume.exclusive(out):
        with pytest.raises(W2SError, match="another run is writing"):
            with resume.exclusive(out):
                pass
    with resume.exclusive(out):        # released on exit
        pass


# ---- shards, merge, export -----------------------------------------------------------------------

def test_parse_shard_and_partition():
    assert parse_shard("1/4") == (1, 4) and parse_shard(None) is None
    for bad in ("4/4", "a/b", "1-4", "-1/2"):
        with pytest.raises(W2SError, match="--shard"):
            parse_shard(bad)
    parts = [shard_ids(list(range(11)), (i, 3)) for i in range(3)]
    assert sorted(sum(parts, [])) == list(range(11)) and parts[1] == [1, 4, 7, 10]


def test_merge_checks_every_id_exactly_once(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(_lines(0, 2, 4))
    b.write_text(_lines(1, 3))
    out = tmp_path / "all.jsonl"
    assert merge(out, [a, b], expected=5) == 5
    assert out.read_text() == _lines(0, 1, 2, 3, 4)
    with pytest.raises(W2SError, match="1 id\\(s\\) missing of 6: 5"):
        merge(out, [a, b], expected=6)
    with pytest.raises(W2SError, match="missing of 5: 1, 3"):
        merge(out, [a], expected=5)
    b.write_text(_lines(1, 3, 4))
    with pytest.raises(W2SError, match="id 4 appears twice"):
        merge(out, [a, b])
    b.write_text(_lines(1, 3, 7))
    with pytest.raises(W2SError, match="outside"):
        merge(out, [a, b], expected=5)


def test_merge_reads_totals_and_missing_shards_from_run_info(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text(_lines(0, 2))
    (tmp_path / "a.jsonl.run.json").write_text(json.dumps({"total": 4, "shard": [0, 2], "complete": True}))
    with pytest.raises(W2SError, match="shard\\(s\\) 1/2 not given"):
        merge(tmp_path / "out.jsonl", [a])
    b = tmp_path / "b.jsonl"
    b.write_text(_lines(1))
    (tmp_path / "b.jsonl.run.json").write_text(json.dumps({"total": 4, "shard": [1, 2], "complete": False}))
    with pytest.raises(W2SError, match="unfinished"):
        merge(tmp_path / "out.jsonl", [a, b])


def test_export_seeds_writes_paper_layout(tmp_path):
    rows = [{"id": i, "prompt": f"p{i}", "gold": "1",
             "samples": [{"response": f"r{i}{s} x", "pred": str(s), "result": s == 1, "num_tokens": 3}
                         for s in range(3)]} for i in range(2)]
    src = tmp_path / "samples.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths = export_seeds(src, tmp_path / "out")
    assert [p.parent.name for p in paths] == ["seed0", "seed1", "seed2"]
    seed1 = [json.loads(line) for line in paths[1].open()]
    assert seed1[1] == {"id": 1, "prompt": "p1", "response": "r11 x", "pred": "1", "gold": "1",
                        "result": True, "num_tokens": 3, "num_words": 2}


def test_question_seed_is_stable_and_per_question():
    assert question_seed(42, 7) == question_seed(42, 7)
    assert len({question_seed(42, i) for i in range(1000)}) == 1000
    assert question_seed(0, 7) != question_seed(1, 7)


# ---- checks and CLI errors (no engine starts) ------------------------------------------------------

def _fake_adapter(folder, shape):
    import torch
    from safetensors.torch import save_file
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8, "base_model_name_or_path": "other"}))
    save_file({"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(shape)},
              str(folder / "adapter_model.safetensors"))


def test_adapter_shape_mismatch_is_a_clear_error(tmp_path, tiny_model):
    from w2s_lf.models.checks import check_adapter
    _fake_adapter(tmp_path / "good", (8, 128))
    assert check_adapter(str(tmp_path / "good"), str(tiny_model))["r"] == 8
    _fake_adapter(tmp_path / "bad", (8, 576))
    with pytest.raises(W2SError, match="does not match model .*q_proj needs 128 inputs"):
        check_adapter(str(tmp_path / "bad"), str(tiny_model))
    with pytest.raises(W2SError, match="not a PEFT/LoRA adapter"):
        check_adapter(str(tmp_path), str(tiny_model))


def test_cli_errors(cli, tmp_path, embedded_data, tiny_model):
    r = cli("generate", "--model", tmp_path / "nope", "--data-dir", embedded_data, "-o", tmp_path / "o.jsonl")
    assert r.exit_code == 2 and "model folder not found" in r.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = cli("generate", "--model", tiny_model, "--input", empty, "--backend", "hf", "-o", tmp_path / "o.jsonl")
    assert r.exit_code == 2 and "input split is empty" in r.output
    r = cli("generate", "--model", tiny_model, "--data-dir", embedded_data, "--mode", "few-shot",
            "-o", tmp_path / "o.jsonl")
    assert r.exit_code == 2 and "needs --demos" in r.output
    r = cli("generate", "--model", tiny_model, "--data-dir", embedded_data, "--adapter", tmp_path / "none",
            "-o", tmp_path / "o.jsonl")
    assert r.exit_code == 2 and "adapter folder not found" in r.output
    r = cli("generate", "merge", tmp_path / "m.jsonl", tmp_path / "missing.jsonl")
    assert r.exit_code == 2 and "file not found" in r.output


def test_openai_backend_unreachable_is_a_clear_error():
    from w2s_lf.generation.backends.openai_backend import OpenAIBackend
    port = free_port()   # a loopback port nobody listens on
    with pytest.raises(W2SError, match="unreachable at http://127.0.0.1:.*vllm serve"):
        OpenAIBackend("m", base_url=f"http://127.0.0.1:{port}/v1", retries=1, backoff=0.01)


# ---- continuous feeding: answers written as they finish -----------------------------------------

class _OutOfOrder:
    """A backend whose answers finish in reverse order within each window of 3, and which can
    die after a number of answers (as a killed engine would)."""

    default_batch_size = 3
    info = None

    def __init__(self, die_after: int | None = None):
        self.die_after, self.given = die_after, 0

    def generate(self, prompts, sampling, adapter=None):
        raise AssertionError("the runner streams")

    def serve(self, take, window=3):
        from w2s_lf.generation.backends import Completion
        while (new := take(window, True)) is not None:
            for r in reversed(new):
                if self.die_after is not None and self.given == self.die_after:
                    raise RuntimeError("engine died")
                self.given += 1
                yield r.key, [Completion(f"answer {r.prompt[-12:]}", 2)]

    def close(self):
        pass


def test_answers_written_as_they_finish_then_sorted_and_resumed_exactly(tmp_path, embedded_data):
    from support.generation import generate

    def cfg(out):
        return dict(model="m", output=str(out), backend="openai", data_dir=str(embedded_data),
                                split="test", limit=8)
    killed = tmp_path / "killed.jsonl"
    with pytest.raises(RuntimeError, match="engine died"):
        generate(**cfg(killed), engine=_OutOfOrder(die_after=5))
    assert [json.loads(line)["id"] for line in killed.open()] == [2, 1, 0, 5, 4]   # completion order
    summary = generate(**cfg(killed), engine=_OutOfOrder())
    assert (summary["reused"], summary["generated"]) == (5, 3)
    generate(**cfg(tmp_path / "whole.jsonl"), engine=_OutOfOrder())
    assert [json.loads(line)["id"] for line in killed.open()] == list(range(8))
    assert killed.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


def test_batched_serve_keeps_each_prompts_seed():
    from w2s_lf.generation.backends import Completion, Sampling, stream

    class Echo:
        def generate(self, prompts, sampling, adapter=None):
            return [[Completion(f"{p}:{sampling.seed_for(i)}:{adapter}")] for i, p in enumerate(prompts)]
    got = list(stream(Echo(), ["a", "b", "c"], Sampling(seeds=(7, 8, 9)), "x", 2))
    assert [(i, c[0].text) for i, c in got] == [(0, "a:7:x"), (1, "b:8:x"), (2, "c:9:x")]


def test_hand_made_shards_are_adopted_only_when_they_merge_to_the_expected_ids(tmp_path, embedded_data):
    from support.generation import generate

    from w2s_lf.generation.shards import adopt_shards

    def cfg(out, shard=None):
        return dict(model="m", output=str(out), backend="openai", data_dir=str(embedded_data),
                                split="test", limit=7, shard=shard)
    out = tmp_path / "out.jsonl"
    generate(**cfg(tmp_path / "whole.jsonl"), engine=_OutOfOrder())
    assert not adopt_shards(out, range(7))                        # no shards at all
    generate(**cfg(f"{out}.shard0-of-2.jsonl", "0/2"), engine=_OutOfOrder())
    assert not adopt_shards(out, range(7)) and not out.exists()   # shard 1/2 missing
    generate(**cfg(f"{out}.shard1-of-2.jsonl", "1/2"), engine=_OutOfOrder())
    assert not adopt_shards(out, range(8))                        # id 7 missing
    assert adopt_shards(out, range(7))
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    info = json.loads((tmp_path / "out.jsonl.run.json").read_text())
    whole = json.loads((tmp_path / "whole.jsonl.run.json").read_text())
    assert info["complete"] and info["settings"] == whole["settings"] and len(info["adopted_from"]) == 2
    assert all((tmp_path / f"out.jsonl.shard{i}-of-2.jsonl").is_file() for i in range(2))   # never deleted
    assert generate(**cfg(out), engine=_OutOfOrder(die_after=0))["reused"] == 7     # a rerun resumes it all
