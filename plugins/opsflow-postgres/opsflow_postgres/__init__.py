"""opsflow-postgres: PostgreSQL role, database and grant tasks on psycopg 3.

Found by opsflow only through entry points (``opsflow.tasks``:
``postgres.role``, ``postgres.database``, ``postgres.grant``,
``postgres.drop_database``, ``postgres.drop_role``).
"""
