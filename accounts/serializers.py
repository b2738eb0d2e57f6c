"""Shapes of the accounts API. Validation only; state changes go through ``accounts.actions``."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import ApiToken, AuditEvent, Company, Invitation, Membership, Role, TokenScope


class CompanySerializer(serializers.ModelSerializer[Company]):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Company
        fields = (
            "id",
            "name",
            "slug",
            "retention_days",
            "store_frames",
            "frame_retention_days",
            "consent_notice",
            "consent_notice_version",
            "grading_rubric",
            "time_zone",
            "agent_views_hidden",
            "mfa_required_for_admins",
            "created_at",
        )
        read_only_fields = ("slug", "consent_notice_version", "created_at")
        extra_kwargs = {"name": {"allow_blank": False}, "consent_notice": {"allow_blank": False}}

    def validate_grading_rubric(self, value: Any) -> Any:
        # The model field's validator then checks the rubric itself.
        if not isinstance(value, dict):
            raise serializers.ValidationError("The grading rubric must be a JSON object.")
        return value


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.get_full_name", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ("id", "email", "name", "role", "joined_at")
        read_only_fields = ("role",)


class MembershipRoleSerializer(serializers.Serializer[Membership]):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    status = serializers.SerializerMethodField()
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, default=None)

    class Meta:
        model = Invitation
        fields: tuple[str, ...] = (
            "id",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "accepted_at",
            "revoked_at",
        )
        read_only_fields: tuple[str, ...] = fields

    def get_status(self, invitation: Invitation) -> str:
        return invitation.status()


class InvitationCreateSerializer(serializers.Serializer[Invitation]):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.AGENT)


class InvitationCreatedSerializer(InvitationSerializer):
    accept_url = serializers.SerializerMethodField(help_text="Shown once. Anyone with this link can join.")

    class Meta(InvitationSerializer.Meta):
        fields: tuple[str, ...] = (*InvitationSerializer.Meta.fields, "accept_url")
        read_only_fields: tuple[str, ...] = fields

    def get_accept_url(self, invitation: Invitation) -> str:
        return str(self.context["accept_url"])


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    prefix = serializers.CharField(source="display_prefix", read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)

    class Meta:
        model = ApiToken
        fields: tuple[str, ...] = (
            "id",
            "name",
            "prefix",
            "scope",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        )
        read_only_fields: tuple[str, ...] = fields


class ApiTokenCreateSerializer(serializers.Serializer[ApiToken]):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.READ)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    secret = serializers.SerializerMethodField(help_text="Shown once; store it now. Only its hash is kept.")

    class Meta(ApiTokenSerializer.Meta):
        fields: tuple[str, ...] = (*ApiTokenSerializer.Meta.fields, "secret")
        read_only_fields: tuple[str, ...] = fields

    def get_secret(self, token: ApiToken) -> str:
        return str(self.context["secret"])


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ("id", "actor", "action", "target_type", "target_id", "metadata", "created_at")
        read_only_fields = fields


class MyCompanySerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    active = serializers.BooleanField()


class MeSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField()
    active_company = serializers.UUIDField(allow_null=True)
    companies = MyCompanySerializer(many=True)


class SwitchCompanySerializer(serializers.Serializer[Any]):
    company = serializers.UUIDField(help_text="Public id of a company you are a member of.")
