"""Every state change of accounts data: atomic, audited, side effects only on commit."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, models, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.exceptions import ActionConflict, ActionError, ActionForbidden
from accounts.models import (
    DEFAULT_CONSENT_NOTICE,
    Actor,
    ApiToken,
    AuditEvent,
    Company,
    Invitation,
    Membership,
    Role,
    TokenScope,
    User,
    hash_secret,
)
from accounts.realtime import access_changed_on_commit, member_group, token_group

log = logging.getLogger(__name__)

OWNER_SETTING_FIELDS = ("store_frames", "frame_retention_days")
"""Settings only an owner changes: whether camera images are kept, and for how long, is a privacy decision."""
COMPANY_SETTING_FIELDS = (
    "name",
    "retention_days",
    "store_frames",
    "frame_retention_days",
    "consent_notice",
    "grading_rubric",
    "time_zone",
    "agent_views_hidden",
    "mfa_required_for_admins",
)
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def audit(
    actor: Actor,
    company: Company,
    action: str,
    target: Any,
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit row. Call inside the action's transaction."""
    target_id = getattr(target, "public_id", None) or target.pk
    return AuditEvent.objects.create(
        company=company,
        actor_user=actor.user,
        actor_token=actor.token,
        actor_label=actor.label,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target_id),
        metadata=metadata or {},
    )


def _require_role(actor: Actor, role: Role, message: str) -> None:
    """Refuse with ``message`` (a whole sentence, so that it translates) below ``role``."""
    if actor.role is not None and not actor.role.at_least(role):
        raise ActionForbidden(message, code="role")


RESERVED_SLUGS: set[str] = set()
"""Slugs a company only gets when asked for by name (``create_company(slug=...)``): other apps
register theirs at start-up (the seeded demo company's, whose pages say they show demo data)."""


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "company"
    slug = base
    while slug in RESERVED_SLUGS or Company.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def create_company(*, name: str, owner: User, slug: str | None = None) -> Company:
    """Create a company with ``owner`` as its first owner (used by signup and seeding).

    The camera notice starts in the active language (the person signing up), for their customers.
    """
    name = name.strip()
    if not name:
        raise ActionError(_("A company needs a name."), code="name")
    company = Company.objects.create(
        name=name, slug=slug or _unique_slug(name), consent_notice=_(DEFAULT_CONSENT_NOTICE)
    )
    membership = Membership.objects.create(company=company, user=owner, role=Role.OWNER)
    actor = Actor(user=owner)
    audit(actor, company, "company.created", company, {"name": name})
    audit(actor, company, "member.added", membership, {"email": owner.email, "role": Role.OWNER})
    return company


@transaction.atomic
def update_company_settings(*, actor: Actor, company: Company, changes: dict[str, Any]) -> Company:
    """Apply validated settings ``changes`` (a subset of ``COMPANY_SETTING_FIELDS``).

    Frame storage and its retention (``OWNER_SETTING_FIELDS``) change only by an owner. A new
    camera notice text takes the next ``consent_notice_version``, which consent receipts name.
    """
    _require_role(actor, Role.ADMIN, _("Only an admin or higher can change company settings."))
    unknown = set(changes) - set(COMPANY_SETTING_FIELDS)
    if unknown:
        raise ActionError(
            _("Unknown settings: %(names)s.") % {"names": ", ".join(sorted(unknown))}, code="unknown_field"
        )
    locked = Company.objects.select_for_update().get(pk=company.pk)
    diff = {
        field: {"from": getattr(locked, field), "to": value}
        for field, value in changes.items()
        if getattr(locked, field) != value
    }
    if not diff:
        return locked
    if set(diff) & set(OWNER_SETTING_FIELDS):
        _require_role(
            actor, Role.OWNER, _("Only an owner can change whether camera frames are stored, or for how long.")
        )
    for field, value in changes.items():
        setattr(locked, field, value)
    update_fields = list(diff)
    metadata: dict[str, Any] = {"changes": diff}
    if "consent_notice" in diff:
        locked.consent_notice_version += 1
        update_fields.append("consent_notice_version")
        metadata["consent_notice_version"] = locked.consent_notice_version
    locked.full_clean()
    locked.save(update_fields=update_fields)
    audit(actor, locked, "company.settings_updated", locked, metadata)
    return locked


