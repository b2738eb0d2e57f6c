"""Tenancy models: the company is the tenant; everything else hangs off it."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from accounts.managers import AuditEventManager, CompanyScopedManager, MembershipManager, UnscopedAuditEventManager

# English in the database default; a company created through signup gets it in its creator's
# language (accounts.actions.create_company), since agents read it to the company's customers.
DEFAULT_CONSENT_NOTICE = gettext_noop(
    "This conversation may be recorded by camera so that MoodSaaS can estimate facial expressions "
    "and grade the quality of service. Video frames are analysed automatically and are not stored "
    "unless the company has enabled frame storage. You may decline and ask for the camera to be "
    "switched off at any time."
)


def hash_secret(secret: str) -> str:
    """Return the sha256 hex digest stored in place of a token or invitation secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    AGENT = "agent", _("Agent")

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_ROLE_RANK = {Role.AGENT: 1, Role.ADMIN: 2, Role.OWNER: 3}


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("Users need an e-mail address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person. Logs in with e-mail; belongs to companies through memberships."""

    username = None  # type: ignore[assignment]  # e-mail is the login, no usernames
    email = models.EmailField("email address", unique=True)

    language = models.CharField(
        max_length=8,
        blank=True,
        choices=settings.LANGUAGES,
        help_text="Language of the pages and e-mails; empty: the browser's.",
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]  # e-mail based manager

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Lower-case so that unique=True also means unique regardless of case.
        self.email = self.email.lower()
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.email


RUBRIC_CHECKS: list[Callable[[Any], None]] = []
"""Checks a company's ``grading_rubric`` must pass, each raising ``ValueError`` with a message.

The grading rules belong to ``evaluations``, which registers its check here when its app is
ready: ``accounts`` imports no other app.
"""


def validate_time_zone(value: str) -> None:
    """Accept only IANA time zone names this machine knows (``zoneinfo``)."""
    if value not in available_time_zones():
        raise ValidationError(
            f"{value!r} is not a known time zone (use an IANA name such as Europe/Madrid).", code="time_zone"
        )


@functools.cache
def available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_grading_rubric(value: Any) -> None:
    """Refuse a rubric sessions could not grade with when it is saved, not at the next session."""
    for check in RUBRIC_CHECKS:
        try:
            check(value)
        except ValueError as error:
            raise ValidationError(str(error), code="rubric") from None


class Company(models.Model):
    """The tenant. Settings here drive privacy and grading for all of the company's data."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    retention_days = models.PositiveIntegerField(
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Days after which evaluation data is deleted.",
    )
    store_frames = models.BooleanField(default=False, help_text="Keep video frames after analysis.")
    frame_retention_days = models.PositiveIntegerField(
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Days after which stored frames are deleted (only when frames are stored).",
    )
    mfa_required_for_admins = models.BooleanField(
        default=False,
        help_text="Owners and admins must set up two-factor authentication before using the portal or API.",
    )
    consent_notice = models.TextField(default=DEFAULT_CONSENT_NOTICE)
    consent_notice_version = models.PositiveIntegerField(
        default=1,
        help_text="Goes up by one whenever the camera notice's text changes (consent receipts name it).",
    )
    grading_rubric = models.JSONField(default=dict, blank=True, validators=[validate_grading_rubric])
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone of the company's dashboards, periods and reports (e.g. Europe/Madrid).",
    )
    agent_views_hidden = models.BooleanField(
        default=False,
        help_text="Hide per-agent results (summaries, coaching list, agent filter) from the portal and API; "
        "works councils often require it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class CompanyOwned(models.Model):
    """Abstract base of tenant-owned rows: a company and managers that refuse unscoped queries.

    ``Model.objects.for_company(company)`` is the way in; ``Model.unscoped_objects`` is the
    escape hatch for admin jobs. The reverse accessor is disabled on purpose so that nothing
    reaches the rows except through those managers.
    """

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")

    objects = CompanyScopedManager()  # first declared, so it is the default manager
    unscoped_objects = models.Manager()  # noqa: DJ012  (ruff mistakes models.Manager() for a field)

    class Meta:
        abstract = True


class Membership(CompanyOwned):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)

    # Also scoped per user; the type ignore is django-stubs treating inherited managers as fixed ClassVars.
    objects: ClassVar[MembershipManager[Membership]] = MembershipManager()  # type: ignore[assignment]

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "company"], name="membership_unique_user_company")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.company_id}:{self.role}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class Invitation(CompanyOwned):
    """An offer to join a company with a role; the secret travels only in the e-mailed link."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    SECRET_BYTES: ClassVar[int] = 32

    def __str__(self) -> str:
        return f"{self.email} → {self.company_id} ({self.role})"

    @staticmethod
    def new_secret() -> str:
        return secrets.token_urlsafe(Invitation.SECRET_BYTES)

    def status(self, now: datetime | None = None) -> str:
        """Return pending / accepted / revoked / expired."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or timezone.now()):
            return "expired"
        return "pending"


class TokenScope(models.TextChoices):
    READ = "read", _("Read only")
    READ_WRITE = "read_write", _("Read and write")


class ApiToken(CompanyOwned):
    """A company credential for machines: ``Authorization: Bearer mood_...``."""

    PREFIX: ClassVar[str] = "mood_"
    SECRET_BYTES: ClassVar[int] = 32
    DISPLAY_CHARS: ClassVar[int] = 12

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    display_prefix = models.CharField(max_length=16, help_text="First characters of the secret, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=16, choices=TokenScope.choices, default=TokenScope.READ)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @classmethod
    def new_secret(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(cls.SECRET_BYTES)

    @classmethod
    def looks_valid(cls, secret: str) -> bool:
        """Cheap shape check before any database access."""
        body = secret[len(cls.PREFIX) :]
        return (
            secret.startswith(cls.PREFIX)
            and len(body) == 43  # token_urlsafe(32) is 43 characters
            and all(c.isalnum() or c in "-_" for c in body)
        )

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def read_only(self) -> bool:
        return self.scope == TokenScope.READ


@dataclass(frozen=True)
class Actor:
    """Who performed an action and with which role in the company.

    A user, an API token, or the system (both ``None``). ``role=None`` means no role limit
    (system jobs such as seeding); requests always carry the caller's role.
    """

    user: User | None = None
    token: ApiToken | None = None
    role: Role | None = None

    @property
    def label(self) -> str:
        if self.token is not None:
            return f"token:{self.token.display_prefix}"
        if self.user is not None:
            return self.user.email
        return "system"


class AuditEvent(models.Model):
    """Append-only record of every state change. Rows are never updated or deleted."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    # No database constraint: a deleted user or token must not rewrite history.
    actor_user = models.ForeignKey(
        User, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    actor_token = models.ForeignKey(
        ApiToken, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=254)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditEventManager()
    unscoped_objects = UnscopedAuditEventManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["company", "-created_at"], name="audit_company_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_type}:{self.target_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("AuditEvent is append-only: existing rows cannot be saved")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("AuditEvent is append-only: rows cannot be deleted")
