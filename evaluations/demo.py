"""The demo company of ``make run`` and its month of history, read by the shipped model from real photos.

Nothing here invents a probability. Every observation of the demo is the active model's output
(``evaluations.analysis``, the live channel's options) on a real face photo that an installed
package ships:

- ``skimage.data.lfw_subset()``: 100 faces of Labeled Faces in the Wild (25 x 25 gray);
- ``skimage.data.astronaut()`` (Eileen Collins) and ``skimage.data.camera()`` (the cameraman);
- matplotlib's ``sample_data/grace_hopper.jpg``.

Steps of :func:`seed_history`:

1. Build the frame pool once per process (:func:`frame_pool`): each photo goes through a fixed
   list of real image operations a customer-facing camera produces (mirror, small rotations,
   shifted crops, brightness and contrast, a hand over part of the face, slight blur), plus a few
   frames a camera gets wrong (strong blur, darkness, no face in view); all are analysed by the
   real engine in batches. About 700 frames, a few seconds on two cores.
2. Sort the pool by what the model read: the grading group of the primary face's dominant
   emotion (A happy/surprise, B neutral, C sad, D fear/disgust, F angry) for frames grading
   would use, and "unusable" (flagged too dark or blurred, or no face) for the others.
3. Plan about 130 finished sessions over the last 30 days (a fixed random seed): weekdays and a
   few Saturday mornings, 9:00-19:00 in the company's time zone, five agents with different
   grade mixes. A session aiming at letter L draws most of its usable frames from group L and the
   rest from other groups; an "insufficient evidence" session has fewer usable frames than the
   rubric needs. Frame order gives the start-versus-end trajectory (a recovery puts the worse
   frames first). The grade itself is whatever the real grading computes from those frames.
4. Record each session through the real code path: ``start_session``, ``record_observations``
   with ``frame_input`` of each real ``ImageResult``, ``count_live_frames``, ``finish_session``
   and, for about a third of them, the customer's CSAT answer through ``record_csat``. The CSAT
   answer is drawn around the session's score with noise, so it agrees with the grade often but
   not always. Evaluations' signals are muted meanwhile: a backfilled month is not news, so
   notifications sends no e-mail or webhook about it.
5. Backdate: the actions stamp "now", so each session's ``created_at``, ``started_at``,
   ``ended_at``, its frozen grade's ``graded_at`` and ``csat_recorded_at`` are then moved to the
   planned time with one explicit update. Frames and observations are recorded with their planned
   ``captured_at`` and ``offset_seconds`` from the start, so they need no update. Audit rows keep
   the seeding time: the audit log is append-only, and the seed did run then.

What the pool lacks: the model reads none of these photos as "disgust" (FER2013's rarest class);
D sessions are built from the frames it reads as "fear", which the grading puts in the same
group. Seeded sessions carry customer references starting with ``DEMO-``; their presence is what
makes seeding idempotent.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from accounts.actions import update_company_settings
from accounts.models import Actor, Company, Membership, Role, User
from evaluations import grading
from evaluations.models import Channel, EvaluationSession

if TYPE_CHECKING:
    from inference.results import Face, ImageResult

DEMO_COMPANY = "Demo Support Co"
DEMO_SLUG = "demo-support-co"
DEMO_TIME_ZONE = "Europe/Madrid"
DEMO_REFERENCE_PREFIX = "DEMO-"
DEMO_DAYS = 30
DEMO_SEED = 13

# Published on purpose: embedded demo only. The command refuses to run with DEBUG off.
DEMO_USERS = (
    ("owner@demo.moodsaas.test", "demo-owner-password", Role.OWNER),
    ("agent@demo.moodsaas.test", "demo-agent-password", Role.AGENT),
)


@dataclass(frozen=True)
class DemoAgent:
    """An agent of the demo history: who, how many sessions, and the mix of letters aimed at."""

    email: str
    first_name: str
    last_name: str
    sessions: int
    mix: dict[str, float]  # letter (or INSUFFICIENT) -> weight


DEMO_AGENTS = (
    DemoAgent("lucia.fernandez@demo.moodsaas.test", "Lucía", "Fernández", 30, {"A": 10, "B": 3, "C": 0.6, "D": 0.4, "F": 0.3, "insufficient_evidence": 0.7}),
    DemoAgent("aisha.benali@demo.moodsaas.test", "Aisha", "Benali", 28, {"A": 8, "B": 3.5, "C": 0.8, "D": 0.5, "F": 0.4, "insufficient_evidence": 0.8}),
    DemoAgent("marc.puig@demo.moodsaas.test", "Marc", "Puig", 26, {"A": 5.5, "B": 4, "C": 1.2, "D": 0.8, "F": 0.6, "insufficient_evidence": 0.8}),
    # The agent who can sign in (DEMO_USERS) has a history too, so their own pages are not empty.
    DemoAgent("agent@demo.moodsaas.test", "Agent", "Demo", 24, {"A": 4, "B": 3.5, "C": 1.5, "D": 1, "F": 1, "insufficient_evidence": 1}),
    # One agent the coaching list should name.
    DemoAgent("jordi.serra@demo.moodsaas.test", "Jordi", "Serra", 24, {"A": 2, "B": 2.5, "C": 2.5, "D": 1.5, "F": 2.5, "insufficient_evidence": 1}),
)  # fmt: skip


def is_demo_company(company: Company | None) -> bool:
    """Whether ``company`` is the seeded demo company, whose pages say they show demo data."""
    return company is not None and company.slug == DEMO_SLUG


# --- 1. The frame pool: real photos, real image operations, the real engine ----------------------


@dataclass(frozen=True)
class Reading:
    """One real frame and what the active model read in it."""

    source: str  # the photo and the operations applied, e.g. "lfw_subset[12] mirrored"
    result: ImageResult

    @property
    def primary(self) -> Face | None:
        index = grading.primary_face_index(self.result.faces)
        return None if index is None else self.result.faces[index]

    def group(self, rubric: grading.Rubric) -> str:
        """The grading group the frame votes for, or "unusable" (no face, flagged, weak detection)."""
        face = self.primary
        if face is None or not grading.is_usable(face, rubric):
            return "unusable"
        return grading.GROUP_OF_EMOTION[face.dominant]


Operation = tuple[str, Callable[[Any], Any]]


def _photos() -> list[tuple[str, Any]]:
    """The real face photos (BGR or gray uint8 arrays) that installed packages ship, with their names."""
    import cv2
    import matplotlib
    import numpy as np
    from skimage import data

    photos: list[tuple[str, Any]] = [
        ("skimage astronaut", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)),
        ("skimage camera", data.camera()),
    ]
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos.append(("matplotlib grace_hopper", cv2.imread(str(hopper))))
    # The first 100 of lfw_subset's 200 patches are faces (the rest are not). A 25 px face is
    # below the detector's reach, so each is enlarged 4x and framed by its own border pixels, as a
    # webcam shows a head with some background.
    faces = data.lfw_subset()[:100]
    for i, face in enumerate(faces):
        patch = np.clip(face * 255.0, 0, 255).astype(np.uint8)
        big = cv2.resize(patch, (100, 100), interpolation=cv2.INTER_CUBIC)
        photos.append((f"skimage lfw_subset[{i}]", cv2.copyMakeBorder(big, 50, 50, 50, 50, cv2.BORDER_REPLICATE)))
    return photos


def _rotate(degrees: float) -> Callable[[Any], Any]:
    def apply(image: Any) -> Any:
        import cv2

        h, w = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
        return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)

    return apply


def _tone(gain: float, bias: float) -> Callable[[Any], Any]:
    def apply(image: Any) -> Any:
        import cv2

        return cv2.convertScaleAbs(image, alpha=gain, beta=bias)

    return apply


def _shift(dx: float, dy: float) -> Callable[[Any], Any]:
    """Crop 90% of the frame, moved by a fraction of the slack: the customer not quite centred."""

    def apply(image: Any) -> Any:
        h, w = image.shape[:2]
        ch, cw = int(h * 0.9), int(w * 0.9)
        x = int((w - cw) * (0.5 + dx / 2))
        y = int((h - ch) * (0.5 + dy / 2))
        return image[y : y + ch, x : x + cw].copy()

    return apply


def _blur(sigma: float) -> Callable[[Any], Any]:
    def apply(image: Any) -> Any:
        import cv2

        return cv2.GaussianBlur(image, (0, 0), sigma)

    return apply


def _mirror(image: Any) -> Any:
    import cv2

    return cv2.flip(image, 1)


def _hand_over_mouth(image: Any) -> Any:
    """A skin-gray block over the lower middle of the frame, where the mouth of a centred face is."""
    out = image.copy()
    h, w = out.shape[:2]
    out[int(h * 0.58) : int(h * 0.72), int(w * 0.38) : int(w * 0.62)] = 150
    return out


# Everyday frames: what a camera facing a customer sees from one moment to the next.
EVERYDAY: tuple[Operation, ...] = (
    ("as shipped", lambda image: image),
    ("mirrored", _mirror),
    ("rotated 6 degrees", _rotate(6)),
    ("mirrored, rotated -6 degrees", lambda image: _rotate(-6)(_mirror(image))),
    ("brighter, more contrast", _tone(1.25, 10)),
    ("dimmer", _tone(0.8, -10)),
    ("off-centre crop", _shift(-0.8, -0.6)),
    ("slightly blurred", _blur(1.0)),
)
# Frames a camera gets wrong: grading must not use them (flagged too dark or blurred, or no face).
DEGRADED: tuple[Operation, ...] = (
    ("strongly blurred", _blur(4.0)),
    ("very dark", _tone(0.18, 0)),
    ("hand over the mouth", _hand_over_mouth),
)
BIG_PHOTO_EXTRA: tuple[Operation, ...] = (
    ("rotated -10 degrees", _rotate(-10)),
    ("mirrored, brighter", lambda image: _tone(1.2, 15)(_mirror(image))),
    ("off-centre crop right", _shift(0.8, 0.4)),
    ("lower contrast", _tone(0.7, 35)),
)


def _frames() -> list[tuple[str, Any]]:
    """Every frame of the pool: each photo under every everyday operation, some degraded, some without a face."""
    photos = _photos()
    frames: list[tuple[str, Any]] = []
    for index, (name, photo) in enumerate(photos):
        operations = list(EVERYDAY)
        if not name.startswith("skimage lfw_subset"):
            operations += BIG_PHOTO_EXTRA
        if index % 8 == 0:  # degraded frames: enough for the unusable bucket, not more
            operations += DEGRADED
        frames += [(f"{name} {label}", operate(photo)) for label, operate in operations]
    # The customer out of view: the astronaut photo's lower right quarter (her suit, the flag).
    astronaut = photos[0][1]
    h, w = astronaut.shape[:2]
    frames.append(("skimage astronaut, lower right quarter (no face)", astronaut[h // 2 :, w // 2 :].copy()))
    frames.append(("skimage astronaut, lower left quarter (no face)", astronaut[h // 2 :, : w // 2].copy()))
    return frames


def frame_pool() -> tuple[Reading, ...]:
    """Every frame of the pool read by the active model, once per process and model version."""
    from inference.registry import active_version, model_dir

    return _frame_pool(str(model_dir()), active_version())


@lru_cache(maxsize=2)
def _frame_pool(registry: str, version: str) -> tuple[Reading, ...]:
    from evaluations.analysis import Use, analyse_images

    frames = _frames()
    readings: list[Reading] = []
    batch = 64  # one classifier call per batch; memory stays small
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        results = analyse_images([image for _, image in chunk], Use.LIVE)
        readings += [Reading(name, result) for (name, _), result in zip(chunk, results, strict=True)]
    return tuple(readings)


def pool_by_group(pool: Sequence[Reading], rubric: grading.Rubric) -> dict[str, list[Reading]]:
    """Step 2: the pool sorted by the group each frame votes for (or "unusable")."""
    groups: dict[str, list[Reading]] = {letter: [] for letter in (*grading.LETTERS, "unusable")}
    for reading in pool:
        groups[reading.group(rubric)].append(reading)
    return groups


# --- 3. The plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedSession:
    agent_email: str
    started_at: datetime
    channel: str
    target: str  # a letter or INSUFFICIENT
    frames: tuple[tuple[float, Reading], ...]  # (offset seconds, reading), in time order
    dropped: int
    reference: str
    csat: int | None


def _slots(rng: random.Random, now: datetime, tz: ZoneInfo, count: int) -> list[datetime]:
    """``count`` start times over the last ``DEMO_DAYS`` days, in working hours of ``tz``, before ``now``."""
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=n) for n in range(DEMO_DAYS)]
    weights = [1.0 if d.weekday() < 5 else 0.25 if d.weekday() == 5 else 0.0 for d in days]
    slots: list[datetime] = []
    while len(slots) < count:
        day: date = rng.choices(days, weights)[0]
        closing = 14 if day.weekday() == 5 else 19
        minute = rng.randrange(9 * 60, closing * 60 - 10)
        start = datetime.combine(day, time(minute // 60, minute % 60, rng.randrange(60)), tzinfo=tz)
        if start < now - timedelta(minutes=30):
            slots.append(start)
    return sorted(slots)


def quotas(mix: dict[str, float], count: int) -> list[str]:
    """``count`` targets in the proportions of ``mix`` (largest remainder), each letter at least once."""
    total = sum(mix.values())
    exact = {letter: count * weight / total for letter, weight in mix.items()}
    quota = {letter: max(1, int(share)) for letter, share in exact.items()}
    by_remainder = sorted(mix, key=lambda letter: exact[letter] - int(exact[letter]), reverse=True)
    for letter in by_remainder[: max(0, count - sum(quota.values()))]:
        quota[letter] += 1
    return [letter for letter, n in quota.items() for _ in range(n)]


def csat_answer(rng: random.Random, score: float | None) -> int | None:
    """A plausible survey answer: around the score's level, often one step off, sometimes more."""
    if score is None:
        return None
    level = 1 + 4 * min(1.0, max(0.0, (score - 20) / 60)) + rng.gauss(0, 1.5)
    return max(1, min(5, round(level)))


