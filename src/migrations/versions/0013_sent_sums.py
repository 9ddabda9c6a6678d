"""What the synced records sent, summed per day and per month, kept exact by triggers on the
records table whatever writes it; so a reconciliation reads a few thousand sums instead of
unnesting every synced record's `sent` JSON.

A record counts when state = 'synced', kind != 'corrections' and its `sent` has a date (JSON
null has none); 'draft' when xero_status is DRAFT or SUBMITTED, else 'posted'. Each line is
rounded to cents as reconciliation always summed it. Two sums:

- accounts_sync_sent_line_sums: per (doc_type, state, account, tracking), net and tax;
- accounts_sync_sent_contact_sums: per (doc_type, state, contact, contact_name), net + tax;

each per day (`period` the sent date as written) and per month (its first seven characters),
with `lines` counting the lines summed (a group whose lines all left keeps 0 and is not read).

SQLite (one writer at a time): row triggers add to the sums in the writing statement.
PostgreSQL: statement triggers (transition tables: a batch of records written in one statement
is one aggregate) only APPEND signed rows to accounts_sync_sent_deltas, which no two writers
ever share, so concurrent runs neither wait for nor deadlock on each other; a reader folds the
deltas into the sums (its own short transaction, one folder at a time) and reads sums plus any
deltas left, in one snapshot. TRUNCATE of the records empties the sums and deltas too.

The sums of the records already synced are taken here, once.

Revision ID: 0013
Revises: 0012
"""

# Only this file's own constant names and fragments are formatted into the SQL.
# ruff: noqa: S608
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None

RECORDS = "accounts_sync_sync_records"
LINES = "accounts_sync_sent_line_sums"
CONTACTS = "accounts_sync_sent_contact_sums"
DELTAS = "accounts_sync_sent_deltas"
LINE_KEY = ("doc_type", "st", "account", "tracking")
CONTACT_KEY = ("doc_type", "st", "contact", "contact_name")
DELTA_KEY = ("day", "doc_type", "st", "account", "tracking", "contact", "contact_name")
COUNTED = "{r}.state = 'synced' AND {r}.kind <> 'corrections' AND {r}.sent IS NOT NULL"
STATE = "CASE WHEN {r}.xero_status IN ('DRAFT', 'SUBMITTED') THEN 'draft' ELSE 'posted' END"


# --------------------------------------------------------------------------------- SQLite

def _sqlite_lines(r: str, source: str = "") -> str:
    """One row per line of record `r` (NEW or OLD, or rows of `source`), in the same terms as
    the reading query always used (json_extract, cents rounded from REAL)."""
    return (
        f"SELECT json_extract({r}.sent, '$.date') AS day, "
        f"COALESCE(json_extract({r}.sent, '$.type'), '') AS doc_type, "
        f"{STATE.format(r=r)} AS st, "
        f"COALESCE(json_extract(l.value, '$[0]'), '') AS account, "
        f"COALESCE(json_extract(l.value, '$[4]'), '') AS tracking, "
        f"COALESCE(json_extract({r}.sent, '$.contact'), '') AS contact, "
        f"COALESCE(json_extract({r}.sent, '$.contact_name'), '') AS contact_name, "
        f"CAST(ROUND(CAST(json_extract(l.value, '$[1]') AS REAL) * 100) AS INTEGER) AS net, "
        f"CAST(ROUND(CAST(json_extract(l.value, '$[2]') AS REAL) * 100) AS INTEGER) AS tax "
        f"FROM {source}json_each({r}.sent, '$.lines') AS l "
        f"WHERE {COUNTED.format(r=r)} AND json_extract({r}.sent, '$.date') IS NOT NULL"
    )


