"""SES events through Amazon SNS: POST /ses/events, verified and applied by `bounces.sns.handle_sns`.

Configure an SNS topic as the SES configuration set's event destination (Bounce, Complaint) and
subscribe this URL to it over HTTPS; `bounces.sns` in newsletter.yaml names the region and topics.
SNS retries anything but a 2xx, so the answer says what happened and a refusal is never a 200.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from newsletter.bounces.sns import MAX_BODY, handle_sns
from newsletter.web.service.context import ctx

log = logging.getLogger("newsletter.service.ses")
blueprint = Blueprint("ses_events", __name__)


@blueprint.post("/ses/events")
def ses_events() -> Response:
    c = ctx()
    if c.bounces is None or c.bounces.sns is None:
        return Response("SES events are not configured (bounces.sns in newsletter.yaml)\n", 404,
                        content_type="text/plain; charset=utf-8")  # fmt: skip
    # SNS messages run to 256 KB, above the service's limit for forms.
    request.max_content_length = MAX_BODY
    status, text = handle_sns(request.get_data(cache=False), c.bounces, c.engine)
    if status != 200:
        log.warning("SES event refused (%s): %s", status, text)
    return Response(text + "\n", status, content_type="text/plain; charset=utf-8")
