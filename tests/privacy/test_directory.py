from __future__ import annotations

from pathlib import Path

from callroster.privacy.directory import CountryGate, FileDirectory


def test_file_directory_normalises_and_the_gate_allows_only_listed_countries(
    tmp_path: Path,
) -> None:
    path = tmp_path / "directory.csv"
    path.write_text(
        "# number,name\n+1 415 555 0142,Grace Directory\n020 7946 0999,Gb Person\n"
        "not a number,Nobody\n"
    )
    directory = FileDirectory(path)
    assert directory.lookup("+14155550142") == "Grace Directory"
    assert directory.lookup("+442079460999") == "Gb Person"
    gate = CountryGate(directory, ["us"])
    assert gate.lookup("+14155550142") == "Grace Directory"
    assert gate.lookup("+442079460999") is None  # the directory may not be used for GB
    assert gate.lookup("garbage") is None
