"""The audit log stays append-only, with one documented exception: redacting ``metadata``.

Erasing a customer (docs/privacy.md, "Erasure") must leave the audit rows of what happened but
take the customer's reference out of them. The trigger now lets an UPDATE through only when

- the transaction has set ``moodsaas.audit_redaction`` to ``on`` (``SET LOCAL``: it ends with the
  transaction; ``accounts.actions.redact_audit_metadata`` is the one place that sets it), and
- every column but ``metadata`` is unchanged (who, what, when, on which object).

Deletes stay refused, always.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

REDACTABLE = """
CREATE OR REPLACE FUNCTION accounts_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND coalesce(current_setting('moodsaas.audit_redaction', true), '') = 'on'
       AND (to_jsonb(NEW) - 'metadata') = (to_jsonb(OLD) - 'metadata')
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'accounts_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION accounts_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'accounts_auditevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def _run(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        # SQLite (embedded mode) has no plpgsql; the ORM guard still applies there.
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, None)  # no params: the % in RAISE is literal

    return run


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_portal_settings")]

    operations = [migrations.RunPython(_run(REDACTABLE), _run(APPEND_ONLY))]
