"""The Alembic migrations build exactly the schema the models describe (every helper
branch adds its own migration; a forgotten column or index shows here)."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db.migrate import upgrade
from db.models import Base
from db.session import make_engine


def test_migrated_database_matches_the_models(tmp_path):
    engine = make_engine({"url": f"sqlite:///{tmp_path / 'schema.db'}"})
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
