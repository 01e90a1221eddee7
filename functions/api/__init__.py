"""The HTTP API's Lambda: payload-2.0 requests in (API Gateway HTTP API or the local front door)."""
