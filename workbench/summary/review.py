"""Physician review: the draft a physician opened, the text they accepted, who, and when.

A review never changes the generation it came from: it is stored beside it (a ``reviews`` table in the
history's SQLite file, or ``reviews/<generation id>/...json`` objects when the history is in shared storage),
one record per acceptance, and several physicians may review the same draft. The physician edits the text
*without* the citation markers (:attr:`Review.draft` holds that text, section by section); the generation
keeps the cited draft.

Typical use (the assistant does this behind its Review screen)::

    review = open_review(history, generation_id)        # opened now, by the current user
    review.accepted["入院中の治療経過"] = "..."          # edits, section by section
    open_review_store(history).record(review.accept())
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from workbench.errors import NotFoundError, WorkbenchError
from workbench.storage import Store, read_objects
from workbench.summary.citations import strip_citations
from workbench.summary.history import Generation, History, SqliteHistory, StoredHistory
from workbench.summary.sections import SECTIONS
from workbench.summary.sqlite import Database

logger = logging.getLogger(__name__)

REVIEW_PREFIX = "reviews"
"""Where reviews live in shared storage."""


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def draft_sections(generation: Generation) -> dict[str, str]:
    """The generation's template sections as the physician edits them: citation markers removed."""
    sections = generation.sections or {}
    return {name: strip_citations(sections.get(name, "")) for name in SECTIONS}


