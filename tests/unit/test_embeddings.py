"""The sentence embedder on the real model: offline MiniLM (int8) through onnxruntime."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from opendems.adapters.text.embeddings import (
    DIMENSIONS,
    EmbedderUnavailable,
    MiniLmEmbedder,
    pack,
    shared_embedder,
    tokenizer_file,
    unpack,
)

RIVER = "the suspect ran off toward the river carrying a black backpack"
PARAPHRASE = "a man fled to the water with a bag"
UNRELATED = [
    "the driver was asked for license and registration during the traffic stop",
    "the neighbours complained about loud music late at night",
    "a woman reported her car stolen from the parking garage",
]


@pytest.fixture(scope="module")
def embedder() -> MiniLmEmbedder:
    return shared_embedder()


def test_vectors_are_unit_length_rows(embedder: MiniLmEmbedder) -> None:
    v = embedder.embed([RIVER, PARAPHRASE, ""])
    assert v.shape == (3, DIMENSIONS) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, DIMENSIONS)


def test_a_paraphrase_is_closer_than_unrelated_sentences(embedder: MiniLmEmbedder) -> None:
    v = embedder.embed([RIVER, PARAPHRASE, *UNRELATED])
    similar = float(v[0] @ v[1])
    assert similar > 0.4
    for n in range(2, 2 + len(UNRELATED)):
        assert float(v[1] @ v[n]) < similar - 0.2


def test_deterministic_across_calls_and_instances(embedder: MiniLmEmbedder) -> None:
    first = embedder.embed([RIVER, *UNRELATED])
    again = embedder.embed([RIVER, *UNRELATED])
    other = MiniLmEmbedder(threads=1).embed([RIVER, *UNRELATED])
    assert np.array_equal(first, again)
    assert np.allclose(first, other, atol=1e-5)


def test_a_batch_gives_each_text_its_own_vector(embedder: MiniLmEmbedder) -> None:
    texts = [RIVER, *UNRELATED, "stop", " ".join([RIVER] * 5)] * 5  # padded batches, sorted by length
    batch = embedder.embed(texts)
    single = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose(batch, single, atol=1e-5)


def test_a_long_text_is_cut_to_the_models_256_tokens(embedder: MiniLmEmbedder) -> None:
    long = " ".join(["the officer spoke with the witness about the vehicle"] * 40)  # ~400 tokens
    longer = long + " and then something entirely different about a birthday cake"
    a, b = embedder.embed([long, longer])
    assert np.allclose(a, b, atol=1e-6)  # the added words lie beyond the cut
    c = embedder.embed([" ".join(long.split()[:60])])[0]
    assert not np.allclose(a, c, atol=1e-3)  # but more than the tokenizer file's own 128 are read


def test_packed_vectors_keep_their_similarities(embedder: MiniLmEmbedder) -> None:
    v = embedder.embed([RIVER, PARAPHRASE, *UNRELATED])
    blobs = [pack(row) for row in v]
    assert {len(b) for b in blobs} == {DIMENSIONS}
    back = unpack(blobs)
    assert np.allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-5)
    assert np.allclose(back @ v[1], v @ v[1], atol=0.01)
    assert np.all((back * v).sum(axis=1) > 0.999)


def test_an_altered_or_missing_tokenizer_is_refused(tmp_path: Path) -> None:
    altered = tmp_path / "tokenizer.json"
    shutil.copy(tokenizer_file(), altered)
    with altered.open("ab") as f:
        f.write(b" ")
    with pytest.raises(EmbedderUnavailable, match="not the pinned file"):
        MiniLmEmbedder(tokenizer_path=altered).embed(["a"])
    with pytest.raises(EmbedderUnavailable, match="missing"):
        MiniLmEmbedder(tokenizer_path=tmp_path / "absent.json").embed(["a"])


def test_an_altered_model_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not the model")
    with pytest.raises(EmbedderUnavailable, match="model"):
        MiniLmEmbedder(model_path=model).load()
