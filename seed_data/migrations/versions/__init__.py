"""The migrations, one module per revision (Alembic reads them by path, not by import)."""
