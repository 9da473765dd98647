"""Peak memory while images decode: four 40-megapixel PNGs uploaded at once.

One `helpdesk serve` process per setting of HELPDESK_IMAGE_DECODE_CONCURRENCY (4 lets all four
decode together, as every upload did before the bound; 2 is the default; 1 the leanest), SQLite,
a data directory of its own. Four customers each upload one 8000 × 5000 RGB PNG (40,000,000
pixels, the default HELPDESK_IMAGE_MAX_PIXELS) in parallel. Reported: the server's peak RSS
(VmHWM) before and after the burst, the growth, and how long the burst took.

    .venv/bin/python -m bench.image_decode
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import tempfile
import time
from pathlib import Path

import aiohttp
from PIL import Image

from bench.common import (
    PYTHON,
    free_port,
    helpdesk_cli,
    helpdesk_env,
    machine,
    pin_to_load_core,
    process,
    sqlite_database,
    table,
)
from bench.fanout import token

UPLOAD = """mutation($f: Upload!) { uploadAttachment(input: {file: $f}) {
  attachment { id size } errors { code message } } }"""


def big_png(width: int = 8000, height: int = 5000) -> bytes:
    """A gradient: small on disk, `width × height × 3` bytes once decoded."""
    row = Image.linear_gradient("L").resize((width, 1))
    image = Image.merge("RGB", [row.resize((width, height))] * 3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for {pid}")


async def upload(session: aiohttp.ClientSession, base: str, user: str, content: bytes) -> None:
    form = aiohttp.FormData()
    form.add_field("operations", json.dumps({"query": UPLOAD, "variables": {"f": None}}))
    form.add_field("map", '{"0": ["variables.f"]}')
    form.add_field("0", content, filename="big.png", content_type="image/png")
    async with session.post(
        f"{base}/graphql",
        data=form,
        headers={"Authorization": f"Bearer {token(user, 'customer')}"},
    ) as response:
        body = await response.json()
    payload = body["data"]["uploadAttachment"]
    if payload["errors"]:
        raise RuntimeError(payload["errors"])


async def burst(base: str, content: bytes, uploads: int) -> float:
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(
            *(upload(session, base, f"bench-image-{n}", content) for n in range(uploads))
        )
    return time.perf_counter() - started


def measure(concurrency: int, content: bytes, uploads: int) -> list[object]:
    with sqlite_database() as url, tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as data:
        helpdesk_cli("migrate", database_url=url)
        port = free_port()
        env = {
            **helpdesk_env(port, url),
            "HELPDESK_DATA_DIR": data,
            "HELPDESK_IMAGE_DECODE_CONCURRENCY": str(concurrency),
        }
        command = [str(Path(PYTHON).parent / "helpdesk"), "serve"]
        with process(command, env=env, ready_url=f"http://127.0.0.1:{port}/healthz") as child:
            before = peak_kb(child.pid)
            seconds = asyncio.run(burst(f"http://127.0.0.1:{port}", content, uploads))
            after = peak_kb(child.pid)
    return [concurrency, before // 1024, after // 1024, (after - before) // 1024, f"{seconds:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=4)
    parser.add_argument("--concurrency", default="4,2,1", help="settings to compare")
    args = parser.parse_args()
    pin_to_load_core()
    content = big_png()
    rows = [measure(int(c), content, args.uploads) for c in args.concurrency.split(",")]
    print(machine())
    print(f"{args.uploads} parallel uploads of an 8000 × 5000 PNG ({len(content):,} bytes)\n")
    print(
        table(
            "Peak server memory while images decode",
            [
                "HELPDESK_IMAGE_DECODE_CONCURRENCY",
                "peak RSS before, MB",
                "peak RSS after, MB",
                "growth, MB",
                "burst, s",
            ],
            rows,
        )
    )
    base = rows[0]
    for row in rows[1:]:
        ratio = int(str(row[3])) / max(1, int(str(base[3])))
        print(f"growth with {row[0]} at once: {ratio:.2f}× that with {base[0]}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
