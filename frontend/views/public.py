"""Pages anyone may open: the landing page and the photo demo. Neither writes anything."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from accounts.ratelimits import client_address, take_slot
from accounts.tenancy import tenant_for_request
from evaluations import analysis
from evaluations.grading import EMOTIONS
from evaluations.uploads import UploadError, check_image_size, image_error
from frontend.portal import EMOTION_LABELS

DEMO_ENVELOPE_BYTES = 64 * 1024
"""Room for the multipart envelope (boundary, part headers, the CSRF token) around the photo: a
request longer than the image limit plus this is refused before its body is read."""

DEMO_RATE_WINDOW_SECONDS = 60

IMAGE_TYPES = "image/jpeg,image/png,image/webp"

QUALITY_LABELS = {
    "too_small": gettext_lazy("small face"),
    "too_dark": gettext_lazy("dark"),
    "blurred": gettext_lazy("blurred"),
    "partly_outside": gettext_lazy("partly outside the picture"),
}
"""The quality flags the grading rubric can exclude, as the demo names them."""


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The front door: the landing page for visitors, the portal for members of a company.

    A signed-in user without any company sees the "no company yet" explanation instead.
    """
    if not request.user.is_authenticated:
        return render(request, "frontend/public/landing.html", {"model": active_model_figures()})
    if tenant_for_request(request) is not None:
        return redirect("portal")
    return render(request, "frontend/home.html", {"tenant": None})


@dataclass(frozen=True)
class ModelFigures:
    """What the landing page says about the active emotion model's measured accuracy."""

    version: str
    accuracy: float | None  # share of the test faces labelled as the annotators did
    faces: int | None  # size of the test set

    @property
    def accuracy_percent(self) -> float | None:
        return None if self.accuracy is None else 100 * self.accuracy


def active_model_figures() -> ModelFigures | None:
    """The active model's accuracy on FER2013 PublicTest as its registry entry records it.

    Read on each visit (two small files), so activating another version updates the page.
    """
    from inference import registry

    try:
        info = registry.active()
    except registry.RegistryError:
        return None
    accuracy, faces = info.metrics.get("accuracy"), info.metrics.get("n")
    return ModelFigures(
        version=info.version,
        accuracy=float(accuracy) if isinstance(accuracy, int | float) else None,
        faces=faces if isinstance(faces, int) else None,
    )


# --- The demo ------------------------------------------------------------------------------------


class DemoForm(forms.Form):
    photo = forms.FileField(
        label=gettext_lazy("Photo"),
        allow_empty_file=True,  # check_image_size says "empty" the way the API does
        help_text=gettext_lazy("A JPEG, PNG or WebP photo with one or more faces."),
        error_messages={"required": gettext_lazy("Choose a photo to analyse.")},
        widget=forms.FileInput(attrs={"accept": IMAGE_TYPES}),
    )


class _InMemoryUploads(MemoryFileUploadHandler):
    """Keep the upload in memory whatever Django's spill-to-disk threshold: nothing is written.

    Safe because the demo refuses a body longer than the image limit before parsing it.
    """

    def handle_raw_input(self, *args: Any, **kwargs: Any) -> None:
        super().handle_raw_input(*args, **kwargs)
        self.activated = True


def take_demo_slot(request: HttpRequest) -> int:
    """Count one demo request for the client's address: 0 if allowed, else seconds to wait."""
    return take_slot(f"demo:{client_address(request)}", settings.DEMO_RATE_PER_MINUTE, DEMO_RATE_WINDOW_SECONDS)


def _upload_message(error: UploadError) -> str:
    """A translated sentence for the upload checks' stable codes (their own text is English)."""
    from inference.decode import MAX_PIXELS

    if error.code == "image_too_large":
        return _(
            "This photo is too large: the limit is %(size)s and %(megapixels)d megapixels. Send a smaller photo."
        ) % {
            "size": filesizeformat(settings.EVALUATIONS_MAX_IMAGE_BYTES),
            "megapixels": MAX_PIXELS // 1_000_000,
        }
    if error.code == "image_empty":
        return _("This file is empty. Choose a photo.")
    if error.code == "image_unsupported":
        return _("This file is not a photo we can read. Send a JPEG, PNG or WebP image.")
    if error.code == "image_corrupt":
        return _("This file starts like an image but it is damaged or cut short. Try another photo.")
    return error.message


