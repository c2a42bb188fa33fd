"""Persistence: SQLAlchemy models, Alembic migrations, seed data."""
