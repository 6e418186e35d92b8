"""Benchmark of the local model: prompt processing and generation with llama.cpp's extra buffer
types on (llama-cpp-python's default) and off (what SoloDesk's local model process uses, see
``solodesk.llm.local_server``). Prints figures; asserts nothing about time.

Each setting runs in its own subprocess (the switch is process-wide), alternating, ``ROUNDS``
times; the figures depend on the CPU and on what else runs on it.

Run: .venv/bin/python tests/bench/bench_local_model.py [ROUNDS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from solodesk.agents.proposals import quote_untrusted_email
from solodesk.core.resources import prompt, resource

CHILD = r"""
import json, os, sys, time
extra = sys.argv[1] == "on"
from solodesk.llm.local import default_model_path
if not extra:
    from solodesk.llm.local_server import disable_extra_buffer_types
    disable_extra_buffer_types()
import llama_cpp
messages = json.loads(sys.stdin.read())
t = time.perf_counter()
llm = llama_cpp.Llama(model_path=str(default_model_path()), n_ctx=4096,
                      n_threads=os.cpu_count(), verbose=False)
load = time.perf_counter() - t
t = time.perf_counter()
out = llm.create_chat_completion(messages=messages, max_tokens=64, temperature=0)
total = time.perf_counter() - t
u = out["usage"]
print(json.dumps({"load": load, "total": total, "prompt": u["prompt_tokens"],
                  "completion": u["completion_tokens"],
                  "flag": llm.model_params.use_extra_bufts}))
"""


def _messages() -> list[dict[str, str]]:
    body = resource("sample_mail", "demo.mbox").read_text(encoding="utf-8").split("\n\n", 1)[1]
    return [
        {"role": "system", "content": prompt("support", company="Inkwell", founder="Ada")},
        {"role": "user", "content": quote_untrusted_email({"From": "m@x.example",
                                                           "Body": body[:3000]})},
    ]


def main(rounds: int) -> None:
    payload = json.dumps(_messages())
    results: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for _ in range(rounds):
        for setting in ("on", "off"):
            proc = subprocess.run([sys.executable, "-c", CHILD, setting], input=payload,
                                  capture_output=True, text=True, check=True)
            results[setting].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    load = os.getloadavg()[0]
    print(f"local model (SmolLM2-135M Q4_1), {os.cpu_count()} CPUs, load average {load:.1f}, "
          f"{rounds} rounds")
    for setting, runs in results.items():
        totals = [r["total"] for r in runs]
        tokens = runs[0]["prompt"] + runs[0]["completion"]
        loaded = statistics.median(r["load"] for r in runs)
        first = runs[0]
        print(
            f"  use_extra_bufts {setting:3}: load {loaded:.2f} s, one completion "
            f"({first['prompt']} prompt + {first['completion']} generated tokens) median "
            f"{statistics.median(totals):.2f} s (min {min(totals):.2f}, max {max(totals):.2f}; "
            f"{tokens / min(totals):.0f} tok/s at best)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
