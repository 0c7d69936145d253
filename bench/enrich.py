"""Enrichment benchmark: speech to text, text in scans, sentence embeddings.

Generates a recording of about ten minutes from a known script, an officer's account of a
shift in different sentences (bench/narrative.py; each sentence said once, so a
misheard word counts once), spoken by Debian's espeak-ng as the tests do (tests/speech.py),
and a noisy copy (pink noise mixed in at a stated signal-to-noise
ratio), then measures in the same run (int8 on the CPU, decoded as whisper.DECODING says):
  - tiny.en (the default): the real-time factor (seconds of work per second of sound; lower
    is faster) and the word error rate on the clean recording, against the targets:
    real-time factor <= 0.05 (an hour in three minutes) and word error rate <= 0.07; and
    faster-whisper alone on the same samples, decoded the same way, so that the share of the
    time that is the model's own shows (ratio bare / whole);
  - base: the word error rate on the noisy copy, against the target <= 0.10 (and tiny.en's
    on it, for comparison);
  - speaker turns: the share of tiny.en's time spent telling voices apart, that the one-voice
    recording names no speakers, and on a conversation of two voices the share of words given
    to the right speaker;
word error rates after Whisper's English text normaliser (colour/color, "ten"/"10"), the way
speech recognition results are reported. Then the OCR and embedding figures (bench/enrich_ocr.py,
bench/enrich_embed.py: see there what each ratio is to).
Usage: python bench/enrich.py [--minutes 10] [--snr-db 10] [--skip-speech]
(needs espeak-ng and tesseract: `make test` installs them.)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.speech import MORE, SCRIPT, speak, speech_wer  # noqa: E402

from narrative import NARRATIVE  # noqa: E402
from opendems.adapters.speech import speakers  # noqa: E402
from opendems.adapters.speech.whisper import DECODING, Transcriber, decode_pcm, transcriber  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--snr-db", type=float, default=10.0, help="speech to noise, in decibels")
    parser.add_argument("--skip-speech", action="store_true", help="only the OCR and embedding figures")
    args = parser.parse_args()
    if not args.skip_speech:
        speech(args.minutes, args.snr_db)
    other_figures()


def speech(minutes: float, snr_db: float) -> None:
    sentences = NARRATIVE
    phrases: list[str] = []
    seconds = 0.0
    while seconds < minutes * 60:  # about 4.4 s a sentence with its pause
        phrases.append(sentences[len(phrases) % len(sentences)])
        seconds += 4.4
    reference = " ".join(phrases)
    tiny = Transcriber("tiny.en")
    # Both models load once per worker process (the multilingual one names the language of
    # what the English one hears): loaded before the clock starts.
    base = transcriber("base")
    speakers.shared_encoder()  # and the voice encoder, which tells the speakers apart
    print(f"models: whisper tiny.en and base, {tiny.provenance['runtime']}; cpu cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="opendems-enrich-bench-") as folder:
        clean = Path(folder) / "clean.wav"
        spoken = speak(clean, phrases)
        duration = spoken[-1].end + 0.8
        speech_rms = 0.1  # espeak-ng's level, about: the noise is set against it
        noisy = Path(folder) / "noisy.wav"
        speak(noisy, phrases, noise=speech_rms / (10 ** (snr_db / 20)), seed=1)
        print(
            f"recording: {duration / 60:.1f} minutes, {len(phrases)} sentences, {len(reference.split())} words"
        )

        t0 = time.perf_counter()
        heard = tiny.transcribe(clean)
        clean_s = time.perf_counter() - t0
        rtf = clean_s / duration
        wer_clean = speech_wer(reference, heard.text)
        wer_tiny_noisy = speech_wer(reference, tiny.transcribe(noisy).text)
        t0 = time.perf_counter()
        heard_noisy = base.transcribe(noisy)
        base_s = time.perf_counter() - t0
        wer_noisy = speech_wer(reference, heard_noisy.text)
        pcm = decode_pcm(clean)
        t0 = time.perf_counter()
        speakers.word_voices(speakers.shared_encoder(), pcm, heard)
        voices_s = time.perf_counter() - t0
        one_voice = {s.speaker for s in heard.segments} - {None}
        conversation = turns(Path(folder), tiny)
        bare_s = bare(tiny, pcm)

    print(
        f"decoding: beam {heard.model['beam_size']}, {heard.model['windows_decoded_together']} windows"
        f" decoded together, the text before as context: {heard.model['previous_text_as_context']}"
    )
    print(
        f"tiny.en, clean: real-time factor {rtf:.4f} ({clean_s:.1f} s for {duration:.0f} s of sound:"
        f" an hour in {rtf * 60:.1f} minutes, speaker turns included; without them"
        f" {(clean_s - voices_s) / duration:.4f}); word error rate {wer_clean:.4f}"
    )
    print(
        f"       ratio 0.05 / real-time factor: {0.05 / rtf:.2f}  (target >= 1);"
        f" ratio 0.07 / word error rate: {0.07 / max(wer_clean, 1e-9):.2f}  (target >= 1)"
    )
    print(
        f"       faster-whisper alone on the same samples (same decoding; no language check, no"
        f" speaker turns): real-time factor {bare_s / duration:.4f}; ratio bare / whole: {bare_s / clean_s:.2f}"
    )
    print(
        f"base, noisy ({snr_db:g} dB SNR, pink noise): word error rate {wer_noisy:.4f}"
        f" (real-time factor {base_s / duration:.4f}); ratio 0.10 / word error rate:"
        f" {0.10 / max(wer_noisy, 1e-9):.2f}  (target >= 1); tiny.en on the same: {wer_tiny_noisy:.4f}"
    )
    print(
        f"speaker turns: telling voices apart took {voices_s:.1f} s of the {clean_s:.1f} s above"
        f" ({voices_s / clean_s:.0%}); speakers named in that one-voice recording: {len(one_voice)}"
        f" (want 0); {conversation}"
    )


def bare(tiny: Transcriber, pcm: np.ndarray) -> float:
    """Seconds faster-whisper takes on its own for the same samples, decoded the same way:
    the part of the real-time factor that is the model's, measured in this run."""
    from faster_whisper import BatchedInferencePipeline

    audio = pcm.astype(np.float32) / np.float32(32768.0)
    pipeline = BatchedInferencePipeline(tiny._model)
    t0 = time.perf_counter()
    segments, _ = pipeline.transcribe(audio, language="en", **DECODING)
    for _ in segments:
        pass
    return time.perf_counter() - t0


