import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]


def test_readme_has_python_snippets() -> None:
    assert python_snippets()


@pytest.mark.parametrize("index", range(len(python_snippets())))
def test_readme_python_snippet_runs(index: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(python_snippets()[index], f"README.md snippet {index}", "exec"), {})
    finally:
        os.chdir(cwd)
    if index == 0:
        assert "D (CVE)" in capsys.readouterr().out
        assert (tmp_path / "readme_analysis" / "report.html").is_file()
