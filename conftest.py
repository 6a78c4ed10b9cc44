"""stackcheck's pytest plugins, loaded once for the whole project."""

pytest_plugins = [
    "fixtures.options",
    "fixtures.checks",
    "fixtures.outputs",
    "fixtures.reporting",
    "fixtures.interrupt",
    "fixtures.redaction",
]
