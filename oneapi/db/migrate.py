"""Schema migration like GORM's AutoMigrate (add tables, columns, indexes; never drop One API's), safe on old
databases. Only indexes of ours that an earlier build made and nothing reads are dropped: of our own tables, and
the copy of idx_logs_user_id that only PostgreSQL's planner needs (``POSTGRES_ONLY_INDEXES``) elsewhere.

Order matters: every missing column is added before any index is created. Creating an index first breaks
old databases: on SQLite a quoted name of a column that does not exist yet is taken as a string literal, so
the index is filled with that constant and, once the column is added, lookups through it miss every row
(``PRAGMA integrity_check`` reports the missing entries); PostgreSQL refuses the index outright.

The whole migration runs under a lock, so masters starting at once take turns instead of racing on
``CREATE INDEX``: MySQL ``GET_LOCK``, a PostgreSQL advisory lock held by the migration's transaction, an
exclusive transaction on SQLite. Each step re-reads the schema inside the lock, so the second master finds
the work done.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator, Mapping, Sequence

from peewee import Database, Field, Index, MySQLDatabase, PostgresqlDatabase, SqliteDatabase
from playhouse.migrate import SchemaMigrator
from playhouse.pwasyncio import AsyncModel

from oneapi.db.connect import Databases
from oneapi.db.models import LOG_MODELS, MAIN_MODELS, POSTGRES_ONLY_INDEXES, Log

logger = logging.getLogger(__name__)

LOCK_NAME = "oneapi.migrate"
LOCK_TIMEOUT_SECONDS = 300  # another master's migration of a large logs table can take a while


class MigrationLockTimeout(RuntimeError):
    """Another master held the migration lock for longer than LOCK_TIMEOUT_SECONDS."""


@contextlib.contextmanager
def migration_lock(db: Database) -> Iterator[None]:
    """Hold the database-wide migration lock (and, where DDL is transactional, one transaction) while inside."""
    if isinstance(db, PostgresqlDatabase):
        with db.atomic():
            db.execute_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'")
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(LOCK_NAME.encode()),))
            yield
    elif isinstance(db, MySQLDatabase):
        name = f"{LOCK_NAME}.{db.database}"[:64]  # GET_LOCK names are server-wide: one per database
        (acquired,) = db.execute_sql("SELECT GET_LOCK(%s, %s)", (name, LOCK_TIMEOUT_SECONDS)).fetchone()
        if acquired != 1:
            raise MigrationLockTimeout(f"another node held the migration lock {name!r} for too long")
        try:
            yield
        finally:
            db.execute_sql("SELECT RELEASE_LOCK(%s)", (name,))
    elif isinstance(db, SqliteDatabase):
        with db.atomic("EXCLUSIVE"):
            yield
    else:
        raise TypeError(f"unsupported database {type(db).__name__}")


def _nullable(field: Field) -> Field:
    """Added columns are nullable, as GORM adds them (a NOT NULL would make SQLite rebuild the table); old rows
    read back NULL, which the code treats as the default."""
    clone = field.clone()
    clone.null = True
    return clone


def _create_or_complete_table(db: Database, migrator: SchemaMigrator, model: type[AsyncModel]) -> None:
    table = model._meta.table_name
    if not db.table_exists(table):
        logger.info("creating table %s", table)
        # peewee's stubs omit Model._schema (ModelBase sets it) and Index._name.
        model._schema.create_table(safe=True)  # type: ignore[attr-defined]  # the table only: indexes come last
        return
    existing = {column.name for column in db.get_columns(table)}
    missing = [f for f in model._meta.sorted_fields if f.column_name not in existing]
    if missing:
        logger.info("adding columns to %s: %s", table, [f.column_name for f in missing])
    for field in missing:
        migrator.add_column(table, field.column_name, _nullable(field)).run()


def index_names(db: Database, table: str) -> set[str]:
    """Names of ``table``'s indexes (peewee's PostgreSQL ``get_indexes`` fails under asyncpg)."""
    if isinstance(db, PostgresqlDatabase):
        cursor = db.execute_sql("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                                "AND tablename = %s", (table,))
        return {name for (name,) in cursor.fetchall()}
    return {index.name for index in db.get_indexes(table)}


def _create_missing_indexes(db: Database, model: type[AsyncModel]) -> None:
    """Create the model's indexes that are absent by name (MySQL has no CREATE INDEX IF NOT EXISTS)."""
    table = model._meta.table_name
    existing = index_names(db, table)
    # peewee's stubs omit Index._name and Model._schema (ModelBase sets it).
    postgres = isinstance(db, PostgresqlDatabase)
    missing = [i for i in model._meta.fields_to_index()
               if isinstance(i, Index) and i._name not in existing  # type: ignore[attr-defined]
               and (postgres or i._name not in POSTGRES_ONLY_INDEXES)]  # type: ignore[attr-defined]
    if missing:
        logger.info("creating indexes on %s: %s", table, [index._name for index in missing])  # type: ignore[attr-defined]
    for index in missing:
        db.execute(model._schema._create_index(index, safe=False))  # type: ignore[attr-defined]


def migrate_models(db: Database, models: Sequence[type[AsyncModel]],
                   obsolete_indexes: Mapping[str, Sequence[str]] | None = None) -> None:
    """Bring ``models``' tables in ``db`` up to date: tables, then columns, then indexes, under the lock; and
    drop ``obsolete_indexes`` ({table: index names}, ours only) where they exist."""
    with migration_lock(db):
        migrator = SchemaMigrator.from_database(db)
        for model in models:
            _create_or_complete_table(db, migrator, model)
        for model in models:
            _create_missing_indexes(db, model)
        for table, names in (obsolete_indexes or {}).items():
            for name in sorted(set(names) & index_names(db, table)):
                logger.info("dropping the index %s of %s, which nothing reads any more", name, table)
                migrator.drop_index(table, name).run()


async def migrate_schema(dbs: Databases) -> None:
    """Migrate the main database and the log database (one pass when they are the same)."""
    postgres = isinstance(dbs.logs, PostgresqlDatabase)
    obsolete = {} if postgres else {Log._meta.table_name: sorted(POSTGRES_ONLY_INDEXES)}
    if dbs.logs is dbs.main:
        await dbs.main.run(migrate_models, dbs.main, (*MAIN_MODELS, *LOG_MODELS), obsolete)
    else:
        await dbs.main.run(migrate_models, dbs.main, MAIN_MODELS)
        await dbs.logs.run(migrate_models, dbs.logs, LOG_MODELS, obsolete)
    await dbs.release()