def _sqlite_add(r: str, sign: int) -> list[str]:
    """Statements adding (sign 1) or taking away (-1) record `r`'s lines, per day and month:
    each line upserted as it comes (SQLite applies an upsert row by row, so lines sharing a
    key need no GROUP BY, whose sort costs more than it saves), and the record's one contact
    total at once (an aggregate without GROUP BY: one row, none when it has no line)."""
    rows = _sqlite_lines(r)
    out = []
    for grain, period in (("day", "x.day"), ("month", "substr(x.day, 1, 7)")):
        key = ", ".join(LINE_KEY)
        out.append(
            f"INSERT INTO {LINES} (grain, period, {key}, lines, net, tax) "
            f"SELECT '{grain}', {period}, {', '.join(f'x.{k}' for k in LINE_KEY)}, {sign}, "
            f"{sign} * COALESCE(x.net, 0), {sign} * COALESCE(x.tax, 0) FROM ({rows}) AS x "
            f"WHERE true ON CONFLICT (grain, period, {key}) DO UPDATE SET "
            f"lines = lines + excluded.lines, net = net + excluded.net, "
            f"tax = tax + excluded.tax;")
        key = ", ".join(CONTACT_KEY)
        out.append(
            f"INSERT INTO {CONTACTS} (grain, period, {key}, lines, total) "
            f"SELECT '{grain}', MAX({period}), {', '.join(f'MAX(x.{k})' for k in CONTACT_KEY)}, "
            f"{sign} * COUNT(*), {sign} * COALESCE(SUM(x.net + x.tax), 0) FROM ({rows}) AS x "
            f"WHERE true HAVING COUNT(*) > 0 ON CONFLICT (grain, period, {key}) DO UPDATE SET "
            f"lines = lines + excluded.lines, total = total + excluded.total;")
    return out


def _sqlite_relevant_change() -> str:
    return (f"(({COUNTED.format(r='OLD')}) OR ({COUNTED.format(r='NEW')})) AND ("
            f"OLD.state IS NOT NEW.state OR OLD.kind IS NOT NEW.kind "
            f"OR OLD.sent IS NOT NEW.sent "
            f"OR {STATE.format(r='OLD')} IS NOT {STATE.format(r='NEW')})")


def _sqlite_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER accounts_sync_sent_sums_insert AFTER INSERT ON {RECORDS} "
        f"WHEN {COUNTED.format(r='NEW')} BEGIN {' '.join(_sqlite_add('NEW', 1))} END",
        f"CREATE TRIGGER accounts_sync_sent_sums_update "
        f"AFTER UPDATE OF state, kind, sent, xero_status ON {RECORDS} "
        f"WHEN {_sqlite_relevant_change()} BEGIN "
        f"{' '.join(_sqlite_add('OLD', -1) + _sqlite_add('NEW', 1))} END",
        f"CREATE TRIGGER accounts_sync_sent_sums_delete AFTER DELETE ON {RECORDS} "
        f"WHEN {COUNTED.format(r='OLD')} BEGIN {' '.join(_sqlite_add('OLD', -1))} END",
    ]


# ----------------------------------------------------------------------------- PostgreSQL

def _postgresql_deltas(changed: str) -> str:
    """INSERT into the deltas of `changed` (rows: sign, s jsonb, xero_status), aggregated.
    MATERIALIZED: each record's JSON is made jsonb once, not once per line and field."""
    net = "ROUND((l.value->>1)::numeric * 100)::bigint"
    tax = "ROUND((l.value->>2)::numeric * 100)::bigint"
    return (
        f"WITH c AS MATERIALIZED ({changed}) "
        f"INSERT INTO {DELTAS} ({', '.join(DELTA_KEY)}, lines, net, tax) "
        f"SELECT c.s->>'date', COALESCE(c.s->>'type', ''), {STATE.format(r='c')}, "
        f"COALESCE(l.value->>0, ''), COALESCE((l.value->4)::text, ''), "
        f"COALESCE(c.s->>'contact', ''), COALESCE(c.s->>'contact_name', ''), "
        f"SUM(c.sign), COALESCE(SUM(c.sign * {net}), 0), COALESCE(SUM(c.sign * {tax}), 0) "
        f"FROM c CROSS JOIN LATERAL jsonb_array_elements("
        f"CASE WHEN jsonb_typeof(c.s->'lines') = 'array' THEN c.s->'lines' END) AS l(value) "
        f"WHERE c.s->>'date' IS NOT NULL "
        f"GROUP BY 1, 2, 3, 4, 5, 6, 7 "
        f"HAVING SUM(c.sign) <> 0 OR COALESCE(SUM(c.sign * {net}), 0) <> 0 "
        f"OR COALESCE(SUM(c.sign * {tax}), 0) <> 0"
    )