def compose_frames(
    rng: random.Random,
    target: str,
    groups: dict[str, list[Reading]],
    rubric: grading.Rubric,
    total: int | None = None,
) -> list[Reading]:
    """The readings of one session aiming at ``target`` (before ordering in time).

    ``total`` frames (default: 18-60; an "insufficient evidence" session: a few usable frames
    and 4-11 unusable ones). Also used by ``benchmarks.scale_data``.
    """
    if target == grading.INSUFFICIENT:
        usable = rng.randrange(0, rubric.min_usable_frames)
        if total is not None:
            usable = min(usable, total)
        others = [g for g in grading.LETTERS if groups[g]]
        picked = [rng.choice(groups[rng.choice(others)]) for _ in range(usable)]
        unusable = rng.randrange(4, 12) if total is None else total - usable
        return picked + [rng.choice(groups["unusable"]) for _ in range(unusable)]
    total = rng.randrange(18, 61) if total is None else total
    main = math.ceil(total * rng.uniform(0.55, 0.9))
    picked = [rng.choice(groups[target]) for _ in range(main)]
    rest = [g for g in grading.LETTERS if g != target and groups[g]]
    # Neighbouring moods are likelier than opposite ones (a B session has some A and C frames).
    weights = [1.0 / (1 + abs(grading.LETTERS.index(g) - grading.LETTERS.index(target))) for g in rest]
    bad = min(2, total - main)  # a blink of unusable frames
    picked += [rng.choice(groups[rng.choices(rest, weights)[0]]) for _ in range(total - main - bad)]
    picked += [rng.choice(groups["unusable"]) for _ in range(bad)]
    return picked


