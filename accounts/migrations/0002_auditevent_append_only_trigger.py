"""Make accounts_auditevent append-only in PostgreSQL itself, not only in the ORM."""

from __future__ import annotations

from typing import Any

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION accounts_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'accounts_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_auditevent_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS accounts_auditevent_append_only ON accounts_auditevent;
DROP FUNCTION IF EXISTS accounts_auditevent_append_only();
"""


def _run(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        # SQLite (embedded mode) has no plpgsql; the ORM guard still applies there.
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, None)  # no params: the % in RAISE is literal

    return run


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
