"""Fixtures of the service's tests: ``fugue-ppl serve`` as a subprocess."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import httpx
import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command():
    script = os.path.join(os.path.dirname(sys.executable), "fugue-ppl")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "fugue_ppl"]


class Server:
    """A ``fugue-ppl serve`` subprocess; its stderr (the JSON logs) in a file."""

    def __init__(self, tmp_path, config, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = tmp_path / "serve.toml"
        cfg.write_text(textwrap.dedent(config), encoding="utf-8")
        self.log = tmp_path / "serve.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("FUGUE_")}
        self.proc = subprocess.Popen(
            [*command(), "serve", "--port", str(self.port), "--config", str(cfg)],
            env={**clean, **(env or {})}, cwd=tmp_path, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"fugue-ppl serve exited {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"fugue-ppl serve was not ready within 60 s:\n{self.logs()}")
            time.sleep(0.1)

    def logs(self):
        return self.log.read_text(encoding="utf-8", errors="replace")

    def events(self):
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"unparsed": line})
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="session")
def serve_process():
    """``serve_process(tmp_path, config_toml, env=None)``: a started :class:`Server`
    (ready: ``/v2/health/ready`` answered 200), working in ``tmp_path``."""
    return Server