def _postgresql_rows(table: str, sign: int) -> str:
    return (f"SELECT {sign} AS sign, r.sent::jsonb AS s, r.xero_status FROM {table} AS r "
            f"WHERE {COUNTED.format(r='r')}")


def _postgresql_functions() -> list[str]:
    # An update: the rows whose part in the sums may have changed, before (-1) and after (1),
    # matched by id (a hash join of the two transition tables).
    counted_o, counted_n = COUNTED.format(r="o"), COUNTED.format(r="n")
    update = (
        f"SELECT v.sign, v.s, v.xero_status FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id "
        f"CROSS JOIN LATERAL (VALUES "
        f"(-1, CASE WHEN {counted_o} THEN o.sent::jsonb END, o.xero_status), "
        f"(1, CASE WHEN {counted_n} THEN n.sent::jsonb END, n.xero_status)) "
        f"AS v(sign, s, xero_status) "
        f"WHERE (({counted_o}) OR ({counted_n})) AND (o.state <> n.state OR o.kind <> n.kind "
        f"OR {STATE.format(r='o')} <> {STATE.format(r='n')} "
        f"OR o.sent::text IS DISTINCT FROM n.sent::text) AND v.s IS NOT NULL")
    bodies = {
        "inserted": _postgresql_deltas(_postgresql_rows("new_rows", 1)),
        "updated": _postgresql_deltas(update),
        "deleted": _postgresql_deltas(_postgresql_rows("old_rows", -1)),
        # TRUNCATE takes the records' table whole (no writer is left in it). The lock waits
        # for a fold under way to end (and holds off the next), then the sums are emptied:
        # DELETE, as a TRUNCATE naming the sums too (bench/datasets.reset_plugin_state) may
        # have them open in this very statement, where a TRUNCATE of them is refused.
        "truncated": f"LOCK TABLE {LINES}, {CONTACTS}, {DELTAS} IN ACCESS EXCLUSIVE MODE; "
                     f"DELETE FROM {LINES}; DELETE FROM {CONTACTS}; DELETE FROM {DELTAS}",
    }
    return [
        f"CREATE FUNCTION accounts_sync_sent_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body}; RETURN NULL; END $$"
        for name, body in bodies.items()
    ]


def _postgresql_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER accounts_sync_sent_sums_insert AFTER INSERT ON {RECORDS} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION accounts_sync_sent_inserted()",
        f"CREATE TRIGGER accounts_sync_sent_sums_update AFTER UPDATE ON {RECORDS} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION accounts_sync_sent_updated()",
        f"CREATE TRIGGER accounts_sync_sent_sums_delete AFTER DELETE ON {RECORDS} "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION accounts_sync_sent_deleted()",
        f"CREATE TRIGGER accounts_sync_sent_sums_truncate AFTER TRUNCATE ON {RECORDS} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION accounts_sync_sent_truncated()",
    ]


# ------------------------------------------------------------------------------- both

