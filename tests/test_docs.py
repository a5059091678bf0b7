"""The docs hold: every relative link and anchor resolves, the settings table is the code's,
and the README's client snippets run against the real service."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.runtime.settings import SPEC, Setting, Settings
from tests.conftest import PROJECT, Admin, LiveServer
from tests.noskip import unavailable

DOCS = [PROJECT / "README.md", PROJECT / "CHANGELOG.md", *sorted((PROJECT / "docs").glob("*.md"))]


# -- links and anchors -------------------------------------------------------------------------
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[(?:[^\]\n]|\][^(\n])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links are links."""
    return _CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, lower case, spaces to
    hyphens (github/cmark-gfm's and github-slugger's rule: keep letters, digits, `-`, `_`)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text, not its target
    text = text.replace("`", "").replace("*", "").lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor of a Markdown file's headings; a repeated slug gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for match in _HEADING.finditer(_FENCE.sub("", text)):
        base = slug(match[1])
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(path: Path) -> list[str]:
    """The relative links of `path` whose file or anchor does not exist."""
    problems = []
    for match in _LINK.finditer(_prose(path.read_text())):
        target = match[1]
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{path.name}: {target}: no such file")
        elif anchor and anchor not in anchors(dest.read_text()):
            problems.append(f"{path.name}: {target}: no heading {anchor!r} in {dest.name}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(PROJECT)))
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert path.exists()
    assert not broken_links(path)


def test_the_link_check_finds_what_is_broken(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Sign-in (InitiateAuth, `RevokeToken`)\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Page\n\n"
        "[ok](other.md) [ok](other.md#sign-in-initiateauth-revoketoken) [ok](#page-1)\n"
        "[gone](missing.md) [bad anchor](other.md#sign-in) [bad](#nowhere)\n"
        "![gone too](img/none.png) `[code](missing-too.md)`\n"
        "```\n[fenced](missing-three.md)\n```\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md: no such file",
        "page.md: other.md#sign-in: no heading 'sign-in' in other.md",
        "page.md: #nowhere: no heading 'nowhere' in page.md",
        "page.md: img/none.png: no such file",
    ]


def test_the_readme_and_the_doc_pages_link_each_other() -> None:
    """Every page of docs/ is reachable from the README."""
    readme = _prose((PROJECT / "README.md").read_text())
    linked = {m[1].partition("#")[0] for m in _LINK.finditer(readme)}
    pages = {f"docs/{p.name}" for p in (PROJECT / "docs").glob("*.md")}
    assert pages - linked == set()


# -- the settings table ------------------------------------------------------------------------
# docs/settings.md's table: | `VAR` | default | meaning |
_ROW = re.compile(r"^\| `(?P<env>[A-Z0-9_]+)` \| (?P<default>.+?) \| (?P<doc>.*) \|$", re.M)
SETTINGS_PAGE = PROJECT / "docs" / "settings.md"


def _table_rows() -> dict[str, tuple[str, str]]:
    return {m["env"]: (m["default"], m["doc"]) for m in _ROW.finditer(SETTINGS_PAGE.read_text())}


def _shown(spec: Setting, value: object) -> str:
    """The default as the table gives it."""
    if spec.shown:
        return spec.shown
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if value == ():
        return "*(empty)*"
    return f"`{value}`"


def _same_default(spec: Setting, value: object, cell: str) -> bool:
    """The cell names the default: as shown, or a literal the setting reads as the default
    (`1.0` and `1` are both 1.0)."""
    if cell == _shown(spec, value):
        return True
    literal = re.fullmatch(r"`([^`]*)`", cell)
    if spec.shown or literal is None:
        return False
    try:
        return bool(spec.cast(literal[1]) == value)
    except ValueError:
        return False


def test_settings_table_lists_every_setting_with_its_default_and_meaning() -> None:
    rows = _table_rows()
    defaults = Settings()
    problems = []
    for spec in SPEC:
        value = getattr(defaults, spec.name)
        row = f"| `{spec.env}` | {_shown(spec, value)} | {spec.doc} |"
        if spec.env not in rows:
            problems.append(f"docs/settings.md's table has no row for {spec.env}; add:\n{row}")
            continue
        default, doc = rows[spec.env]
        if not _same_default(spec, value, default):
            problems.append(
                f"docs/settings.md gives {spec.env}'s default as {default}, the code as "
                f"{_shown(spec, value)}; the row should be:\n{row}"
            )
        if doc != spec.doc:
            problems.append(
                f"docs/settings.md's meaning of {spec.env} differs from its doc in "
                f"service/runtime/settings.py; the row should be:\n{row}"
            )
    declared = {spec.env for spec in SPEC}
    problems += [
        f"docs/settings.md's table has a row for {env}, which is not a setting"
        for env in rows
        if env not in declared
    ]
    assert not problems, "\n".join(problems)


# -- the README's client snippets --------------------------------------------------------------
README_ENDPOINT = "http://127.0.0.1:9229"


def _blocks(language: str) -> list[str]:
    """The README's fenced code blocks in `language`, in order."""
    text = (PROJECT / "README.md").read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials or profile from the machine: what the snippets need, they say."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def test_readme_boto3_snippet_runs(live: LiveServer, admin: Admin, no_aws_config: None) -> None:
    (snippet,) = [b for b in _blocks("python") if "boto3" in b]
    assert README_ENDPOINT in snippet and '"AKIA…"' in snippet
    # The live server's address, and the admin pair tests/conftest.py gives it.
    code = (
        snippet.replace(README_ENDPOINT, live.url)
        .replace('"AKIA…"', '"test"')
        .replace('aws_secret_access_key="…"', 'aws_secret_access_key="test"')
    )
    tree = ast.parse(code)
    namespace: dict[str, Any] = {}
    values = []  # what each bare expression (a line the README annotates) evaluates to
    for statement in tree.body:
        if isinstance(statement, ast.Expr):
            expression = ast.Expression(statement.value)
            values.append(eval(compile(expression, "README.md", "eval"), namespace))  # noqa: S307  (our README)
        else:
            exec(compile(ast.Module([statement], []), "README.md", "exec"), namespace)  # noqa: S102
    device_key = namespace["device_key"]
    got, listed = values[-2:]
    assert got == device_key  # "# == device_key"
    assert [d["DeviceKey"] for d in listed] == [device_key]  # "# [that device]"
    attributes = {a["Name"]: a["Value"] for a in listed[0]["DeviceAttributes"]}
    assert attributes["device_name"] == "laptop"


def test_readme_aws_cli_snippet_runs(live: LiveServer, admin: Admin) -> None:
    aws = Path(sys.executable).parent / "aws"
    if not aws.is_file():
        unavailable("the AWS CLI (a locked dev dependency) is not in this environment")
    (snippet,) = [b for b in _blocks("bash") if "aws cognito-idp" in b]
    _, device_key, token = admin.user_with_device("carol")
    env = {
        "PATH": f"{aws.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_PAGER": "",
        "TOKEN": token,
        "DEVICE_KEY": device_key,
    }
    result = subprocess.run(
        ["bash", "-euc", snippet.replace(README_ENDPOINT, live.url)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    device = orjson.loads(result.stdout)["Device"]
    assert device["DeviceKey"] == device_key
