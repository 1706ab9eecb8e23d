from pathlib import Path

import pytest

from samem.errors import OutputError
from samem.io.output import atomic_output_dir, check_writable_dir


def test_new_directory_appears_only_after_success(tmp_path: Path) -> None:
    target = tmp_path / "results"
    with atomic_output_dir(target) as staging:
        (staging / "a.txt").write_text("a")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


def test_failure_leaves_no_directory_and_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "results"
    with pytest.raises(RuntimeError, match="boom"), atomic_output_dir(target) as staging:
        (staging / "a.txt").write_text("a")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failure_leaves_existing_directory_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "results"
    target.mkdir()
    (target / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_output_dir(target) as staging:
        (staging / "a.txt").write_text("new")
        raise RuntimeError("boom")
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


def test_success_replaces_files_in_existing_directory_and_keeps_others(tmp_path: Path) -> None:
    target = tmp_path / "results"
    (target / "sub").mkdir(parents=True)
    (target / "a.txt").write_text("old")
    (target / "keep.txt").write_text("keep")
    with atomic_output_dir(target) as staging:
        (staging / "a.txt").write_text("new")
        (staging / "sub").mkdir()
        (staging / "sub" / "b.txt").write_text("b")
    assert (target / "a.txt").read_text() == "new"
    assert (target / "keep.txt").read_text() == "keep"
    assert (target / "sub" / "b.txt").read_text() == "b"


def test_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is not a directory"):
        check_writable_dir(blocker)
    with pytest.raises(OutputError, match="not writable"):
        check_writable_dir(blocker / "below")

