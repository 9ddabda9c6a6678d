"""The demo host ERP's tables, as the erp_sql adapter reads them.

They live on their own MetaData: the plugin's migrations never target them (the host owns its
schema); the demo creates them for its own database. Another ERP writes its own adapter (see
README) rather than changing these.

Money columns are NUMERIC; sums are taken in SQL over values scaled to integers so SQLite,
which stores NUMERIC as floating point, still adds exact cents.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

host_metadata = MetaData()

MONEY = Numeric(14, 2)
COST = Numeric(16, 4)  # cost entries keep 4 places; journals round per line
QUANTITY = Numeric(12, 4)
PRICE = Numeric(14, 4)

users = Table(
    "erp_users", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("full_name", String(120), nullable=False),
    Column("can_view_costs", Boolean, nullable=False, default=False),
)

customers = Table(
    "erp_customers", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(200), nullable=False, default=""),
    Column("country", String(2), nullable=False, default="AU"),
    Column("channel", String(20), nullable=False),  # distributor, retail, export, cellar_door, bulk
)

suppliers = Table(
    "erp_suppliers", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(20), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(200), nullable=False, default=""),
    Column("category", String(20), nullable=False),  # fruit, barrels, glass, closures, additives, services
)

# Sales orders count for Accounts Sync once invoiced: status 'invoiced', dated by invoice_date.
sales_orders = Table(
    "erp_sales_orders", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(30), nullable=False, unique=True),
    Column("customer_id", ForeignKey("erp_customers.id"), nullable=False),
    Column("order_date", Date, nullable=False),
    Column("invoice_date", Date),
    Column("due_date", Date),
    Column("status", String(20), nullable=False),  # draft, confirmed, invoiced, cancelled
    Column("currency", String(3), nullable=False),
    Column("line_amount_types", String(10), nullable=False, default="Exclusive"),
    Column("reference", String(100), nullable=False, default=""),
    Column("total", MONEY, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_erp_sales_orders_status_date", "status", "invoice_date", "id"),
    Index("ix_erp_sales_orders_updated_at", "updated_at"),  # edited since: see changed_after_sync
)

_LINE_COLUMNS = (
    ("line_no", Integer),
    ("item_code", String(40)),
    ("description", String(400)),
    ("quantity", QUANTITY),
    ("unit_price", PRICE),
    ("account_code", String(10)),
    ("tax_type", String(30)),
    ("tax_amount", MONEY),
    ("vintage", String(10)),
    ("brand", String(40)),
)


def _lines(name: str, parent: str) -> Table:
    return Table(
        name, host_metadata,
        Column("id", Integer, primary_key=True),
        Column(f"{parent}_id", ForeignKey(f"erp_{parent}s.id"), nullable=False, index=True),
        *(Column(col, type_, nullable=col in ("account_code", "tax_type", "vintage", "brand",
                                              "item_code"))
          for col, type_ in _LINE_COLUMNS),
    )


sales_order_lines = _lines("erp_sales_order_lines", "sales_order")

# Purchase orders become bills once billed: status 'billed', dated by bill_date.
purchase_orders = Table(
    "erp_purchase_orders", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(30), nullable=False, unique=True),
    Column("supplier_id", ForeignKey("erp_suppliers.id"), nullable=False),
    Column("order_date", Date, nullable=False),
    Column("received_date", Date),
    Column("bill_date", Date),
    Column("due_date", Date),
    Column("supplier_invoice_number", String(50), nullable=False, default=""),
    Column("status", String(20), nullable=False),  # draft, ordered, received, billed, cancelled
    Column("currency", String(3), nullable=False),
    Column("line_amount_types", String(10), nullable=False, default="Exclusive"),
    Column("total", MONEY, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_erp_purchase_orders_status_date", "status", "bill_date", "id"),
    Index("ix_erp_purchase_orders_updated_at", "updated_at"),  # edited since: see changed_after_sync
)

purchase_order_lines = _lines("erp_purchase_order_lines", "purchase_order")

# Refunds become credit notes once approved: status 'approved', dated by refund_date.
refunds = Table(
    "erp_refunds", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(30), nullable=False, unique=True),
    Column("customer_id", ForeignKey("erp_customers.id"), nullable=False),
    Column("sales_order_id", ForeignKey("erp_sales_orders.id")),
    Column("refund_date", Date, nullable=False),
    Column("status", String(20), nullable=False),  # draft, approved, cancelled
    Column("currency", String(3), nullable=False),
    Column("line_amount_types", String(10), nullable=False, default="Exclusive"),
    Column("reason", String(200), nullable=False, default=""),
    Column("total", MONEY, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_erp_refunds_status_date", "status", "refund_date", "id"),
    Index("ix_erp_refunds_updated_at", "updated_at"),  # edited since: see changed_after_sync
)

refund_lines = _lines("erp_refund_lines", "refund")

batches = Table(
    "erp_batches", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(30), nullable=False, unique=True),  # e.g. 24-SHZ-RES-01
    Column("vintage", String(4), nullable=False),
    Column("varietal", String(40), nullable=False),
    Column("brand", String(40), nullable=False),  # Estate, Reserve, Single Vineyard, Cellar Door, Bulk
    Column("vessel", String(40), nullable=False, default=""),
)

# What the bottling line makes and sales sell: one product per label, varietal and vintage
# (several batches may be bottled as one product). Sales lines name it by `code` (item_code).
products = Table(
    "erp_products", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),  # e.g. SHZ-RES-24-6
    Column("name", String(200), nullable=False),
    Column("vintage", String(4), nullable=False),
    Column("varietal", String(40), nullable=False),
    Column("brand", String(40), nullable=False),
    Column("bottles_per_case", Integer, nullable=False, default=6),
)

# One cellar operation (crush, addition, bottling, ...) produces one or more cost entries.
operations = Table(
    "erp_operations", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(30), nullable=False, unique=True),  # e.g. BTL-0412
    Column("op_type", String(20), nullable=False),
    Column("op_date", Date, nullable=False),
    Column("batch_id", ForeignKey("erp_batches.id")),
    Column("description", Text, nullable=False),
)

cost_entries = Table(
    "erp_cost_entries", host_metadata,
    Column("id", Integer, primary_key=True),
    Column("operation_id", ForeignKey("erp_operations.id"), nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("movement_type", String(20), nullable=False),  # domain MovementType values
    Column("cost_category", String(20), nullable=False),  # domain CostCategory values
    Column("amount", COST, nullable=False),
    Column("from_stage", String(20), nullable=False),  # domain Stage values
    Column("to_stage", String(20), nullable=False),
    Column("batch_id", ForeignKey("erp_batches.id")),
    # Batch attributes copied onto the entry, as the ERP froze them when the cost was booked.
    Column("vintage", String(4)),
    Column("brand", String(40)),
    Column("description", String(400), nullable=False, default=""),
    # What moved with the cost, read like the amount (from_stage -> to_stage; within one stage
    # signed: + into the entry's batch, - out of it): `litres` of wine into or out of a batch
    # in bulk (crush, transfers, blends, bottling, losses, bulk sales, opening stock), `cases`
    # into or out of finished goods (the wine entry of a bottling, dispatches, opening stock).
    # Entries that only add cost (additions, labour, barrels, a bottling's dry goods) have none.
    Column("product_id", ForeignKey("erp_products.id")),  # entries into or out of finished goods
    Column("litres", QUANTITY),
    Column("cases", QUANTITY),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_erp_cost_entries_date_movement", "entry_date", "movement_type"),
    Index("ix_erp_cost_entries_operation", "operation_id"),
    # What changed since a given moment: Accounts Sync's cost-flow cache and its "changed after
    # sync" check read only the entries stamped after it (see SqlDocumentSource.cost_flows).
    Index("ix_erp_cost_entries_created_at", "created_at"),
    Index("ix_erp_cost_entries_updated_at", "updated_at"),
    # The ERP's batch and product pages: their entries, newest first.
    Index("ix_erp_cost_entries_batch", "batch_id", "id"),
    Index("ix_erp_cost_entries_product", "product_id", "id"),
)
