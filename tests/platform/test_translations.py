"""The Spanish catalogue is complete, compiled, keeps every placeholder, and the pages use it.

The .po is read by a small parser here rather than by GNU gettext or polib: a fresh machine may
have neither, and the test must still say which entry is wrong.
"""

from __future__ import annotations

import ast
import gettext
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from accounts import actions
from accounts.models import Company, User
from tests.frontend.conftest import finished, page_client

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES"
# Python's %-placeholders, and the {name} ones that our scripts fill in (live.js).
PLACEHOLDER = re.compile(r"%(?:\([A-Za-z_][A-Za-z0-9_]*\))?[sdif]|%%|\{[a-z_]+\}")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


@dataclass
class Entry:
    line: int
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        context = f" ({self.msgctxt})" if self.msgctxt is not None else ""
        return f"django.po:{self.line} {self.msgid!r}{context}"

    def sources(self) -> list[str]:
        return [self.msgid] if self.msgid_plural is None else [self.msgid, self.msgid_plural]


def parse_po(path: Path) -> tuple[dict[str, str], list[Entry]]:
    """Read a .po file: its header fields and its entries (obsolete ``#~`` entries skipped).

    1. A blank line ends an entry; a ``#,`` line holds its flags.
    2. ``msgid``, ``msgid_plural``, ``msgstr`` and ``msgstr[n]`` open a field; a line that is only
       a quoted string continues the field opened last.
    3. Strings are C-escaped like Python literals, so ``ast.literal_eval`` unquotes them.
    """
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            if not line and current is not None:
                entries.append(current)
                current, target = None, None
            continue
        if current is None:
            current = Entry(line=number)
        if line.startswith("#,"):
            current.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            keyword, rest = "", line
        value = ast.literal_eval(rest)
        assert isinstance(value, str), f"django.po:{number}: {raw}"
        if keyword == "msgid":
            current.msgid, target = value, ("msgid", 0)
        elif keyword == "msgid_plural":
            current.msgid_plural, target = value, ("msgid_plural", 0)
        elif keyword.startswith("msgstr"):
            index = int(keyword[7:-1]) if keyword != "msgstr" else 0
            current.msgstr[index], target = value, ("msgstr", index)
        elif keyword == "msgctxt":
            current.msgctxt, target = value, ("msgctxt", 0)
        else:
            assert keyword == "" and target is not None, f"django.po:{number}: {raw}"
            if target[0] == "msgctxt":
                current.msgctxt = (current.msgctxt or "") + value
            elif target[0] == "msgid":
                current.msgid += value
            elif target[0] == "msgid_plural":
                current.msgid_plural = (current.msgid_plural or "") + value
            else:
                current.msgstr[target[1]] += value
    if current is not None:
        entries.append(current)
    header_entry = entries.pop(0)
    assert header_entry.msgid == "", "the .po starts with its header"
    assert "fuzzy" not in header_entry.flags, "the header is still marked fuzzy"
    header = dict(
        (name.strip(), value.strip())
        for name, _, value in (line.partition(":") for line in header_entry.msgstr[0].splitlines())
    )
    return header, entries


