"""The ledger: what happened to every file, chunk and drop. The only writer of those tables.

Every transition is one conditional UPDATE that checks the current state (and, for work in
progress, the lease holder) and says whether it won, so two processes never both own one file and
a late or repeated message changes nothing.

Invariants (each test in ``tests/store/test_ledger.py`` and the crash-point tests tries to break
one):

1. **Bytes before claims.** A row of a watched file (``moves``) in ``queued``, ``processing``,
   ``split`` or ``stored`` has its bytes at ``path`` (``work/<sha256>``): the watcher copies the
   file there first and commits the claim after. A crash between the two leaves a copy without a
   row, which the next take of the same inbox file claims, or the start-up sweep removes.
2. **One drop per arrival.** A drop records the inbox file's identity (device, inode, size,
   mtime): the same file taken again after a crash resumes its drop (and its recorded
   destination) instead of making a second one.
3. **Leases are heartbeats.** ``processing`` and ``stored`` rows, and ``processing`` chunks, have
   a holder (``task_id``) and a ``lease_until`` that the holder renews while it works. Anyone may
   take over a row whose lease ran out; the holder's own retry (same task id, higher retry
   number) may take it back at once.
4. **Attempts count crashes, not retries.** ``attempts`` grows when work starts or is taken over
   from a holder that did not hand it back; a clean hand-back (``release``, after a transient or
   configuration error) gives the attempt back. A file that reaches ``max_attempts`` is the
   driver's to quarantine.
5. **The last chunk finishes the file.** The publish that stores a split file's last chunk flips
   the file ``split → stored`` in the same transaction and makes its own task the file's holder,
   with a lease: a crash before the move leaves a lease that runs out, not a stuck row.
6. **Destinations are chosen once.** ``final_path`` and a duplicate drop's ``destination`` are set
   only while empty; a retried move goes to the same place.
7. **Final states.** ``done`` is final; ``failed`` leaves only through ``requeue`` (a user's fix).
8. **Re-sends back off per row.** The reconciler sends a row again only when its ``next_send_at``
   has come, doubling the wait each time; a broker that lost its messages (empty queue, work
   waiting) is answered at once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, case, func, or_, select, update
from sqlalchemy.engine import RowMapping

from worker.store.db import insert_ignore
from worker.store.schema import chunks, drops, files

FileState = Literal["queued", "processing", "split", "stored", "done", "failed"]
STATES: tuple[FileState, ...] = ("queued", "processing", "split", "stored", "done", "failed")
_LIVE = ("queued", "processing", "split", "stored")
_HELD = ("processing", "stored")

# a message the broker says it no longer has, for work not started this long after it was sent
LOST_AFTER_SECONDS = 5.0
_MAX_BACKOFF_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Literal["queued", "duplicate"]
    file: RowMapping  # the ledger row of this content (the earlier one for a duplicate)
    drop_id: int
    destination: str | None = None  # a duplicate drop's place in processed/, once chosen
    resumed: bool = False  # this inbox file was claimed before (a crash came in between)


@dataclass(frozen=True, slots=True)
class PublishCounts:
    found: int  # every sighting of an article, repeats inside the file included, and failures
    new: int
    duplicates: int
    near_duplicates: int = 0  # of the new ones: versions of a story stored before
    failed: int = 0
    unplaced: int = 0
    file_complete: bool = True  # this publish stored the file's last chunk


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """A byte range of one part of a dump that starts on an article: a unit of work."""

    number: int
    part_path: str
    part_label: str
    encoding: str
    start_offset: int
    end_offset: int | None
    first_index: int
    first_line: int
    articles: int


@dataclass(frozen=True, slots=True)
class Due:
    """What the reconciler should send again."""

    files: list[str]
    chunks: list[tuple[str, int]]


class LeaseLostError(Exception):
    """This process no longer holds the lease it worked under: another took the work over."""


class Ledger:
    """The file ledger. One per process (it shares the store's engine)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    # --- arrivals -------------------------------------------------------------------------------

    def claim(
        self,
        sha256: str,
        name: str,
        path: str,
        size: int,
        *,
        identity: str | None = None,
        moves: bool = True,
        first_send_after: float = 300.0,
        retry_failed: bool = False,
    ) -> Claim:
        """Record a drop of these bytes; the first drop of a content queues it.

        The caller has put the bytes at ``path`` already (invariant 1). An ``identity`` of a drop
        still open (its inbox entry not yet removed: ``close_drop``) resumes that drop: same
        outcome, same destination, no new row. With ``retry_failed``, bytes that failed before
        are queued again from ``path`` (dropping a file again is how a user asks for a retry).
        """
        now = self.clock()
        with self.engine.begin() as conn:
            if identity is not None:
                earlier = (
                    conn.execute(select(drops).where(drops.c.identity == identity))
                    .mappings()
                    .first()
                )
                if earlier is not None and earlier["sha256"] == sha256:
                    return Claim(
                        earlier["outcome"],
                        self._file(conn, sha256),
                        earlier["id"],
                        earlier["destination"],
                        resumed=True,
                    )
            # RETURNING, not rowcount: some drivers report -1 for ON CONFLICT DO NOTHING
            inserted = conn.execute(
                insert_ignore(self.engine, files)
                .values(
                    sha256=sha256,
                    name=name,
                    path=path,
                    size=size,
                    state="queued",
                    attempts=0,
                    task_retries=0,
                    sends=0,
                    enqueued_at=now,
                    next_send_at=now + first_send_after,
                    created_at=now,
                    updated_at=now,
                    moves=int(moves),
                )
                .returning(files.c.sha256)
            ).first()
            outcome: Literal["queued", "duplicate"] = "queued" if inserted else "duplicate"
            if not inserted and retry_failed and moves:
                retried = conn.execute(
                    update(files)
                    .where(files.c.sha256 == sha256, files.c.state == "failed")
                    .values(
                        **self._requeued(now, first_send_after),
                        path=path,
                        name=name,
                        moves=1,
                    )
                ).rowcount
                if retried:
                    self._requeue_chunks(conn, sha256)
                    outcome = "queued"
            if identity is not None:  # an identity reused by other bytes: the file was rewritten
                conn.execute(
                    update(drops).where(drops.c.identity == identity).values(identity=None)
                )
            drop_id = conn.execute(
                drops.insert()
                .values(
                    sha256=sha256, name=name, dropped_at=now, outcome=outcome, identity=identity
                )
                .returning(drops.c.id)
            ).scalar_one()
            return Claim(outcome, self._file(conn, sha256), drop_id)

    def set_drop_destination(
        self, drop_id: int, places: str | Iterable[str], *, replacing: str | None = None
    ) -> str:
        """Where a duplicate drop goes: the first of ``places`` that no other file or drop has
        reserved, unless one was chosen before (invariant 6). ``replacing``: the earlier choice
        turned out to be taken."""
        with self.engine.begin() as conn:
            current = drops.c.destination
            condition = current.is_(None) if replacing is None else current == replacing
            chosen = conn.execute(
                select(drops.c.destination).where(drops.c.id == drop_id, condition)
            ).first()
            if chosen is not None:  # still to choose
                place = _first_free(conn, places)
                conn.execute(
                    update(drops).where(drops.c.id == drop_id, condition).values(destination=place)
                )
            return conn.execute(
                select(drops.c.destination).where(drops.c.id == drop_id)
            ).scalar_one()

    def close_drop(self, drop_id: int) -> None:
        """The drop's inbox entry is gone: its identity may belong to a later file now (an inode
        number reused, with the same size and mtime), which must be a drop of its own."""
        with self.engine.begin() as conn:
            conn.execute(update(drops).where(drops.c.id == drop_id).values(identity=None))

    def adopt(self, sha256: str, name: str, path: str, *, moves: bool) -> bool:
        """Bytes that an interrupted ``ingest`` left unfinished (its holder gone) are carried on
        from ``path``: by a watched drop (``moves``: it moves, the reconciler may send it) or by
        another ``ingest``. False while that ``ingest`` still runs."""
        now = self.clock()
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(files)
                    .where(
                        files.c.sha256 == sha256,
                        files.c.moves == 0,
                        files.c.state.in_(_LIVE),
                        or_(files.c.lease_until.is_(None), files.c.lease_until < now),
                    )
                    .values(
                        moves=int(moves),
                        name=name,
                        path=path,
                        next_send_at=now,
                        updated_at=now,
                    )
                ).rowcount
            )

    # --- reading --------------------------------------------------------------------------------

    def get_file(self, sha256: str) -> RowMapping | None:
        with self.engine.connect() as conn:
            return conn.execute(select(files).where(files.c.sha256 == sha256)).mappings().first()

    def files_in_state(self, state: FileState) -> list[RowMapping]:
        with self.engine.connect() as conn:
            query = select(files).where(files.c.state == state).order_by(files.c.updated_at)
            return list(conn.execute(query).mappings())

    def chunk_rows(self, sha256: str) -> list[RowMapping]:
        with self.engine.connect() as conn:
            query = select(chunks).where(chunks.c.sha256 == sha256).order_by(chunks.c.number)
            return list(conn.execute(query).mappings())

    @staticmethod
    def _file(conn: Connection, sha256: str) -> RowMapping:
        return conn.execute(select(files).where(files.c.sha256 == sha256)).mappings().one()

    # --- work on a file -------------------------------------------------------------------------

    def start(
        self, sha256: str, owner: str, lease_seconds: float, retries: int = 0
    ) -> RowMapping | None:
        """Take a file: ``queued → processing``, or take over ``processing``/``stored`` work whose
        lease ran out (invariant 3). None when it is done, failed, split, or held by another.

        Counts an attempt unless this is the holder's own retry (invariant 4).
        """
        now = self.clock()
        lease = {
            "task_id": owner,
            "task_retries": retries,
            "lease_until": now + lease_seconds,
            "sends": 0,
            "next_send_at": None,  # held: the reconciler looks only at the lease
            "updated_at": now,
        }
        own_retry = and_(files.c.task_id == owner, files.c.task_retries < retries)
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(files)
                .where(files.c.sha256 == sha256, files.c.state == "queued")
                .values(state="processing", attempts=files.c.attempts + 1, **lease)
            ).rowcount
            if not taken:
                takeable = or_(
                    files.c.lease_until.is_(None),
                    files.c.lease_until < now,
                    files.c.task_id == owner,
                )
                taken = conn.execute(
                    update(files)
                    .where(files.c.sha256 == sha256, files.c.state.in_(_HELD), takeable)
                    .values(
                        attempts=files.c.attempts + _unless(own_retry),
                        **lease,
                    )
                ).rowcount
            if not taken:
                return None
            return self._file(conn, sha256)

    def renew(self, sha256: str, owner: str, lease_seconds: float) -> bool:
        """The holder's heartbeat. False: the lease was lost (taken over, or the file moved on).
        A split file's lease is only a sign that its splitter (``ingest`` running its chunks)
        lives: the reconciler looks at its chunks' leases."""
        now = self.clock()
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(files)
                    .where(
                        files.c.sha256 == sha256,
                        files.c.task_id == owner,
                        files.c.state.in_((*_HELD, "split")),
                    )
                    .values(lease_until=now + lease_seconds)
                ).rowcount
            )

    def release(self, sha256: str, owner: str, retry_in: float) -> bool:
        """Hand a file back after a transient or configuration error: not a crash, so the
        attempt is given back; the reconciler sends it again in ``retry_in`` seconds."""
        now = self.clock()
        with self.engine.begin() as conn:
            released = conn.execute(
                update(files)
                .where(
                    files.c.sha256 == sha256,
                    files.c.task_id == owner,
                    files.c.state.in_(_HELD),
                )
                .values(
                    state=_case_state_released(),
                    attempts=case((files.c.attempts > 0, files.c.attempts - 1), else_=0),
                    lease_until=now,
                    next_send_at=now + retry_in,
                    enqueued_at=now + retry_in,  # its retry is on the way, due then
                    updated_at=now,
                )
            ).rowcount
        return bool(released)

    def split(
        self,
        sha256: str,
        owner: str,
        plans: Sequence[ChunkPlan],
        encoding: str,
        first_send_after: float = 300.0,
    ) -> list[RowMapping]:
        """Record a file's chunks (once: a re-run finds the same plan) and mark the file split.

        Returns the chunk rows, stored ones included.

        Raises:
            LeaseLostError: another process took the file over meanwhile.
        """
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                insert_ignore(self.engine, chunks),
                [
                    {
                        "sha256": sha256,
                        **{k: getattr(p, k) for k in ChunkPlan.__dataclass_fields__},
                        "state": "queued",
                        "attempts": 0,
                        "task_retries": 0,
                        "sends": 0,
                        "enqueued_at": now,
                        "next_send_at": now + first_send_after,
                    }
                    for p in plans
                ],
            )
            flipped = conn.execute(
                update(files)
                .where(
                    files.c.sha256 == sha256,
                    files.c.state == "processing",
                    files.c.task_id == owner,
                )
                .values(state="split", lease_until=None, encoding=encoding, updated_at=now)
            ).rowcount
            if not flipped:
                raise LeaseLostError(sha256)
            return list(
                conn.execute(
                    select(chunks).where(chunks.c.sha256 == sha256).order_by(chunks.c.number)
                ).mappings()
            )

    def mark_stored(
        self,
        conn: Connection,
        sha256: str,
        owner: str,
        counts: PublishCounts,
        encoding: str,
    ) -> None:
        """``processing → stored`` inside the publish's transaction.

        Raises:
            LeaseLostError: the holder changed: the caller's transaction must roll back.
        """
        stored = conn.execute(
            update(files)
            .where(
                files.c.sha256 == sha256,
                files.c.task_id == owner,
                files.c.state.in_(_HELD),
            )
            .values(state="stored", encoding=encoding, updated_at=self.clock(), **_counts(counts))
        ).rowcount
        if not stored:
            raise LeaseLostError(sha256)

    def choose_final_path(
        self, sha256: str, places: str | Iterable[str], *, replacing: str | None = None
    ) -> str:
        """Where the finished (or quarantined) file goes: the first of ``places`` that no other
        file or drop has reserved, unless a place was chosen before (invariant 6).
        ``replacing``: the earlier choice turned out to be taken by another file."""
        with self.engine.begin() as conn:
            current = files.c.final_path
            condition = current.is_(None) if replacing is None else current == replacing
            key = [files.c.sha256 == sha256, condition, files.c.state.in_(_LIVE)]
            if conn.execute(select(files.c.sha256).where(*key)).first() is not None:
                place = _first_free(conn, places)
                conn.execute(update(files).where(*key).values(final_path=place))
            return conn.execute(
                select(files.c.final_path).where(files.c.sha256 == sha256)
            ).scalar_one()

    def note_error(self, sha256: str, error: dict[str, Any], owner: str | None) -> bool:
        """Record why a file is being quarantined, before its bytes move: the next holder after a
        crash finishes the quarantine with the same report. False: not ours any more."""
        condition = [files.c.sha256 == sha256, files.c.state.in_(_LIVE)]
        if owner is not None:
            condition.append(or_(files.c.state.in_(("queued", "split")), files.c.task_id == owner))
        with self.engine.begin() as conn:
            return bool(conn.execute(update(files).where(*condition).values(error=error)).rowcount)

    def finish(self, sha256: str, owner: str | None) -> bool:
        """``stored → done``; ``owner`` None: whoever holds it (``ingest`` finishing in place)."""
        now = self.clock()
        condition = [files.c.sha256 == sha256, files.c.state == "stored"]
        if owner is not None:
            condition.append(files.c.task_id == owner)
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(files)
                    .where(*condition)
                    .values(state="done", lease_until=None, updated_at=now)
                ).rowcount
            )

    def fail(
        self,
        sha256: str,
        error: dict[str, Any],
        final_path: str | None,
        owner: str | None = None,
    ) -> bool:
        """Quarantine: any live state → ``failed``; with ``owner``, only while it holds the file
        (a split file is failed by whichever chunk's worker finds the problem)."""
        now = self.clock()
        condition = [files.c.sha256 == sha256, files.c.state.in_(_LIVE)]
        if owner is not None:
            condition.append(or_(files.c.state.in_(("queued", "split")), files.c.task_id == owner))
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(files)
                    .where(*condition)
                    .values(
                        state="failed",
                        error=error,
                        final_path=final_path,
                        lease_until=None,
                        updated_at=now,
                    )
                ).rowcount
            )

    def requeue(
        self, sha256: str, path: str | None = None, first_send_after: float = 300.0
    ) -> bool:
        """``failed → queued`` after a fix, attempts reset. Chunks it had stored stay stored; the
        others start again from nothing."""
        now = self.clock()
        values: dict[str, Any] = self._requeued(now, first_send_after)
        if path is not None:
            values["path"] = path
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(files)
                .where(files.c.sha256 == sha256, files.c.state == "failed")
                .values(**values)
            ).rowcount
            if changed:
                self._requeue_chunks(conn, sha256)
        return bool(changed)

    @staticmethod
    def _requeued(now: float, first_send_after: float) -> dict[str, Any]:
        return {
            "state": "queued",
            "attempts": 0,
            "error": None,
            "final_path": None,
            "lease_until": None,
            "task_id": None,
            "sends": 0,
            "enqueued_at": now,
            "next_send_at": now + first_send_after,
            "updated_at": now,
        }

    @staticmethod
    def _requeue_chunks(conn: Connection, sha256: str) -> None:
        conn.execute(
            update(chunks)
            .where(chunks.c.sha256 == sha256, chunks.c.state != "stored")
            .values(state="queued", attempts=0, lease_until=None, task_id=None, sends=0)
        )

    # --- chunks of a split file -----------------------------------------------------------------

    def start_chunk(
        self, sha256: str, number: int, owner: str, lease_seconds: float, retries: int = 0
    ) -> RowMapping | None:
        """Take a chunk, like ``start`` takes a file: None if stored or held by another."""
        now = self.clock()
        key = and_(chunks.c.sha256 == sha256, chunks.c.number == number)
        own_retry = and_(chunks.c.task_id == owner, chunks.c.task_retries < retries)
        takeable = or_(
            chunks.c.state == "queued",
            and_(
                chunks.c.state == "processing",
                or_(
                    chunks.c.lease_until.is_(None),
                    chunks.c.lease_until < now,
                    chunks.c.task_id == owner,
                ),
            ),
        )
        live = chunks.c.sha256.in_(select(files.c.sha256).where(files.c.state == "split"))
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(chunks)
                .where(key, takeable, live)
                .values(
                    state="processing",
                    # from queued: always an attempt (a hand-back gave one back); a takeover:
                    # unless it is the holder's own retry
                    attempts=chunks.c.attempts
                    + case((chunks.c.state == "queued", 1), else_=_unless(own_retry)),
                    task_id=owner,
                    task_retries=retries,
                    lease_until=now + lease_seconds,
                    sends=0,
                    next_send_at=None,
                )
            ).rowcount
            if not taken:
                return None
            return conn.execute(select(chunks).where(key)).mappings().one()

    def renew_chunk(self, sha256: str, number: int, owner: str, lease_seconds: float) -> bool:
        now = self.clock()
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(chunks)
                    .where(
                        chunks.c.sha256 == sha256,
                        chunks.c.number == number,
                        chunks.c.task_id == owner,
                        chunks.c.state == "processing",
                    )
                    .values(lease_until=now + lease_seconds)
                ).rowcount
            )

    def release_chunk(self, sha256: str, number: int, owner: str, retry_in: float) -> bool:
        now = self.clock()
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(chunks)
                    .where(
                        chunks.c.sha256 == sha256,
                        chunks.c.number == number,
                        chunks.c.task_id == owner,
                        chunks.c.state == "processing",
                    )
                    .values(
                        state="queued",
                        attempts=case((chunks.c.attempts > 0, chunks.c.attempts - 1), else_=0),
                        lease_until=None,
                        enqueued_at=now + retry_in,  # its retry is on the way, due then
                        next_send_at=now + retry_in,
                    )
                ).rowcount
            )

    def store_chunk(
        self,
        conn: Connection,
        sha256: str,
        number: int,
        owner: str,
        counts: PublishCounts,
        encoding: str,
        lease_seconds: float,
    ) -> PublishCounts:
        """Inside the publish's transaction: the chunk is stored; if it was the last one, the
        file flips ``split → stored`` held by ``owner`` (invariant 5) and the whole file's counts
        are returned with ``file_complete``.

        Raises:
            LeaseLostError: the chunk is no longer ours: roll back.
        """
        now = self.clock()
        stored = conn.execute(
            update(chunks)
            .where(
                chunks.c.sha256 == sha256,
                chunks.c.number == number,
                chunks.c.task_id == owner,
                chunks.c.state == "processing",
            )
            .values(state="stored", lease_until=None, **_counts(counts))
        ).rowcount
        if not stored:
            raise LeaseLostError(f"{sha256} chunk {number}")
        totals = conn.execute(
            select(
                func.count().filter(chunks.c.state != "stored"),
                *(
                    func.coalesce(func.sum(chunks.c[name]), 0)
                    for name in (
                        "found",
                        "new",
                        "duplicates",
                        "near_duplicates",
                        "failed",
                        "unplaced",
                    )
                ),
            ).where(chunks.c.sha256 == sha256)
        ).one()
        remaining, *sums = totals
        if remaining:
            return dataclasses.replace(counts, file_complete=False)
        whole = PublishCounts(*(int(value) for value in sums))
        flipped = conn.execute(
            update(files)
            .where(files.c.sha256 == sha256, files.c.state == "split")
            .values(
                state="stored",
                task_id=owner,
                task_retries=0,
                lease_until=now + lease_seconds,
                next_send_at=None,
                sends=0,
                encoding=encoding,
                updated_at=now,
                **_counts(whole),
            )
        ).rowcount
        return whole if flipped else dataclasses.replace(whole, file_complete=False)

    # --- the reconciler -------------------------------------------------------------------------

    def due(
        self,
        requeue_after: float,
        *,
        broker_empty: bool = False,
        lost_after: float = LOST_AFTER_SECONDS,
    ) -> Due:
        """Work to send again, each row marked as sent with its next time doubled (invariant 8).

        - held work (a file ``processing``/``stored``, a chunk ``processing``) whose lease ran
          out: its holder is gone;
        - ``queued`` work not started ``requeue_after`` after it was sent, or, when the broker
          says its queue is empty (``broker_empty``: its messages were lost), ``lost_after``
          seconds after it was sent (0 at the watcher's start: whatever was sent before may
          have died with the sender or a broker that keeps nothing).

        Files that ``ingest`` processes in place are never sent: ``ingest`` owns them.
        """
        now = self.clock()
        with self.engine.begin() as conn:
            args = (now, requeue_after, broker_empty, lost_after)
            file_rows = self._due_rows(conn, files, *args)
            chunk_rows = self._due_rows(conn, chunks, *args)
        return Due(
            files=[row.sha256 for row in file_rows],
            chunks=[(row.sha256, row.number) for row in chunk_rows],
        )

    def _due_rows(
        self,
        conn: Connection,
        table: Any,
        now: float,
        requeue_after: float,
        broker_empty: bool,
        lost_after: float,
    ) -> list[Any]:
        c = table.c
        held = _HELD if table is files else ("processing",)
        waiting = or_(
            c.state == "queued",
            and_(c.state.in_(held), c.lease_until < now),  # its holder is gone
        )
        send_time = or_(c.next_send_at.is_(None), c.next_send_at <= now)
        if broker_empty:  # the broker lost what it had: send everything waiting, once a while
            send_time = or_(send_time, c.enqueued_at <= now - lost_after)
        condition = and_(waiting, send_time)
        if table is files:
            condition = and_(condition, c.moves == 1)
        else:
            live = select(files.c.sha256).where(files.c.state == "split", files.c.moves == 1)
            condition = and_(condition, c.sha256.in_(live))  # `ingest` runs its own chunks
        keys = [c.sha256] if table is files else [c.sha256, c.number]
        rows = conn.execute(select(*keys, c.sends).where(condition)).all()
        for row in rows:
            # the message is in the broker now: only a loss (answered above) or a long backlog
            # justifies another, and each one waits twice as long as the one before
            backoff = min(requeue_after * 2 ** min(row.sends, 6), _MAX_BACKOFF_SECONDS)
            key = [col == value for col, value in zip(keys, row[: len(keys)], strict=True)]
            conn.execute(  # still due: a worker may have started it since the select
                update(table)
                .where(*key, condition)
                .values(enqueued_at=now, sends=c.sends + 1, next_send_at=now + backoff)
            )
        return rows

    def mark_sent(self, sha256: str) -> None:
        """A message for this queued file was just sent (by the watcher, after a claim)."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(files)
                .where(files.c.sha256 == sha256, files.c.state == "queued")
                .values(enqueued_at=now)
            )


def _first_free(conn: Connection, places: str | Iterable[str]) -> str:
    """The first place that no file's ``final_path`` nor drop's ``destination`` reserves: two
    drops never share a file, even before either has moved into it. A single place is taken
    as given."""
    if isinstance(places, str):
        return places
    for place in places:
        reserved = conn.execute(
            select(files.c.sha256)
            .where(files.c.final_path == place)
            .union_all(select(drops.c.sha256).where(drops.c.destination == place))
            .limit(1)
        ).first()
        if reserved is None:
            return place
    raise RuntimeError("no free place")  # places() is unbounded


def _counts(counts: PublishCounts) -> dict[str, int]:
    return {
        "found": counts.found,
        "new": counts.new,
        "duplicates": counts.duplicates,
        "near_duplicates": counts.near_duplicates,
        "failed": counts.failed,
        "unplaced": counts.unplaced,
    }


def _unless(condition: Any) -> Any:
    """1, or 0 where ``condition`` holds: the attempt increment, skipped for the holder's retry."""
    return case((condition, 0), else_=1)


def _case_state_released() -> Any:
    """A released ``processing`` file waits in ``queued``; a ``stored`` one stays ``stored``
    (its articles are committed; only the move is left) with its lease run out."""
    return case((files.c.state == "processing", "queued"), else_=files.c.state)
