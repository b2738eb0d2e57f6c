from __future__ import annotations

from django.urls import path

from frontend import views

urlpatterns = [
    path("", views.home, name="home"),
    path("live/", views.live_session, name="live-session"),
    path("switch-company/", views.switch_company, name="switch-company-page"),
    path("invitations/<str:secret>/", views.accept_invitation, name="invitation-accept"),
]
