"""Django admin for operators. Uses ``unscoped_objects``: staff see every company."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken, AuditEvent, Company, Invitation, Membership, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active")
    search_fields = ("email", "first_name", "last_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin[Company]):
    list_display = ("name", "slug", "retention_days", "store_frames", "created_at")
    search_fields = ("name", "slug")
    readonly_fields = ("public_id", "consent_notice_version", "created_at")


class _UnscopedAdmin(admin.ModelAdmin[Any]):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return self.model.unscoped_objects.all()  # type: ignore[no-any-return]


@admin.register(Membership)
class MembershipAdmin(_UnscopedAdmin):
    list_display = ("user", "company", "role", "created_at")
    list_filter = ("role",)
    raw_id_fields = ("user", "company")


@admin.register(Invitation)
class InvitationAdmin(_UnscopedAdmin):
    list_display = ("email", "company", "role", "created_at", "expires_at", "accepted_at", "revoked_at")
    exclude = ("token_hash",)
    readonly_fields = ("public_id",)


@admin.register(ApiToken)
class ApiTokenAdmin(_UnscopedAdmin):
    list_display = ("name", "display_prefix", "company", "scope", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    readonly_fields = ("public_id", "display_prefix")


@admin.register(AuditEvent)
class AuditEventAdmin(_UnscopedAdmin):
    list_display = ("created_at", "company", "actor_label", "action", "target_type", "target_id")
    list_filter = ("action",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
