"""/api/v1/company/: the current company and its privacy settings."""

from __future__ import annotations

import pytest

from accounts.models import DEFAULT_CONSENT_NOTICE, AuditEvent, Company

URL = "/api/v1/company/"


def test_a_member_reads_the_current_company_with_privacy_defaults(bob_client, company_a: Company) -> None:
    response = bob_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(company_a.public_id)
    assert body["name"] == "Acme Support"
    assert body["store_frames"] is False
    assert body["retention_days"] == 90
    assert body["consent_notice"] == DEFAULT_CONSENT_NOTICE
    assert body["grading_rubric"] == {}


def test_an_api_token_reads_its_own_company(read_token_a_client, company_a: Company) -> None:
    response = read_token_a_client.get(URL)
    assert response.status_code == 200
    assert response.json()["id"] == str(company_a.public_id)


def test_alice_changes_the_privacy_settings_and_it_is_audited(alice_client, company_a: Company) -> None:
    response = alice_client.patch(
        URL,
        {"retention_days": 30, "grading_rubric": {"min_usable_frames": 10}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    company_a.refresh_from_db()
    assert company_a.retention_days == 30
    assert company_a.grading_rubric == {"min_usable_frames": 10}
    event = AuditEvent.objects.for_company(company_a).get(action="company.settings_updated")
    assert event.actor_label == "alice@a.test"
    assert event.metadata["changes"]["retention_days"] == {"from": 90, "to": 30}


def test_the_owner_opts_in_to_frame_storage_with_its_retention_and_it_is_audited(
    owner_client, company_a: Company
) -> None:
    assert owner_client.get(URL).json()["frame_retention_days"] == 7
    response = owner_client.patch(URL, {"store_frames": True, "frame_retention_days": 14}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["store_frames"], response.json()["frame_retention_days"]) == (True, 14)
    company_a.refresh_from_db()
    assert company_a.store_frames is True and company_a.frame_retention_days == 14
    event = AuditEvent.objects.for_company(company_a).get(action="company.settings_updated")
    assert event.actor_label == "owner@a.test"
    assert event.metadata["changes"] == {
        "store_frames": {"from": False, "to": True},
        "frame_retention_days": {"from": 7, "to": 14},
    }


@pytest.mark.parametrize("payload", [{"store_frames": True}, {"frame_retention_days": 30}])
def test_only_an_owner_decides_whether_and_how_long_frames_are_stored(
    alice_client, token_a_client, nothing_written, payload
) -> None:
    with nothing_written():
        for client in (alice_client, token_a_client):
            response = client.patch(URL, payload, format="json")
            assert response.status_code == 403
            assert response.json()["code"] == "role"


def test_sending_the_current_frame_settings_back_needs_no_owner(alice_client, company_a: Company) -> None:
    """A client that PATCHes the whole company it read changes nothing it may not change."""
    body = alice_client.get(URL).json()
    response = alice_client.patch(URL, {**body, "name": "Acme Care"}, format="json")
    assert response.status_code == 200, response.json()
    company_a.refresh_from_db()
    assert company_a.name == "Acme Care"


def test_a_new_camera_notice_text_takes_the_next_version(alice_client, company_a: Company) -> None:
    assert alice_client.get(URL).json()["consent_notice_version"] == 1
    alice_client.patch(URL, {"consent_notice": "We record expressions."}, format="json")
    alice_client.patch(URL, {"consent_notice": "We record expressions."}, format="json")  # the same text: no change
    alice_client.patch(URL, {"name": "Acme", "consent_notice_version": 9}, format="json")  # read-only
    response = alice_client.patch(URL, {"consent_notice": "We record facial expressions."}, format="json")
    assert response.json()["consent_notice_version"] == 3
    company_a.refresh_from_db()
    assert company_a.consent_notice_version == 3
    versions = [
        e.metadata.get("consent_notice_version")
        for e in AuditEvent.objects.for_company(company_a).filter(action="company.settings_updated").order_by("pk")
    ]
    assert versions == [2, None, 3]


def test_a_read_write_token_changes_settings_as_an_admin(token_a_client, company_a: Company) -> None:
    response = token_a_client.patch(URL, {"consent_notice": "We record."}, format="json")
    assert response.status_code == 200
    company_a.refresh_from_db()
    assert company_a.consent_notice == "We record."
    assert (
        AuditEvent.objects.for_company(company_a)
        .get(action="company.settings_updated")
        .actor_label.startswith("token:mood_")
    )


def test_bob_the_agent_cannot_change_settings(bob_client, nothing_written) -> None:
    with nothing_written():
        response = bob_client.patch(URL, {"store_frames": True}, format="json")
    assert response.status_code == 403
    assert "admin role" in response.json()["detail"]


def test_a_read_only_token_cannot_change_settings(read_token_a_client, nothing_written) -> None:
    with nothing_written():
        response = read_token_a_client.patch(URL, {"store_frames": True}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This API token is read-only."


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": 5000}, "retention_days"),
        ({"retention_days": "soon"}, "retention_days"),
        ({"store_frames": "maybe"}, "store_frames"),
        ({"frame_retention_days": 0}, "frame_retention_days"),
        ({"frame_retention_days": 366}, "frame_retention_days"),
        ({"grading_rubric": [1, 2]}, "grading_rubric"),
        ({"grading_rubric": {"weights": {"happy": 1}}}, "grading_rubric"),
        ({"grading_rubric": {"min_usable_frames": 0}}, "grading_rubric"),
        ({"grading_rubric": {"bonus": 5}}, "grading_rubric"),
        ({"name": ""}, "name"),
        ({"consent_notice": ""}, "consent_notice"),
    ],
)
def test_invalid_settings_are_rejected_precisely_and_change_nothing(alice_client, nothing_written, payload, field):
    with nothing_written():
        response = alice_client.patch(URL, payload, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_rubric_that_could_not_grade_is_refused_with_the_offending_key(alice_client, nothing_written):
    with nothing_written():
        response = alice_client.patch(URL, {"grading_rubric": {"weights": {"happy": 1}}}, format="json")
    assert response.status_code == 400
    assert "weights must give exactly these emotions" in response.json()["grading_rubric"][0]


def test_the_company_cannot_be_chosen_by_the_request_body(alice_client, company_a, company_b, nothing_written):
    """Ids in the body are ignored: the company comes from the session only."""
    response = alice_client.patch(URL, {"id": str(company_b.public_id), "name": "Renamed"}, format="json")
    assert response.status_code == 200
    company_a.refresh_from_db()
    company_b.refresh_from_db()
    assert company_a.name == "Renamed"
    assert company_b.name == "Bravo Care"


def test_charlie_changing_settings_only_ever_touches_company_b(charlie_client, company_a, company_b, alice):
    before = Company.objects.values().get(pk=company_a.pk)
    response = charlie_client.patch(URL, {"retention_days": 7}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == str(company_b.public_id)
    assert Company.objects.values().get(pk=company_a.pk) == before
    assert AuditEvent.objects.for_company(company_a).filter(action="company.settings_updated").count() == 0


def test_anonymous_requests_get_401(anon_client, company_a, nothing_written) -> None:
    with nothing_written():
        response = anon_client.patch(URL, {"name": "x"}, format="json")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
