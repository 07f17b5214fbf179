"""A plugin that implements every kernel hook, so the tests can prove each one is called.

Tests load it with the `dummy_plugin` fixture (tests/kernel/conftest.py) and hand
`dummy_plugin.plugin` to `build_kernel(..., plugins={"dummy": ...})`.
"""
