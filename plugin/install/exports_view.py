"""`GET /panel/exports/<id>`: a `customers/data_request` export, as a JSON download, for the shop's own
staff only (another shop's export is a 404, as if it did not exist)."""

from __future__ import annotations

import json

from flask import abort, make_response

from plugin.db import AuditEntry, DataExport
from plugin.panel.auth import current
from plugin.panel.blueprint import bp
from plugin.state import get_db


@bp.get("/exports/<int:export_id>")
def data_export(export_id: int):
    principal = current()
    db = get_db()
    row = db.get(DataExport, export_id)
    if row is None or row.shop_id != principal.shop_id:
        abort(404)
    db.add(AuditEntry(shop_id=principal.shop_id, actor=principal.actor, action="privacy.export_downloaded",
                      detail={"export_id": row.id}))
    db.commit()
    response = make_response(json.dumps(row.payload, ensure_ascii=False, indent=2))
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="data-request-{row.id}.json"'
    return response
