from __future__ import annotations

from django.urls import path

from frontend.views import dashboard, pages, sessions

urlpatterns = [
    path("", pages.home, name="home"),
    path("live/", pages.live_session, name="live-session"),
    path("switch-company/", pages.switch_company, name="switch-company-page"),
    path("language/", pages.set_language, name="set-language"),
    path("invitations/<str:secret>/", pages.accept_invitation, name="invitation-accept"),
    # The company portal
    path("app/", dashboard.portal_home, name="portal"),
    path("app/agents/", dashboard.agent_list, name="portal-agents"),
    path("app/agents/<uuid:member_id>/", dashboard.agent_detail, name="portal-agent"),
    path("app/sessions/", sessions.session_list, name="portal-sessions"),
    path("app/sessions/export.csv", sessions.session_export, name="portal-sessions-export"),
    path("app/sessions/<uuid:session_id>/", sessions.session_detail, name="portal-session"),
    path("app/sessions/<uuid:session_id>/finish/", sessions.session_finish, name="portal-session-finish"),
    path("app/sessions/<uuid:session_id>/cancel/", sessions.session_cancel, name="portal-session-cancel"),
    path("app/sessions/<uuid:session_id>/csat/", sessions.session_csat, name="portal-session-csat"),
]
