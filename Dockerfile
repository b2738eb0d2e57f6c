# MoodSaaS production image: one image for web (daphne), worker (celery) and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=moodsaas.settings \
    MOODSAAS_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    STATIC_MANIFEST=true

# libgl/libglib: OpenCV's runtime needs; libpq is bundled with psycopg[binary].
# libpango*/libharfbuzz-subset0 and a font: WeasyPrint's runtime (PDF reports).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 libgl1 \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 moodsaas

WORKDIR /app
COPY pyproject.toml ./
COPY moodsaas ./moodsaas
COPY accounts ./accounts
COPY evaluations ./evaluations
COPY inference ./inference
COPY frontend ./frontend
COPY ml ./ml
COPY modelversions ./modelversions
COPY notifications ./notifications
COPY manage.py ./
RUN pip install . \
    && SECRET_KEY=collectstatic-only MOODSAAS_MODE=embedded python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown -R moodsaas:moodsaas /app/var

USER moodsaas
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "moodsaas.asgi:application"]