@pytest.fixture(autouse=True)
def _english_afterwards() -> Iterator[None]:
    """Requests here activate Spanish in this thread; later tests expect the default again."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(scope="module")
def catalogue() -> tuple[dict[str, str], list[Entry]]:
    return parse_po(CATALOGUE / "django.po")


def test_the_header_declares_spanish_with_two_plural_forms(catalogue: tuple[dict[str, str], list[Entry]]) -> None:
    header, entries = catalogue
    assert header["Language"] == "es"
    assert header["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    assert header["Content-Type"] == "text/plain; charset=UTF-8"
    assert len(entries) > 500


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue: tuple[dict[str, str], list[Entry]]) -> None:
    _, entries = catalogue
    fuzzy = [str(e) for e in entries if "fuzzy" in e.flags]
    expected_forms = [[0] if e.msgid_plural is None else [0, 1] for e in entries]
    untranslated = [
        str(e)
        for e, forms in zip(entries, expected_forms, strict=True)
        if [e.msgstr.get(i, "") != "" for i in forms] != [True] * len(forms)
    ]
    assert fuzzy == []
    assert untranslated == []


def test_the_compiled_catalogue_matches_the_po(catalogue: tuple[dict[str, str], list[Entry]]) -> None:
    _, entries = catalogue
    with (CATALOGUE / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = []
    for e in entries:
        if e.msgid_plural is None:
            got = [
                compiled.gettext(e.msgid) if e.msgctxt is None else compiled.pgettext(e.msgctxt, e.msgid),
            ]
        else:
            got = [
                compiled.ngettext(e.msgid, e.msgid_plural, n)
                if e.msgctxt is None
                else compiled.npgettext(e.msgctxt, e.msgid, e.msgid_plural, n)
                for n in (1, 2)
            ]
        if got != [e.msgstr[i] for i in range(len(got))]:
            stale.append(str(e))
    assert stale == [], "run `make messages` (or manage.py compilemessages) and commit django.mo"


def test_every_translation_keeps_the_placeholders_and_tags_of_its_source(
    catalogue: tuple[dict[str, str], list[Entry]],
) -> None:
    _, entries = catalogue
    wrong = []
    for e in entries:
        sources = e.sources()
        for index, translated in e.msgstr.items():
            # The singular may drop the count ("One face found."), never add a placeholder.
            source = sources[min(index, len(sources) - 1)]
            wanted, got = Counter(PLACEHOLDER.findall(source)), Counter(PLACEHOLDER.findall(translated))
            if e.msgid_plural is not None and index == 0:
                allowed = set(PLACEHOLDER.findall(" ".join(sources)))
                ok = set(got) <= allowed and set(wanted) <= set(got)
            else:
                ok = set(got) == set(wanted) and got["%%"] == wanted["%%"]
            tags_ok = Counter(TAG.findall(source)) == Counter(TAG.findall(translated))
            if not (ok and tags_ok):
                wrong.append(f"{e} [{index}] -> {translated!r}")
    assert wrong == []


def test_python_format_entries_really_format(catalogue: tuple[dict[str, str], list[Entry]]) -> None:
    _, entries = catalogue
    broken = []
    for e in entries:
        if "python-format" not in e.flags:
            continue
        names = {m[2:-2] for m in PLACEHOLDER.findall(" ".join(e.sources())) if m.startswith("%(")}
        values = dict.fromkeys(names, 1)
        for translated in e.msgstr.values():
            positional = (1,) * len(re.findall(r"%[sdif]", translated))
            try:
                translated % values if names else translated % positional
            except (KeyError, TypeError, ValueError) as error:
                broken.append(f"{e}: {error}")
    assert broken == []


# The pages in Spanish: the user's setting, else the browser's Accept-Language.


def _spanish(html: str, spanish: list[str], english: list[str]) -> None:
    assert '<html lang="es">' in html
    # English may stay in markup (class names, form values); the reader sees the text.
    text = TAG.sub(" ", re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S))
    missing = [s for s in spanish if s not in html]
    left = [s for s in english if re.search(rf"\b{re.escape(s)}\b", text)]
    assert (missing, left) == ([], [])


@pytest.fixture
def spanish_owner(owner: User) -> User:
    owner.language = "es"
    owner.save(update_fields=["language"])
    return owner


def test_the_dashboard_is_in_spanish_for_a_user_who_chose_spanish(
    spanish_owner: User, company_a: Company, bob: User
) -> None:
    finished(company_a, bob, "A", 91.0)
    finished(company_a, bob, "D", 32.0)
    # The user's setting wins over an English browser.
    response = page_client(spanish_owner).get("/app/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "es"
    _spanish(
        response.content.decode(),
        [
            "Panel",
            "Cifras clave",
            "Puntuación media",
            "Sesiones en curso",
            "Sesiones recientes con D y F",
            "Cerrar sesión",
        ],
        ["Dashboard", "Key figures", "Average score", "Sessions in progress", "Recent D and F sessions", "Sign out"],
    )


def test_the_sessions_list_is_in_spanish(spanish_owner: User, company_a: Company, bob: User) -> None:
    finished(company_a, bob, "B", 70.0, customer_reference="T-1")
    finished(company_a, bob, "insufficient_evidence", None)
    response = page_client(spanish_owner).get("/app/sessions/")
    assert response.status_code == 200
    _spanish(
        response.content.decode(),
        ["Filtrar sesiones", "Exportar CSV", "2 sesiones", "Calificación", "Puntuación", "insuficiente", "Finalizada"],
        ["Filter sessions", "Export CSV", "2 sessions", "Grade", "Score", "insufficient", "Finished"],
    )


def test_the_session_detail_is_in_spanish(spanish_owner: User, company_a: Company, bob: User) -> None:
    session = finished(company_a, bob, "C", 55.0)
    response = page_client(spanish_owner).get(f"/app/sessions/{session.public_id}/")
    assert response.status_code == 200
    _spanish(
        response.content.decode(),
        ["Línea de tiempo", "Votos por calificación", "Fotogramas útiles", "Confianza", "alegría"],
        ["Timeline", "Votes by grade", "Usable frames", "Confidence", "happy"],
    )


def test_the_landing_page_follows_a_spanish_browser(db: None) -> None:
    response = Client().get("/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9,en;q=0.5")
    assert response.status_code == 200
    _spanish(
        response.content.decode(),
        ["Qué se mide", "Sus límites", "Privacidad", "Crear una cuenta de empresa", "Iniciar sesión"],
        ["What is measured", "Its limits", "Privacy", "Create a company account", "Sign in"],
    )


def test_the_login_page_follows_a_spanish_browser(db: None) -> None:
    response = Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 200
    html = response.content.decode()
    _spanish(html, ["Iniciar sesión", "Contraseña", "Registrarse"], ["Sign in", "Sign In", "Password", "Sign up"])
    # allauth's own texts speak like ours ("tú"), from our catalogue (frontend/allauth_texts.py).
    assert "¿Olvidaste tu contraseña?" in html and "regístrate" in html
    assert "¿Ha olvidado su contraseña?" not in html and "regístrese" not in html


def test_an_english_browser_still_gets_english(db: None) -> None:
    response = Client().get("/", HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "What is measured" in html
    assert "Qué se mide" not in html


def test_the_live_page_and_its_script_words_are_in_spanish(bob: User) -> None:
    bob.language = "es"
    bob.save(update_fields=["language"])
    response = page_client(bob).get("/live/")
    assert response.status_code == 200
    html = response.content.decode()
    _spanish(
        html,
        ["Antes de encender la cámara", "Fotogramas por segundo", "Encender la cámara y empezar", "Pausar"],
        ["Before the camera starts", "Frames per second", "Start camera and session", "Pause"],
    )
    # live.js reads its words from #live-text.
    assert 'data-connection-lost="Se ha perdido la conexión con el servidor' in html
    assert 'data-confidence="confianza {percent}%"' in html


def test_a_refused_action_is_explained_in_spanish(spanish_owner: User, company_a: Company, bob: User) -> None:
    session = finished(company_a, bob, "B", 70.0)
    response = page_client(spanish_owner).post(f"/app/sessions/{session.public_id}/cancel/", follow=True)
    assert "No se puede cancelar una sesión finalizada." in response.content.decode()


def test_a_company_created_in_spanish_starts_with_a_spanish_camera_notice(db: None) -> None:
    user = User.objects.create_user("ana@es.test", "x")
    with translation.override("es"):
        company = actions.create_company(name="Soporte Iberia", owner=user)
    assert company.consent_notice.startswith("Esta conversación puede grabarse con la cámara")
    with translation.override("en"):
        english = actions.create_company(name="Support UK", owner=user)
    assert english.consent_notice.startswith("This conversation may be recorded by camera")
