"""Parsing hostile documents in a child process, bounded in time and memory.

A parser that loops or inflates a bomb cannot be stopped from inside the server: a thread cannot
be killed and the server's memory is shared. The child (``bounded.py`` run as a script) gets the
bytes on stdin, limits its own address space before it parses, and answers one JSON object on
stdout; the parent kills it when the time limit passes or when the caller is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from difychat.server.documents import bounded
from difychat.server.documents.bounded import Caps, DocumentError

CHILD_EXIT_SECONDS = 5.0


async def extract_in_child(
    data: bytes, extension: str, caps: Caps, *, timeout: float, memory_bytes: int
) -> str:
    """The document's text, or ``DocumentError`` naming why not (a cap, the time limit, the memory
    limit, an unreadable file)."""
    header = json.dumps({"extension": extension, "caps": bounded.caps_json(caps), "memory": memory_bytes})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        bounded.__file__,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate(header.encode() + b"\n" + data)
    except TimeoutError:
        raise DocumentError(f"reading the document took longer than {timeout:g} seconds") from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            # Killed, it exits at once; the bound keeps a lost exit notice from holding up a
            # shutdown (the kernel reaps it with this process).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHILD_EXIT_SECONDS):
                    await proc.wait()
    try:
        answer = json.loads(out)
    except ValueError:
        if proc.returncode is not None and proc.returncode < 0:
            raise DocumentError("the document parser was stopped (it needed too much memory)") from None
        raise DocumentError("the document parser stopped unexpectedly") from None
    if "error" in answer:
        raise DocumentError(str(answer["error"]))
    return str(answer["text"])
