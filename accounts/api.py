"""The accounts REST API: current company, members, invitations, API tokens, audit log."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import actions
from accounts.models import ApiToken, AuditEvent, Company, Invitation, Membership, Role, TokenScope, User
from accounts.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    AuditEventSerializer,
    CompanySerializer,
    ErrorSerializer,
    InvitationCreatedSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    MembershipRoleSerializer,
    MembershipSerializer,
    MeSerializer,
    SwitchCompanySerializer,
)
from accounts.tenancy import (
    ACTIVE_COMPANY_SESSION_KEY,
    CompanyScopedViewSet,
    HasTenantRole,
    activate_company,
    tenant_for_request,
)

READ = {"GET": Role.AGENT}
# Beyond the errors every operation documents (accounts.schema): the target's state forbids it
# (last_owner, already_member, pending_invitation, not_pending, already_revoked).
CONFLICT = {409: ErrorSerializer}


class CurrentCompanyView(APIView):
    """The company the request acts for: read by any member, settings changed by admins."""

    permission_classes = [HasTenantRole]
    minimum_role: ClassVar[dict[str, Role]] = {"GET": Role.AGENT, "PATCH": Role.ADMIN}
    serializer_class = CompanySerializer

    def _company(self, request: Request) -> Company:
        tenant = tenant_for_request(request)
        assert tenant is not None  # HasTenantRole guarantees it
        return tenant.company

    @extend_schema(responses=CompanySerializer)
    def get(self, request: Request) -> Response:
        return Response(CompanySerializer(self._company(request)).data)

    @extend_schema(request=CompanySerializer, responses=CompanySerializer)
    def patch(self, request: Request) -> Response:
        tenant = tenant_for_request(request)
        assert tenant is not None
        serializer = CompanySerializer(tenant.company, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        company = actions.update_company_settings(
            actor=tenant.actor, company=tenant.company, changes=dict(serializer.validated_data)
        )
        return Response(CompanySerializer(company).data)


class IsSignedInUser(permissions.BasePermission):
    """A person signed in with a session; API tokens act for a company, not a person."""

    message = "This endpoint needs a signed-in user; API tokens cannot use it."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if isinstance(request.auth, ApiToken):
            return False
        return bool(request.user and request.user.is_authenticated)


class _SessionUserView(APIView):
    permission_classes = [IsSignedInUser]
    allow_api_tokens = False  # IsSignedInUser refuses them; the schema lists only the session cookie

    def _user(self, request: Request) -> User:
        if not isinstance(request.user, User):
            raise Http404  # tokens have no user; unreachable with IsAuthenticated
        return request.user


def _me(request: Request, user: User) -> Response:
    tenant = tenant_for_request(request)
    memberships = Membership.objects.for_user(user).select_related("company").order_by("company__name")
    active = tenant.company.public_id if tenant else None
    data = {
        "email": user.email,
        "active_company": active,
        "companies": [
            {"id": m.company.public_id, "name": m.company.name, "role": m.role, "active": m.company.public_id == active}
            for m in memberships
        ],
    }
    return Response(MeSerializer(data).data)


class MeView(_SessionUserView):
    """The signed-in user and the companies they can switch between (session only)."""

    serializer_class = MeSerializer

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return _me(request, self._user(request))


class SwitchCompanyView(_SessionUserView):
    """Make another of your companies the active one for this session."""

    serializer_class = SwitchCompanySerializer

    @extend_schema(
        request=SwitchCompanySerializer,
        responses={200: MeSerializer, 404: OpenApiResponse(ErrorSerializer, description="Not one of your companies.")},
    )
    def post(self, request: Request) -> Response:
        user = self._user(request)
        serializer = SwitchCompanySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Only the user's own memberships are candidates: a foreign company is a 404.
        membership = (
            Membership.objects.for_user(user)
            .select_related("company")
            .filter(company__public_id=serializer.validated_data["company"])
            .first()
        )
        if membership is None:
            raise Http404("No such company among yours.")
        activate_company(request, membership)
        return _me(request, user)


@extend_schema_view(destroy=extend_schema(responses={204: None, **CONFLICT}))
class MemberViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, CompanyScopedViewSet[Membership]
):
    """Members of the company. Admins change roles and remove members; owners manage owners."""

    model = Membership
    minimum_role: ClassVar[dict[str, Role]] = {**READ, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}
    serializer_class = MembershipSerializer
    http_method_names: ClassVar[list[str]] = ["get", "patch", "delete", "head", "options"]  # type: ignore[misc]

    def base_queryset(self, company: Company) -> QuerySet[Membership]:
        return Membership.objects.for_company(company).select_related("user", "company").order_by("created_at", "id")

    @extend_schema(request=MembershipRoleSerializer, responses={200: MembershipSerializer, **CONFLICT})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change the member's role; a body without ``role`` changes nothing."""
        membership = self.get_object()
        serializer = MembershipRoleSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "role" not in serializer.validated_data:
            return Response(MembershipSerializer(membership).data)
        updated = actions.change_member_role(
            actor=self.tenant.actor, membership=membership, role=Role(serializer.validated_data["role"])
        )
        return Response(MembershipSerializer(updated).data)

    def perform_destroy(self, instance: Membership) -> None:
        actions.remove_member(actor=self.tenant.actor, membership=instance)


