"""The recommendations use case: behavioural models that follow the event log (co-occurrence,
trending, session k-NN), blended with content similarity, behind POST .../recommendations."""
