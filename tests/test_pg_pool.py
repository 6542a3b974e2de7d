"""The PostgreSQL pool pings an idle connection only when it was not used a moment ago."""

from __future__ import annotations

from collections.abc import Iterator

import peewee as pw
import psycopg2
import pytest
from conftest import PG_URL

from bench.statements import StatementCounter
from models import make_database
from pg_db import ALIVE_BYPASS_SECONDS, RecentlyUsedPool, numbered

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set")


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def pool() -> Iterator[tuple[RecentlyUsedPool, Ticks, StatementCounter]]:
    """A pool on the test database with a clock the test moves, counting what it sends."""
    ticks = Ticks()
    template = make_database(PG_URL)
    assert isinstance(template, RecentlyUsedPool)  # what the bot gets from its DATABASE_URL
    database = RecentlyUsedPool(template.database, clock=ticks, **template.connect_params,
                                max_connections=4)
    with StatementCounter() as counter:
        yield database, ticks, counter
    database.close_all()


def checkout(database: RecentlyUsedPool, counter: StatementCounter) -> list[str]:
    """Take a connection from the pool, run one query, give it back; what the server got."""
    counter.reset()
    database.connect()
    database.execute_sql("SELECT 2")
    database.close()
    return counter.log


def test_a_connection_returned_within_the_window_is_handed_out_without_a_ping(pool):
    database, ticks, counter = pool
    checkout(database, counter)  # a new connection: nothing to ping
    ticks.value += ALIVE_BYPASS_SECONDS * 0.9
    assert checkout(database, counter) == ["SELECT 2"]


def test_an_older_idle_connection_is_pinged_first(pool):
    database, ticks, counter = pool
    checkout(database, counter)
    ticks.value += ALIVE_BYPASS_SECONDS
    assert checkout(database, counter) == ["SELECT 1", "SELECT 2"]
    # The check-in just now restarts the window.
    assert checkout(database, counter) == ["SELECT 2"]


def test_a_connection_the_driver_knows_is_closed_is_replaced(pool):
    database, _, counter = pool
    checkout(database, counter)
    first = database._connections[0][2]
    first.close()  # e.g. the server ended it and the driver noticed
    assert checkout(database, counter) == ["SELECT 2"]
    assert database._connections[0][2] is not first
    assert first.closed


def test_a_connection_left_in_a_transaction_is_rolled_back_before_reuse(pool):
    database, _, counter = pool
    database.connect()
    conn = database.connection()
    database.close()
    cursor = conn.cursor()
    cursor.execute("BEGIN")
    cursor.execute("CREATE TEMP TABLE left_behind (x int)")
    assert checkout(database, counter) == ["ROLLBACK", "SELECT 2"]
    assert database._connections[0][2] is conn
    cursor.execute("SELECT to_regclass('pg_temp.left_behind')")
    assert cursor.fetchone() == (None,)  # rolled back, not committed


def terminate(pid: int) -> None:
    """End a server process, as a server restart does."""
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()


def test_a_connection_the_server_dropped_is_replaced_and_the_statement_sent_again(pool, caplog):
    database, _, counter = pool
    checkout(database, counter)
    old = database._connections[0][2]
    terminate(old.get_backend_pid())
    # Sent on the dead connection (it fails there), then again on a new one.
    assert checkout(database, counter) == ["SELECT 2", "SELECT 2"]
    assert old.closed
    assert [conn for _, _, conn in database._connections] != [old]
    assert "connecting again" in caplog.text


def test_only_the_first_statement_after_an_unpinged_checkout_is_sent_again(pool):
    database, _, counter = pool
    checkout(database, counter)
    database.connect()
    database.execute_sql("SELECT 2")
    terminate(database.connection().get_backend_pid())
    with pytest.raises(pw.OperationalError):
        database.execute_sql("SELECT 3")  # what the update did before may be lost: no retry
    database.close()


def prepared(database: RecentlyUsedPool, counter: StatementCounter, value: int) -> tuple:
    """Run one server-side prepared statement on a checked-out connection: (rows, sent)."""
    counter.reset()
    database.connect()
    rows = database.execute_prepared("SELECT %s + 1", [value]).fetchall()
    database.close()
    return rows, [" ".join(sql.split()) for sql in counter.log]


def test_a_statement_is_prepared_once_per_connection(pool):
    database, ticks, counter = pool
    rows, sent = prepared(database, counter, 41)
    name = sent[0].split()[1]
    assert (rows, sent) == ([(42,)], [f"PREPARE {name} (bigint) AS SELECT $1 + 1; EXECUTE "
                                      f"{name}(%s)"])
    ticks.value += ALIVE_BYPASS_SECONDS * 0.5
    assert prepared(database, counter, 1) == ([(2,)], [f"EXECUTE {name}(%s)"])
    other = RecentlyUsedPool(database.database, **database.connect_params, max_connections=1)
    try:  # another pool's connection has prepared nothing
        other.connect()
        assert other.execute_prepared("SELECT %s + 1", [5]).fetchall() == [(6,)]
    finally:
        other.close_all()


