"""`platewatch bench hotlist`: load, match and update figures for an index of N entries.

The bench runs its own throw-away redis-server (never the site's Redis: it writes N keys), fills it
through a Lua script (fast, and not what is measured), then measures what matters in production:

- `load_s`: from start to a ready index (SCAN + fetch + build), as a worker does at start;
- `match_p50_us` / `match_p99_us`: one read with its top-k candidates, exact + fuzzy + partial, through
  the same functions the agent calls; reads are a mix of hits, OCR confusions, unknown characters,
  partial-plate hits and misses;
- `update_visible_ms`: the slowest of several HSETs through a plain client until a read matches it;
- `rss_mb`: the process's resident memory with the index loaded (index + Python + numpy).
"""

from __future__ import annotations

import asyncio
import gc
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import redis

from platewatch.engine.hotlist.confusion import CLASSES
from platewatch.engine.hotlist.layout import Layout
from platewatch.engine.hotlist.matcher import lookup_texts, match_texts
from platewatch.engine.hotlist.sync import HotlistSync
from platewatch.engine.services import start_embedded_redis

from .report import write_json

FILL_LUA = """
for i, k in ipairs(KEYS) do
  redis.call('HSET', k, 'reason', ARGV[1], 'source', ARGV[2], 'case', ARGV[3] .. i, 'added_by', 'bench')
end
return #KEYS
"""
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"
FORMATS = ("DLLLDDD", "LLLDDDD", "DLLLDDD", "LLDDDDD", "DDDLLL", "LLLDDD", "DLLDDDD")
PATTERNS = 500
READS = 20_000
UPDATE_TRIALS = 20


def _plate(rng: random.Random) -> str:
    return "".join(rng.choice(LETTERS if c == "L" else DIGITS) for c in rng.choice(FORMATS))


def _confuse(plate: str, rng: random.Random) -> str:
    chars = list(plate)
    i = rng.randrange(len(chars))
    for members, _ in CLASSES:
        if chars[i] in members and len(members) > 1:
            chars[i] = rng.choice([c for c in members if c != chars[i]])
    return "".join(chars)


