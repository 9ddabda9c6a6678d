"""DecideCorrection: a person's say on a correction only they can decide.

The decision is kept on the original's record for the ERP content it was taken on: a later
edit in the ERP asks again. Nothing is sent here; the next corrections run acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from ..domain.corrections import Choice, Correction, CorrectionAction, Decision
from ..domain.documents import Kind
from ..domain.errors import CorrectionNotFound, InvalidRequest
from .plan_corrections import CorrectionsRequest, PlanCorrections
from .ports import UnitOfWorkFactory


@dataclass(frozen=True)
class DecisionRequest:
    kind: Kind
    erp_id: str
    choice: Choice
    closing_date: date
    decided_by: str


class DecideCorrection:
    def __init__(self, uow: UnitOfWorkFactory, planner: PlanCorrections) -> None:
        self.uow = uow
        self.planner = planner

    def execute(self, request: DecisionRequest) -> Correction:
        plan = self.planner.execute(CorrectionsRequest(request.closing_date))
        correction = plan.find(request.kind, request.erp_id)
        if correction is None:
            raise CorrectionNotFound(request.erp_id)
        if correction.action is not CorrectionAction.DECIDE:
            raise InvalidRequest(
                f"{correction.number} needs no decision: Accounts Sync will "
                f"{correction.action.label.lower()}.")
        if request.choice not in correction.choices:
            offered = " or ".join(f"'{c.label}'" for c in correction.choices)
            raise InvalidRequest(f"For {correction.number} you can choose {offered}.")
        with self.uow() as uow:
            record = uow.ledger.records(request.kind, [request.erp_id])[request.erp_id]
            decision = Decision(request.choice, correction.target_fingerprint, request.decided_by)
            uow.ledger.save_records([replace(record, decision=decision)])
            uow.commit()
        decided = self.planner.execute(CorrectionsRequest(request.closing_date))
        return decided.find(request.kind, request.erp_id) or correction
