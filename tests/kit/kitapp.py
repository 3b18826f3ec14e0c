"""A small service built only from servicekit, to test the shared mechanisms on their own."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit import audit
from servicekit.app import ClockDep, create_service_app
from servicekit.auth import KeySource, Principal, Scoped
from servicekit.clock import Clock
from servicekit.db import IdMixin, SessionDep, UTCDateTime, make_metadata
from servicekit.errors import NotFound, Unprocessable, problem_response
from servicekit.feeds import FeedCursorParam, FeedPage, next_sequence, read_feed
from servicekit.idempotency import IdempotencyDep
from servicekit.pagination import CursorParam, LimitParam, Page, paginate, set_next_link
from servicekit.settings import ServiceSettings


class Base(DeclarativeBase):
    metadata = make_metadata()


class Note(IdMixin, Base):
    __tablename__ = "note"

    text: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    change_seq: Mapped[int] = mapped_column(BigInteger, index=True)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=200)


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    text: str
    created_at: datetime
    change_seq: int


router = APIRouter(prefix="/v1/notes")


@router.post("", status_code=201, response_model=NoteRead)
async def create_note(
    body: NoteCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("notes:write")],
) -> Response:
    """Create a note."""
    if idem.replay is not None:
        return idem.replay
    note = Note(text=body.text, created_at=clock.now(), change_seq=await next_sequence(session, "notes"))
    session.add(note)
    await session.flush()
    await audit.record(session, actor=principal, action="note.created", target_type="note", target_id=note.id)
    return await idem.respond(NoteRead.model_validate(note), status_code=201)


class NoteRefused(Unprocessable):
    slug = "note-refused"


@router.post("/refusable", status_code=201, response_model=NoteRead)
async def create_refusable_note(
    body: NoteCreate,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Scoped("notes:write")],
    refuse: Literal["no", "raise", "return", "fail-commit"] = "no",
) -> Response:
    """Create a note, then (as asked) refuse it, auditing the refusal (tests survives_refusal)."""
    note = Note(text=body.text, created_at=clock.now(), change_seq=await next_sequence(session, "notes"))
    session.add(note)
    await session.flush()
    await audit.record(session, actor=principal, action="note.created", target_type="note", target_id=note.id)
    if refuse != "no":
        detail = {"text": body.text}
        await audit.record(
            session, actor=principal, action="note.refused", detail=detail, survives_refusal=True
        )
        detail["note_id"] = str(note.id)  # after the call: never in the kept entry
    if refuse == "raise":
        raise NoteRefused("This note is refused.")
    if refuse == "return":
        return problem_response(422, "This note is refused.", slug="note-refused")
    if refuse == "fail-commit":
        # A second note with the same id: the commit itself fails (after the route returned).
        session.add(Note(id=note.id, text=body.text, created_at=clock.now(), change_seq=note.change_seq))
    return Response(NoteRead.model_validate(note).model_dump_json(), status_code=201)


@router.get("", response_model=Page[NoteRead])
async def list_notes(
    request: Request,
    response: Response,
    session: SessionDep,
    _: Annotated[Principal, Scoped("notes:read")],
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[NoteRead]:
    """List notes, oldest first."""
    rows, next_cursor = await paginate(
        session, select(Note), order_by=(Note.created_at, Note.id), cursor=cursor, limit=limit
    )
    set_next_link(request, response, next_cursor)
    return Page(items=[NoteRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/changes", response_model=FeedPage[NoteRead])
async def note_changes(
    session: SessionDep,
    _: Annotated[Principal, Scoped("notes:read")],
    limit: LimitParam = 50,
    cursor: FeedCursorParam = None,
) -> FeedPage[NoteRead]:
    """Notes changed after the cursor."""
    rows, next_cursor, has_more = await read_feed(
        session, select(Note), seq_column=Note.change_seq, cursor=cursor, limit=limit
    )
    return FeedPage(
        items=[NoteRead.model_validate(r) for r in rows], next_cursor=next_cursor, has_more=has_more
    )


@router.get("/{note_id}", response_model=NoteRead)
async def get_note(
    note_id: uuid.UUID, session: SessionDep, _: Annotated[Principal, Scoped("notes:read")]
) -> Note:
    """One note."""
    note = await session.get(Note, note_id)
    if note is None:
        raise NotFound("No such note.")
    return note


@router.get("/boom/unexpected")
async def boom() -> None:
    """Fails unexpectedly (tests that no traceback leaks)."""
    raise RuntimeError("secret internal detail")


@router.post("/boom/statement")
async def boom_statement(body: NoteCreate, session: SessionDep) -> None:
    """A statement that cannot be sent: a naive time beside the note's text (a bug's typical form)."""
    session.add(Note(text=body.text, created_at=datetime(2026, 1, 1), change_seq=1))
    await session.flush()


@router.post("/boom/database")
async def boom_database(body: NoteCreate, session: SessionDep) -> None:
    """A statement the database refuses (no such column), the note's text bound beside it."""
    await session.execute(
        text("SELECT id FROM note WHERE text = :text AND no_such_column = 1"), {"text": body.text}
    )


def create_app(settings: ServiceSettings, *, clock: Clock, key_source: KeySource) -> FastAPI:
    return create_service_app(
        settings=settings, title="Kit", routers=[router], clock=clock, key_source=key_source
    )
