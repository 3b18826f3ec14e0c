"""Record-level access to the hardware inventory: the caller's school only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from devices.assets import service
from devices.assets.models import Asset, AssetLoan
from servicekit.auth import CallerSchool
from servicekit.db import SessionDep


async def valid_asset_id(asset_id: uuid.UUID, school_id: CallerSchool, session: SessionDep) -> Asset:
    asset = await service.get(session, school_id=school_id, asset_id=asset_id)
    if asset is None:
        raise service.AssetNotFound("No item of the inventory with this id.")
    return asset


async def valid_loan_id(loan_id: uuid.UUID, school_id: CallerSchool, session: SessionDep) -> AssetLoan:
    loan = await service.get_loan(session, school_id=school_id, loan_id=loan_id)
    if loan is None:
        raise service.LoanNotFound("No loan with this id.")
    return loan


ValidAsset = Annotated[Asset, Depends(valid_asset_id)]
ValidLoan = Annotated[AssetLoan, Depends(valid_loan_id)]
