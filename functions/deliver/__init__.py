"""deliver: POST archived bundles downstream behind a DynamoDB circuit breaker."""
