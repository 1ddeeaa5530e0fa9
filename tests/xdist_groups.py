"""How `make test` spreads the suite over pytest-xdist workers: whole files, the long ones first.

xdist's own `--dist loadgroup` sends every test without an `xdist_group` mark to any worker, one by
one, so a module-scoped anvil, server or browser would start once per worker instead of once per
file. With this scheduler `loadgroup` means: a file is one unit of work (its module fixtures start
once, its tests keep their order), and files whose tests carry the same
`@pytest.mark.xdist_group("name")` form one unit (for files that share something on disk, such as
the TypeScript build in sdk/js/dist). Units are handed out long ones first (`LONG_FIRST`, then the
number of tests), so no worker is left running a long file alone at the end.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

LONG_FIRST = (
    "tests/e2e/",
    "tests/sdk/",
    "tests/watchers/",
    "tests/test_state_machine.py",
    "tests/test_fuzz.py",
    "tests/sessions/",
    "tests/realtime/",
)
"""Path prefixes of the files that take longest, longest first (measured: docs/development.md).
A file not listed starts after these; a listed path that no longer exists costs nothing."""


SHARED_ON_DISK = {
    "sdk-js-build": ("tests/sdk/test_js_sdk.py", "tests/sdk/test_readmes.py"),
}
"""Files that write the same files in the work tree (both run `tsc` into sdk/js/dist): one unit,
so one worker runs them one after the other. Same effect as an `xdist_group` mark on their tests."""


class FileGroupScheduling(LoadScopeScheduling):
    """LoadScopeScheduling keyed by file, or by `xdist_group` name where a test has one."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self._ordered = False

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.rfind("@") > nodeid.rfind("]"):
            return "group:" + nodeid.rsplit("@", 1)[-1]
        path = nodeid.split("::", 1)[0]
        group = next((g for g, paths in SHARED_ON_DISK.items() if path in paths), None)
        return path if group is None else "group:" + group

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:
            self._ordered = True  # the queue is complete on the first assignment: sort it once
            units = sorted(self.workqueue.items(), key=lambda unit: _rank(next(iter(unit[1]))))
            self.workqueue.clear()
            self.workqueue.update(units)
        super()._assign_work_unit(node)


def _rank(nodeid: str) -> int:
    path = nodeid.split("::", 1)[0]
    return next((n for n, p in enumerate(LONG_FIRST) if path.startswith(p)), len(LONG_FIRST))


def make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    """Ours for `--dist loadgroup`; None (xdist's own) for any other mode."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return FileGroupScheduling(config, log)
