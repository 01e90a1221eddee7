"""The AWS backend: Pulumi components that turn the stack description into resources.

``infra.stack.deploy(app)`` is the entry point (``__main__.py`` calls it); one component per
concern consumes one spec: ``Table``, ``Bucket``, ``Secret``, ``Queue`` (with its dead-letter
queue and resource policy), ``BucketNotification``, ``Function``, ``StateMachine``, ``Pipe``,
``HttpApi``, and ``Alarms`` over all of them. IAM documents come from :mod:`infra.policies`,
execution roles from :mod:`infra.roles`; the checks and the creation order are the description's
(:mod:`stack.checks`), shared with the local runtime.
This is the only package that imports ``pulumi_aws``.
"""
