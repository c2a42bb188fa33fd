"""A desktop stack with the intake service (portal, approvals, e-mail) for tests."""
from __future__ import annotations

import contextlib
from pathlib import Path

from agent_desktop import create_app
from cti.intake.attachments import AttachmentStore
from cti.intake.service import IntakeService
from cti.intake.smtp import SmtpListener
from support.desktop import DesktopStack, make_stack, running_server


def make_intake_stack(data_dir: Path, *, csrf: bool = False, max_posts: int = 10) -> tuple[DesktopStack, IntakeService]:
    stack = make_stack(data_dir, csrf=csrf, app=False)
    stack.config["portal"]["max_posts_per_10min"] = max_posts
    intake = IntakeService(stack.sessions, stack.bus, AttachmentStore(Path(data_dir) / "attachments"))
    stack.app = create_app(stack.config, stack.call_center, stack.sessions, stack.bus, acd_service=stack.acd,
                           callback_service=stack.callbacks, supervisor_service=stack.supervision,
                           intake_service=intake)
    return stack, intake


@contextlib.contextmanager
def served_intake_stack(data_dir: Path, centre: str):
    """The intake stack with its SMTP listener for ``centre`` and the desktop served
    (browser tests): yields (stack, intake, listener, server)."""
    stack, intake = make_intake_stack(data_dir, csrf=True)
    listener = SmtpListener(intake, "127.0.0.1", 0, centre)
    listener.start()
    try:
        with running_server(stack.app) as server:
            yield stack, intake, listener, server
    finally:
        listener.stop()
        intake.close()
        stack.close()