@transaction.atomic
def invite_member(
    *, actor: Actor, company: Company, email: str, role: Role, base_url: str = ""
) -> tuple[Invitation, str]:
    """Create an invitation and e-mail its link on commit. Return it with its one-time secret.

    ``base_url`` (scheme and host the inviter used) prefixes the e-mailed link.
    """
    _require_role(actor, Role.ADMIN, _("Only an admin or higher can invite members."))
    if role == Role.OWNER:
        _require_role(actor, Role.OWNER, _("Only an owner or higher can invite owners."))
    email = email.strip().lower()
    if Membership.objects.for_company(company).filter(user__email__iexact=email).exists():
        raise ActionConflict(
            _("%(email)s is already a member of %(company)s.") % {"email": email, "company": company.name},
            code="already_member",
        )
    now = timezone.now()
    pending = Invitation.objects.for_company(company).filter(
        email__iexact=email, accepted_at=None, revoked_at=None, expires_at__gt=now
    )
    if pending.exists():
        raise ActionConflict(
            _("%(email)s already has a pending invitation; revoke it before inviting again.") % {"email": email},
            code="already_invited",
        )
    secret = Invitation.new_secret()
    invitation = Invitation.objects.create(
        company=company,
        email=email,
        role=role,
        token_hash=hash_secret(secret),
        invited_by=actor.user,
        expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit(actor, company, "invitation.created", invitation, {"email": email, "role": role})
    language = translation.get_language() or settings.LANGUAGE_CODE
    transaction.on_commit(lambda: send_invitation_email(invitation, secret, base_url, language=language))
    return invitation, secret


def invitation_url(secret: str) -> str:
    """Return the path of the accept page for ``secret``."""
    from django.urls import reverse

    return reverse("invitation-accept", kwargs={"secret": secret})


def send_invitation_email(invitation: Invitation, secret: str, base_url: str = "", *, language: str = "") -> None:
    """E-mail the invitation link, HTML and text, in ``language`` (the inviter's).

    Failures are logged: the admin can still share the link. The expiry is shown in the
    company's time zone.
    """
    company = Company.objects.get(pk=invitation.company_id)
    if not base_url:
        host = settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "127.0.0.1:8000"
        base_url = f"{settings.ACCOUNT_DEFAULT_HTTP_PROTOCOL}://{host}"
    zone = ZoneInfo(company.time_zone or "UTC")
    context = {
        "company": company,
        "invitation": invitation,
        "inviter": invitation.invited_by,
        "link": f"{base_url.rstrip('/')}{invitation_url(secret)}",
        "time_zone": zone.key,
    }
    with translation.override(language or settings.LANGUAGE_CODE), timezone.override(zone):
        subject = _("You are invited to join %(company)s on MoodSaaS") % {"company": company.name}
        text = render_to_string("email/invitation.txt", context)
        html = render_to_string("email/invitation.html", context)
    message = EmailMultiAlternatives(subject=f"[MoodSaaS] {subject}", body=text, to=[invitation.email])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except OSError:
        log.exception("could not send invitation %s", invitation.public_id)


def find_invitation(secret: str) -> Invitation | None:
    """Look an invitation up by its secret, whatever its company (the secret is the credential)."""
    if not secret or len(secret) > 100:
        return None
    # Unscoped: the company is not known yet; the secret's hash is what finds (and authorises) the row.
    return Invitation.unscoped_objects.select_related("company").filter(token_hash=hash_secret(secret)).first()


def check_invitation(invitation: Invitation | None, user: User | None = None) -> Invitation:
    """Raise a precise ``ActionError`` unless ``invitation`` can be accepted (by ``user``)."""
    if invitation is None:
        raise ActionError(_("This invitation link is not valid."), code="invitation_invalid")
    status = invitation.status()
    if status == "accepted":
        raise ActionConflict(_("This invitation has already been used."), code="invitation_used")
    if status == "revoked":
        raise ActionConflict(_("This invitation has been revoked."), code="invitation_revoked")
    if status == "expired":
        raise ActionConflict(
            _("This invitation expired on %(when)s UTC; ask for a new one.")
            % {"when": f"{invitation.expires_at:%Y-%m-%d %H:%M}"},
            code="invitation_expired",
        )
    if user is not None and user.email.lower() != invitation.email.lower():
        raise ActionForbidden(
            _("This invitation was sent to %(invited)s, but you are signed in as %(email)s.")
            % {"invited": invitation.email, "email": user.email},
            code="invitation_email_mismatch",
        )
    return invitation


@transaction.atomic
def accept_invitation(*, secret: str, user: User) -> Membership:
    """Join the invitation's company. Single use: the claim is a conditional update."""
    invitation = check_invitation(find_invitation(secret), user)
    company = invitation.company
    if Membership.objects.for_company(company).filter(user=user).exists():
        raise ActionConflict(
            _("You are already a member of %(company)s.") % {"company": company.name}, code="already_member"
        )
    now = timezone.now()
    # Two concurrent accepts: only one update matches the still-pending row.
    claimed = (
        Invitation.objects.for_company(company)
        .filter(pk=invitation.pk, accepted_at=None, revoked_at=None, expires_at__gt=now)
        .update(accepted_at=now, accepted_by=user)
    )
    if not claimed:
        raise ActionConflict(_("This invitation has already been used."), code="invitation_used")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(company=company, user=user, role=invitation.role)
    except IntegrityError:
        raise ActionConflict(
            _("You are already a member of %(company)s.") % {"company": company.name}, code="already_member"
        ) from None
    actor = Actor(user=user)
    audit(actor, company, "invitation.accepted", invitation, {"email": user.email})
    audit(actor, company, "member.added", membership, {"email": user.email, "role": invitation.role})
    return membership


@transaction.atomic
def revoke_invitation(*, actor: Actor, invitation: Invitation) -> Invitation:
    """Revoke a pending invitation."""
    _require_role(actor, Role.ADMIN, _("Only an admin or higher can revoke invitations."))
    locked = Invitation.objects.for_company_id(invitation.company_id).select_for_update().get(pk=invitation.pk)
    status = locked.status()
    if status != "pending":
        raise ActionConflict(
            _("Only pending invitations can be revoked; this one is %(status)s.") % {"status": status},
            code="not_pending",
        )
    if locked.role == Role.OWNER:
        _require_role(actor, Role.OWNER, _("Only an owner or higher can revoke an owner invitation."))
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit(actor, locked.company, "invitation.revoked", locked, {"email": locked.email})
    return locked


def _lock_owners(company: Company) -> list[Membership]:
    # Lock every owner row so two owners cannot demote each other at the same time.
    return list(Membership.objects.for_company(company).select_for_update().filter(role=Role.OWNER))


@transaction.atomic
def change_member_role(*, actor: Actor, membership: Membership, role: Role) -> Membership:
    """Change a member's role. Only owners touch owners; the last owner stays an owner."""
    _require_role(actor, Role.ADMIN, _("Only an admin or higher can change roles."))
    company = membership.company
    owners = _lock_owners(company)
    locked = Membership.objects.for_company(company).select_for_update().get(pk=membership.pk)
    if locked.role == role:
        return locked
    if role == Role.OWNER or locked.role == Role.OWNER:
        _require_role(actor, Role.OWNER, _("Only an owner or higher can grant or remove the owner role."))
    if locked.role == Role.OWNER and len(owners) == 1:
        raise ActionConflict(
            _("The last owner cannot be demoted; make someone else an owner first."), code="last_owner"
        )
    previous = locked.role
    locked.role = role
    locked.save(update_fields=["role"])
    audit(actor, company, "member.role_changed", locked, {"from": previous, "to": role, "email": locked.user.email})
    # Open sockets re-check what the new role allows (a demoted admin loses the dashboard).
    access_changed_on_commit(member_group(company.public_id, locked.user_id), "role_changed")
    return locked


@transaction.atomic
def remove_member(*, actor: Actor, membership: Membership) -> None:
    """Remove a member from the company. Only owners remove owners; never the last owner."""
    _require_role(actor, Role.ADMIN, _("Only an admin or higher can remove members."))
    company = membership.company
    owners = _lock_owners(company)
    locked = Membership.objects.for_company(company).select_for_update().get(pk=membership.pk)
    if locked.role == Role.OWNER:
        _require_role(actor, Role.OWNER, _("Only an owner or higher can remove an owner."))
        if len(owners) == 1:
            raise ActionConflict(_("The last owner cannot be removed."), code="last_owner")
    audit(actor, company, "member.removed", locked, {"email": locked.user.email, "role": locked.role})
    access_changed_on_commit(member_group(company.public_id, locked.user_id), "member_removed")
    locked.delete()


@transaction.atomic
def create_api_token(*, actor: Actor, company: Company, name: str, scope: TokenScope) -> tuple[ApiToken, str]:
    """Create a token; return it with its secret, which is never stored and never shown again."""
    _require_role(actor, Role.ADMIN, _("Only an admin or higher can create API tokens."))
    name = name.strip()
    if not name:
        raise ActionError(_("A token needs a name."), code="name")
    secret = ApiToken.new_secret()
    token = ApiToken.objects.create(
        company=company,
        name=name,
        scope=scope,
        display_prefix=secret[: ApiToken.DISPLAY_CHARS],
        key_hash=hash_secret(secret),
        created_by=actor.user,
    )
    audit(actor, company, "api_token.created", token, {"name": name, "scope": scope})
    return token, secret


@transaction.atomic
def revoke_api_token(*, actor: Actor, token: ApiToken) -> ApiToken:
    """Revoke a token; requests with it get 401 from then on."""
    _require_role(actor, Role.ADMIN, _("Only an admin or higher can revoke API tokens."))
    locked = (
        ApiToken.objects.for_company_id(token.company_id).select_for_update().select_related("company").get(pk=token.pk)
    )
    if locked.revoked_at is not None:
        raise ActionConflict(_("This token is already revoked."), code="already_revoked")
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit(actor, locked.company, "api_token.revoked", locked, {"name": locked.name})
    access_changed_on_commit(token_group(locked.public_id), "token_revoked")
    return locked


def touch_api_token(token: ApiToken) -> None:
    """Record that ``token`` was used, at most once a minute.

    Not audited: it is bookkeeping on every request, and the audit log would drown in it.
    """
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < TOKEN_TOUCH_INTERVAL:
        return
    ApiToken.objects.for_company_id(token.company_id).filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


@transaction.atomic
def add_member(*, actor: Actor, company: Company, user: User, role: Role) -> Membership:
    """Add an existing user directly (operators and seeding; people join by invitation)."""
    _require_role(actor, Role.ADMIN, _("Only an admin or higher can add members."))
    if role == Role.OWNER:
        _require_role(actor, Role.OWNER, _("Only an owner or higher can add owners."))
    if Membership.objects.for_company(company).filter(user=user).exists():
        raise ActionConflict(
            _("%(email)s is already a member of %(company)s.") % {"email": user.email, "company": company.name},
            code="already_member",
        )
    membership = Membership.objects.create(company=company, user=user, role=role)
    audit(actor, company, "member.added", membership, {"email": user.email, "role": role})
    return membership


# --- Audit redaction (erasure requests) ----------------------------------------------------------

REDACTED = "[erased]"


def redact(value: Any, needle: str) -> Any:
    """``value`` (JSON: strings, lists, dicts) with every whole, case-insensitive ``needle`` replaced.

    Whole only: erasing "42" must not touch "1420" or "CRM-42b".
    """
    pattern = re.compile(rf"(?<!\w){re.escape(needle.strip())}(?!\w)", re.IGNORECASE)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return pattern.sub(REDACTED, item)
        if isinstance(item, list):
            return [walk(element) for element in item]
        if isinstance(item, dict):
            return {pattern.sub(REDACTED, key): walk(element) for key, element in item.items()}
        return item

    return walk(value)


def redact_audit_metadata(*, company: Company, needle: str) -> int:
    """Replace ``needle`` (case-insensitive, whole) in the metadata of ``company``'s audit rows; return rows changed.

    The audit log is append-only, in the ORM and in PostgreSQL (a trigger). This is its one
    exception, for erasure requests (docs/privacy.md): ``SET LOCAL moodsaas.audit_redaction``
    lets the trigger pass an UPDATE that changes ``metadata`` only, inside the caller's
    transaction, which must also audit the redaction. Who did what, when and to which object
    stay as they were.
    """
    needle = needle.strip()
    if not needle:
        return 0
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("redact_audit_metadata runs inside the erasing action's transaction")
    # Candidates by the JSON text (a superset for most needles); the walk below decides.
    candidates = (
        AuditEvent.objects.for_company(company)
        .annotate(text=Cast("metadata", TextField()))
        .filter(text__icontains=needle)
        .values_list("pk", "metadata")
    )
    changed = [(pk, redacted) for pk, metadata in candidates if (redacted := redact(metadata, needle)) != metadata]
    if not changed:
        return 0
    connection = transaction.get_connection()
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute("SET LOCAL moodsaas.audit_redaction = 'on'")
        # A plain QuerySet, not the audit managers' append-only one: the one place that may update.
        # (Subscripting QuerySet at run time, QuerySet[AuditEvent](...), makes mypy mistype every
        # queryset of the project through the row type's default: a cast instead.)
        rows = cast("models.QuerySet[AuditEvent]", models.QuerySet(AuditEvent)).filter(company=company)
        for pk, metadata in changed:
            rows.filter(pk=pk).update(metadata=metadata)
        if postgres:
            cursor.execute("SET LOCAL moodsaas.audit_redaction = 'off'")
    return len(changed)


def purge_past_retention(
    purge: Callable[[Company, datetime], int],
    *,
    now: datetime | None = None,
    days: Callable[[Company], int] = lambda company: company.retention_days,
) -> dict[str, int]:
    """Run ``purge(company, cutoff)`` for every company with its own cutoff, ``days(company)`` ago.

    Each app deletes its own data past retention through this one loop (``retention_days`` by
    default; stored frames use ``frame_retention_days``); the result is the number purged by
    company slug, companies with nothing to purge left out.
    """
    now = now or timezone.now()
    purged: dict[str, int] = {}
    for company in Company.objects.order_by("pk"):
        count = purge(company, now - timedelta(days=days(company)))
        if count:
            purged[company.slug] = count
    return purged
