"""The one fixture world for every test.

Companies and people:
    ``company_a``, ``company_b``    two tenants
    ``owner``   owner@a.test,   owner of company A
    ``alice``   alice@a.test,   admin of company A
    ``bob``     bob@a.test,     agent of company A
    ``charlie`` charlie@b.test, owner of company B (the outsider in cross-tenant tests)
    All have a verified e-mail and the password ``tests.factories.PASSWORD``.

API clients (``rest_framework.test.APIClient``), signed in with a real session:
    ``owner_client``, ``alice_client``, ``bob_client``, ``charlie_client``, ``anon_client``.

API tokens (``tests.factories.IssuedToken``: ``.token``, ``.secret``, ``.header``) and clients
sending ``Authorization: Bearer ...``:
    ``token_a`` (read-write, A), ``read_token_a`` (read-only, A), ``token_b`` (read-write, B);
    ``token_a_client``, ``read_token_a_client``, ``token_b_client``.

A real (tiny) emotion model and real face photos, for every test that runs inference:
    ``emotion_model``   the inference tests' untrained tiny moodnet, exported through the real
                        serving path into a temporary registry made active as $MOODSAAS_MODEL_DIR:
                        the whole pipeline runs for real, only the weights are not trained (assert
                        on structure and bookkeeping, never on which emotion wins)
    ``face_bgr``, ``face_jpeg``, ``face_png``   scikit-image's astronaut (one clear, smiling face)

``nothing_written``: ``with nothing_written(*extra_models): ...`` asserts that no row of the
accounts models (and of ``extra_models``) was inserted, changed or deleted inside the block.
Use it for every cross-company and bad-input test.

Celery runs tasks eagerly in tests unless a test uses a real worker (see tests/platform).
Tests that do not request ``db`` or these fixtures do not touch the database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import models
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditEvent, Company, Invitation, Membership, Role, TokenScope, User
from moodsaas.celery import app as celery_app
from tests.factories import CompanyFactory, IssuedToken, MembershipFactory, UserFactory, issue_token

# The browser tests' fixtures (daphne on the test database, headless Chromium).
pytest_plugins = ["tests.browser"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2 costs ~0.5 s per user on our machines; tests do not need slow hashes."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # allauth's per-IP limits would trip across hundreds of tests from one "IP".
    settings.ACCOUNT_RATE_LIMITS = False
    # The API's throttles likewise (user ids repeat across concurrent test databases sharing Redis);
    # tests/accounts/test_abuse_limits.py switches them back on.
    settings.API_THROTTLING = False


@pytest.fixture(autouse=True)
def _celery_eager() -> Iterator[None]:
    """Run tasks in-process by default; tests/platform starts a real worker where it matters."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def company_a(db: None) -> Company:
    return CompanyFactory.create(name="Acme Support", slug="acme-support")


@pytest.fixture
def company_b(db: None) -> Company:
    return CompanyFactory.create(name="Bravo Care", slug="bravo-care")


def _member(email: str, company: Company, role: Role) -> User:
    user = UserFactory.create(email=email)
    MembershipFactory.create(user=user, company=company, role=role)
    return user


@pytest.fixture
def owner(company_a: Company) -> User:
    return _member("owner@a.test", company_a, Role.OWNER)


@pytest.fixture
def alice(company_a: Company, owner: User) -> User:
    return _member("alice@a.test", company_a, Role.ADMIN)


@pytest.fixture
def bob(company_a: Company, owner: User) -> User:
    return _member("bob@a.test", company_a, Role.AGENT)


@pytest.fixture
def charlie(company_b: Company) -> User:
    return _member("charlie@b.test", company_b, Role.OWNER)


def _client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def owner_client(owner: User) -> APIClient:
    return _client_for(owner)


@pytest.fixture
def alice_client(alice: User) -> APIClient:
    return _client_for(alice)


@pytest.fixture
def bob_client(bob: User) -> APIClient:
    return _client_for(bob)


@pytest.fixture
def charlie_client(charlie: User) -> APIClient:
    return _client_for(charlie)


@pytest.fixture
def token_a(company_a: Company) -> IssuedToken:
    return issue_token(company_a, TokenScope.READ_WRITE, "A read-write")


