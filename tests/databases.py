"""Fresh databases for tests: SQLite files and PostgreSQL databases cloned from a migrated template."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from pathlib import Path

import asyncpg

from difychat.server.store import db

POSTGRES_ADMIN_URL = os.environ.get("DIFYCHAT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_counter = itertools.count()


def _asyncpg_url(database: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


def sqlalchemy_url(database: str) -> str:
    return _asyncpg_url(database).replace("postgresql://", "postgresql+asyncpg://", 1)


async def postgres_available() -> bool:
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


class PostgresDatabases:
    """Migrates one template database, then hands out clones of it (fast: no migrations per test)."""

    def __init__(self) -> None:
        self.prefix = f"difychat_test_{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self._created: list[str] = []

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def prepare(self) -> None:
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{self.template}"'))
        asyncio.run(self._execute(f'CREATE DATABASE "{self.template}"'))
        db.upgrade(sqlalchemy_url(self.template))

    async def create(self) -> str:
        name = f"{self.prefix}_{next(_counter)}"
        await self._execute(f'DROP DATABASE IF EXISTS "{name}"')
        await self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self._created.append(name)
        return sqlalchemy_url(name)

    async def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def cleanup(self) -> None:
        async def run() -> None:
            for name in [*self._created, self.template]:
                await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        asyncio.run(run())


class SqliteDatabases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"

    def prepare(self) -> None:
        db.upgrade(f"sqlite+aiosqlite:///{self.template}")

    def create(self, directory: Path) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / "difychat.db"
        shutil.copyfile(self.template, target)
        return f"sqlite+aiosqlite:///{target}"
