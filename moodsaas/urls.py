"""Root URLs. API routes live under ``/api/v1/``; each app contributes its own ``api_urls``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from frontend.csp import redoc_policy
from frontend.views.pages import healthz

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("evaluations.urls")),
    path("", include("modelversions.urls")),
    path("", include("notifications.api_urls")),
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
