"""The people change feed's items."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel


class ChangeItem(BaseModel):
    seq: int
    kind: Literal["school", "person", "carer_link", "account"]
    id: uuid.UUID
    data: dict[str, Any]
