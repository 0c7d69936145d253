"""Court documents as PDF: chain-of-custody reports and share receipts (ReportLab).

``pdf`` renders the plain data of :mod:`opendems.domain.reports`; ``layout`` holds the shared
fonts, styles, text helpers and the page-numbering canvas.
"""
