"""Phishing checks against many known correspondents (prints figures; not a test).

Run: ``.venv/bin/python -m tests.bench.bench_phishing``. The GUI computes a selected mail's
sender signals on selection, so this is the delay a founder with N correspondents sees.
"""

from __future__ import annotations

import random
import string
import time
from pathlib import Path

from solodesk.connectors.mailimport import parse_message
from solodesk.core.phishing import SenderFacts, sender_signals

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "mail" / "phish_lookalike_reply_to.eml"


def main() -> None:
    row, _ = parse_message(SAMPLE.read_bytes())
    assert row is not None
    rng = random.Random(1)
    for n in (1_000, 10_000, 50_000):
        domains = frozenset(
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 14)))
            + rng.choice([".com", ".de", ".org", ".es"])
            for _ in range(n)
        )
        facts = SenderFacts(row["from_addr"], row["reply_to"], row["subject"],
                            row["body_text"], True, domains)
        for attempt in ("cold", "warm"):
            start = time.perf_counter()
            signals = sender_signals(facts)
            took = time.perf_counter() - start
            print(f"{n:>6} known domains, {attempt}: {len(signals)} signals "
                  f"in {took * 1000:.0f} ms")


if __name__ == "__main__":
    main()