def spread_in_time(
    rng: random.Random, readings: list[Reading], rubric: grading.Rubric, duration: float | None = None
) -> list[tuple[float, Reading]]:
    """Order the frames (steady, recovering or deteriorating) over ``duration`` seconds (default 2-8 minutes)."""
    style = rng.choices(["steady", "recovered", "deteriorated"], [6, 2, 2])[0]

    def score(reading: Reading) -> float:
        face = reading.primary
        return grading.frame_score(face.probabilities, rubric) if face is not None else 50.0

    if style == "steady":
        rng.shuffle(readings)
    else:
        noisy = [(score(r) + rng.gauss(0, 25), r) for r in readings]
        noisy.sort(key=lambda pair: pair[0], reverse=style == "deteriorated")
        readings = [r for _, r in noisy]
    duration = rng.uniform(120, 480) if duration is None else duration
    offsets = sorted(rng.uniform(0, duration) for _ in readings)
    return list(zip(offsets, readings, strict=True))


def plan(now: datetime, tz: ZoneInfo, pool: Sequence[Reading], rubric: grading.Rubric) -> list[PlannedSession]:
    """Step 3: the sessions to record, the same for the same pool, day and time zone.

    A letter none of the pool's frames votes for is left out (:func:`missing_letters` names it).
    """
    rng = random.Random(DEMO_SEED)  # noqa: S311  (a reproducible demo, not a secret)
    groups = pool_by_group(pool, rubric)
    if not groups["unusable"]:
        raise RuntimeError("The demo frame pool has no unusable frame: no session can lack evidence.")
    work: list[tuple[str, str]] = []
    for agent in DEMO_AGENTS:
        mix = {letter: w for letter, w in agent.mix.items() if letter == grading.INSUFFICIENT or groups[letter]}
        work += [(agent.email, target) for target in quotas(mix, agent.sessions)]
    rng.shuffle(work)
    sessions: list[PlannedSession] = []
    for number, (start, (email, target)) in enumerate(zip(_slots(rng, now, tz, len(work)), work, strict=True)):
        frames = spread_in_time(rng, compose_frames(rng, target, groups, rubric), rubric)
        sessions.append(
            PlannedSession(
                agent_email=email,
                started_at=start,
                channel=Channel.IMAGES if rng.random() < 0.1 else Channel.LIVE,
                target=target,
                frames=tuple(frames),
                dropped=rng.choices([0, 1, 2, 3], [6, 2, 1, 1])[0],
                reference=f"{DEMO_REFERENCE_PREFIX}{48000 + 7 * number + rng.randrange(7)}",
                csat=None,  # drawn from the real grade once recorded
            )
        )
    return sessions


