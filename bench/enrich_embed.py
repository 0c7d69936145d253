"""Enrichment benchmark: sentence embeddings for meaning search (MiniLM, int8, onnxruntime).

Generates transcript-like text (officers' sentences in a varied order), cuts it into the parts
the search index embeds (adapters/db/search_vectors.py ``parts``: a sentence or a few) and
measures, in the same run, on the same parts:
  - embeddings per second through the embedder the installation uses (tokenizer, batches
    padded to their longest text, mean pooling, L2 normalisation): ``embeddings_per_second``;
  - the limit: the same model run by a bare onnxruntime session on the same token ids,
    already tokenized and padded, without pooling -- what the model alone allows on this
    machine with the same threads. The ratio (target >= 0.85) is what the embedder's own work
    (tokenizing, sorting, pooling) leaves of it.
It also prints how many seconds of speech each second of embedding keeps up with (at 150
words a minute), against the 1.0 needed to index transcripts as fast as they are spoken.
Usage: python bench/enrich_embed.py [--parts 400] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
from tests.speech import MORE  # noqa: E402

from opendems.adapters.db.search_vectors import parts  # noqa: E402
from opendems.adapters.text.embeddings import BATCH, MiniLmEmbedder, default_threads  # noqa: E402

SENTENCES = [
    *MORE,
    "The suspect ran off toward the river carrying a black backpack.",
    "Dispatch, we need another unit at the corner of Fifth and Main.",
    "He said he had been at his brother's place all evening.",
    "There is broken glass on the floor next to the register.",
]
WORDS_PER_MINUTE = 150.0  # conversational speech
TARGET_RATIO = 0.85


def transcript_parts(count: int, seed: int = 7) -> list[str]:
    """``count`` parts of generated speech, as the index cuts a transcript."""
    rng = random.Random(seed)
    segments: list[tuple[float | None, str]] = []
    second = 0.0
    out: list[str] = []
    while len(out) < count:
        sentence = rng.choice(SENTENCES)
        segments.append((second, sentence))
        second += len(sentence.split()) / WORDS_PER_MINUTE * 60
        if len(segments) >= 40:
            out += [text for _, text in parts(segments)]
            segments = []
    return out[:count]


def embeddings_per_second(texts: list[str], embedder: MiniLmEmbedder) -> float:
    embedder.embed(texts[:BATCH])  # loaded and warm
    start = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - start)


def bare_model_per_second(texts: list[str], threads: int) -> float:
    """The model alone: the same batches, tokenized beforehand, one session run each."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from opendems.adapters.text.embeddings import MAX_TOKENS, PAD_TOKEN, model_file, tokenizer_file

    tokenizer = Tokenizer.from_file(str(tokenizer_file()))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token=PAD_TOKEN)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(model_file()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    ordered = sorted(texts, key=len)
    feeds = []
    for start in range(0, len(ordered), BATCH):
        encodings = tokenizer.encode_batch(ordered[start : start + BATCH])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    session.run(None, feeds[0])  # warm
    start_t = time.perf_counter()
    for feed in feeds:
        session.run(None, feed)
    return len(texts) / (time.perf_counter() - start_t)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", type=int, default=400)
    parser.add_argument("--threads", type=int, default=default_threads())
    args = parser.parse_args(argv)
    texts = transcript_parts(args.parts)
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(
        f"cpu cores: {os.cpu_count()}; threads: {args.threads}; {len(texts)} parts of {words:.0f} words on average"
    )
    embedder = MiniLmEmbedder(threads=args.threads)
    # Alternate the two measurements, best of three each: a busy machine hurts both alike.
    ours = bare = 0.0
    for _ in range(3):
        ours = max(ours, embeddings_per_second(texts, embedder))
        bare = max(bare, bare_model_per_second(texts, args.threads))
    ratio = ours / bare
    speech = ours * words / (WORDS_PER_MINUTE / 60)  # seconds of speech embedded per second
    print(f"embeddings per second: {ours:.1f} (the bare model on the same batches: {bare:.1f})")
    print(
        f"embeddings_per_second / bare_model = {ratio:.2f} (target >= {TARGET_RATIO}) "
        f"{'OK' if ratio >= TARGET_RATIO else 'BELOW TARGET'}"
    )
    print(f"speech indexed per second of work: {speech:.0f} s (>= 1.0 keeps up with speech: x{speech:.0f})")


if __name__ == "__main__":
    main()
