"""Django settings for MoodSaaS.

One settings module, two modes chosen by the environment (docs/configuration.md):

- *embedded* (default, nothing to set): SQLite file under ``var/``, Celery tasks run in-process,
  in-memory channel layer, e-mail printed to the console. For a single machine and for demos.
- *services*: ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` (Celery broker and channel layer)
  are required, ``SECRET_KEY`` must be set and DEBUG is off unless asked for.

Every value comes from ``moodsaas.env`` helpers, which fail loudly on malformed input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from csp.constants import NONCE, NONE, SELF

from moodsaas.env import env_bool, env_choice, env_int, env_list, env_required, env_str

# Lets runtime code subscript Django generics (ModelAdmin[Company], QuerySet[Membership]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MOODSAAS_VAR_DIR") or BASE_DIR / "var")

_DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")

MOODSAAS_MODE = env_choice(
    "MOODSAAS_MODE", "services" if (_DATABASE_URL or REDIS_URL) else "embedded", ("embedded", "services")
)
EMBEDDED = MOODSAAS_MODE == "embedded"
if EMBEDDED:
    # Embedded means self-contained even if service URLs linger in the shell.
    _DATABASE_URL = None
    REDIS_URL = None
else:
    _DATABASE_URL = env_required("DATABASE_URL")
    REDIS_URL = env_required("REDIS_URL")

DEBUG = env_bool("DEBUG", EMBEDDED)

# A fixed key is acceptable only in embedded mode, where nothing leaves the machine.
if EMBEDDED:
    SECRET_KEY = env_str("SECRET_KEY") or "django-insecure-embedded-mode-only-never-use-in-production"
else:
    SECRET_KEY = env_required("SECRET_KEY")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS. HTTPS=true switches on every secure default at once; each can still be overridden.
_HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if _HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _HTTPS)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that strips client-sent X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "daphne",  # first, so runserver is the ASGI one
    "frontend",  # before allauth so its templates override allauth's
    "accounts",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",  # django-csp's system checks
    "allauth",
    "allauth.account",
    "allauth.mfa",  # TOTP and recovery codes for every person (docs/web.md "Security")
    "evaluations",
    "notifications",  # events outbox, e-mail, webhooks, in-app alerts (after evaluations: it listens to it)
    "modelversions",  # staff API over the model registry and `manage.py ml`; no models
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "frontend.csp.ContentSecurityPolicyMiddleware",  # the policy below; docs/web.md "Security"
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.mfa.MfaRequirementMiddleware",  # owners and admins whose company requires MFA set it up first
]

# Browser features: the camera only for our own pages (the agent page), nothing else.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "camera": ["self"],
    "microphone": [],
    "geolocation": [],
    "payment": [],
    "usb": [],
    "display-capture": [],
}

# Content-Security-Policy (django-csp; frontend.csp adds the websocket origin to connect-src and
# relaxes styles for Redoc only; docs/web.md "Security"). Scripts and styles come from our own
# origin or carry the request's nonce (``request.csp_nonce``); no inline event handler or style
# attribute anywhere.
# data: images are the demo's annotated photo and the TOTP QR code; nothing uses blob: URLs (the
# camera plays through video.srcObject, which no fetch directive governs).
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "moodsaas.urls"
WSGI_APPLICATION = "moodsaas.wsgi.application"
ASGI_APPLICATION = "moodsaas.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.tenant",
            ],
        },
    },
]

# --- Database
if _DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(_DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60, minimum=0))}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env_choice(
    "ACCOUNT_EMAIL_VERIFICATION", "optional" if EMBEDDED else "mandatory", ("none", "optional", "mandatory")
)
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# Tell people when their password or e-mail address changes (and from which browser and address):
# the only warning they get if someone else did it.
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.CompanySignupForm"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[MoodSaaS] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if _HTTPS else "http"

# Two-factor authentication (allauth.mfa): an authenticator app (TOTP) with recovery codes as the
# fallback; no security keys yet. Sign-in asks for a code once TOTP is on. Companies may require it
# of their owners and admins (Company.mfa_required_for_admins, accounts.mfa).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "MoodSaaS"

INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7, minimum=1, maximum=90)
# Open websockets re-check their token or membership this often: the backstop for a lost "access
# changed" message (accounts.realtime); revoking, removing or demoting closes them at once.
ACCOUNTS_SOCKET_RECHECK_SECONDS = env_int("ACCOUNTS_SOCKET_RECHECK_SECONDS", 10, minimum=1, maximum=300)

# --- E-mail: SMTP when EMAIL_HOST is set, otherwise printed to the console.
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "") or ""
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "") or ""
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "MoodSaaS <noreply@moodsaas.test>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Internationalisation
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files (whitenoise serves static files from the app process).
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or VAR_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing directory
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "media/"
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest needs `collectstatic` first, which the Docker image does.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Cache (allauth's rate limits need one shared by all processes in services mode)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_PREFIX", "moodsaas"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Channels
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 defaults socket_timeout to 5 s, the same as channels-redis' blocking
                # BZPOPMIN: every idle consumer then dies with "Timeout reading" (channels_redis#422).
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": env_str("CHANNELS_PREFIX", "moodsaas"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery (read by moodsaas/celery.py through the CELERY_ namespace)
CELERY_BROKER_URL = REDIS_URL or "memory://"
# Results are off by default (tasks return nothing); the backend serves the few that opt in.
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", EMBEDDED)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 150, minimum=1)
# Celery's Django fix-up closes every database connection around every task unless this is
# set; reconnecting to PostgreSQL cost about 10 ms of CPU per live frame (docs/benchmarks.md,
# "Where a frame's CPU goes"). Workers instead run Django's own per-request hygiene before each task
# (moodsaas/celery.py), which drops broken or CONN_MAX_AGE-expired connections.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
# Periodic jobs (the `beat` service of docker-compose.yml).
CELERY_BEAT_SCHEDULE = {
    "purge-expired-evaluations": {
        "task": "evaluations.purge_expired",
        "schedule": float(env_int("RETENTION_PURGE_SECONDS", 3600, minimum=60)),
    },
}

# --- Evaluation sessions (docs/sessions.md; each variable: docs/configuration.md)
EVALUATIONS_LIVE_MAX_FPS = env_int("EVALUATIONS_LIVE_MAX_FPS", 10, minimum=1, maximum=60)
EVALUATIONS_MAX_IN_FLIGHT = env_int("EVALUATIONS_MAX_IN_FLIGHT", 2, minimum=1, maximum=1000)
EVALUATIONS_MAX_IN_FLIGHT_TOTAL = env_int("EVALUATIONS_MAX_IN_FLIGHT_TOTAL", 16, minimum=1)
# Live frames of all sockets of a web process are queued in batches (evaluations.realtime.FrameBatcher):
# a frame waits at most this long for others, and a batch holds at most this many frames.
EVALUATIONS_BATCH_WINDOW_MS = env_int("EVALUATIONS_BATCH_WINDOW_MS", 25, minimum=0, maximum=1000)
EVALUATIONS_BATCH_MAX_FRAMES = env_int("EVALUATIONS_BATCH_MAX_FRAMES", 8, minimum=1, maximum=64)
EVALUATIONS_MAX_FRAME_AGE_MS = env_int("EVALUATIONS_MAX_FRAME_AGE_MS", 2000, minimum=50)
EVALUATIONS_MAX_FRAME_BYTES = env_int("EVALUATIONS_MAX_FRAME_BYTES", 512 * 1024, minimum=1024)
EVALUATIONS_MAX_IMAGE_BYTES = env_int("EVALUATIONS_MAX_IMAGE_BYTES", 10 * 1024 * 1024, minimum=1024)
EVALUATIONS_MAX_IMAGES_PER_UPLOAD = env_int("EVALUATIONS_MAX_IMAGES_PER_UPLOAD", 20, minimum=1, maximum=100)
EVALUATIONS_MAX_VIDEO_BYTES = env_int("EVALUATIONS_MAX_VIDEO_BYTES", 200 * 1024 * 1024, minimum=1024)
EVALUATIONS_VIDEO_SAMPLE_FPS = env_int("EVALUATIONS_VIDEO_SAMPLE_FPS", 2, minimum=1, maximum=30)

# --- Notifications (docs/notifications.md)
# Links in e-mails and webhook payloads are absolute: the public origin of the site.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000") or "http://127.0.0.1:8000"
# Seconds of sustained anger, disgust or fear on the customer's face that raise an alert while a
# session runs; each company may set its own (notification settings page).
NOTIFICATIONS_NEGATIVE_ALERT_SECONDS = env_int("NOTIFICATIONS_NEGATIVE_ALERT_SECONDS", 20, minimum=3, maximum=600)
# Webhook URLs resolving to loopback are refused unless this is on (tests and local development
# only; private and link-local addresses are refused always).
WEBHOOKS_ALLOW_LOOPBACK = env_bool("WEBHOOKS_ALLOW_LOOPBACK", False)
# Retries of e-mails and webhooks that are due (docs/notifications.md "Retries").
CELERY_BEAT_SCHEDULE["notifications-sweep"] = {"task": "notifications.sweep", "schedule": 30.0}
# Daily and weekly digests, each at 07:00-08:00 in the company's own time zone.
CELERY_BEAT_SCHEDULE["notifications-digests"] = {"task": "notifications.produce_digests", "schedule": 3600.0}
# Events describe sessions: they follow each company's retention period, like the sessions.
CELERY_BEAT_SCHEDULE["notifications-purge-expired"] = {
    "task": "notifications.purge_expired",
    "schedule": float(env_int("RETENTION_PURGE_SECONDS", 3600, minimum=60)),
}

# --- Public demo page (/demo/): analyses one photo per request for anyone, so it is rate-limited
# per client address (the address allauth's own rate limits use) through the shared cache.
DEMO_RATE_PER_MINUTE = env_int("DEMO_RATE_PER_MINUTE", 10, minimum=1, maximum=10_000)

# --- REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header turns "not authenticated" into a 401.
        "accounts.authentication.ApiTokenAuthentication",
        # DRF's, refusing owners and admins who must set up two-factor authentication first.
        "accounts.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # drf-spectacular's, plus the error answers every operation really gives (accounts.schema).
    "DEFAULT_SCHEMA_CLASS": "accounts.schema.ApiAutoSchema",
    # DRF's, with ?page= checked as the schema states it (accounts.pagination).
    "DEFAULT_PAGINATION_CLASS": "accounts.pagination.PageNumberPagination",
    # JSON bodies; the upload endpoints declare multipart themselves.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "EXCEPTION_HANDLER": "accounts.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MoodSaaS API",
    "DESCRIPTION": "Company-scoped API. Authenticate with a session (web UI) or `Authorization: Bearer mood_...`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc are served from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Sessions and webhook deliveries both have a "status": name each choice set (sessions keep their name).
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "evaluations.models.Status",
        "WebhookDeliveryStatusEnum": "notifications.models.WebhookStatus",
        # Sessions and consent receipts both have a "channel".
        "ChannelEnum": "evaluations.models.Channel",
        "ConsentChannelEnum": "evaluations.models.ConsentChannel",
    },
}

# --- Abuse limits (accounts.ratelimits, accounts.throttling, moodsaas.asgi; docs/configuration.md)
# The client's address behind reverse proxies: the X-Forwarded-For entry this many places from
# the right (0: the connection's own address). Sign-in limits, API throttles and the demo use it.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("ALLAUTH_TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=5)
# Failed sign-ins count per address (credential stuffing stays slow: 20 a minute, 100 an hour)
# and per account *and* address (5 in 5 minutes, accounts.adapter): an attacker's failures never
# lock the owner out from another address. Successful sign-ins are not counted.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_RATE_LIMITS: dict[str, str] | bool = {"login_failed": "20/m/ip,100/h/ip,5/5m/key"}
# REST API throttles: per API token and per person on every request; on analyse/ (inference in
# the web process) also per token or person and per company. Over a limit: 429 with Retry-After.
API_THROTTLING = True  # tests switch it off, except those of the throttles
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["accounts.throttling.ApiThrottle"]
_API_RATES_PER_MINUTE = {
    "token": env_int("API_TOKEN_RATE_PER_MINUTE", 600, minimum=1),
    "user": env_int("API_USER_RATE_PER_MINUTE", 300, minimum=1),
    "analyse": env_int("API_ANALYSE_RATE_PER_MINUTE", 20, minimum=1),
    "analyse_company": env_int("API_ANALYSE_COMPANY_RATE_PER_MINUTE", 60, minimum=1),
}
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {scope: f"{count}/min" for scope, count in _API_RATES_PER_MINUTE.items()}
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",  # drf-spectacular's default
    "accounts.schema.document_throttling",
]
# Request bodies (moodsaas.asgi): refused with 413 by Content-Length before a byte of the body is
# read, and by a running count for chunked bodies. A request without credentials (no session
# cookie, no Authorization header) may carry a demo photo; with them, the largest upload. Each
# endpoint's own, tighter check still follows (a video over EVALUATIONS_MAX_VIDEO_BYTES, ...).
_ENVELOPE_BYTES = 1024 * 1024  # multipart boundaries, form fields, headroom
ANONYMOUS_REQUEST_MAX_BYTES = env_int(
    "ANONYMOUS_REQUEST_MAX_BYTES", EVALUATIONS_MAX_IMAGE_BYTES + _ENVELOPE_BYTES, minimum=64 * 1024
)
REQUEST_MAX_BYTES = env_int(
    "REQUEST_MAX_BYTES",
    max(EVALUATIONS_MAX_VIDEO_BYTES, EVALUATIONS_MAX_IMAGE_BYTES * EVALUATIONS_MAX_IMAGES_PER_UPLOAD) + _ENVELOPE_BYTES,
    minimum=64 * 1024,
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))},
}