def test_a_prepared_statement_survives_the_server_dropping_its_connection(pool, caplog):
    database, ticks, counter = pool
    name = prepared(database, counter, 1)[1][0].split()[1]
    terminate(database._connections[0][2].get_backend_pid())
    ticks.value += ALIVE_BYPASS_SECONDS * 0.5  # handed out unpinged: the first send fails
    rows, sent = prepared(database, counter, 9)
    assert rows == [(10,)] and "connecting again" in caplog.text
    assert sent == [f"EXECUTE {name}(%s)", f"EXECUTE {name}(%s)",
                    f"PREPARE {name} (bigint) AS SELECT $1 + 1; EXECUTE {name}(%s)"]
    assert prepared(database, counter, 2) == ([(3,)], [f"EXECUTE {name}(%s)"])


def test_integers_are_bigints_to_an_int4_column_and_beyond_64_bits_go_unprepared(pool):
    database, _, counter = pool
    counter.reset()
    database.connect()
    sql = "SELECT count(*) FROM pg_class WHERE relpages = %s AND relname <> %s"  # int4 column
    for value in (2**31, 7_000_000_000, 2**63 - 1, -(2**63)):  # beyond int4: a Telegram id
        assert database.execute_prepared(sql, [value, "x"]).fetchone() == (0,)
    assert database.execute_prepared(sql, [10**20, "x"]).fetchone() == (0,)
    database.close()
    assert counter.log[0].startswith("PREPARE devtrack_") and "(bigint, unknown)" in counter.log[0]
    assert all(sql.startswith("EXECUTE devtrack_") for sql in counter.log[1:4])
    assert counter.log[4] == sql  # no bigint holds 10^20


def test_placeholders_are_numbered_in_order():
    assert numbered("SELECT %s, %s FROM t WHERE a = %s") == "SELECT $1, $2 FROM t WHERE a = $3"
    assert numbered("SELECT 1") == "SELECT 1"


@pytest.fixture
def scratch(pool):
    """The pool with an empty table `scratch (id int primary key)` (dropped afterwards)."""
    database, _, counter = pool
    database.execute_sql("CREATE TABLE IF NOT EXISTS scratch (id int PRIMARY KEY)")
    database.execute_sql("TRUNCATE scratch")
    counter.reset()
    yield database, counter
    database.execute_sql("DROP TABLE scratch")


def scratch_ids(database: RecentlyUsedPool) -> list[int]:
    """What the scratch table holds, by id."""
    return [i for i, in database.execute_sql("SELECT id FROM scratch ORDER BY id").fetchall()]


def test_a_transaction_sends_its_begin_with_its_first_statement(scratch):
    database, counter = scratch
    with database.atomic():
        database.execute_sql("INSERT INTO scratch VALUES (1)")
        database.execute_sql("INSERT INTO scratch VALUES (2)")
    assert counter.log == ["BEGIN", "INSERT INTO scratch VALUES (1)",
                           "INSERT INTO scratch VALUES (2)", "COMMIT"]
    assert counter.round_trips == 3  # BEGIN and the first INSERT in one
    with pytest.raises(RuntimeError), database.atomic():
        database.execute_sql("INSERT INTO scratch VALUES (3)")
        raise RuntimeError("the change is refused")
    assert scratch_ids(database) == [1, 2]  # the first statement's INSERT was in the transaction


def test_a_transaction_that_sends_nothing_sends_no_begin_and_no_commit(scratch):
    database, counter = scratch
    with database.atomic():
        pass
    with pytest.raises(RuntimeError), database.atomic():
        raise RuntimeError("refused before any statement")
    assert counter.log == []
    database.execute_sql("SELECT 2")  # and the next statement is not in a transaction
    idle = psycopg2.extensions.TRANSACTION_STATUS_IDLE
    assert database.connection().get_transaction_status() == idle
    assert counter.log == ["SELECT 2"]


def test_a_raw_cursor_in_a_transaction_runs_after_its_begin(scratch):
    database, counter = scratch
    with pytest.raises(RuntimeError), database.atomic():
        database.cursor().executemany("INSERT INTO scratch VALUES (%s)", [(1,), (2,)])
        raise RuntimeError("refused after the raw inserts")
    assert counter.log[0] == "BEGIN" and counter.log[-1] == "ROLLBACK"
    assert scratch_ids(database) == []  # rolled back with the transaction
    with database.atomic():
        database.cursor().executemany("INSERT INTO scratch VALUES (%s)", [(3,)])
        database.execute_sql("INSERT INTO scratch VALUES (4)")  # BEGIN is not sent twice
    assert counter.log.count("BEGIN") == 2
    assert scratch_ids(database) == [3, 4]


def test_a_failed_first_statement_rolls_its_transaction_back(scratch):
    database, counter = scratch
    database.execute_sql("INSERT INTO scratch VALUES (1)")
    with pytest.raises(pw.IntegrityError), database.atomic():
        database.execute_sql("INSERT INTO scratch VALUES (1)")
    with database.atomic():  # a new transaction on the same connection, not an aborted one
        database.execute_sql("INSERT INTO scratch VALUES (2)")
        with database.atomic():  # a savepoint inside it
            database.execute_sql("INSERT INTO scratch VALUES (3)")
    assert scratch_ids(database) == [1, 2, 3]
    assert counter.log.count("ROLLBACK") == 1