@pytest.fixture
def read_token_a(company_a: Company) -> IssuedToken:
    return issue_token(company_a, TokenScope.READ, "A read-only")


@pytest.fixture
def token_b(company_b: Company) -> IssuedToken:
    return issue_token(company_b, TokenScope.READ_WRITE, "B read-write")


def _token_client(issued: IssuedToken) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=issued.header)
    return client


@pytest.fixture
def token_a_client(token_a: IssuedToken) -> APIClient:
    return _token_client(token_a)


@pytest.fixture
def read_token_a_client(read_token_a: IssuedToken) -> APIClient:
    return _token_client(read_token_a)


@pytest.fixture
def token_b_client(token_b: IssuedToken) -> APIClient:
    return _token_client(token_b)


# Bookkeeping fields that legitimately change on any authenticated request.
_VOLATILE_FIELDS = {"last_login", "last_used_at"}


def _manager(model: type[models.Model]) -> models.Manager[Any]:
    manager: models.Manager[Any] = getattr(model, "unscoped_objects", model._default_manager)
    return manager


def _snapshot(model_list: tuple[type[models.Model], ...]) -> dict[str, list[dict[str, Any]]]:
    return {
        model._meta.label: [
            {k: v for k, v in row.items() if k not in _VOLATILE_FIELDS}
            for row in _manager(model).order_by("pk").values()
        ]
        for model in model_list
    }


@pytest.fixture
def nothing_written(db: None) -> Callable[..., AbstractContextManager[None]]:
    """Return a context manager asserting that the block wrote nothing to the given models."""

    @contextmanager
    def check(*extra_models: type[models.Model]) -> Iterator[None]:
        watched: tuple[type[models.Model], ...] = (
            User,
            Company,
            Membership,
            Invitation,
            ApiToken,
            AuditEvent,
            *extra_models,
        )
        before = _snapshot(watched)
        yield
        after = _snapshot(watched)
        for label in before:
            assert after[label] == before[label], f"{label} changed"

    return check


# --- A real model and real faces (imports inside: most tests never run inference) -------------


@pytest.fixture(scope="session")
def emotion_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A registry with one active tiny model, as $MOODSAAS_MODEL_DIR for this process and its workers."""
    from ml.registry import activate
    from tests.model_registry import register_tiny

    root = tmp_path_factory.mktemp("evaluation-models")
    register_tiny(root, "tiny-eval", 3)
    activate("tiny-eval", root)
    previous = os.environ.get("MOODSAAS_MODEL_DIR")
    os.environ["MOODSAAS_MODEL_DIR"] = str(root)
    # The process-wide classifier re-reads the registry pointer at most once a second: if another
    # test module loaded its own model first, wait that second so every analysis here uses ours.
    time.sleep(1.1)
    yield root
    if previous is None:
        os.environ.pop("MOODSAAS_MODEL_DIR", None)
    else:
        os.environ["MOODSAAS_MODEL_DIR"] = previous


@pytest.fixture(scope="session")
def face_bgr() -> Any:
    """scikit-image's astronaut photograph (one clear, smiling face) as BGR."""
    import cv2
    import numpy as np
    from skimage import data

    return np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="session")
def face_jpeg(face_bgr: Any) -> bytes:
    import cv2

    return bytes(cv2.imencode(".jpg", face_bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])


@pytest.fixture(scope="session")
def face_png(face_bgr: Any) -> bytes:
    import cv2

    return bytes(cv2.imencode(".png", face_bgr)[1])


@pytest.fixture
def needs_services() -> None:
    """Skip (outside services mode) a test that needs the real Redis and PostgreSQL."""
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.skip("needs services mode: set DATABASE_URL and REDIS_URL (see docs/testing.md)")


@pytest.fixture
async def close_thread_connections() -> Any:
    """Close database connections opened outside the test's thread, which keep the test database open.

    Those are asgiref's sync thread (closed here at teardown), and whatever thread ran a task: the
    worker's, or an executor thread of the consumer when tasks run eagerly (closed after each task).
    """
    from asgiref.sync import sync_to_async
    from celery.signals import task_postrun
    from django.db import connections

    def close_connections(**_: Any) -> None:
        connections.close_all()

    task_postrun.connect(close_connections, weak=False)
    yield
    task_postrun.disconnect(close_connections)
    await sync_to_async(connections.close_all)()
