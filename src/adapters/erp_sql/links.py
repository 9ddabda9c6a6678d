"""Absolute links back to the host ERP's pages, which Xero and the console show."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from ...domain.documents import Kind


@dataclass(frozen=True)
class ErpLinks:
    """`base_url` is the host's absolute address; templates are paths (or absolute URLs)."""

    base_url: str
    sales_order: str = "/erp/sales-orders/{id}"
    purchase_order: str = "/erp/purchase-orders/{id}"
    refund: str = "/erp/refunds/{id}"
    operation: str = "/erp/operations/{id}"
    batch: str = "/erp/batches/{id}"
    product: str = "/erp/products/{id}"
    journal: str = "/accounts/sync/journals/{key}"

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"ERP links need an absolute base URL such as http://127.0.0.1:5000, "
                f"not {self.base_url!r}"
            )

    def _absolute(self, path: str) -> str:
        if urlsplit(path).scheme:
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def document_url(self, kind: Kind, erp_id: str | int) -> str:
        template = {
            Kind.SALES_ORDERS: self.sales_order,
            Kind.PURCHASE_ORDERS: self.purchase_order,
            Kind.REFUNDS: self.refund,
        }.get(kind)
        if template is None:
            return self.journal_url(str(erp_id))
        return self._absolute(template.format(id=quote(str(erp_id), safe="")))

    def operation_url(self, erp_id: str | int) -> str:
        return self._absolute(self.operation.format(id=quote(str(erp_id), safe="")))

    def batch_url(self, erp_id: str | int) -> str:
        return self._absolute(self.batch.format(id=quote(str(erp_id), safe="")))

    def product_url(self, erp_id: str | int) -> str:
        return self._absolute(self.product.format(id=quote(str(erp_id), safe="")))

    def journal_url(self, key: str) -> str:
        return self._absolute(self.journal.format(key=quote(key, safe="")))
