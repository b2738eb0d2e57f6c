"""A web process never imports TensorFlow: not at start-up, not to analyse an image.

The web process is a fresh interpreter that starts the way daphne does (``moodsaas.asgi``) and
then serves an authenticated ``POST /api/v1/analyse/`` of a real face photograph with Django's
test client, on the test database. Serving runs the emotion model with ONNX Runtime; TensorFlow
and Keras are for training, conversion and the benchmark's peer only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.conf import settings
from django.db import connection

from ml.registry import activate
from tests.factories import IssuedToken
from tests.model_registry import register_tiny
from tests.processes import ROOT

HEAVY = ("tensorflow", "keras", "onnxruntime")

PROBE = """
import json, os, sys

def loaded():
    return {name: name in sys.modules for name in json.loads(os.environ["PROBE_MODULES"])}

from moodsaas.asgi import application  # start-up, as daphne does
after_start_up = loaded()

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

with open(os.environ["PROBE_IMAGE"], "rb") as image:
    upload = SimpleUploadedFile("face.jpg", image.read(), content_type="image/jpeg")
client = Client(headers={"Authorization": os.environ["PROBE_AUTHORIZATION"]})
response = client.post("/api/v1/analyse/", {"image": upload})
print(json.dumps({
    "application": type(application).__name__,
    "after_start_up": after_start_up,
    "after_request": loaded(),
    "status": response.status_code,
    "body": response.json(),
}))
"""


def _require_postgres() -> None:
    """The web process must see the rows this test commits: a shared server database."""
    if connection.vendor == "postgresql":
        return
    if os.environ.get("CI"):
        pytest.fail("CI must run against PostgreSQL: set DATABASE_URL (make test does)")
    pytest.skip("needs services mode (PostgreSQL), so another process can see the test database")


@pytest.mark.django_db(transaction=True)
def test_a_web_process_analyses_a_face_without_ever_importing_tensorflow(token_a: IssuedToken, tmp_path: Path) -> None:
    _require_postgres()
    from skimage import data

    models = tmp_path / "models"
    register_tiny(models, "tiny-web", 4)
    activate("tiny-web", models)
    image = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(image), np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)))

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "moodsaas.settings",
        "MOODSAAS_MODE": "services",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": str(settings.REDIS_URL),
        "ALLOWED_HOSTS": "testserver",
        "MOODSAAS_MODEL_DIR": str(models),
        "MOODSAAS_VAR_DIR": str(tmp_path / "var"),
        "PROBE_MODULES": json.dumps(HEAVY),
        "PROBE_IMAGE": str(image),
        "PROBE_AUTHORIZATION": token_a.header,
    }
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])

    assert probe["application"] == "ProtocolTypeRouter"
    assert probe["status"] == 200, probe["body"]
    assert probe["body"]["model_version"] == "tiny-web"
    assert len(probe["body"]["faces"]) >= 1
    # The check sees modules that serving imports lazily: the model really ran in this process.
    assert probe["after_request"]["onnxruntime"] is True
    for moment in ("after_start_up", "after_request"):
        assert probe[moment]["tensorflow"] is False, moment
        assert probe[moment]["keras"] is False, moment
