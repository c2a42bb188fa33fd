"""A desktop stack with the intake service (portal, approvals, e-mail) for tests."""
from __future__ import annotations

from pathlib import Path

from agent_desktop import create_app
from cti.intake.attachments import AttachmentStore
from cti.intake.service import IntakeService
from support.desktop import DesktopStack, make_stack


def make_intake_stack(data_dir: Path, *, csrf: bool = False, max_posts: int = 10) -> tuple[DesktopStack, IntakeService]:
    stack = make_stack(data_dir, csrf=csrf, app=False)
    stack.config["portal"]["max_posts_per_10min"] = max_posts
    intake = IntakeService(stack.sessions, stack.bus, AttachmentStore(Path(data_dir) / "attachments"))
    stack.app = create_app(stack.config, stack.call_center, stack.sessions, stack.bus, acd_service=stack.acd,
                           callback_service=stack.callbacks, supervisor_service=stack.supervision,
                           intake_service=intake)
    return stack, intake
