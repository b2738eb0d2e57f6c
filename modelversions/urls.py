from __future__ import annotations

from django.urls import path

from modelversions.api import ModelVersionActivate, ModelVersionList, ModelVersionRestorePrevious

urlpatterns = [
    path("models/", ModelVersionList.as_view(), name="model-list"),
    path("models/restore-previous/", ModelVersionRestorePrevious.as_view(), name="model-restore-previous"),
    path("models/<str:version>/activate/", ModelVersionActivate.as_view(), name="model-activate"),
]
