from __future__ import annotations

from tests.backends.conftest import one_thread  # noqa: F401  (the same one-thread fixture for tiny audio models)
