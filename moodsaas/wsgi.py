"""WSGI entry point, for tools that want one; production serves ``moodsaas.asgi`` with daphne."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moodsaas.settings")

application = get_wsgi_application()
