"""Template helper of the seeded demo company: its pages say they show demo data."""

from __future__ import annotations

from django import template

from accounts.models import Company
from evaluations.demo import is_demo_company as _is_demo_company

register = template.Library()


@register.filter
def is_demo_company(company: Company | None) -> bool:
    return _is_demo_company(company)
