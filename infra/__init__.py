"""The AWS backend: Pulumi components that turn the stack description into resources.

``infra.stack.deploy(app)`` is the entry point (``__main__.py`` calls it); one component per
concern (``Table``, ``Queue``, ``Bucket``, ``Function``, ``StateMachine``) consumes one spec.
This is the only package that imports ``pulumi_aws``.
"""
