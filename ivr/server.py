"""``happycall`` / ``python -m ivr.server``: run the whole system until Ctrl-C."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from cti.config import ConfigError, load
from ivr.system import System


def setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # The ARI client is chatty about events it has no class for.
    for noisy in ("httpx", "asyncari", "asyncari.model", "asyncswagger11", "alembic", "engineio", "socketio"):
        logging.getLogger(noisy).setLevel(logging.WARNING if noisy not in ("asyncari.model",)
                                          else logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="happycall", description=__doc__)
    parser.add_argument("--config", help="TOML configuration file (also HAPPYCALL_CONFIG)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"happycall: configuration error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    system = System(config)
    try:
        system.start()
    except Exception as exc:
        logging.getLogger("happycall").exception("start-up failed")
        print(f"happycall: could not start: {exc}", file=sys.stderr)
        return 1
    _banner(system)
    try:
        stop.wait()
    finally:
        print("\nstopping HappyCall ...", flush=True)
        system.stop()
        print("stopped.", flush=True)
    return 0


def _banner(system: System) -> None:
    cfg = system.config
    lines = ["", "HappyCall is running.", f"  agent desktop: {system.web.url}"]
    if system.demo_passwords:
        lines.append("  demo logins (also in %s/demo-passwords.txt):" % cfg["data"]["dir"])
        lines += [f"    {u} / {p}" for u, p in system.demo_passwords.items()]
    else:
        lines.append(f"  demo logins: see {cfg['data']['dir']}/demo-passwords.txt")
    if system.asterisk is not None:
        numbers = ", ".join(f"{n} ({lang})" for n, lang in cfg["asterisk"]["ars_lines"].items())
        lines.append(f"  ARS lines: {numbers} at sip:<number>@127.0.0.1:{system.asterisk.sip_port}")
        lines.append(f"  agent phones register as 1001/1002 with the passwords in "
                     f"{cfg['data']['dir']}/phone-passwords.txt")
    lines.append("  place a demo call: make demo-call   (Ctrl-C here stops everything)")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
