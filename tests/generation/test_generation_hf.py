"""Real generation on CPU with the transformers backend and the tiny Llama: determinism, n=k
sampling, resume after SIGKILL, shards + merge, few-shot through the CLI, and the OpenAI
backend against a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.generation import generate

from w2s_lf.errors import W2SError
from w2s_lf.generation.backends import Sampling
from w2s_lf.generation.backends.hf_backend import HfBackend

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TOKENS = 8


@pytest.fixture(scope="module")
def hf(tiny_model):
    return HfBackend(str(tiny_model), dtype="float32")


def _cfg(tiny_model, data, out, **kw):
    base = dict(model=str(tiny_model), output=str(out), data_dir=str(data), backend="hf",
                max_new_tokens=TOKENS)
    return {**base, **kw}


def _rows(path):
    return [json.loads(line) for line in Path(path).open()]


def test_greedy_is_deterministic_and_graded_on_test(hf, tiny_model, embedded_data, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    generate(**_cfg(tiny_model, embedded_data, a, limit=5, batch_size=2), engine=hf)
    generate(**_cfg(tiny_model, embedded_data, b, limit=5, batch_size=2), engine=hf)
    assert a.read_bytes() == b.read_bytes()
    rows = _rows(a)
    assert [r["id"] for r in rows] == list(range(5))
    assert set(rows[0]) == {"id", "prompt", "response", "pred", "gold", "result", "num_tokens", "num_words"}
    assert rows[0]["prompt"].startswith("Question: ") and rows[0]["prompt"].endswith("\nAnswer:")
    assert all(r["gold"] is not None and isinstance(r["result"], bool) for r in rows)
    # A finished output reruns without generating (no engine needed) and stays byte-identical.
    summary = generate(**_cfg(tiny_model, embedded_data, a, limit=5, batch_size=2))
    assert summary["generated"] == 0 and summary["reused"] == 5 and a.read_bytes() == b.read_bytes()


def test_train_2_has_no_gold_unless_asked(hf, tiny_model, embedded_data, tmp_path):
    generate(**_cfg(tiny_model, embedded_data, tmp_path / "n.jsonl", split="train_2", limit=2), engine=hf)
    assert all(r["gold"] is None and r["result"] is None for r in _rows(tmp_path / "n.jsonl"))
    generate(**_cfg(tiny_model, embedded_data, tmp_path / "g.jsonl", split="train_2", limit=2,
             gold_file=str(embedded_data / "train_2.jsonl")), engine=hf)
    assert all(r["gold"] is not None for r in _rows(tmp_path / "g.jsonl"))


def test_sample_n_k_is_reproducible_and_batch_independent(hf, tiny_model, embedded_data, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    generate(**_cfg(tiny_model, embedded_data, a, limit=3, mode="sample", k=3, batch_size=3), engine=hf)
    generate(**_cfg(tiny_model, embedded_data, b, limit=3, mode="sample", k=3, batch_size=1), engine=hf)
    assert a.read_bytes() == b.read_bytes()
    rows = _rows(a)
    assert [len(r["samples"]) for r in rows] == [3, 3, 3]
    assert set(rows[0]["samples"][0]) == {"response", "pred", "result", "num_tokens"}
    texts = [s["response"] for s in rows[0]["samples"]]
    assert len(set(texts)) == 3            # temperature 1 on a random model: distinct samples
    out = hf.generate(["Question: x\nAnswer:"], Sampling(n=4, temperature=1.0, max_new_tokens=4, seeds=(1,)))
    assert len(out) == 1 and len(out[0]) == 4


def test_resume_after_sigkill_matches_an_uninterrupted_run(hf, tiny_model, embedded_data, tmp_path):
    args = [sys.executable, "-m", "w2s_lf", "generate", "--model", str(tiny_model), "--backend", "hf",
            "--data-dir", str(embedded_data), "--split", "test", "--batch-size", "2",
            "--max-new-tokens", "24", "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    killed = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([*args, "-o", str(killed)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if killed.exists() and killed.stat().st_size > 0:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = killed.read_text().count("\n")
    assert 0 < kept < 20, "the kill should land mid-run"
    with killed.open("a") as f:           # as if the kill had torn a line in half
        f.write('{"id": 999, "prompt": "Question: half a li')
    subprocess.run([*args, "-o", str(killed)], env=env, cwd=REPO, check=True, capture_output=True)
    full = tmp_path / "full.jsonl"      # the uninterrupted run, in-process to save a start-up
    generate(**_cfg(tiny_model, embedded_data, full, batch_size=2, max_new_tokens=24), engine=hf)
    ids = [r["id"] for r in _rows(killed)]
    assert ids == list(range(20))
    assert killed.read_bytes() == full.read_bytes()


def test_shards_merge_to_the_unsharded_run(hf, cli, tiny_model, embedded_data, tmp_path):
    def gen(out, shard=None):
        generate(**_cfg(tiny_model, embedded_data, out, limit=7, batch_size=1, shard=shard), engine=hf)
    for i in range(3):
        gen(tmp_path / f"s{i}.jsonl", f"{i}/3")
    assert [r["id"] for r in _rows(tmp_path / "s1.jsonl")] == [1, 4]
    r = cli("generate", "merge", tmp_path / "m.jsonl", *(tmp_path / f"s{i}.jsonl" for i in range(3)))
    assert r.exit_code == 0, r.output
    gen(tmp_path / "all.jsonl")
    assert (tmp_path / "m.jsonl").read_bytes() == (tmp_path / "all.jsonl").read_bytes()
    r = cli("generate", "merge", tmp_path / "m2.jsonl", tmp_path / "s0.jsonl", tmp_path / "s2.jsonl")
    assert r.exit_code == 2 and "shard(s) 1/3 not given" in r.output
    # Resuming a shard into another shard's file is refused.
    with pytest.raises(W2SError, match="not in this run's questions/shard"):
        gen(tmp_path / "s1.jsonl", "0/3")


def test_few_shot_cli_saves_demos_and_exact_prompts(cli, tiny_model, embedded_data, tmp_path):
    weak = tmp_path / "weak.jsonl"
    r = cli("generate", "--model", tiny_model, "--backend", "hf", "--data-dir", embedded_data,
            "--split", "train_2", "--max-new-tokens", 4, "--no-progress", "-o", weak)
    assert r.exit_code == 0, r.output
    icl = tmp_path / "icl.jsonl"
    r = cli("generate", "--model", tiny_model, "--backend", "hf", "--data-dir", embedded_data,
            "--split", "train_2", "--limit", 2, "--mode", "few-shot", "--demos", weak,
            "--max-new-tokens", 4, "--no-progress", "-o", icl)
    assert r.exit_code == 0, r.output
    demos = json.loads(Path(f"{icl}.demos.json").read_text())
    import random
    order = list(range(40))
    random.Random(42).shuffle(order)
    assert demos["ids"] == order[:4] and demos["strategy"] == "paper"
    weak_rows = {r["id"]: r for r in _rows(weak)}
    questions = [json.loads(line)["question"] for line in (embedded_data / "train_2.jsonl").open()]
    expected = "\n\n".join(f"Question: {questions[i]}\nAnswer: {weak_rows[i]['response']}" for i in demos["ids"])
    expected += f"\n\nQuestion: {questions[1]}\nAnswer:"
    assert _rows(icl)[1]["prompt"] == expected
    # Other settings on the same output are refused rather than mixed in.
    r = cli("generate", "--model", tiny_model, "--backend", "hf", "--data-dir", embedded_data,
            "--split", "train_2", "--limit", 2, "--mode", "few-shot", "--demos", weak, "--demo-strategy",
            "first", "--max-new-tokens", 4, "--no-progress", "-o", icl)
    assert r.exit_code == 2 and "different settings (demos)" in r.output


# ---- the OpenAI backend against a real HTTP server -------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _serve(hf_backend, fail_first: int):
    """A minimal OpenAI-compatible server (`/v1/models`, `/v1/completions`) over the HF backend.
    The first `fail_first` completion requests answer 503, to exercise retries."""
    lock = threading.Lock()
    state = {"fail": fail_first, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._send(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state["requests"] += 1
                if state["fail"] > 0:
                    state["fail"] -= 1
                    return self._send(503, {"error": "warming up"})
                sampling = Sampling(n=req.get("n", 1), temperature=req["temperature"], top_p=req["top_p"],
                                    max_new_tokens=req["max_tokens"], stop=tuple(req.get("stop") or ()),
                                    seeds=(req["seed"],) if "seed" in req else None)
                outs = hf_backend.generate([req["prompt"]], sampling)[0]
            self._send(200, {"object": "text_completion", "model": req["model"],
                             "choices": [{"index": i, "text": c.text, "finish_reason": "length"}
                                         for i, c in enumerate(outs)],
                             "usage": {"completion_tokens": sum(c.num_tokens for c in outs)}})

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


def test_openai_backend_matches_hf_through_a_local_server(hf, tiny_model, embedded_data, tmp_path):
    server, state = _serve(hf, fail_first=2)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        via_http = tmp_path / "http.jsonl"
        generate(**_cfg(tiny_model, embedded_data, via_http, limit=4, backend="openai", batch_size=2,
                 options={"base_url": url, "concurrency": 2, "backoff": 0.01}))
        direct = tmp_path / "direct.jsonl"
        generate(**_cfg(tiny_model, embedded_data, direct, limit=4, batch_size=1), engine=hf)
        assert [r["response"] for r in _rows(via_http)] == [r["response"] for r in _rows(direct)]
        assert state["requests"] == 4 + 2                  # two 503s were retried
        samples = tmp_path / "samples.jsonl"
        generate(**_cfg(tiny_model, embedded_data, samples, limit=2, backend="openai", mode="sample", k=3,
                 options={"base_url": url}))
        assert [len(r["samples"]) for r in _rows(samples)] == [3, 3]
    finally:
        server.shutdown()


def test_chat_prompt_style_uses_the_model_template(hf, tiny_model, embedded_data, tmp_path):
    out = tmp_path / "chat.jsonl"
    generate(**_cfg(tiny_model, embedded_data, out, limit=1, prompt_style="chat"), engine=hf)
    prompt = _rows(out)[0]["prompt"]
    question = json.loads((embedded_data / "test.jsonl").open().readline())["question"]
    assert prompt.startswith("<|im_start|>") and prompt.endswith("<|im_start|>assistant\n")
    assert f"<|im_start|>user\n{question}<|im_end|>" in prompt and "\\boxed{}" in prompt   # the system turn
