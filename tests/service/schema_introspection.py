"""Reads a migrated database's schema into a dialect-neutral description for comparison."""

from __future__ import annotations

import sqlite3

import asyncpg

from service.db import sqlite_path

# Storage types reduced to what the application relies on.
_FAMILIES = {
    "integer": "int",
    "int": "int",
    "bigint": "int",
    "smallint": "int",
    "varchar": "text",
    "character varying": "text",
    "text": "text",
    "timestamp": "datetime",
    "timestamp with time zone": "datetime",
    # SQLite has no boolean storage class (Tortoise declares INT there), so both count as int.
    "bool": "int",
    "boolean": "int",
    "jsonb": "json",
    "json": "json",
}


def _family(declared: str) -> str:
    base = declared.lower().split("(")[0].strip()
    return _FAMILIES.get(base, base)


def _default(value: str | None) -> str | None:
    if value is None or value.startswith("nextval("):
        return None  # autoincrement is compared through the primary key
    return value.strip("'").split("::")[0].strip("'")


def sqlite_schema(url: str) -> dict:
    with sqlite3.connect(sqlite_path(url)) as conn:
        tables = sorted(
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        )
        schema = {}
        for table in tables:
            columns = {
                name: {
                    "type": _family(decl),
                    "nullable": not notnull and not pk,
                    "default": _default(default),
                    "pk": bool(pk),
                }
                for _, name, decl, notnull, default, pk in conn.execute(f'PRAGMA table_info("{table}")')
            }
            indexes, uniques = {}, set()
            for _, name, unique, origin, _partial in conn.execute(f'PRAGMA index_list("{table}")'):
                cols = tuple(r[2] for r in conn.execute(f'PRAGMA index_info("{name}")'))
                if origin == "c":
                    indexes[name] = {"columns": cols, "unique": bool(unique)}
                elif origin == "u":
                    uniques.add(cols)
            fks = {
                (r[3], r[2], r[4], r[6].upper()) for r in conn.execute(f'PRAGMA foreign_key_list("{table}")')
            }
            schema[table] = {"columns": columns, "indexes": indexes, "unique": uniques, "fks": fks}
        return schema


async def postgres_schema(url: str) -> dict:
    conn = await asyncpg.connect(url)
    try:
        schema = {}
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY tablename"
            )
        ]
        for table in tables:
            pk_cols = {
                r["attname"]
                for r in await conn.fetch(
                    """SELECT a.attname FROM pg_index i JOIN pg_attribute a
                   ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                   WHERE i.indrelid = $1::regclass AND i.indisprimary""",
                    table,
                )
            }
            columns = {
                r["column_name"]: {
                    "type": _family(r["data_type"]),
                    "nullable": r["is_nullable"] == "YES",
                    "default": _default(r["column_default"]),
                    "pk": r["column_name"] in pk_cols,
                }
                for r in await conn.fetch(
                    """SELECT column_name, data_type, is_nullable, column_default
                       FROM information_schema.columns WHERE table_name = $1""",
                    table,
                )
            }
            constraint_index = {
                r["conname"]
                for r in await conn.fetch(
                    "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass", table
                )
            }
            indexes, uniques = {}, set()
            for r in await conn.fetch(
                """SELECT c.relname AS name, i.indisunique AS uniq, i.indisprimary AS prim,
                          ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                                ORDER BY k.o) AS cols
                   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE i.indrelid = $1::regclass""",
                table,
            ):
                if r["prim"]:
                    continue
                if r["name"] in constraint_index:
                    uniques.add(tuple(r["cols"]))
                else:
                    indexes[r["name"]] = {"columns": tuple(r["cols"]), "unique": r["uniq"]}
            fks = {
                (r["col"], r["ref_table"], r["ref_col"], r["on_delete"])
                for r in await conn.fetch(
                    """SELECT kcu.column_name AS col, ccu.table_name AS ref_table,
                              ccu.column_name AS ref_col, rc.delete_rule AS on_delete
                       FROM information_schema.referential_constraints rc
                       JOIN information_schema.key_column_usage kcu
                         ON kcu.constraint_name = rc.constraint_name
                       JOIN information_schema.constraint_column_usage ccu
                         ON ccu.constraint_name = rc.constraint_name
                       WHERE kcu.table_name = $1""",
                    table,
                )
            }
            schema[table] = {"columns": columns, "indexes": indexes, "unique": uniques, "fks": fks}
        return schema
    finally:
        await conn.close()
