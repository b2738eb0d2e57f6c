"""Root URLs. API routes live under ``/api/v1/``; each app contributes its own ``api_urls``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts.exceptions import api_not_found
from frontend.csp import redoc_policy
from frontend.views.pages import healthz

api_v1: list[URLPattern | URLResolver] = [
    path("", include("accounts.urls")),
    path("", include("evaluations.urls")),
    path("", include("modelversions.urls")),
    path("", include("notifications.api_urls")),
    # Last: any other path gets the API's JSON 404, not Django's HTML page. Only paths ending in a
    # slash, so APPEND_SLASH still redirects /api/v1/sessions to /api/v1/sessions/.
    re_path(r"^.*/$", api_not_found),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", redoc_policy(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("notifications.urls")),
    path("", include("frontend.urls")),
]
