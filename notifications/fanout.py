"""Who hears about an event, and through which channel: the deliveries of a new event.

``dispatch`` creates one delivery row per recipient and channel (unique per event and
recipient, so running it twice creates nothing new) and queues the sending on commit.
"""

from __future__ import annotations

from django.db import transaction

from notifications import queue, selectors
from notifications.models import EmailDelivery, Event


@transaction.atomic
def dispatch(company_id: int, event_id: int) -> None:
    """Create the deliveries of ``event_id``; a missing event (deleted company) is ignored.

    Steps:
    1. E-mails: one ``EmailDelivery`` per recipient (``selectors.email_recipients``), queued.
    """
    event = Event.objects.for_company_id(company_id).select_related("company").filter(pk=event_id).first()
    if event is None:
        return
    for user, topic in selectors.email_recipients(event):
        delivery, created = EmailDelivery.objects.for_company_id(company_id).get_or_create(
            event=event, user=user, defaults={"company_id": company_id, "topic": topic}
        )
        if created:
            queue.send_email_on_commit(company_id, delivery.pk)
