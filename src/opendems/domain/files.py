"""Rules about submitted file names and what their content says they are."""

from __future__ import annotations

import unicodedata

from opendems.domain.errors import Invalid
from opendems.domain.evidence import EvidenceKind

MAX_FILENAME_CHARS = 255

# Extensions whose kind is unambiguous. Anything else makes no claim about the content.
_EXTENSION_KINDS: dict[str, EvidenceKind] = {}
for _kind, _exts in {
    EvidenceKind.VIDEO: "mp4 m4v mov avi mkv webm wmv flv mpg mpeg ts mts m2ts 3gp asf",
    EvidenceKind.AUDIO: "mp3 wav m4a aac flac ogg oga opus wma amr aif aiff",
    EvidenceKind.IMAGE: "jpg jpeg png gif bmp tif tiff webp heic heif dng cr2 nef",
    EvidenceKind.DOCUMENT: "pdf doc docx xls xlsx ppt pptx odt ods odp rtf txt csv",
}.items():
    for _ext in _exts.split():
        _EXTENSION_KINDS[_ext] = _kind


def validate_filename(name: str) -> str:
    """Return the name if it is a safe single file name; raise ``Invalid`` otherwise.

    Names are kept as given for the record, so they must not smuggle paths or terminal
    control sequences into listings, headers and exports.
    """
    if not name or not name.strip():
        raise Invalid("file name is empty")
    if len(name) > MAX_FILENAME_CHARS:
        raise Invalid(f"file name is longer than {MAX_FILENAME_CHARS} characters")
    if "/" in name or "\\" in name:
        raise Invalid(f"file name {name!r} contains a path separator")
    if name in {".", ".."}:
        raise Invalid(f"file name {name!r} is a path component, not a file name")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name):
        raise Invalid(f"file name {name!r} contains control characters")
    if any(unicodedata.category(ch) == "Cs" for ch in name):
        raise Invalid(f"file name {name!r} is not valid UTF-8; rename the file")
    return name


def extension_kind(name: str) -> EvidenceKind | None:
    """The kind a file name's extension claims, or None when it makes no clear claim."""
    if "." not in name:
        return None
    return _EXTENSION_KINDS.get(name.rsplit(".", 1)[1].lower())


def contradiction(name: str, detected: EvidenceKind) -> str | None:
    """A message when the content's kind contradicts the name's extension, else None."""
    claimed = extension_kind(name)
    if claimed is None or detected is EvidenceKind.OTHER or claimed is detected:
        return None
    return (
        f"content of {name!r} is {detected.value} but its extension says {claimed.value}; "
        "rename it or ingest it with the mismatch explicitly allowed"
    )
