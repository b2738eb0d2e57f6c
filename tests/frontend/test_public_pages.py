"""Public pages (landing, photo demo), the account pages' layout and the header's company switcher."""

from __future__ import annotations

import base64
import ipaddress
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.template.defaultfilters import floatformat
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Company, Membership, Role, User
from accounts.tenancy import ACTIVE_COMPANY_SESSION_KEY
from evaluations import analysis
from evaluations.models import EvaluationSession, Observation, SessionFrame
from frontend.views import public
from tests.frontend.conftest import page_client

Written = Callable[..., AbstractContextManager[None]]
EVALUATION_ROWS = (EvaluationSession, Observation, SessionFrame)
DEMO = "/demo/"


def random_address() -> str:
    """A fresh client address per test: the rate limit's counters live in the shared cache."""
    return str(ipaddress.IPv4Address(random.randint(0x0A000001, 0x0AFFFFFE)))


def photo(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- Landing page --------------------------------------------------------------------------------


def test_the_landing_page_says_honestly_what_is_measured_its_limits_and_privacy(
    client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference import registry

    monkeypatch.setenv("MOODSAAS_MODEL_DIR", str(registry.REPO_MODELS))
    accuracy = registry.active().metrics["accuracy"]
    response = client.get("/")
    assert response.status_code == 200
    assert next(t.name for t in response.templates) == "frontend/public/landing.html"
    html = response.content.decode()
    for statement in (
        "It measures expressions, not feelings.",
        "seven expression classes of the FER2013 research data set",
        "Expressions are not feelings.",
        "Poor lighting, a face turned away, glasses, masks",
        "varies between cultures",
        f"gives the annotators' label to {floatformat(100 * accuracy, 1)}% of faces",
        "No camera images kept.",
        "Retention limits.",
        "A notice before any camera starts.",
        "An audit trail.",
        "No identity, age, gender or ethnicity inference.",
    ):
        assert statement in html, statement
    for link in (reverse("demo"), reverse("account_signup"), reverse("account_login")):
        assert f'href="{link}"' in html


def test_the_landing_page_says_so_when_the_model_has_no_recorded_accuracy(
    client: Client, db: None, emotion_model: Path
) -> None:
    html = client.get("/").content.decode()
    assert "accuracy has not been recorded" in html
    assert "% of faces" not in html


def test_members_of_a_company_go_from_the_front_door_to_the_portal(bob: User) -> None:
    response = page_client(bob).get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal") == "/app/"


# --- Demo ----------------------------------------------------------------------------------------


def test_the_demo_page_offers_an_accessible_upload_form_and_says_nothing_is_kept(client: Client, db: None) -> None:
    response = client.get(DEMO)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<label for="id_photo">Photo</label>' in html
    assert 'type="file" name="photo"' in html and 'accept="image/jpeg,image/png,image/webp"' in html
    assert "Nothing is kept." in html


def test_the_demo_annotates_a_real_face_and_keeps_nothing(
    client: Client,
    emotion_model: Path,
    face_jpeg: bytes,
    nothing_written: Written,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # Django would spill this upload to a temporary file; the demo must keep it in memory.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    monkeypatch.setattr(
        "django.core.files.uploadhandler.TemporaryUploadedFile",
        lambda *a, **k: pytest.fail("the upload was written to a temporary file"),
    )
    with nothing_written(*EVALUATION_ROWS):
        response = client.post(DEMO, {"photo": photo(face_jpeg)}, REMOTE_ADDR=random_address())
    assert response.status_code == 200, response.content.decode()[:2000]
    assert files_under(settings.MEDIA_ROOT) == []

    result = response.context["result"]
    side = analysis.ANNOTATED_SIDE  # the 512-pixel photo, enlarged so that its labels read well
    assert (result["width"], result["height"], result["model_version"]) == (side, side, "tiny-eval")
    assert len(result["faces"]) >= 1
    face = result["faces"][0]
    assert [str(e["label"]) for e in face["emotions"]] == [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"
    ]  # fmt: skip
    assert sum(e["percent"] for e in face["emotions"]) == pytest.approx(100, abs=0.5)
    assert [e["dominant"] for e in face["emotions"]].count(True) == 1

    html = response.content.decode()
    prefix = 'src="data:image/jpeg;base64,'
    assert prefix in html
    encoded = html.split(prefix, 1)[1].split('"', 1)[0]
    annotated = cv2.imdecode(np.frombuffer(base64.b64decode(encoded), np.uint8), cv2.IMREAD_COLOR)
    assert annotated is not None and annotated.shape == (side, side, 3)
    assert "Expression probabilities per face" in html
    assert html.count('<th scope="col" class="num">') == 7
    assert '<th scope="row">Face 1' in html


def test_the_demo_says_when_no_face_is_found(client: Client, emotion_model: Path) -> None:
    blank = bytes(cv2.imencode(".png", np.full((240, 320, 3), 128, np.uint8))[1])
    response = client.post(DEMO, {"photo": photo(blank, "wall.png", "image/png")}, REMOTE_ADDR=random_address())
    assert response.status_code == 200
    assert "No face found in this photo." in response.content.decode()


def test_the_demo_refuses_corrupt_files_text_files_and_no_file_clearly(
    client: Client, emotion_model: Path, face_jpeg: bytes, nothing_written: Written
) -> None:
    address = random_address()
    with nothing_written(*EVALUATION_ROWS):
        corrupt = client.post(DEMO, {"photo": photo(face_jpeg[:900])}, REMOTE_ADDR=address)
        text = client.post(DEMO, {"photo": photo(b"hello", "notes.txt", "text/plain")}, REMOTE_ADDR=address)
        empty = client.post(DEMO, {"photo": photo(b"")}, REMOTE_ADDR=address)
        missing = client.post(DEMO, {}, REMOTE_ADDR=address)
    assert corrupt.status_code == 400
    assert "damaged or cut short" in corrupt.content.decode()
    assert text.status_code == 400
    assert "not a photo we can read. Send a JPEG, PNG or WebP image." in text.content.decode()
    assert empty.status_code == 400 and "This file is empty." in empty.content.decode()
    assert missing.status_code == 400 and "Choose a photo to analyse." in missing.content.decode()
    for response in (corrupt, text, empty):
        assert 'role="alert"' in response.content.decode()


def test_the_demo_refuses_an_over_limit_image_before_decoding_it(
    client: Client, db: None, face_jpeg: bytes, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.EVALUATIONS_MAX_IMAGE_BYTES = 4096
    monkeypatch.setattr(
        "evaluations.analysis.annotate_image", lambda *a, **k: pytest.fail("an over-limit image was decoded")
    )
    # Within the envelope's slack: the parsed file's size is checked as the API checks it.
    just_over = b"\xff\xd8\xff" + b"\0" * 4094
    response = client.post(DEMO, {"photo": photo(just_over)}, REMOTE_ADDR=random_address())
    assert response.status_code == 413
    assert "This photo is too large: the limit is 4.0\xa0KB and 40 megapixels." in response.content.decode()
    # Far over: refused from Content-Length alone, the body is never parsed.
    monkeypatch.setattr(public, "_analyse_demo_photo", lambda request: pytest.fail("the body was parsed"))
    huge = b"\xff\xd8\xff" + b"\0" * (4096 + public.DEMO_ENVELOPE_BYTES)
    response = client.post(DEMO, {"photo": photo(huge)}, REMOTE_ADDR=random_address())
    assert response.status_code == 413
    assert "This photo is too large" in response.content.decode()


def test_the_demo_is_rate_limited_per_client_address(client: Client, db: None, settings: Any) -> None:
    settings.DEMO_RATE_PER_MINUTE = 2
    address, other = random_address(), random_address()
    assert [client.post(DEMO, {}, REMOTE_ADDR=address).status_code for _ in range(2)] == [400, 400]
    limited = client.post(DEMO, {}, REMOTE_ADDR=address)
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert "The demo takes at most 2 photos a minute from one address. Try again in" in limited.content.decode()
    assert client.post(DEMO, {}, REMOTE_ADDR=other).status_code == 400
    # Viewing the page is never limited.
    assert client.get(DEMO, REMOTE_ADDR=address).status_code == 200


def test_ipv6_clients_of_one_network_share_a_limit(client: Client, db: None, settings: Any) -> None:
    settings.DEMO_RATE_PER_MINUTE = 1
    network = f"2001:db8:{random.randint(0, 0xFFFF):x}:{random.randint(0, 0xFFFF):x}"
    assert client.post(DEMO, {}, REMOTE_ADDR=f"{network}::1").status_code == 400
    assert client.post(DEMO, {}, REMOTE_ADDR=f"{network}::2").status_code == 429


def test_the_demo_form_is_csrf_protected(db: None, face_jpeg: bytes) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(DEMO, {"photo": photo(face_jpeg)}, REMOTE_ADDR=random_address())
    assert response.status_code == 403


def test_members_may_use_the_demo_too(bob: User) -> None:
    assert page_client(bob).get(DEMO).status_code == 200


# --- Account pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_account_page_uses_the_products_layout(client: Client, db: None, language: str) -> None:
    client.cookies["django_language"] = language
    for url in (
        reverse("account_login"),
        reverse("account_signup"),
        reverse("account_reset_password"),
        reverse("account_reset_password_done"),
        reverse("account_reset_password_from_key", kwargs={"uidb36": "0", "key": "bad-key"}),
        reverse("account_reset_password_from_key_done"),
        reverse("account_email_verification_sent"),
        reverse("account_confirm_email", kwargs={"key": "bad-key"}),
        reverse("account_inactive"),
    ):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert f'<html lang="{language}">' in html, url
        assert 'class="card narrow account-card"' in html, url
        assert "frontend/site.css" in html and 'class="topbar"' in html, url


def test_signed_in_account_pages_use_the_products_layout(bob: User) -> None:
    client = page_client(bob)
    for name in ("account_change_password", "account_email", "account_logout"):
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        assert 'class="card narrow account-card"' in response.content.decode(), name


def test_account_forms_label_every_field_and_show_errors_next_to_them(client: Client, bob: User) -> None:
    html = client.get(reverse("account_signup")).content.decode()
    for field in ("email", "password1", "password2", "company_name"):
        assert f'<label for="id_{field}">' in html, field
    assert 'class="button" type="submit"' in html
    bad = client.post(reverse("account_login"), {"login": "bob@a.test", "password": "wrong"}).content.decode()
    assert 'class="form-errors" role="alert"' in bad
    bad = client.post(reverse("account_signup"), {"email": "not-an-email"}).content.decode()
    assert 'aria-invalid="true"' in bad and 'id="id_email_error"' in bad


def test_the_invitation_page_uses_the_products_layout(client: Client, company_a: Company) -> None:
    from accounts import actions
    from accounts.models import Actor

    _, secret = actions.invite_member(
        actor=Actor(role=Role.OWNER), company=company_a, email="dana@a.test", role=Role.AGENT
    )
    html = client.get(reverse("invitation-accept", kwargs={"secret": secret})).content.decode()
    assert 'class="card narrow account-card"' in html
    assert "Join Acme Support" in html and "dana@a.test" in html
    assert "Invitation unavailable" in client.get("/invitations/nope/").content.decode()


# --- Company switcher ----------------------------------------------------------------------------


def test_the_header_offers_the_company_switcher_only_to_members_of_several_companies(
    alice: User, bob: User, company_b: Company
) -> None:
    assert 'id="company-switcher"' not in page_client(bob).get(reverse("portal")).content.decode()
    Membership.unscoped_objects.create(user=alice, company=company_b, role=Role.AGENT)
    html = page_client(alice).get(reverse("portal")).content.decode()
    assert 'id="company-switcher"' in html
    assert f'value="{company_b.public_id}"' in html and "Bravo Care" in html


def test_the_switcher_switches_the_active_company(alice: User, company_b: Company, charlie: User) -> None:
    Membership.unscoped_objects.create(user=alice, company=company_b, role=Role.AGENT)
    client = page_client(alice)
    client.get(reverse("portal"))
    response = client.post(reverse("switch-company-page"), {"company": str(company_b.public_id)}, follow=True)
    assert client.session[ACTIVE_COMPANY_SESSION_KEY] == str(company_b.public_id)
    assert response.redirect_chain[-1][0] == reverse("portal")
    assert "You are now working in Bravo Care." in response.content.decode()


def test_the_switcher_refuses_another_users_company_with_a_404(
    charlie: User, company_a: Company, company_b: Company, nothing_written: Written
) -> None:
    client = page_client(charlie)
    client.get(reverse("portal"))
    with nothing_written():
        response = client.post(reverse("switch-company-page"), {"company": str(company_a.public_id)})
    assert response.status_code == 404
    assert client.session[ACTIVE_COMPANY_SESSION_KEY] == str(company_b.public_id)


def test_the_switcher_costs_no_query(alice: User, company_b: Company) -> None:
    client = page_client(alice)
    client.get(reverse("company"))
    with CaptureQueriesContext(connection) as one_company:
        client.get(reverse("company"))
    Membership.unscoped_objects.create(user=alice, company=company_b, role=Role.AGENT)
    with CaptureQueriesContext(connection) as two_companies:
        html = client.get(reverse("company")).content.decode()
    assert 'id="company-switcher"' in html
    assert len(two_companies) == len(one_company)