def missing_letters(pool: Sequence[Reading], rubric: grading.Rubric) -> list[str]:
    """Letters no frame of the pool votes for: the history cannot show them honestly."""
    groups = pool_by_group(pool, rubric)
    return [letter for letter in grading.LETTERS if not groups[letter]]


# --- 4 and 5. Recording through the real code path, then backdating ----------------------------


def has_history(company: Company) -> bool:
    return (
        EvaluationSession.objects.for_company(company)
        .filter(customer_reference__startswith=DEMO_REFERENCE_PREFIX)
        .exists()
    )


def ensure_agents(company: Company) -> dict[str, User]:
    """The demo agents as members of ``company`` (those without a published login cannot sign in)."""
    agents: dict[str, User] = {}
    for agent in DEMO_AGENTS:
        user, created = User.objects.get_or_create(
            email=agent.email, defaults={"first_name": agent.first_name, "last_name": agent.last_name}
        )
        if created and agent.email not in {email for email, _, _ in DEMO_USERS}:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        if not Membership.objects.for_company(company).filter(user=user).exists():
            from accounts.actions import add_member

            add_member(actor=Actor(), company=company, user=user, role=Role.AGENT)
        agents[agent.email] = user
    return agents


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed_history` recorded."""

    sessions: int
    observations: int
    model_version: str
    missing: list[str]


@transaction.atomic
def seed_history(company: Company, now: datetime | None = None) -> Seeded:
    """Record the demo company's month of history unless it has one (steps in the module docstring)."""
    from evaluations import actions, recording, signals
    from evaluations.analysis import frame_input

    if has_history(company):
        return Seeded(sessions=0, observations=0, model_version="", missing=[])
    now = now or timezone.now()
    if company.time_zone != DEMO_TIME_ZONE:
        company = update_company_settings(actor=Actor(), company=company, changes={"time_zone": DEMO_TIME_ZONE})
    agents = ensure_agents(company)
    rubric = actions.current_rubric_version(company).rubric
    tz = ZoneInfo(company.time_zone)
    rng = random.Random(DEMO_SEED + 1)  # noqa: S311  (a reproducible demo, not a secret)
    pool = frame_pool()
    planned = plan(now, tz, pool, rubric)
    observations = 0
    # Step 4 records history that already happened: listeners (notifications) must not report
    # it as news today, so the evaluations signals are muted.
    with signals.muted():
        for item in planned:
            agent = agents[item.agent_email]
            actor = Actor(user=agent, role=Role.AGENT)
            # The demo's agents showed the demo company's notice before their (pretend) cameras started.
            session = actions.start_session(
                actor=actor,
                company=company,
                agent=agent,
                channel=item.channel,
                customer_reference=item.reference,
                notice_shown=True,
            )
            frames = [
                frame_input(
                    sequence, item.started_at + timedelta(seconds=offset), reading.result, offset_seconds=offset
                )
                for sequence, (offset, reading) in enumerate(item.frames)
            ]
            recording.record_observations(
                company_id=company.pk, session_id=session.pk, frames=frames, push_frames=False
            )
            observations += sum(len(frame.faces) for frame in frames)
            recording.count_live_frames(
                company_id=company.pk,
                session_id=session.pk,
                received=len(frames) + item.dropped,
                rejected=0,
                dropped=item.dropped,
            )
            session = actions.finish_session(actor=actor, session=session)
            ended = item.started_at + timedelta(seconds=item.frames[-1][0] + rng.uniform(5, 40))
            csat = (
                csat_answer(rng, session.score)
                if session.grade_letter in grading.LETTERS and rng.random() < 0.33
                else None
            )
            if csat is not None:
                actions.record_csat(actor=actor, session=session, csat=csat)
            # Step 5: the one explicit backdating update (the actions stamped "now").
            final_grade: dict[str, Any] = dict(session.final_grade or {})
            final_grade["graded_at"] = ended.isoformat()
            EvaluationSession.objects.for_company(company).filter(pk=session.pk).update(
                created_at=item.started_at,
                started_at=item.started_at,
                ended_at=ended,
                final_grade=final_grade,
                csat_recorded_at=ended + timedelta(hours=rng.uniform(1, 20)) if csat is not None else None,
            )
    return Seeded(
        sessions=len(planned),
        observations=observations,
        model_version=pool[0].result.model_version,
        missing=missing_letters(pool, rubric),
    )
