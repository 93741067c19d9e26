"""pytest only: the project root is the ComfyUI pack's package, not a test package.

ComfyUI imports the root `__init__.py` as a package under the folder's name, whatever that name is
(`ComfyUI-PuppetMaster` is not a Python identifier). pytest would import it as a test package and fail on its
relative import, so the root is collected as a plain directory. The hook is registered as a plugin because
pytest asks the conftest of a folder's parent, not its own, how to collect that folder.
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


class RootIsAPlainDirectory:
    @pytest.hookimpl(tryfirst=True)
    def pytest_collect_directory(self, path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        return pytest.Dir.from_parent(parent, path=path) if path == ROOT else None


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RootIsAPlainDirectory(), "puppet-master-root-is-a-plain-directory")
