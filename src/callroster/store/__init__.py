"""Repositories: the only code that touches the database. Alembic migrations beside them."""
