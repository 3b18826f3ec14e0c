"""The people change feed's items."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel

ChangeKind = Literal["school", "person", "carer_link", "account"]


class ChangeItem(BaseModel):
    seq: int
    kind: ChangeKind
    id: uuid.UUID
    data: dict[str, Any]
