"""Build the Debian sid root that holds the project-managed Asterisk.

Debian 12 ships no Asterisk package, Debian sid does (Asterisk 22).  We build a
small sid root with ``mmdebstrap`` once (about 20 s, ~300 MB) and run Asterisk
in it through ``chroot`` (see :mod:`ivr.pbx.instance`).

The mirror is taken from the machine's own apt sources, so the build uses the
same Debian archive (or mirror, or proxy) as ``apt-get`` on this machine.

``python -m ivr.pbx.provision [--root DIR]`` builds (or checks) the root.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

MARKER = ".happycall-root-ok"
ASTERISK_BIN = "usr/sbin/asterisk"
SUITE = "sid"
SOURCES_LIST = Path("/etc/apt/sources.list")
SOURCES_DIR = Path("/etc/apt/sources.list.d")
# Directories Asterisk (or the Debian package's defaults) expects to exist.
STATE_DIRS = ("var/lib/asterisk", "var/run/asterisk", "var/log/asterisk", "var/spool/asterisk",
              "run/happycall")
RESOLV_CONF = "# HappyCall: no DNS inside the Asterisk root (loopback only; names from /etc/hosts)\n"


class ProvisionError(RuntimeError):
    """The Asterisk root cannot be built or used."""


# --------------------------------------------------------------------------- mirror
def _is_main_archive(uri: str, suites: Iterable[str], components: Iterable[str]) -> bool:
    suites = list(suites)
    if not uri or not suites:
        return False
    if all(s.endswith("-security") or s.endswith("/updates") for s in suites):
        return False
    low = uri.lower()
    if "security" in low or "debian-ports" in low or low.rstrip("/").endswith("-debug"):
        return False
    if not (low.startswith("http://") or low.startswith("https://") or low.startswith("file:")):
        return False
    return "main" in set(components)


def parse_deb822_sources(text: str) -> list[str]:
    """Return the archive URIs of the ``Types: deb`` stanzas of a deb822 ``.sources`` text.

    Stanzas whose suites are all ``-security`` (or that are disabled, or lack
    the ``main`` component) are skipped.
    """
    uris: list[str] = []
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last_key: str | None = None
    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, last_key = {}, None
            continue
        if raw[0] in " \t" and last_key:  # continuation line
            current[last_key] += " " + raw.strip()
            continue
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        last_key = key.strip().lower()
        current[last_key] = value.strip()
    for st in stanzas:
        if "deb" not in st.get("types", "").split():
            continue
        if st.get("enabled", "yes").strip().lower() in ("no", "false", "0"):
            continue
        suites = st.get("suites", "").split()
        components = st.get("components", "").split()
        for uri in st.get("uris", "").split():
            if _is_main_archive(uri, suites, components):
                uris.append(uri)
    return uris


def parse_one_line_sources(text: str) -> list[str]:
    """Return the archive URIs of the ``deb`` lines of a one-line ``sources.list`` text."""
    uris: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if parts[0] != "deb":
            continue
        rest = parts[1:]
        if rest and rest[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if len(rest) < 3:
            continue
        uri, suite, components = rest[0], rest[1], rest[2:]
        if _is_main_archive(uri, [suite], components):
            uris.append(uri)
    return uris


def find_mirror(sources_list: Path = SOURCES_LIST, sources_dir: Path = SOURCES_DIR) -> str:
    """The first Debian main archive URI of this machine's apt sources (apt's own order)."""
    candidates: list[str] = []
    files: list[tuple[Path, str]] = []
    if sources_list.is_file():
        files.append((sources_list, "list"))
    if sources_dir.is_dir():
        for path in sorted(sources_dir.iterdir()):
            if path.name.endswith(".sources"):
                files.append((path, "deb822"))
            elif path.name.endswith(".list"):
                files.append((path, "list"))
    for path, kind in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        candidates += parse_deb822_sources(text) if kind == "deb822" else parse_one_line_sources(text)
    if not candidates:
        raise ProvisionError(
            f"no Debian archive found in {sources_list} or {sources_dir}/*.sources; "
            "cannot choose a mirror for mmdebstrap")
    return candidates[0]


# --------------------------------------------------------------------------- root
def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()).rstrip("/") + "/"
    found = []
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) > 1:
                    target = fields[1].replace("\\040", " ")
                    if target.startswith(prefix) or target == prefix.rstrip("/"):
                        found.append(target)
    except OSError:
        pass
    return found


def _remove_tree(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    mounts = _mounts_under(path)
    if mounts:
        raise ProvisionError(f"refusing to delete {path}: still mounted: {', '.join(mounts)}")
    shutil.rmtree(path)


def _finish_root(root: Path) -> None:
    """Steps applied to every root, new or existing (cheap, idempotent)."""
    for rel in STATE_DIRS:
        (root / rel).mkdir(parents=True, exist_ok=True)
    # Without the host's /etc/hosts Asterisk blocks for a long time resolving the
    # machine's own name: there is no DNS here.
    try:
        hosts = Path("/etc/hosts").read_bytes()
    except OSError:
        hosts = b"127.0.0.1 localhost\n::1 localhost\n"
    target = root / "etc/hosts"
    if target.is_symlink():
        target.unlink()
    if not target.exists() or target.read_bytes() != hosts:
        target.write_bytes(hosts)
    # No name servers: Asterisk only talks to 127.0.0.1, and with a name server
    # listed its SIP stack opens a DNS resolver socket on all addresses.
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or not resolv.exists() or resolv.read_text(errors="replace") != RESOLV_CONF:
        if resolv.is_symlink():
            resolv.unlink()
        resolv.write_text(RESOLV_CONF)


def is_ready(root: Path) -> bool:
    return (root / MARKER).is_file() and (root / ASTERISK_BIN).is_file()


def ensure_root(root: Path, log: Callable[[str], object] = print) -> Path:
    """Make sure ``root`` holds a usable Asterisk root and return it (resolved).

    Idempotent and safe to call from several processes at once (file lock).
    A directory that already holds ``usr/sbin/asterisk`` but no marker (built
    by hand with the same mmdebstrap command) is adopted as is.
    """
    root = Path(root).expanduser().resolve()
    if is_ready(root):
        _finish_root(root)
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f".{root.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if is_ready(root):  # built by another process meanwhile
                _finish_root(root)
                return root
            if (root / ASTERISK_BIN).is_file():
                log(f"asterisk root: adopting existing {root}")
            else:
                _build(root, log)
            _finish_root(root)
            (root / MARKER).write_text(f"built {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return root


def _build(root: Path, log: Callable[[str], object]) -> None:
    if os.geteuid() != 0:
        raise ProvisionError("building the Asterisk root needs root (mmdebstrap + chroot); "
                             "run scripts/bootstrap.sh as root")
    mmdebstrap = shutil.which("mmdebstrap")
    if not mmdebstrap:
        raise ProvisionError("mmdebstrap is not installed: run `apt-get install -y mmdebstrap` "
                             "(scripts/bootstrap.sh does it)")
    mirror = find_mirror()
    tmp = root.parent / f".{root.name}.build-{os.getpid()}"
    _remove_tree(tmp)
    cmd = [mmdebstrap, "--variant=apt", "--aptopt=Acquire::Check-Valid-Until \"false\"",
           "--include=asterisk", SUITE, str(tmp), mirror]
    log(f"asterisk root: building {root} with mmdebstrap ({SUITE}, mirror {mirror}) ...")
    started = time.monotonic()
    build_log = root.parent / f".{root.name}.build.log"
    with open(build_log, "wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not (tmp / ASTERISK_BIN).is_file():
        tail = build_log.read_text(errors="replace").splitlines()[-25:]
        try:
            _remove_tree(tmp)
        except (OSError, ProvisionError):
            pass
        raise ProvisionError(
            f"mmdebstrap failed (exit {proc.returncode}); full log in {build_log}; last lines:\n"
            + "\n".join(tail))
    if root.exists() or root.is_symlink():  # leftover without asterisk: move aside, then delete
        old = root.parent / f".{root.name}.old-{os.getpid()}"
        os.rename(root, old)
        _remove_tree(old)
    os.rename(tmp, root)  # atomic on one file system
    log(f"asterisk root: built in {time.monotonic() - started:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.pbx.provision", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None,
                        help="root directory (default: asterisk.root from the configuration)")
    args = parser.parse_args(argv)
    root = args.root
    if root is None:
        try:
            from cti.config import load
            root = load()["asterisk"]["root"]
        except Exception as exc:  # noqa: BLE001 - report any configuration problem plainly
            print(f"error: cannot read the configuration: {exc}", file=sys.stderr)
            return 2
    try:
        path = ensure_root(Path(root))
    except ProvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    version = subprocess.run(["chroot", str(path), "/" + ASTERISK_BIN, "-V"],
                             capture_output=True, text=True).stdout.strip()
    print(f"asterisk root: ready at {path} ({version or 'asterisk'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
