"""Run Alembic migrations programmatically (used by the run command and tests)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def main() -> None:  # pragma: no cover - developer tool
    import argparse

    from cti.config import load
    from db.session import make_engine

    parser = argparse.ArgumentParser(description="Create or upgrade the HappyCall database")
    parser.add_argument("--config")
    parser.add_argument("--revision-message", help="autogenerate a new revision with this message")
    args = parser.parse_args()
    config = load(args.config)
    engine = make_engine(config["database"])
    if args.revision_message:
        cfg = alembic_config(str(engine.url))
        command.revision(cfg, message=args.revision_message, autogenerate=True)
    else:
        upgrade(engine)


if __name__ == "__main__":  # pragma: no cover
    main()
