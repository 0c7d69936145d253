"""The ``ReportRenderer`` port: court documents as PDF (ReportLab)."""

from __future__ import annotations

from opendems.adapters.reports import pdf
from opendems.domain.reports import CustodyReport, ShareReceipt


class PdfReports:
    tool = pdf.TOOL

    def custody_report_pdf(self, report: CustodyReport) -> bytes:
        return pdf.custody_report_pdf(report)

    def share_receipt_pdf(self, receipt: ShareReceipt) -> bytes:
        return pdf.share_receipt_pdf(receipt)
