"""Screenshot one review task in Label Studio's labelling interface (to check by eye that Chinese text and the
eight categories render).

    python -m evals.screenshot_review [--out evals/results/review_task.png] [--size 1280x2200]

Starts a Label Studio server on 127.0.0.1 from its own environment (`python -m tests.label_studio_env ensure`),
labels three gold items offline into a temporary database, pushes them with `medjudge review push`, logs in to
get a session cookie, and drives headless Chromium over the DevTools protocol (aiohttp's WebSocket client) to
open the first task and capture the page. Needs Debian's chromium and a CJK font
(apt-get install -y chromium fonts-wqy-microhei). Nothing leaves 127.0.0.1: the browser runs with the same
no-network flags as evals/screenshot_report.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import aiohttp
import httpx

from tests.label_studio_env import LabelStudioServer, ensure, free_port

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[1]


def session_cookies(server: LabelStudioServer) -> dict[str, str]:
    """Log in through Label Studio's login form; returns its cookies (sessionid, csrftoken)."""
    with httpx.Client(base_url=server.url, follow_redirects=True) as c:
        page = c.get("/user/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        form = {"email": server.admin, "password": server.password,
                "csrfmiddlewaretoken": token.group(1) if token else c.cookies.get("csrftoken", "")}
        c.post("/user/login/", data=form, headers={"Referer": f"{server.url}/user/login/"})
        cookies = {k: v for k, v in c.cookies.items()}
    if "sessionid" not in cookies:
        raise RuntimeError("logging in to Label Studio gave no session cookie")
    return cookies


async def capture(url: str, cookies: dict[str, str], out: Path, size: tuple[int, int], wait_s: float) -> None:
    """Open `url` in headless Chromium with `cookies` set and save a PNG screenshot of the page."""
    port = free_port()
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "--remote-allow-origins=*",
             f"--window-size={size[0]},{size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(100):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                            pages = [p for p in await r.json() if p.get("type") == "page"]
                        if pages:
                            break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.2)
                async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    ids = iter(range(1, 1_000_000))

                    async def send(method: str, **params: object) -> dict:
                        n = next(ids)
                        await ws.send_json({"id": n, "method": method, "params": params})
                        while True:
                            msg = json.loads((await ws.receive()).data)
                            if msg.get("id") == n:
                                if "error" in msg:
                                    raise RuntimeError(f"{method}: {msg['error']}")
                                return msg.get("result", {})

                    host = urllib.parse.urlparse(url).hostname
                    for name, value in cookies.items():
                        await send("Network.setCookie", name=name, value=value, domain=host, path="/")
                    await send("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1],
                               deviceScaleFactor=1, mobile=False)
                    await send("Page.navigate", url=url)
                    await asyncio.sleep(wait_s)
                    shot = await send("Page.captureScreenshot", format="png")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(base64.b64decode(shot["data"]))
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def main() -> None:
    """Parse options, start the server, push three items, screenshot the first task."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "evals" / "results" / "review_task.png")
    ap.add_argument("--size", default="1280x2200", help="WIDTHxHEIGHT of the window captured")
    ap.add_argument("--wait", type=float, default=12.0, help="seconds to let the labelling interface load")
    ap.add_argument("--colors", type=int, default=64, help="palette size of the saved PNG (0: keep full colour)")
    args = ap.parse_args()
    width, height = (int(x) for x in args.size.split("x"))

    from judge.api import label_file, review_push

    ensure()
    with tempfile.TemporaryDirectory() as tmp, LabelStudioServer(Path(tmp) / "ls") as server:
        items = Path(tmp) / "items.jsonl"
        gold = [json.loads(line) for line in (REPO / "gold_labels" / "gold.jsonl").read_text("utf-8").splitlines()]
        chosen = [g for g in gold if g.get("options")][:3]
        items.write_text("".join(json.dumps({k: g[k] for k in ("item_id", "dimension", "task", "question",
                                                                 "options", "reference_answer", "model",
                                                                 "response")}, ensure_ascii=False) + "\n"
                                 for g in chosen), encoding="utf-8")
        db = Path(tmp) / "v.duckdb"
        label_file(items, db=db, model="offline", progress=False)
        pushed = review_push(db, "sample:3", label_studio=server.url, project="medjudge review",
                             api_key=server.token)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Token {server.token}"}) as c:
            task = c.get("/api/tasks/", params={"project": pushed.project_id}).json()["tasks"][0]
        url = f"{server.url}/projects/{pushed.project_id}/data?tab=0&task={task['id']}"
        t0 = time.perf_counter()
        asyncio.run(capture(url, session_cookies(server), args.out, (width, height), args.wait))
        if args.colors:
            from PIL import Image

            Image.open(args.out).convert("RGB").quantize(colors=args.colors).save(args.out, optimize=True)
        print(f"screenshot of task {task['id']} (item {task['data']['item_id']}): {args.out} "
              f"({args.out.stat().st_size} bytes, {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