@extend_schema_view(destroy=extend_schema(responses={204: None, **CONFLICT}))
class InvitationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, CompanyScopedViewSet[Invitation]
):
    """Invitations to join the company (admins). DELETE revokes; the row stays for the record."""

    model = Invitation
    minimum_role: ClassVar[dict[str, Role]] = {"GET": Role.ADMIN, "POST": Role.ADMIN, "DELETE": Role.ADMIN}
    serializer_class = InvitationSerializer

    def base_queryset(self, company: Company) -> QuerySet[Invitation]:
        return Invitation.objects.for_company(company).select_related("invited_by")

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationCreatedSerializer, **CONFLICT})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, secret = actions.invite_member(
            actor=self.tenant.actor,
            company=self.tenant.company,
            email=serializer.validated_data["email"],
            role=Role(serializer.validated_data["role"]),
            base_url=request.build_absolute_uri("/"),
        )
        context = {"accept_url": request.build_absolute_uri(actions.invitation_url(secret))}
        return Response(InvitationCreatedSerializer(invitation, context=context).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Invitation) -> None:
        actions.revoke_invitation(actor=self.tenant.actor, invitation=instance)


@extend_schema_view(destroy=extend_schema(responses={204: None, **CONFLICT}))
class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, CompanyScopedViewSet[ApiToken]
):
    """Company API tokens (admins, signed in: a token cannot mint or revoke tokens). DELETE revokes."""

    model = ApiToken
    minimum_role: ClassVar[dict[str, Role]] = {"GET": Role.ADMIN, "POST": Role.ADMIN, "DELETE": Role.ADMIN}
    allow_api_tokens = False
    serializer_class = ApiTokenSerializer

    def base_queryset(self, company: Company) -> QuerySet[ApiToken]:
        return ApiToken.objects.for_company(company).select_related("created_by")

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, secret = actions.create_api_token(
            actor=self.tenant.actor,
            company=self.tenant.company,
            name=serializer.validated_data["name"],
            scope=TokenScope(serializer.validated_data["scope"]),
        )
        return Response(
            ApiTokenCreatedSerializer(token, context={"secret": secret}).data, status=status.HTTP_201_CREATED
        )

    def perform_destroy(self, instance: ApiToken) -> None:
        actions.revoke_api_token(actor=self.tenant.actor, token=instance)


class AuditEventViewSet(mixins.ListModelMixin, CompanyScopedViewSet[AuditEvent]):
    """The company's audit log, newest first (admins)."""

    model = AuditEvent
    minimum_role: ClassVar[dict[str, Role]] = {"GET": Role.ADMIN}
    serializer_class = AuditEventSerializer

    def base_queryset(self, company: Company) -> QuerySet[AuditEvent]:
        return AuditEvent.objects.for_company(company)


__all__ = [
    "ACTIVE_COMPANY_SESSION_KEY",
    "ApiTokenViewSet",
    "AuditEventViewSet",
    "CurrentCompanyView",
    "InvitationViewSet",
    "MeView",
    "MemberViewSet",
    "SwitchCompanyView",
]
