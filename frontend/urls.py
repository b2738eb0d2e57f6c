from __future__ import annotations

from django.urls import path

from frontend.views import dashboard, pages, privacy, public, reports, sessions
from frontend.views import settings as settings_pages

urlpatterns = [
    # Public pages (frontend/views/public.py): "/" sends members of a company to the portal
    path("", public.home, name="home"),
    path("demo/", public.demo, name="demo"),
    path("company/", pages.home, name="company"),
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
    path("app/sessions/new/", sessions.session_new, name="portal-session-new"),
    path("app/sessions/<uuid:session_id>/", sessions.session_detail, name="portal-session"),
    path("app/sessions/<uuid:session_id>/finish/", sessions.session_finish, name="portal-session-finish"),
    path("app/sessions/<uuid:session_id>/cancel/", sessions.session_cancel, name="portal-session-cancel"),
    path("app/sessions/<uuid:session_id>/csat/", sessions.session_csat, name="portal-session-csat"),
    path("app/sessions/<uuid:session_id>/upload/", sessions.session_upload, name="portal-session-upload"),
    path("app/sessions/<uuid:session_id>/delete/", privacy.session_delete, name="portal-session-delete"),
    path("app/sessions/<uuid:session_id>/frames/<uuid:frame_id>/", sessions.session_frame, name="portal-session-frame"),
    # Reports (frontend/views/reports.py)
    path("app/sessions/<uuid:session_id>/report.csv", reports.session_report_csv, name="portal-session-report-csv"),
    path("app/sessions/<uuid:session_id>/report.pdf", reports.session_report_pdf, name="portal-session-report-pdf"),
    path("app/reports/period.csv", reports.period_report_csv, name="portal-period-report-csv"),
    path("app/reports/period.pdf", reports.period_report_pdf, name="portal-period-report-pdf"),
    # Settings (frontend/views/settings.py), admins and owners
    path("app/settings/", settings_pages.company_settings, name="portal-settings"),
    path("app/settings/export/", privacy.company_export, name="portal-settings-export"),
    path("app/settings/erase-customer/", privacy.customer_erase, name="portal-settings-erase-customer"),
    path("app/settings/delete-frames/", privacy.stored_frames_delete, name="portal-settings-delete-frames"),
    path("app/settings/rubric/", settings_pages.rubric_settings, name="portal-settings-rubric"),
    path("app/settings/members/", settings_pages.member_list, name="portal-settings-members"),
    path("app/settings/members/<uuid:member_id>/role/", settings_pages.member_role, name="portal-settings-member-role"),
    path(
        "app/settings/members/<uuid:member_id>/remove/",
        settings_pages.member_remove,
        name="portal-settings-member-remove",
    ),
    path("app/settings/invitations/", settings_pages.invitation_list, name="portal-settings-invitations"),
    path(
        "app/settings/invitations/<uuid:invitation_id>/revoke/",
        settings_pages.invitation_revoke,
        name="portal-settings-invitation-revoke",
    ),
    path("app/settings/tokens/", settings_pages.token_list, name="portal-settings-tokens"),
    path(
        "app/settings/tokens/<uuid:token_id>/revoke/", settings_pages.token_revoke, name="portal-settings-token-revoke"
    ),
    path("app/settings/audit/", settings_pages.audit_log, name="portal-settings-audit"),
]
