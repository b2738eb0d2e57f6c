"""Evaluations API routes, mounted under ``/api/v1/`` by ``moodsaas.urls``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from evaluations import api

router = SimpleRouter(trailing_slash=True)
router.register("sessions", api.SessionViewSet, basename="session")

urlpatterns = [
    path("analyse/", api.AnalyseView.as_view(), name="analyse"),
    path("results/summary/", api.ResultsSummaryView.as_view(), name="results-summary"),
    path("results/agents/", api.AgentResultsView.as_view(), name="results-agents"),
    path("customers/erase/", api.CustomerErasureView.as_view(), name="customer-erase"),
    path("company/export/", api.CompanyExportView.as_view(), name="company-export"),
    *router.urls,
]
