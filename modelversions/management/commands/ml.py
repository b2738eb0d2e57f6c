"""``manage.py ml ...``: the ``python -m ml`` CLI (train, evaluate, export, models, activate).

The command keeps the library's name: operators type ``manage.py ml activate v2`` as before.
"""

from __future__ import annotations

from argparse import REMAINDER, ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ml.cli import main


class Command(BaseCommand):
    help = "Train, evaluate, export, list and activate emotion model versions (see python -m ml --help)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("args", nargs=REMAINDER)

    def handle(self, *args: str, **options: Any) -> None:
        code = main(list(args))
        if code:
            raise CommandError(f"ml {' '.join(args[:1])} failed (exit {code})", returncode=code)