def turns(folder: Path, tiny: Transcriber) -> str:
    """A conversation of two voices (a man's, a woman's) taking turns: the share of words
    given to the right speaker (each voice's label being the one most of its words carry)."""
    phrases = (SCRIPT + MORE) * 2
    voices = ["en-us" if n % 2 == 0 else "en-us+f3" for n in range(len(phrases))]
    path = folder / "conversation.wav"
    spoken = speak(path, phrases, voices=voices, gap_s=0.4)
    heard = tiny.transcribe(path)
    labels: dict[str, Counter[str | None]] = {v: Counter() for v in set(voices)}
    for said, voice in zip(spoken, voices, strict=True):
        labels[voice].update(
            s.speaker
            for s in heard.segments
            for w in s.words
            if said.start - 0.3 <= (w.start + w.end) / 2 <= said.end + 0.3
        )
    right = sum(c.most_common(1)[0][1] for c in labels.values())
    total = sum(sum(c.values()) for c in labels.values())
    named = {s.speaker for s in heard.segments} - {None}
    return (
        f"a {spoken[-1].end / 60:.1f}-minute conversation of 2 voices in {len(phrases)} turns:"
        f" {len(named)} speakers named, {right / total:.3f} of its words given to the right one"
    )


def other_figures() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import enrich_embed
    import enrich_ocr

    enrich_ocr.main([])  # their own defaults: the arguments given here are this script's
    enrich_embed.main([])


if __name__ == "__main__":
    main()
