"""The event-collection use case: validate a storefront's batch, report unknown items, store it
idempotently and durably, attribute it to the responses that showed the items."""
