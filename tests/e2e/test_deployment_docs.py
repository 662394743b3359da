"""The nginx configuration of docs/deployment.md, as written there, in front of a real ``difychat serve``:
it loads, redirects plain HTTP, and passes an event stream through as it is written."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import missing_service
from tests.e2e.conftest import ServerProcess, free_port
from tests.e2e.helpers import OpenStream, answer_of, chat_body, wait_for
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import PLAIN_KEY

DOC = Path(__file__).parents[2] / "docs" / "deployment.md"
WRAPPER = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
{site}
}}
"""


def documented_nginx() -> str:
    blocks = re.findall(r"^```nginx\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) == 1, "docs/deployment.md shows one nginx configuration"
    return str(blocks[0])


@pytest.fixture
def proxy(tmp_path: Path, served_sqlite: ServerProcess) -> Iterator[tuple[str, str]]:
    """nginx with the documented site, on loopback ports: (https root, http root)."""
    for program in ("nginx", "openssl"):
        if shutil.which(program) is None:
            missing_service(f"{program} is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=chat.example.com", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    https, http = free_port(), free_port()
    site = documented_nginx()
    for old, new in [
        ("server 127.0.0.1:5001;", f"server 127.0.0.1:{served_sqlite.port};"),
        ("listen 80;", f"listen 127.0.0.1:{http};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;"),
        ("/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key)),
    ]:
        assert site.count(old) == 1, old
        site = site.replace(old, new)
    conf = tmp_path / "nginx.conf"
    conf.write_text(WRAPPER.format(root=tmp_path, site=site))
    checked = subprocess.run(
        ["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with httpx.Client(verify=False, trust_env=False) as probe:
                    if probe.get(f"https://127.0.0.1:{https}/health").status_code == 200:
                        break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "error.log"
            ).read_text()
            time.sleep(0.05)
        yield f"https://127.0.0.1:{https}", f"http://127.0.0.1:{http}"
    finally:
        process.terminate()
        process.wait(10)


def test_the_documented_nginx_site_streams_answers_as_they_are_written(
    proxy: tuple[str, str], upstream: FakeUpstream
) -> None:
    https, http = proxy
    with httpx.Client(trust_env=False) as plain:
        moved = plain.get(f"{http}/v1/parameters")
    assert moved.status_code == 301
    assert moved.headers["location"].startswith("https://") and moved.headers["location"].endswith(
        "/v1/parameters"
    )

    upstream.behaviour.chunks = ["one", " two", " three", " four", " five", " six"]
    upstream.behaviour.gap = 0.3
    headers = {"Authorization": f"Bearer {PLAIN_KEY}"}
    with httpx.Client(
        base_url=f"{https}/v1", headers=headers, verify=False, trust_env=False, timeout=30
    ) as client:
        body = chat_body("count", "proxy", "streaming")
        with client.stream("POST", "/chat-messages", json=body) as response:
            stream = OpenStream(response)
            first = stream.next_data()
            [record] = upstream.chat_requests(stream=True)
            # The first words arrived through the proxy while the model was still writing the rest.
            assert first["answer"] == "one" and not record.finished
            rest = stream.rest()
    assert first["answer"] + answer_of(rest) == "one two three four five six"
    assert rest[-1].event == "message_end"
    # The model's stream ended too (the fake marks it once its last write returns, which may be
    # just after the answer's end has gone through the proxy).
    assert wait_for(lambda: record.finished)
