"""Inputs from the file system: each works, or gets one clear line or a located diagnostic.

Missing files, directories, devices and pipes, bytes that are not UTF-8, CRLF
and CR line endings, a byte-order mark, tabs, symlinked imports (and symlink
loops), NUL bytes and very long lines. Where the text works, positions must
be the ones an editor shows: line and column count characters of the line as
written (a tab is one column, a BOM or a CR none), and the excerpt's caret
sits under the span once tabs are expanded.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import archlang
from archlang.diagnostics import UsageError

LF = "network Net {\n    input [3, 8, 8]\n    conv(8, k=3)  foo\n    bar\n}\n"


def positions(diags) -> list[tuple]:
    return [(d.code, d.span.line, d.span.col, d.span.end_line, d.span.end_col, d.span.text) for d in diags]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- files that cannot be read ---------------------------------------------------------------------

def one_line_usage_error(result, *words: str) -> None:
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result
    assert all(w in lines[0] for w in words), lines[0]


def test_a_missing_file(cli, tmp_path):
    one_line_usage_error(cli("check", tmp_path / "nope.arch"), "nope.arch", "no such file")
    with pytest.raises(UsageError):
        archlang.load(tmp_path / "nope.arch")


def test_a_directory(cli, tmp_path):
    (tmp_path / "dir.arch").mkdir()
    one_line_usage_error(cli("shapes", tmp_path / "dir.arch"), "is a directory")


def test_a_name_too_long_for_the_file_system(cli, tmp_path):
    one_line_usage_error(cli("check", tmp_path / ("a" * 300 + ".arch")), "File name too long")


def test_bytes_that_are_not_utf8(cli, tmp_path):
    spec = write(tmp_path / "latin1.arch", "network Net {\n    input [3, 8, 8]\n    # café\n}\n".encode("latin-1"))
    one_line_usage_error(cli("check", spec), "latin1.arch:3", "not UTF-8", "0xe9")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_not_read_forever(archlang_process, tmp_path):
    os.mkfifo(tmp_path / "pipe.arch")
    one_line_usage_error(archlang_process("check", tmp_path / "pipe.arch", timeout=60), "not a regular file")


def test_a_device_is_not_read_forever(archlang_process):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    one_line_usage_error(archlang_process("check", "/dev/zero", timeout=60), "not a regular file")


# -- imports that cannot be read ---------------------------------------------------------------------

@pytest.mark.parametrize("make, why", [
    (lambda d: None, "no such file"),
    (lambda d: (d / "lib.arch").mkdir(), "is a directory"),
    (lambda d: (d / "lib.arch").write_bytes(b"block L { relu }\n# \xff\n"), "not UTF-8"),
    (lambda d: os.symlink("lib.arch", d / "lib.arch"), "not a usable path"),     # a symlink loop
])
def test_an_import_that_cannot_be_read_is_located(tmp_path, make, why):
    make(tmp_path)
    main = write(tmp_path / "main.arch", b'import "lib.arch"\n' + LF.encode())
    errors = [d for d in archlang.check(main) if d.is_error]
    assert [(d.code, d.span.line, d.span.col, d.span.text) for d in errors] == [("E205", 1, 8, '"lib.arch"')]
    assert why in errors[0].message, errors[0].message


# -- line endings, BOM, tabs: positions stay right ---------------------------------------------------

@pytest.mark.parametrize("variant", ["crlf", "cr", "bom", "bom+crlf"])
def test_line_endings_and_bom_keep_positions(tmp_path, variant):
    reference = positions(archlang.check(LF))
    assert [p[0] for p in reference] == ["E201", "E201"]
    text = LF
    if "crlf" in variant:
        text = text.replace("\n", "\r\n")
    elif variant == "cr":
        text = text.replace("\n", "\r")
    data = (b"\xef\xbb\xbf" if "bom" in variant else b"") + text.encode()
    diags = archlang.check(write(tmp_path / "spec.arch", data))
    assert positions(diags) == reference
    pretty = diags[0].pretty()
    assert "\r" not in pretty and "\ufeff" not in pretty
    assert "3 |     conv(8, k=3)  foo" in pretty


def test_a_clean_spec_with_crlf_and_bom_works(tmp_path):
    text = Path("specs/lenet_bn.arch").read_text().replace("\n", "\r\n")
    spec = write(tmp_path / "lenet_bn.arch", b"\xef\xbb\xbf" + text.encode())
    graph = archlang.load(spec).network()
    assert graph.params_total == archlang.load(Path("specs/lenet_bn.arch")).network().params_total


def test_tabs_count_one_column_and_the_caret_sits_under_the_span(tmp_path):
    text = "network Net {\n\tinput [3, 8, 8]\n\t\tconv(8, k=3) \tfoo\n}\n"
    (d,) = archlang.check(write(tmp_path / "tabs.arch", text.encode()))
    line = text.splitlines()[2]
    assert (d.span.line, d.span.col) == (3, line.index("foo") + 1)
    source_line, caret_line = d.pretty().splitlines()[3:5]
    shown = source_line.split("| ", 1)[1]
    carets = caret_line.split("| ", 1)[1]
    assert shown == line.expandtabs(4)
    assert carets.index("^") == shown.index("foo") and carets.strip().startswith("^^^ ")


# -- symlinks --------------------------------------------------------------------------------------

def test_a_symlinked_import_works_relative_to_the_file_it_points_at(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "real.arch").write_text('import "helper.arch"\nblock Real { Helper conv(8, k=1) }\n')
    (shared / "helper.arch").write_text("block Helper { relu }\n")
    (tmp_path / "lib").mkdir()
    os.symlink(shared / "real.arch", tmp_path / "lib" / "link.arch")
    main = write(tmp_path / "main.arch", b'import "lib/link.arch"\n' +
                 b"network Net {\n    input [3, 8, 8]\n    Real\n}\n")
    assert archlang.check(main) == []


def test_a_symlink_back_to_the_main_file_is_a_cycle(tmp_path):
    main = write(tmp_path / "main.arch", b'import "again.arch"\n' + LF.encode())
    os.symlink(main, tmp_path / "again.arch")
    errors = [d for d in archlang.check(main) if d.is_error]
    assert [d.code for d in errors] == ["E206"]


def test_the_main_file_through_a_symlink(cli, tmp_path):
    os.symlink(Path("specs/lenet.arch").resolve(), tmp_path / "link.arch")
    assert cli("check", tmp_path / "link.arch").code == 0


# -- odd bytes and long lines ------------------------------------------------------------------------

def test_a_nul_byte_is_a_located_error_shown_harmlessly(tmp_path):
    spec = write(tmp_path / "nul.arch", b"network Net {\n    input [3, 8, 8]\n    relu \x00 relu\n}\n")
    (d,) = archlang.check(spec)
    assert (d.code, d.span.line, d.span.col) == ("E104", 3, 10)
    assert "\x00" not in d.pretty() and "\x00" not in d.short()


def test_a_very_long_line_works_and_its_errors_stay_readable(tmp_path):
    layers = " ".join(["relu"] * 20_000)
    spec = write(tmp_path / "long.arch", f"network Net {{\n    input [3, 8, 8]\n    {layers} foo {layers}\n}}\n".encode())
    (d,) = archlang.check(spec)
    assert (d.code, d.span.line, d.span.col) == ("E201", 3, 5 + len(layers) + 1)
    lines = d.pretty().splitlines()
    assert max(len(line) for line in lines) < 200
    source_line, caret_line = lines[3:5]
    assert source_line[caret_line.index("^"):].startswith("foo")
    ok = write(tmp_path / "ok.arch", f"network Net {{\n    input [3, 8, 8]\n    {layers}\n}}\n".encode())
    assert len(archlang.load(ok).network().nodes) == 20_001


def test_an_empty_file_and_a_file_of_only_a_bom(cli, tmp_path):
    for data in (b"", b"\xef\xbb\xbf", b"\n\r\n\t \n"):
        spec = write(tmp_path / "empty.arch", data)
        result = cli("check", spec)
        assert result.code == 0 and "no network" in result.out, result
