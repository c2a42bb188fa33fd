"""The approval line of a one-stop request, as a pure state machine.

A line is the ordered approvers of a request kind.  Steps are decided in order:
only the approver of the first pending step may decide, and only that step.  An
approval moves to the next step; the last approval approves the request (it then
becomes a ticket).  A rejection at any step rejects the request and the steps
after it are ``skipped`` (nobody is asked to decide something already refused).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
SKIPPED = "skipped"

DECISIONS = (APPROVED, REJECTED)


class ApprovalError(ValueError):
    """A decision the line does not allow."""


class AlreadyDecided(ApprovalError):
    pass


class NotYourStep(ApprovalError):
    pass


class EmptyLine(ApprovalError):
    pass


@dataclass(frozen=True)
class Line:
    approvers: tuple[int, ...]      # user ids, step order
    decisions: tuple[str, ...]      # one per step

    @classmethod
    def start(cls, approvers: list[int] | tuple[int, ...]) -> "Line":
        if not approvers:
            raise EmptyLine("the approval line has no approver")
        return cls(tuple(approvers), tuple(PENDING for _ in approvers))

    @property
    def status(self) -> str:
        """pending while a step waits, rejected after any rejection, approved when all approved."""
        if REJECTED in self.decisions:
            return REJECTED
        if all(d == APPROVED for d in self.decisions):
            return APPROVED
        return PENDING

    @property
    def current_step(self) -> int | None:
        """The step waiting for a decision (None once the request is decided)."""
        if self.status != PENDING:
            return None
        return self.decisions.index(PENDING)

    @property
    def current_approver(self) -> int | None:
        step = self.current_step
        return None if step is None else self.approvers[step]


def decide(line: Line, approver_id: int, decision: str) -> Line:
    """The line after ``approver_id`` decided (approved or rejected) its current step."""
    if decision not in DECISIONS:
        raise ApprovalError(f"unknown decision {decision!r}")
    step = line.current_step
    if step is None:
        raise AlreadyDecided(f"the request is already {line.status}")
    if line.approvers[step] != approver_id:
        raise NotYourStep("this step waits for another approver")
    decisions = list(line.decisions)
    decisions[step] = decision
    if decision == REJECTED:
        decisions[step + 1:] = [SKIPPED] * (len(decisions) - step - 1)
    return replace(line, decisions=tuple(decisions))
