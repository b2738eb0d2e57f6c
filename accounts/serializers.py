"""Shapes of the accounts API. Validation only; state changes go through ``accounts.actions``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers
from rest_framework.settings import api_settings

from accounts.models import (
    ApiToken,
    AuditEvent,
    Company,
    Invitation,
    Membership,
    Role,
    TokenScope,
    available_time_zones,
)


class ErrorSerializer(serializers.Serializer[Any]):
    """The body of every error that is not a field validation error (accounts.exceptions)."""

    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(help_text="What went wrong, for programs: stable, snake_case.")


class QuerySerializer(serializers.Serializer[Any]):
    """Query-string parameters, taken as the schema states them: known, each at most once, never empty.

    DRF reads a query string loosely (the last of repeated values; an empty value of an optional
    field as if it were absent; unknown names ignored); a filter the client meant to apply must
    not be silently dropped. ``context["also_allowed"]``: other names the view reads (``page``).
    """

    def to_internal_value(self, data: Any) -> Any:
        check_query_names(data, {*self.fields, *self.context.get("also_allowed", ())})
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        for name in self.fields.keys():  # noqa: SIM118  (mypy types BindingDict's iteration as fields)
            if name not in data:
                continue
            given = data.getlist(name) if hasattr(data, "getlist") else [data[name]]
            if len(given) != 1:
                errors[name] = [str(_("Give this parameter once."))]
            elif given[0] == "":
                errors[name] = [str(_("This parameter needs a value; leave it out to not filter by it."))]
            else:
                values[name] = given[0]
        if errors:
            raise serializers.ValidationError(errors)
        # A plain dict: DRF's handling of empty form values does not apply any more.
        return super().to_internal_value(values)


class QueryError(exceptions.APIException):
    """A query string the operation cannot take: 400 ``{"detail", "code"}``.

    Not a ValidationError: raised inside a serializer, that would have to name a field.
    """

    status_code = 400
    default_detail = _("Invalid query string.")
    default_code = "invalid_query"


def check_query_names(query: Any, known: Iterable[str]) -> None:
    """Refuse query parameters the operation does not take (400 ``unknown_parameter``): a misspelt
    filter must not quietly return everything."""
    # DRF's ?format= (URL_FORMAT_OVERRIDE) picks a renderer on any view.
    unknown = sorted(set(query) - {*known, api_settings.URL_FORMAT_OVERRIDE})
    if unknown:
        message = _("Unknown query parameters: %(names)s.") % {"names": ", ".join(unknown)}
        raise QueryError(message, code="unknown_parameter")


# JSON types of the schema, by DRF field; DRF itself converts (0 becomes "0", "yes" becomes True).
_JSON_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}
_NOT_OF_TYPE = {
    "string": _("Must be a string."),
    "boolean": _("Must be true or false."),
    "integer": _("Must be a whole number."),
    "number": _("Must be a number."),
    "array": _("Must be a list."),
    "object": _("Must be an object."),
}


def json_type(field: serializers.Field[Any, Any, Any, Any]) -> str | None:
    """The JSON type the schema gives ``field``'s values (None: any, or the field checks itself)."""
    if isinstance(field, serializers.BooleanField):
        return "boolean"
    if isinstance(field, serializers.IntegerField):
        return "integer"
    if isinstance(field, (serializers.FloatField, serializers.DecimalField)):
        return "number"
    if isinstance(field, (serializers.ListField, serializers.MultipleChoiceField, serializers.ListSerializer)):
        return "array"
    if isinstance(field, (serializers.DictField, serializers.Serializer)):
        return "object"
    if isinstance(field, serializers.ChoiceField):
        return "string" if all(isinstance(key, str) for key in field.choices) else None
    if isinstance(
        field, (serializers.CharField, serializers.UUIDField, serializers.DateTimeField, serializers.DateField)
    ):
        return "string"
    return None


class JsonBodySerializer(serializers.Serializer[Any]):
    """Base of the serializers of JSON request bodies: every value of the JSON type the schema states.

    DRF converts on its own (``0`` becomes ``"0"``, ``"yes"`` becomes ``true``, ``"5"`` becomes
    ``5``): a client sending the wrong type gets a 400 naming the field instead. Form and query data
    are strings anyway and are left to the fields.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping) and not hasattr(data, "getlist"):
            errors = {
                name: [str(_NOT_OF_TYPE[kind])]
                for name, field in self.fields.items()
                if not field.read_only
                and data.get(name) is not None
                and (kind := json_type(field)) is not None
                and not _JSON_TYPE_CHECKS[kind](data[name])
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class RubricField(serializers.JSONField):
    """A company's grading rubric: a JSON object, documented by the schema evaluations registers."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        # The model field's validator then checks the rubric itself.
        if not isinstance(value, Mapping):
            raise serializers.ValidationError(_("The grading rubric must be a JSON object."))
        return value


class CompanySerializer(JsonBodySerializer, serializers.ModelSerializer[Company]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    grading_rubric = RubricField(required=False)
    time_zone = serializers.ChoiceField(
        choices=sorted(available_time_zones()), required=False, help_text="An IANA time zone name."
    )

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
        # A declared field skips the model field's validators: run them (the rubric's own checks).
        for validator in Company._meta.get_field("grading_rubric").validators:
            try:
                validator(value)
            except DjangoValidationError as error:
                raise serializers.ValidationError(error.messages) from None
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


class MembershipRoleSerializer(JsonBodySerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    status = serializers.SerializerMethodField()
    invited_by = serializers.EmailField(
        source="invited_by.email",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="Null when no person did (an API token) or their account was deleted.",
    )

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


class InvitationCreateSerializer(JsonBodySerializer):
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
    created_by = serializers.EmailField(
        source="created_by.email",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="Null when their account was deleted.",
    )

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


class ApiTokenCreateSerializer(JsonBodySerializer):
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


class SwitchCompanySerializer(JsonBodySerializer):
    company = serializers.UUIDField(help_text="Public id of a company you are a member of.")