def _pattern(plate: str, rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return plate[:3] + "*"
    if kind == 1:
        return "*" + plate[-4:]
    chars = list(plate)
    for i in rng.sample(range(len(chars)), 2):
        chars[i] = "?"
    return "".join(chars)


def _fill(
    client: redis.Redis, layout: Layout, entries: int, rng: random.Random
) -> tuple[list[str], list[str]]:
    """N entries (90% strict list, 10% lenient list) plus partial patterns; returns samples for reads."""
    script = client.register_script(FILL_LUA)
    client.hset(layout.list_key("stolen"), mapping={"fuzzy": "strict"})
    client.hset(layout.list_key("felony"), mapping={"fuzzy": "lenient", "priority": "1"})
    client.hset(layout.list_key("witness"), mapping={"fuzzy": "strict", "partial": "true", "priority": "1"})
    sample: list[str] = []
    chunk: list[str] = []
    for i in range(entries):
        plate = _plate(rng)
        name = "felony" if i % 10 == 0 else "stolen"
        chunk.append(layout.entry_key(name, plate))
        if len(sample) < 50_000:
            sample.append(plate)
        if len(chunk) >= 5000:
            script(keys=chunk, args=["stolen vehicle", "bench", "BENCH-"])
            chunk = []
    if chunk:
        script(keys=chunk, args=["stolen vehicle", "bench", "BENCH-"])
    patterns = [_pattern(rng.choice(sample), rng) for _ in range(PATTERNS)]
    pipe = client.pipeline(transaction=False)
    for pattern in patterns:
        pipe.hset(layout.entry_key("witness", pattern), mapping={"reason": "witness report", "case": "B-1"})
    pipe.execute()
    return sample, patterns


def _reads(sample: list[str], rng: random.Random) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """Reads with top-4 candidates: hits, confusions, unknown characters, partial hits, misses."""
    reads = []
    for _ in range(READS):
        roll = rng.random()
        plate = rng.choice(sample)
        if roll < 0.25:
            text = plate
        elif roll < 0.55:
            text = _confuse(plate, rng)
        elif roll < 0.65:
            i = rng.randrange(len(plate))
            text = plate[:i] + "?" + plate[i + 1 :]
        elif roll < 0.75:
            text = plate[:3] + _plate(rng)[3:]
        else:
            text = _plate(rng)
        alternatives = [(_confuse(text.replace("?", "0"), rng), 0.9 - 0.2 * k) for k in range(3)]
        reads.append((text, 0.95, alternatives))
    return reads


async def _measure(url: str, layout: Layout, sample: list[str], rng: random.Random) -> dict[str, Any]:
    sync = HotlistSync(url, layout=layout, reconcile_s=3600)
    began = time.perf_counter()
    await sync.start()
    await sync.wait_ready()
    load_s = time.perf_counter() - began
    gc.collect()
    rss_mb = psutil.Process().memory_info().rss / 2**20
    reads = _reads(sample, rng)
    times = np.zeros(len(reads))
    cpu = np.zeros(len(reads))
    hits = 0
    for i, (plate, confidence, alternatives) in enumerate(reads):
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        found = match_texts(sync.index, lookup_texts(plate, confidence, alternatives))
        times[i] = (time.perf_counter_ns() - t0) / 1000
        cpu[i] = (time.thread_time_ns() - c0) / 1000
        hits += bool(found)
        if i % 500 == 0:
            await asyncio.sleep(0)
    visible = []
    admin = redis.Redis.from_url(url)
    for trial in range(UPDATE_TRIALS):
        plate = f"Q{trial:02d}UPD9"[:7]
        start = time.perf_counter()
        admin.hset(layout.entry_key("stolen", plate), mapping={"reason": "bench update"})
        while not match_texts(sync.index, lookup_texts(plate, 1.0)):
            await asyncio.sleep(0.0005)
            if time.perf_counter() - start > 10:
                break
        visible.append((time.perf_counter() - start) * 1000)
    admin.close()
    entries = len(sync.index)
    await sync.stop()
    return {
        "entries": entries,
        "load_s": round(load_s, 2),
        "match_p50_us": round(float(np.percentile(times, 50)), 1),
        "match_p99_us": round(float(np.percentile(times, 99)), 1),
        "update_visible_ms": round(max(visible), 1),
        "rss_mb": round(rss_mb, 1),
        "update_visible_p50_ms": round(float(np.median(visible)), 1),
        "match_max_us": round(float(times.max()), 1),
        # CPU time of the matching thread: what the code costs, without time the OS gave to others
        "match_cpu_p50_us": round(float(np.percentile(cpu, 50)), 1),
        "match_cpu_p99_us": round(float(np.percentile(cpu, 99)), 1),
        "cpu_count": psutil.cpu_count(),
        "load_average_1m": round(psutil.getloadavg()[0], 2),
        "reads": len(reads),
        "reads_matched": hits,
        "index_mb": round(sync.index.nbytes() / 2**20, 1),
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_hotlist_bench(entries: int, json_out: Path | None) -> dict[str, Any]:
    """Fill a private Redis with `entries` entries and measure load, match, update and memory."""
    directory = Path(tempfile.mkdtemp(prefix="pw-hotbench-"))
    server = start_embedded_redis(directory, "127.0.0.1", 0, 30.0)
    try:
        client = redis.Redis.from_url(server.url)
        client.config_set("appendonly", "no")  # the bench's data is thrown away
        rng = random.Random(462)
        layout = Layout()
        sample, _ = _fill(client, layout, entries, rng)
        client.close()
        gc.collect()
        result = asyncio.run(_measure(server.url, layout, sample, rng))
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    if json_out is not None:
        write_json(json_out, result)
    return result
