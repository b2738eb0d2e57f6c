"""Who hears about an event, and through which channel: the deliveries of a new event.

``dispatch`` creates one delivery row per recipient and channel (unique per event and
recipient, so running it twice creates nothing new) and queues the sending on commit.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import translation

from notifications import protocol, queue, selectors
from notifications.models import EmailDelivery, Event, Notification, WebhookDelivery, WebhookEndpoint


@transaction.atomic
def dispatch(company_id: int, event_id: int) -> None:
    """Create the deliveries of ``event_id``; a missing event (deleted company) is ignored.

    Steps:
    1. E-mails: one ``EmailDelivery`` per recipient (``selectors.email_recipients``), queued.
    2. Webhooks: one ``WebhookDelivery`` per enabled endpoint subscribed to the event's type.
    3. In-app alerts: one ``Notification`` per recipient (``selectors.in_app_recipients``),
       pushed to their open portal pages after commit, in their language.
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
    endpoints = WebhookEndpoint.objects.for_company_id(company_id).filter(enabled=True)
    # A handful of endpoints per company: filter the JSON list here (SQLite has no JSON contains).
    for endpoint in endpoints:
        if event.type in endpoint.events:
            hook, created = WebhookDelivery.objects.for_company_id(company_id).get_or_create(
                endpoint=endpoint, event=event, defaults={"company_id": company_id}
            )
            if created:
                queue.deliver_webhook_on_commit(company_id, hook.pk)
    for user in selectors.in_app_recipients(event):
        notification, created = Notification.objects.for_company_id(company_id).get_or_create(
            event=event, user=user, defaults={"company_id": company_id}
        )
        if created:
            count = selectors.unread_count(company_id, user.pk)
            with translation.override(user.language or settings.LANGUAGE_CODE):
                payload = protocol.new(notification, count)
            protocol.send_on_commit(event.company.public_id, user.pk, payload)