def _rate_limited_message(wait: int) -> str:
    limit = settings.DEMO_RATE_PER_MINUTE
    return " ".join(
        (
            ngettext(
                "The demo takes at most %(count)d photo a minute from one address.",
                "The demo takes at most %(count)d photos a minute from one address.",
                limit,
            )
            % {"count": limit},
            ngettext("Try again in %(seconds)d second.", "Try again in %(seconds)d seconds.", wait) % {"seconds": wait},
        )
    )


def _demo_page(request: HttpRequest, form: DemoForm, status: int = 200, **context: Any) -> HttpResponse:
    context |= {
        "form": form,
        "max_bytes": settings.EVALUATIONS_MAX_IMAGE_BYTES,
        "rate_per_minute": settings.DEMO_RATE_PER_MINUTE,
    }
    return render(request, "frontend/public/demo.html", context, status=status)


@csrf_exempt  # checked below, once the upload handlers are set (Django's documented order)
@require_http_methods(["GET", "POST"])
def demo(request: HttpRequest) -> HttpResponse:
    """Anyone uploads a photo and sees its faces boxed with their seven expression probabilities.

    1. Count the request against the client's rate limit (429 with ``Retry-After`` past it).
    2. Refuse a body longer than the image limit before reading it (413, as the API).
    3. Parse the form with in-memory upload handlers, then check the CSRF token.
    4. Check the size as the API does, analyse with the upload options, answer with the
       annotated picture inline. No row, no file, no log of the picture: nothing is kept.
    """
    if request.method != "POST":
        return _demo_page(request, DemoForm())
    wait = take_demo_slot(request)
    if wait:
        response = _demo_page(
            request,
            DemoForm(),
            status=429,
            error=_rate_limited_message(wait),
        )
        response["Retry-After"] = str(wait)
        return response
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.EVALUATIONS_MAX_IMAGE_BYTES + DEMO_ENVELOPE_BYTES:
        too_large = UploadError("", code="image_too_large")
        return _demo_page(request, DemoForm(), status=413, error=_upload_message(too_large))
    request.upload_handlers = [_InMemoryUploads(request)]
    return _analyse_demo_photo(request)


@csrf_protect
def _analyse_demo_photo(request: HttpRequest) -> HttpResponse:
    import inference

    form = DemoForm(request.POST, request.FILES)
    if not form.is_valid():
        return _demo_page(request, form, status=400)
    upload = form.cleaned_data["photo"]
    data = bytes(upload.read())
    name = upload.name or "photo"
    try:
        check_image_size(data, name, settings.EVALUATIONS_MAX_IMAGE_BYTES)
        annotated = analysis.annotate_image(data, analysis.Use.UPLOAD)
    except UploadError as error:
        return _demo_page(request, form, status=error.status_code, error=_upload_message(error))
    except inference.ModelUnavailable:
        message = _("The emotion model is not available right now; try again later.")
        return _demo_page(request, form, status=503, error=message)
    except inference.InferenceError as exc:
        refused = image_error(exc, name)
        return _demo_page(request, form, status=refused.status_code, error=_upload_message(refused))
    faces = [
        {
            "number": number,
            "box": face.box,
            "dominant": EMOTION_LABELS[face.dominant],
            "emotions": [
                {"label": EMOTION_LABELS[emotion], "percent": 100 * p, "dominant": emotion == face.dominant}
                for emotion, p in face.emotions.items()
            ],
            "flags": [QUALITY_LABELS.get(flag, flag) for flag in face.quality.flags()],
        }
        for number, face in enumerate(annotated.result.faces, start=1)
    ]
    result = {
        "image": "data:image/jpeg;base64," + base64.b64encode(annotated.jpeg).decode("ascii"),
        "width": annotated.width,
        "height": annotated.height,
        "faces": faces,
        "model_version": annotated.result.model_version,
        "emotions": [EMOTION_LABELS[emotion] for emotion in EMOTIONS],
    }
    return _demo_page(request, DemoForm(), result=result)
