"""Re-export of the emulator fixture for test modules of this plugin.

``from conftest_emulator import replicate_emulator`` needs this folder on sys.path; with
``--import-mode=importlib`` prefer importing from ``arthur_gen_replicate.emulator.pytest_fixture``.
"""

from arthur_gen_replicate.emulator.pytest_fixture import replicate_emulator

__all__ = ["replicate_emulator"]
