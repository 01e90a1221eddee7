"""enrich_batch: enrich one batch of products through the provider; plan catalogs kept in S3."""
