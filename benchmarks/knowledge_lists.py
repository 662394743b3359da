"""Server CPU per request of the Knowledge API's two lists, ``GET /v1/datasets`` and
``GET /v1/datasets/{id}/documents`` (a page of 20 each), read from /proc for the server process.

    python -m benchmarks.knowledge_lists [--src DIR] [--labels] [--requests 400]

Starts ``difychat serve`` on SQLite in a fresh data directory with the code under ``--src``
(default: this checkout), makes 20 datasets and 20 documents, with ``--labels`` also 2 tags and 2
metadata fields per dataset and values on every document, then times each list. Comparing two
checkouts (``--src`` of each) shows what a change costs per request.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.procstat import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(client: httpx.Client, labels: bool) -> list[str]:
    """The list paths to time, after making what they list."""
    ids = [
        client.post("/datasets", json={"name": f"D{i}", "indexing_technique": "economy"}).json()["id"]
        for i in range(20)
    ]
    documents = []
    for i in range(20):
        body = {"name": f"doc{i}", "text": f"Text number {i}.", "process_rule": {"mode": "automatic"}}
        created = client.post(f"/datasets/{ids[0]}/document/create-by-text", json=body).json()
        documents.append(created["document"]["id"])
    if labels:
        tags = [client.post("/datasets/tags", json={"name": f"t{i}"}).json()["id"] for i in range(2)]
        for dataset_id in ids:
            client.post("/datasets/tags/binding", json={"tag_ids": tags, "target_id": dataset_id})
            for name in ("author", "year"):
                client.post(f"/datasets/{dataset_id}/metadata", json={"type": "string", "name": name})
        fields = client.get(f"/datasets/{ids[0]}/metadata").json()["doc_metadata"]
        values = [{"id": f["id"], "name": f["name"], "value": "x"} for f in fields]
        operations: list[dict[str, Any]] = [{"document_id": d, "metadata_list": values} for d in documents]
        answer = client.post(f"/datasets/{ids[0]}/documents/metadata", json={"operation_data": operations})
        answer.raise_for_status()
    return ["/datasets?limit=20", f"/datasets/{ids[0]}/documents?limit=20"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--src", default=str(ROOT / "src"), help="the source tree to serve")
    parser.add_argument("--labels", action="store_true", help="tag the datasets, give documents metadata")
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": args.src, "DIFYCHAT_LOG_LEVEL": "warning"}
    exe = str(Path(sys.executable).with_name("difychat"))
    data = tempfile.mkdtemp(prefix="knowledge-lists-")
    made = subprocess.run(
        [exe, "keys", "create", "--knowledge", "--data-dir", data],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"dataset-[A-Za-z0-9]{24}", made.stdout)
    assert found is not None, made.stdout
    port = _free_port()
    server = subprocess.Popen([exe, "serve", "--data-dir", data, "--port", str(port)], env=env)
    headers = {"Authorization": f"Bearer {found.group(0)}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", headers=headers, timeout=30) as client:
            for _ in range(300):
                try:
                    if client.get("/datasets").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            paths = _seed(client, args.labels)
            time.sleep(2)  # the documents' indexing settles
            for path in paths:
                for _ in range(50):
                    client.get(path)
                start = cpu_seconds(server.pid)
                for _ in range(args.requests):
                    client.get(path).raise_for_status()
                spent = cpu_seconds(server.pid) - start
                name = "datasets" if path.startswith("/datasets?") else "documents"
                print(f"{name:10s} {spent / args.requests * 1000:.2f} ms CPU a request")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
