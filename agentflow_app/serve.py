"""``agentflow serve``: check, migrate, then supervise Redis, workers and the web server.

Preflight checks run before anything starts, so a bad setting is one readable line and
nothing is left half-started. Children run in their own process groups and are told to
die with this process (Linux PDEATHSIG), so neither Ctrl-C, SIGTERM nor a crash of the
supervisor leaves a process behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from rich.console import Console

from agentflow_app.embedded_redis import EmbeddedRedis
from agentflow_app.errors import ConfigError
from agentflow_app.migrate import upgrade_head
from agentflow_app.observability import multiproc
from agentflow_app.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
FINGERPRINT_NAME = "agentflow-build.sha256"
STOP_GRACE_S = 8

console = Console(stderr=True, highlight=False)


# -- preflight -------------------------------------------------------------------------


def check_data_dir(settings: Settings) -> None:
    probe = settings.data_dir / ".write-test"
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"the data dir {settings.data_dir} is not writable ({exc.strerror}); "
            "set AGENTFLOW_DATA_DIR to a writable folder"
        ) from None


def check_port_free(port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            raise ConfigError(
                f"port {port} is already in use; stop the other program or pass --port"
            ) from None


def check_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConfigError(f"cannot reach Redis at REDIS_URL ({exc}); check REDIS_URL") from None
    finally:
        client.close()


# -- the frontend build ----------------------------------------------------------------


#: What the compiled UI is made of. Only these folders may define components or states;
#: the layers below them (engine, services, ...) cannot import reflex at all.
UI_SOURCES = ("rxconfig.py", "requirements.txt", "assets")
UI_PACKAGES = ("agentflow_app.py", "routes.py", "pages", "components", "state", "react_flow")
#: What the build itself writes among the sources (Reflex copies react_flow's JavaScript
#: there): counting it would make the first start after a clean clone build twice.
UI_GENERATED = (Path("assets") / "external",)


def frontend_fingerprint(api_url: str, root: Path = ROOT) -> str:
    """A digest of everything the compiled frontend depends on, and the API URL it embeds."""
    digest = hashlib.sha256(api_url.encode())
    tops = [root / name for name in UI_SOURCES]
    tops += [root / "agentflow_app" / name for name in UI_PACKAGES]
    for top in tops:
        files = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in files:
            relative = path.relative_to(root)
            if any(relative.is_relative_to(generated) for generated in UI_GENERATED):
                continue
            if path.is_file() and path.suffix != ".pyc":
                digest.update(str(relative).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def web_dir(settings: Settings) -> Path:
    return (ROOT / settings.reflex_web_workdir).resolve()


def child_env(settings: Settings, redis_url: str | None, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["REFLEX_WEB_WORKDIR"] = str(web_dir(settings))
    env["AGENTFLOW_DATA_DIR"] = str(settings.data_dir)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env["REFLEX_USE_NPM"] = "1"
    env.setdefault("REFLEX_API_URL", f"http://localhost:{port}")
    env["REFLEX_TELEMETRY_ENABLED"] = "false"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def build_frontend(env: dict[str, str], *, force: bool = False) -> bool:
    """Compile and build the UI when its inputs changed; returns whether it built.

    A file lock serialises builds into the same web dir (two servers starting at once).
    """
    target = Path(env["REFLEX_WEB_WORKDIR"])
    target.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fingerprint_file = target / FINGERPRINT_NAME
        fingerprint = frontend_fingerprint(env["REFLEX_API_URL"])
        built = (target / "build" / "client" / "index.html").exists()
        current = fingerprint_file.read_text() if fingerprint_file.exists() else ""
        if built and current == fingerprint and not force:
            return False
        _run_build(env)
        fingerprint_file.write_text(fingerprint)
        return True


def _run_build(env: dict[str, str]) -> None:
    console.print("[bold]Building the web interface[/] (first start or code changed)…")
    result = subprocess.run(
        [sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip", "--env", "prod"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ConfigError(f"building the web interface failed:\n{tail}")


# -- children --------------------------------------------------------------------------


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    argv: list[str]
    env: dict[str, str]
    started: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, preexec_fn=_die_with_parent)
        child = Child(name, process, argv, env)
        self.children.append(child)
        return child

    def respawn(self, child: Child) -> None:
        """Start a child that exited again, in its place (the stop order stays)."""
        child.process = subprocess.Popen(
            child.argv, cwd=ROOT, env=child.env, preexec_fn=_die_with_parent
        )
        child.started = time.monotonic()

    def stop(self) -> None:
        """Stop children newest first: web, then workers (they finish or requeue), then Redis."""
        for child in reversed(self.children):
            if child.alive():
                child.signal_group(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while child.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            child.signal_group(signal.SIGKILL)  # stragglers in the group (pool children)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=2)

    def wait(self, embedded: EmbeddedRedis | None = None) -> Child:
        """Block until a child exits; returns it. The embedded Redis is started again
        whenever it exits: the workers and the web process ride out the gap (issue 14)."""
        while True:
            for child in self.children:
                if not child.alive():
                    return child
            if embedded is not None and embedded.revive():
                console.print("[yellow]the embedded Redis exited; started it again.[/]")
            time.sleep(0.2)


#: A worker that ran at least this long before exiting is started again; one that exits
#: sooner (a bad setting, a broken install) stops everything instead of looping.
RESPAWN_AFTER_S = 5.0


def _restartable(child: Child) -> bool:
    return child.name.startswith("worker-") and (
        time.monotonic() - child.started >= RESPAWN_AFTER_S
    )


def worker_env(env: dict[str, str], settings: Settings, index: int) -> dict[str, str]:
    """Worker *index*'s environment: its own ``/metrics`` port beside the others'."""
    port = settings.agentflow_worker_metrics_port + index
    return {**env, "AGENTFLOW_WORKER_METRICS_PORT": str(port)}


def worker_argv(concurrency: int, name: str, pool: str = "prefork") -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker",
        "--loglevel", "INFO", "--pool", pool, "--concurrency", str(concurrency),
        "-n", f"{name}@%h", "-Q", "agentflow", "--without-gossip", "--without-mingle",
    ]  # fmt: skip


@dataclass
class ServeOptions:
    port: int = 3000
    host: str = "0.0.0.0"
    worker: bool = True
    workers: int = 1
    concurrency: int = 4


def serve(options: ServeOptions) -> int:
    """Run AgentFlow until interrupted; returns the exit code."""
    settings = get_settings()
    check_data_dir(settings)
    check_port_free(options.port)
    if settings.redis_url:
        check_redis(settings.redis_url)
    upgrade_head()

    embedded = EmbeddedRedis(settings) if settings.embedded_redis else None
    supervisor = Supervisor()
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exit_code = 0
    try:
        redis_url = embedded.start() if embedded else settings.redis_url
        env = child_env(settings, redis_url, options.port)
        build_frontend(env)
        if options.worker:
            for index in range(options.workers):
                supervisor.spawn(
                    f"worker-{index + 1}",
                    worker_argv(options.concurrency, f"agentflow-{index + 1}"),
                    worker_env(env, settings, index),
                )
        supervisor.spawn(
            "web",
            [
                sys.executable,
                "-m",
                "agentflow_app",
                "web",
                "--host",
                options.host,
                "--port",
                str(options.port),
            ],
            env,
        )
        console.print(
            f"[bold green]AgentFlow is running:[/] http://localhost:{options.port}  (Ctrl-C stops it)"
        )
        while True:
            dead = supervisor.wait(embedded)
            code = dead.process.returncode
            if not _restartable(dead):
                break
            # Celery's worker can die when its broker connection drops with tasks in
            # flight (kombu 5.7 restoring unacked messages on a closed transport): the
            # runs are recorded in the database and resume, so start it again.
            console.print(f"[yellow]{dead.name} exited with code {code}; started it again.[/]")
            supervisor.respawn(dead)
        console.print(f"[red]{dead.name} exited with code {code}; stopping.[/]")
        exit_code = 1
    except KeyboardInterrupt:
        console.print("Stopping AgentFlow…")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop()
        if embedded:
            embedded.stop()
    return exit_code


def run_web(host: str, port: int) -> None:
    """Serve the built UI, the Reflex backend and /api on one port (no compile, no build)."""
    from reflex import constants
    from reflex.config import get_config
    from reflex.environment import environment
    from reflex.utils import exec as reflex_exec

    if not (web_dir(get_settings()) / "build" / "client" / "index.html").exists():
        raise ConfigError("the web interface is not built; start AgentFlow with `agentflow serve`")
    # One multiprocess metrics directory for all of granian's worker processes.
    multiproc.prepare("web")
    config = get_config()
    config._set_persistent(frontend_port=port, backend_port=port)
    environment.REFLEX_SKIP_COMPILE.set(True)
    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    os.environ.setdefault("GRANIAN_WORKERS", str(get_settings().agentflow_web_workers))
    os.chdir(ROOT)
    reflex_exec.run_backend_prod(host, port, config.loglevel.subprocess_level(), True)
