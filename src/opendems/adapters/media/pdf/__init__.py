"""True redaction of PDFs with PDFium (pypdfium2): what lies under a box is taken out of the file.

A box is given in points from the top-left corner of the page as displayed and is mapped into the
page's own coordinates (crop box and /Rotate applied). On a page with boxes, a Form XObject a box
touches is first opened up: its objects move onto the page (the form itself, which other pages may
draw, is left as it is). Then:

* a text object loses the characters whose glyphs a box touches and keeps the others, each pinned
  where it was (``FPDFText_SetPositions``), so the rest of the line stays in place and stays text.
  Text that cannot be written again from its characters (a Type 3 font; one glyph for several
  characters, as in a ligature) becomes a 300 dpi picture of what is left of it, under those
  characters in invisible Helvetica, so that they can still be found and copied;
* an image has the pixels under a box set to black in its own data (its transparency kept, a
  JPEG kept a JPEG); an image entirely inside a box is removed;
* a vector path or shading entirely inside a box is removed; anything else is covered;
* annotations a box touches are removed, with their pop-ups and replies, and the alternate text
  of marked content (which can spell out the words it marks) is dropped;
* an opaque black rectangle is drawn over each box.

PDFium then writes the page's content anew (shadings, which it never writes, have been turned into
pictures, and CMYK colours, which it writes as black, into the RGB they show), and the page is
parsed again from what it wrote: text it put out of place (it does not write character and word
spacing) is drawn again as new objects, inline images it left out come back as image XObjects, and
whatever still has a glyph or a non-black pixel under a box is removed whole. The pages are then copied into a new document, saved whole: unused objects, the
document information, XMP metadata, bookmarks, the structure tree, form fields, attachments and
scripts do not come along, nor the thumbnail of a redacted page. The saved file is opened again and
its text checked against the boxes before it takes the place of ``dst``.

Two helpers serve the redaction editor: ``find_text`` searches the text layer with regular
expressions and gives each match's box in the same coordinates as the boxes above (so that a match
handed back to ``redact_pdf`` takes out exactly its characters), and ``page_image`` draws one page.

PDFium is not thread-safe: every call into it in this process (``documents`` too, through the
``MediaTools`` adapter) holds ``PDFIUM_LOCK``.

The package holds: ``geometry`` (boxes mapped between the page as displayed and its own
coordinates), ``handles`` (the lock, opening a document, page objects), ``text`` (characters
trimmed and set again, text pictured), ``images`` (pixels blackened, shadings pictured), ``objects``
(forms, annotations, paths, marked content, the black boxes), ``document`` (``redact_pdf``: each
page redacted, enforced, saved and checked), ``search`` (``find_text``) and ``pages``
(``pdf_pages``, ``page_image``).
"""

from __future__ import annotations

from opendems.adapters.media.pdf.document import redact_pdf
from opendems.adapters.media.pdf.geometry import Box
from opendems.adapters.media.pdf.handles import PDFIUM_LOCK, TOOL_PDFIUM, open_pdf
from opendems.adapters.media.pdf.pages import page_image, pdf_pages
from opendems.adapters.media.pdf.search import Pattern, TextFound, TextHit, find_text

__all__ = [
    "PDFIUM_LOCK",
    "TOOL_PDFIUM",
    "Box",
    "Pattern",
    "TextFound",
    "TextHit",
    "find_text",
    "open_pdf",
    "page_image",
    "pdf_pages",
    "redact_pdf",
]
