"""A file from upload to a step: time and peak memory, and how memory follows file size.

(a) Upload: ``POST /api/files`` to a real server process (uvicorn, the REST app, the disk
    store, SQLite), streamed from a file on disk by httpx, for files of 1, 10 and 50 MiB:
    the time to the 201 and the server's peak resident memory above its idle level
    (sampled every 5 ms), beside a plain ``shutil.copyfile`` of the same bytes measured in
    the same run (the floor: what moving the bytes once on this disk costs).
(b) Available to a step: a fresh process opens the stored file through the app's store
    and streams it (hashing, as a step sending it on would), reporting its time and peak
    memory above the same process before reading.

Target: the peak memory of (a) and (b) does not grow with the file's size beyond a fixed
buffer (files are streamed in 1 MiB chunks). Steps that need a whole document in memory
(``file.extract``, LLM attachments) hold it by design, bounded by their own limits.

    .venv/bin/python bench/files.py [--sizes 1,10,50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

MIB = 1024 * 1024

READ_IN_STEP = """
import hashlib, resource, sys, time
import psutil
from agentflow_app.services import files
from agentflow_app.files.backends import file_store
from agentflow_app.db import get_engine
from sqlalchemy import select
process = psutil.Process()
with get_engine().connect() as conn:
    key = conn.execute(select(files.FILES.c.key).where(files.FILES.c.id == int(sys.argv[1]))).scalar_one()
store = file_store()
before = process.memory_info().rss
peak = before
started = time.perf_counter()
digest = hashlib.sha256()
for chunk in store.open(key):
    digest.update(chunk)
    peak = max(peak, process.memory_info().rss)
elapsed = time.perf_counter() - started
print(elapsed, (peak - before) / 2**20, digest.hexdigest())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PeakSampler:
    """The peak RSS of a process while it runs, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,10,50", help="file sizes in MiB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    work = Path(tempfile.mkdtemp(prefix="bench-files-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DB_URL", "REDIS_URL")}
    env.update(
        AGENTFLOW_DATA_DIR=str(work / "data"),
        PYTHONPATH=str(ROOT),
        AGENTFLOW_MAX_FILE_MB=str(max(sizes) + 1),
        AGENTFLOW_MAX_RUN_MB=str(max(sizes) + 1),
    )
    os.environ.update(AGENTFLOW_DATA_DIR=str(work / "data"))
    os.environ.pop("DB_URL", None)

    from agentflow_app.auth import tokens
    from agentflow_app.migrate import upgrade_head
    from agentflow_app.services import users

    upgrade_head()
    actor = users.create_user("bench@example.com", "correct horse battery")
    token = tokens.issue(actor.id, 0).access_token

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "agentflow_app.api.app:create_api",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
            client.post("/api/files", files={"file": ("warm.bin", b"warm", "application/x-bin")})
            print(
                "size MiB | upload s | cp s | upload / cp | server peak +MiB | "
                "step read s | step peak +MiB"
            )
            for size in sizes:
                source = work / f"src-{size}.bin"
                with source.open("wb") as handle:
                    for _ in range(size):
                        handle.write(os.urandom(MIB))
                uploads, copies, peaks, reads, read_peaks = [], [], [], [], []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    shutil.copyfile(source, work / "copy.bin")
                    copies.append(time.perf_counter() - started)
                    idle = psutil.Process(server.pid).memory_info().rss
                    with PeakSampler(server.pid) as sampler, source.open("rb") as handle:
                        started = time.perf_counter()
                        answer = client.post(
                            "/api/files",
                            files={"file": (source.name, handle, "application/x-bin")},
                            timeout=600,
                        )
                        uploads.append(time.perf_counter() - started)
                    answer.raise_for_status()
                    peaks.append((sampler.peak - idle) / MIB)
                    done = subprocess.run(
                        [sys.executable, "-c", READ_IN_STEP, str(answer.json()["$file"])],
                        cwd=ROOT,
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    elapsed, peak, digest = done.stdout.split()
                    assert digest == answer.json()["sha256"], "the step read other bytes"
                    reads.append(float(elapsed))
                    read_peaks.append(float(peak))
                up, cp = statistics.median(uploads), statistics.median(copies)
                print(
                    f"{size:8} | {up:8.3f} | {cp:5.3f} | {up / cp:11.1f} | "
                    f"{statistics.median(peaks):16.1f} | {statistics.median(reads):11.3f} | "
                    f"{statistics.median(read_peaks):14.1f}"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
