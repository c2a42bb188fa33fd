"""Demo commands against a running ``make run``.

    python -m ivr.demo call  [--pin 100100] [--line 1600] [--name NAME] [--number NUM] [--hold 30]
    python -m ivr.demo phone [--ext 1001]      # a SIPp phone registered as the agent's extension
    python -m ivr.demo alarm [--severity major] [--title TEXT] [--id ID]   # a signed alarm (docs/alarms.md)

Both read the configuration the same way the server does (so they find its SIP
port and data folder) and stop by themselves.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cti.config import load
from ivr.demo.peers import SippCaller, SippPhone, SippRegister


def _phone_password(data_dir: str, ext: str) -> str:
    path = Path(data_dir) / "phone-passwords.txt"
    for line in path.read_text().splitlines() if path.exists() else []:
        e, _, password = line.partition(" ")
        if e == ext:
            return password
    raise SystemExit(f"no password for extension {ext} in {path}: start the system with `make run` first")


def call(args, config) -> int:
    target = f"sip:{args.line}@127.0.0.1:{config['asterisk']['sip_port']}"
    print(f"calling {target} as {args.name!r} <{args.number}>, keying {args.pin}# ...")
    with SippCaller(target, digits=f"{args.pin}#", display_name=args.name, caller_number=args.number,
                    pause_before_digits=args.pause, hold_seconds=args.hold) as caller:
        code = caller.wait(args.hold + 60)
    print("call finished" if code == 0 else f"SIPp ended with code {code}:\n{caller.logs()[-2000:]}")
    return 0 if code == 0 else 1


def phone(args, config) -> int:
    password = _phone_password(config["data"]["dir"], args.ext)
    target = f"127.0.0.1:{config['asterisk']['sip_port']}"
    with SippPhone(mode="answer", ring_seconds=1.0, talk_seconds=args.talk, calls=args.calls,
                   timeout=args.minutes * 60) as ph:
        with SippRegister(target, args.ext, password, ph.port, expires=args.minutes * 60) as reg:
            if reg.wait(15) != 0:
                print(f"registration failed:\n{reg.logs()[-2000:]}")
                return 1
        print(f"phone {args.ext} registered (answers after 1 s ring, hangs up after {args.talk:.0f} s); "
              f"Ctrl-C to stop")
        try:
            ph.wait(args.minutes * 60)
        except KeyboardInterrupt:
            pass
        finally:
            with SippRegister(target, args.ext, password, ph.port, expires=0) as unreg:
                unreg.wait(10)
    return 0


def alarm(args, config) -> int:
    """POST a signed alarm to the running web server's webhook."""
    import json
    import urllib.error
    import urllib.request

    from cti.alarms import SIGNATURE_HEADER, shared_secret, sign

    secret = shared_secret(config["alarms"]["secret"], config["data"]["dir"])
    body = {"source": args.source, "id": args.id, "system": args.system, "severity": args.severity,
            "title": args.title, "detail": args.detail}
    if args.contact:
        body["contact"] = args.contact
    raw = json.dumps(body).encode("utf-8")
    url = f"http://{config['web']['host']}:{config['web']['port']}/hooks/alarms"
    request = urllib.request.Request(url, data=raw, method="POST", headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, raw)})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(f"{response.status}: {response.read().decode('utf-8', 'replace')}")
            return 0
    except urllib.error.HTTPError as exc:
        print(f"{exc.code}: {exc.read().decode('utf-8', 'replace')}")
    except OSError as exc:
        print(f"cannot reach {url}: {exc} (is `make run` running?)")
    return 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.demo")
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("call", help="place a customer call to the ARS line")
    c.add_argument("--pin", default="100100")
    c.add_argument("--line", default="1600")
    c.add_argument("--name", default="홍길동")
    c.add_argument("--number", default="0255501234")
    c.add_argument("--pause", type=float, default=1.0, help="seconds before keying the PIN")
    c.add_argument("--hold", type=float, default=30.0, help="seconds to stay on the line after the PIN")
    p = sub.add_parser("phone", help="a SIPp phone registered as an agent's extension")
    p.add_argument("--ext", default="1001")
    p.add_argument("--talk", type=float, default=20.0)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--minutes", type=int, default=60)
    a = sub.add_parser("alarm", help="send a signed infrastructure alarm to the webhook")
    a.add_argument("--source", default="demo-nms")
    a.add_argument("--id", default="core-switch-1", help="the same id again within the merge window is merged")
    a.add_argument("--system", default="network")
    a.add_argument("--severity", default="major", choices=("minor", "major", "critical"))
    a.add_argument("--title", default="Core switch down in building A")
    a.add_argument("--detail", default="Uplink lost; floors 3-5 have no network.")
    a.add_argument("--contact", default="", help="the customer's IT contact number (for the hot line)")
    args = parser.parse_args(argv)
    config = load(args.config)
    commands = {"call": call, "phone": phone, "alarm": alarm}
    return commands[args.command](args, config)


if __name__ == "__main__":
    sys.exit(main())