def _fill(postgresql: bool) -> list[str]:
    """The sums of every record as it stands (the migration's one full read)."""
    if postgresql:
        # Through the deltas, then folded: one statement per table from the same rows.
        return [
            _postgresql_deltas(_postgresql_rows(RECORDS, 1)),
            *_postgresql_fold(),
        ]
    rows = _sqlite_lines("r", f"{RECORDS} AS r, ")
    out = []
    for table, key, sums in ((LINES, LINE_KEY, ("SUM(x.net)", "SUM(x.tax)")),
                             (CONTACTS, CONTACT_KEY, ("SUM(x.net + x.tax)",))):
        names = ("net", "tax") if table == LINES else ("total",)
        for grain, period in (("day", "x.day"), ("month", "substr(x.day, 1, 7)")):
            out.append(
                f"INSERT INTO {table} (grain, period, {', '.join(key)}, lines, "
                f"{', '.join(names)}) SELECT '{grain}', {period}, "
                f"{', '.join(f'x.{k}' for k in key)}, COUNT(*), "
                f"{', '.join(f'COALESCE({s}, 0)' for s in sums)} FROM ({rows}) AS x "
                f"GROUP BY {period}, {', '.join(f'x.{k}' for k in key)}")
    return out


def _postgresql_fold() -> list[str]:
    """Deltas into the sums, in one statement (as sqlalchemy_reconciliation folds them)."""
    period = "CASE g.grain WHEN 'day' THEN d.day ELSE substr(d.day, 1, 7) END"
    line_key, contact_key = ", ".join(LINE_KEY), ", ".join(CONTACT_KEY)
    return [
        f"WITH d AS (DELETE FROM {DELTAS} RETURNING {', '.join(DELTA_KEY)}, lines, net, tax), "
        f"g AS (SELECT {period} AS period, g.grain, d.* FROM d "
        f"CROSS JOIN (VALUES ('day'), ('month')) AS g(grain)), "
        f"l AS (INSERT INTO {LINES} (grain, period, {line_key}, lines, net, tax) "
        f"SELECT grain, period, {line_key}, SUM(lines), SUM(net), SUM(tax) FROM g "
        f"GROUP BY grain, period, {line_key} "
        f"ON CONFLICT (grain, period, {line_key}) DO UPDATE SET "
        f"lines = {LINES}.lines + excluded.lines, net = {LINES}.net + excluded.net, "
        f"tax = {LINES}.tax + excluded.tax) "
        f"INSERT INTO {CONTACTS} (grain, period, {contact_key}, lines, total) "
        f"SELECT grain, period, {contact_key}, SUM(lines), SUM(net + tax) FROM g "
        f"GROUP BY grain, period, {contact_key} "
        f"ON CONFLICT (grain, period, {contact_key}) DO UPDATE SET "
        f"lines = {CONTACTS}.lines + excluded.lines, total = {CONTACTS}.total + excluded.total"
    ]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    text_key = sa.Text()
    for table, key, sums in ((LINES, LINE_KEY, ("net", "tax")),
                             (CONTACTS, CONTACT_KEY, ("total",))):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("grain", sa.String(5), nullable=False),
            sa.Column("period", sa.Text(), nullable=False),
            *(sa.Column(k, text_key, nullable=False) for k in key),
            sa.Column("lines", sa.Integer(), nullable=False),
            *(sa.Column(s, sa.BigInteger(), nullable=False) for s in sums),
            sa.UniqueConstraint("grain", "period", *key, name=f"uq_{table}_grain"),
        )
    op.create_table(
        DELTAS,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        *(sa.Column(k, text_key, nullable=False) for k in DELTA_KEY),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
    )
    if postgresql:
        for statement in _postgresql_functions() + _postgresql_triggers():
            op.execute(statement)
    else:
        for statement in _sqlite_triggers():
            op.execute(statement)
    for statement in _fill(postgresql):
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in ("insert", "update", "delete", "truncate"):
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS accounts_sync_sent_sums_{name} ON {RECORDS}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS accounts_sync_sent_sums_{name}")
    if postgresql:
        for name in ("inserted", "updated", "deleted", "truncated"):
            op.execute(f"DROP FUNCTION IF EXISTS accounts_sync_sent_{name}()")
    op.drop_table(DELTAS)
    op.drop_table(CONTACTS)
    op.drop_table(LINES)
