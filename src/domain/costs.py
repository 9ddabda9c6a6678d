"""The winery cost model (see WINERY.md): stages, cost categories, movements, cost entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum


class Stage(StrEnum):
    """Where value sits; each stage maps to one Xero account (with per-category overrides)."""

    FRUIT = "fruit"
    ADDITIVES = "additives"
    DRY_GOODS = "dry_goods"
    BULK_WINE = "bulk_wine"
    FINISHED_GOODS = "finished_goods"
    COGS = "cogs"
    LOSSES = "losses"
    OVERHEAD = "overhead"
    # The other side of the stock counted when the ERP went live (equity or a clearing account).
    OPENING_BALANCES = "opening_balances"

    @property
    def label(self) -> str:
        return {
            Stage.FRUIT: "Fruit inventory",
            Stage.ADDITIVES: "Additives inventory",
            Stage.DRY_GOODS: "Dry goods inventory",
            Stage.BULK_WINE: "Bulk wine in progress",
            Stage.FINISHED_GOODS: "Bottled wine inventory",
            Stage.COGS: "Cost of goods sold",
            Stage.LOSSES: "Wine losses",
            Stage.OVERHEAD: "Overhead absorbed",
            Stage.OPENING_BALANCES: "Opening balances",
        }[self]


class CostCategory(StrEnum):
    FRUIT = "fruit"
    ADDITIVE = "additive"
    DRY_GOODS = "dry_goods"
    LABOUR = "labour"
    OVERHEAD = "overhead"
    BARREL = "barrel"
    BULK_WINE = "bulk_wine"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class MovementType(StrEnum):
    CRUSH = "crush"
    ADDITION = "addition"
    BARREL_AGEING = "barrel_ageing"
    LABOUR = "labour"
    TRANSFER = "transfer"
    BLEND = "blend"
    BOTTLING = "bottling"
    LOSS = "loss"
    DISPATCH = "dispatch"
    BULK_SALE = "bulk_sale"
    # The stock on hand when the ERP's cost records begin (a stock take), brought in at cost.
    OPENING_BALANCE = "opening_balance"

    @property
    def label(self) -> str:
        return {
            MovementType.CRUSH: "Crush / fruit intake",
            MovementType.ADDITION: "Additions",
            MovementType.BARREL_AGEING: "Barrel fill / ageing",
            MovementType.LABOUR: "Labour and overhead",
            MovementType.TRANSFER: "Transfers",
            MovementType.BLEND: "Blends",
            MovementType.BOTTLING: "Bottling",
            MovementType.LOSS: "Losses and write-offs",
            MovementType.DISPATCH: "Dispatch of sales",
            MovementType.BULK_SALE: "Bulk wine sales",
            MovementType.OPENING_BALANCE: "Opening stock",
        }[self]


@dataclass(frozen=True)
class Operation:
    """The cellar operation in the ERP that caused a cost, e.g. Bottling BTL-0412."""

    erp_id: str
    number: str
    description: str
    url: str = ""


@dataclass(frozen=True)
class CostEntry:
    """One amount of cost that moved from one stage to another because of one operation.

    `tracking` holds the batch attributes (vintage, brand, batch, ...) the mapping may turn
    into Xero tracking options.
    """

    erp_id: str
    operation: Operation
    date: date
    movement_type: MovementType
    category: CostCategory
    amount: Decimal
    from_stage: Stage
    to_stage: Stage
    tracking: tuple[tuple[str, str], ...] = ()
    description: str = ""


@dataclass(frozen=True)
class CostFlow:
    """Cost entries already summed (by SQL) per day, movement, category, stages and tracking.

    The journal builder works on flows so that a preview over a million entries only reads
    the sums; the detailed view builds the same journal from single-entry flows that keep
    their entry in `entries`.
    """

    date: date
    movement_type: MovementType
    category: CostCategory
    from_stage: Stage
    to_stage: Stage
    amount: Decimal
    tracking: tuple[tuple[str, str], ...] = ()
    entry_count: int = 1
    entries: tuple[CostEntry, ...] = ()

    @classmethod
    def of(cls, entry: CostEntry) -> CostFlow:
        return cls(
            date=entry.date,
            movement_type=entry.movement_type,
            category=entry.category,
            from_stage=entry.from_stage,
            to_stage=entry.to_stage,
            amount=entry.amount,
            tracking=entry.tracking,
            entry_count=1,
            entries=(entry,),
        )
