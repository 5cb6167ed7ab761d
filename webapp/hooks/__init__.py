"""Outgoing webhooks: letter events POSTed, signed, to the HTTPS endpoints an organisation registers.

- `events`: an event is recorded as one `WebhookDelivery` per active endpoint in the same
  transaction as the change it reports (a transition in `letters.lifecycle`, a proof becoming
  ready in `letters.proofs`), and its delivery job is enqueued after that commit;
- `delivery`: the job POSTs the body, fixed when the event was recorded, so that every retry sends
  the same bytes with a fresh signature:

      Wassit-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

  Delivery is at least once: receivers deduplicate on `Wassit-Event-Id`.  A failed attempt is
  retried after `RETRY_DELAYS`; the sweeper (`webapp.sweepers`) enqueues due retries, so a Redis
  outage delays deliveries but loses none;
- `endpoints`: what an organisation's admins do (register an endpoint, check its URL, seal and
  rotate its secret, disable or delete it, read its delivery log), for the portal and the API.

Bodies carry facts about the letter only: never the document, the recipient's code or links.
Hooks know nothing of a letter's life: the letters layer tells them what happened.
"""
