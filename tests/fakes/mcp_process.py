"""Start the fake MCP server (``mcp_server.py``) as a process of its own, on loopback."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("mcp_server.py")


def stdio_command() -> list[str]:
    """The command an stdio MCP server entry runs."""
    return [sys.executable, str(SCRIPT), "stdio"]


@dataclass
class McpProcess:
    transport: str  # streamable-http | sse
    process: subprocess.Popen[str]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/{'sse' if self.transport == 'sse' else 'mcp'}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start(transport: str, *options: str) -> McpProcess:
    """Run the server over HTTP (``streamable-http`` or ``sse``); it listens once this returns."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), transport, *options], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        process.wait()
        raise RuntimeError(f"the fake MCP server did not start: {line!r}")
    return McpProcess(transport, process, int(line.split()[1]))
