"""The SDK READMEs' integrations stay short and true to the code: under 30 lines, valid syntax,
and every name they import (and every keyword they pass) exists in the SDK as built."""

from __future__ import annotations

import ast
import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import stablecheckout_client
from tests.conftest import REPO, unavailable

PY_README = REPO / "sdk" / "python" / "README.md"
JS_README = REPO / "sdk" / "js" / "README.md"


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_python_examples() -> None:
    examples = blocks(PY_README, "python")
    assert len(examples) == 2 and len(examples[0].splitlines()) < 30  # the integration
    create = inspect.signature(stablecheckout_client.Client.create_order).parameters
    for example in examples:
        tree = ast.parse(example)
        imported = [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "stablecheckout_client"
            for alias in node.names
        ]
        assert imported and all(hasattr(stablecheckout_client, name) for name in imported)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "create_order":
                assert {kw.arg for kw in node.keywords} <= set(create)


@pytest.fixture(scope="module")
def js_exports() -> dict[str, list[str]]:
    node, tsc = shutil.which("node"), REPO / "node_modules" / ".bin" / "tsc"
    if node is None or not tsc.exists():
        unavailable("node or node_modules/.bin/tsc missing (make install runs npm ci)")
    sdk = REPO / "sdk" / "js"
    subprocess.run([str(tsc), "-p", "."], cwd=sdk, check=True, timeout=120)
    script = (
        "const a = await import('./dist/index.js'), b = await import('./dist/browser.js');"
        "console.log(JSON.stringify({index: Object.keys(a), browser: Object.keys(b)}));"
    )
    out = subprocess.run(
        [str(node), "--input-type=module", "-e", script],
        cwd=sdk,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    exports: dict[str, list[str]] = json.loads(out)
    return exports


def test_js_examples(js_exports: dict[str, list[str]], tmp_path: Path) -> None:
    examples = blocks(JS_README, "js")
    assert len(examples) == 3 and len(examples[0].splitlines()) < 30
    for index, example in enumerate(examples):
        source = tmp_path / f"example{index}.mjs"
        source.write_text(example, encoding="utf-8")
        subprocess.run(["node", "--check", str(source)], check=True, timeout=60)
        for names, module in re.findall(
            r"import \{([^}]*)\} from \"stablecheckout-client(/browser)?\"", example
        ):
            exported = js_exports["browser" if module else "index"]
            for name in (n.strip() for n in names.split(",")):
                assert name in exported, f"{name} is not exported by stablecheckout-client{module}"