@dataclass
class Review:
    """One physician's acceptance of one draft.

    Attributes
    ----------
    id : str
        UUID4.
    generation_id : str
        The draft it came from (a :class:`~workbench.summary.history.Generation` id).
    reviewer : str
        Who accepted (``$WORKBENCH_USER``, the caller identity, or the OS user by default).
    opened_at, accepted_at : str
        ISO 8601 times the draft was opened and the text accepted (empty until accepted).
    draft : dict
        Section -> the draft's text as shown for editing (markers removed).
    accepted : dict
        Section -> the accepted text.
    channel : str
        ``assistant`` or ``sheet`` (``workbench review import``).
    """

    id: str
    generation_id: str
    reviewer: str
    opened_at: str
    draft: dict[str, str]
    accepted: dict[str, str]
    accepted_at: str = ""
    channel: str = "assistant"

    def accept(self, at: str | None = None) -> Review:
        """This review marked accepted (now, unless ``at``)."""
        return dataclasses.replace(self, accepted=dict(self.accepted), accepted_at=at or _now())

    @property
    def seconds_to_accept(self) -> float:
        """Seconds from opening to accepting (NaN before acceptance)."""
        if not self.accepted_at:
            return float("nan")
        opened = dt.datetime.fromisoformat(self.opened_at)
        return (dt.datetime.fromisoformat(self.accepted_at) - opened).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready."""
        return dataclasses.asdict(self)


def get_review_generation(history: History, generation_id: str) -> Generation:
    """The generation a review names, with a message that says what to do when it does not exist.

    Raises
    ------
    NotFoundError
    """
    try:
        return history.get(generation_id)
    except NotFoundError:
        raise NotFoundError(
            f"no generation {generation_id!r} to review in the history; "
            "review a generation listed by 'workbench history'"
        ) from None


def open_review(history: History, generation_id: str, *, reviewer: str | None = None) -> Review:
    """Start reviewing a generation: its draft, opened now, by ``reviewer`` (default: the current user).

    Raises
    ------
    NotFoundError
        If the history holds no such generation.
    """
    from workbench.summary.generate import current_user

    generation = get_review_generation(history, generation_id)
    draft = draft_sections(generation)
    return Review(
        id=str(uuid.uuid4()),
        generation_id=generation.id,
        reviewer=reviewer or current_user(),
        opened_at=_now(),
        draft=draft,
        accepted=dict(draft),
    )


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS reviews ("
    "id TEXT PRIMARY KEY, generation_id TEXT NOT NULL, reviewer TEXT NOT NULL, opened_at TEXT NOT NULL, "
    "accepted_at TEXT NOT NULL, draft TEXT NOT NULL, accepted TEXT NOT NULL, channel TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS reviews_generation ON reviews (generation_id)"
)
_COLUMNS = [f.name for f in dataclasses.fields(Review)]


class ReviewStore(Protocol):
    """The reviews beside a history, wherever it is kept (:func:`open_review_store` opens them).

    Attributes
    ----------
    history : History
        The generations reviewed.
    """

    history: History

    def record(self, review: Review) -> None:
        """Store an accepted review (a new record; nothing is overwritten)."""

    def reviews(self, generation_id: str | None = None) -> list[Review]:
        """Reviews of one generation (all when None), oldest acceptance first."""
        ...

    def frame(self) -> pd.DataFrame:
        """Every review as a DataFrame (columns as :class:`Review`)."""
        ...


def open_review_store(history: History) -> ReviewStore:
    """The reviews beside ``history``.

    Returns
    -------
    ReviewStore
        A :class:`SqliteReviewStore` (table ``reviews`` in the history's SQLite file) for a
        :class:`~workbench.summary.history.SqliteHistory`, a :class:`StoredReviewStore` (objects under
        :data:`REVIEW_PREFIX` in the history's store) for a :class:`~workbench.summary.history.StoredHistory`.

    Raises
    ------
    WorkbenchError
        For a history kept anywhere else.
    """
    if isinstance(history, SqliteHistory):
        return SqliteReviewStore(history)
    if isinstance(history, StoredHistory):
        return StoredReviewStore(history)
    raise WorkbenchError(
        f"reviews are kept beside a SQLite or shared-storage history, not a {type(history).__name__}; "
        "open the history with workbench.summary.history.open_history()"
    )


class _ReviewStoreBase:
    """What both review stores share: checks before writing, ordering, the DataFrame."""

    history: History

    def _write(self, review: Review) -> None:
        raise NotImplementedError

    def _rows(self, generation_id: str | None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def record(self, review: Review) -> None:
        """Store an accepted review (a new record; nothing is overwritten).

        Raises
        ------
        NotFoundError
            If the generation does not exist (nothing is written).
        WorkbenchError
            If the review was never accepted, or names a section the template does not have.
        """
        get_review_generation(self.history, review.generation_id)  # before anything is written
        if not review.accepted_at:
            raise WorkbenchError(
                f"review {review.id} of {review.generation_id} was not accepted; call accept() first"
            )
        unknown = sorted(set(review.accepted) - set(review.draft))
        if unknown:
            raise WorkbenchError(f"review of {review.generation_id}: unknown section(s) {', '.join(unknown)}")
        self._write(review)
        logger.info(
            "recorded review %s of generation %s by %s", review.id, review.generation_id, review.reviewer
        )

    def reviews(self, generation_id: str | None = None) -> list[Review]:
        """Reviews of one generation (all when None), oldest acceptance first."""
        found = [Review(**row) for row in self._rows(generation_id)]
        return sorted(found, key=lambda r: (r.accepted_at, r.id))

    def frame(self) -> pd.DataFrame:
        """Every review as a DataFrame (columns as :class:`Review`)."""
        return pd.DataFrame([r.to_dict() for r in self.reviews()], columns=_COLUMNS)


class SqliteReviewStore(_ReviewStoreBase):
    """The reviews in a ``reviews`` table of the history's SQLite file.

    Parameters
    ----------
    history : SqliteHistory
    """

    def __init__(self, history: SqliteHistory) -> None:
        self.history = history
        self._db = Database(history.path, _SCHEMA)

    def _write(self, review: Review) -> None:
        row = review.to_dict()
        values = [json.dumps(row[c], ensure_ascii=False) if c in ("draft", "accepted") else row[c]
                  for c in _COLUMNS]
        with self._db.write() as connection:
            connection.execute(
                f"INSERT INTO reviews ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                values,
            )

    def _rows(self, generation_id: str | None) -> list[dict[str, Any]]:
        where, params = ("WHERE generation_id = ?", [generation_id]) if generation_id else ("", [])
        rows = []
        for raw in self._db.query(f"SELECT * FROM reviews {where}", params):
            row = dict(raw)
            row["draft"], row["accepted"] = json.loads(row["draft"]), json.loads(row["accepted"])
            rows.append(row)
        return rows


class StoredReviewStore(_ReviewStoreBase):
    """The reviews as objects ``reviews/<generation id>/<review id>.json`` in the history's store.

    Parameters
    ----------
    history : StoredHistory
    """

    def __init__(self, history: StoredHistory) -> None:
        self.history = history
        self.store: Store = history.store

    def _write(self, review: Review) -> None:
        key = f"{REVIEW_PREFIX}/{review.generation_id}/{review.id}.json"
        data = json.dumps(review.to_dict(), ensure_ascii=False).encode("utf-8")
        self.store.put(key, data, if_absent=True)

    def _rows(self, generation_id: str | None) -> list[dict[str, Any]]:
        prefix = f"{REVIEW_PREFIX}/{generation_id}/" if generation_id else f"{REVIEW_PREFIX}/"
        keys = sorted(self.store.keys(prefix))
        return [json.loads(data) for data in read_objects(self.store, keys) if data]
