"""Companies (tenants), memberships, invitations, API tokens and the audit log."""
