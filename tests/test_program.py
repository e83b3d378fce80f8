"""Programs: files, imports, the prelude, whole-program checks, and the public API."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import archlang
from archlang.diagnostics import SpecError, UsageError
from archlang.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
NET = "network Net {{\n    input [3, 8, 8]\n    {body}\n}}\n"


def write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / next(iter(files))


def load_errors(source, **kw) -> list:
    with pytest.raises(SpecError) as err:
        archlang.load(source, **kw)
    return err.value.diagnostics


def where(d) -> tuple[str, int, str]:
    return Path(d.span.file).name, d.span.line, d.code


# -- paths and text --------------------------------------------------------------------------------
def test_load_a_path_or_text(tmp_path: Path) -> None:
    main = write(tmp_path, {"net.arch": NET.format(body="conv(4, k=1)")})
    for source in (main, str(main), main.read_text()):
        program = archlang.load(source)
        assert program.networks == ["Net"]
        assert program.network().output_shapes() == [(4, 8, 8)]
    assert archlang.load(main.read_text()).name == "<string>"


def test_load_an_unsaved_text_under_its_path(tmp_path: Path) -> None:
    """An editor's buffer: the path names the file and places its imports; the text is compiled,
    even when the file on disk differs or does not exist yet."""
    write(tmp_path, {"lib/blocks.arch": "block Wide(c) { conv(c * 2, k=1) }\n",
                     "lib/net.arch": NET.format(body="conv(4, k=1)")})
    main = tmp_path / "lib" / "net.arch"
    buffer = 'import "blocks.arch"\n' + NET.format(body="Wide(8)")
    for path in (main, tmp_path / "lib" / "unsaved.arch"):
        program = archlang.load(path, text=buffer)
        assert program.name == str(path)
        assert program.network().output_shapes() == [(16, 8, 8)]
        assert program.sources[path.resolve()] == buffer
    (d,) = archlang.load(main, text=NET.format(body="Narrow(8)")).elaborate().diagnostics
    assert d.code == "E201" and d.span.file == str(main) and d.span.line == 3
    (d,) = load_errors(main, text="x" * 200, limits=Limits(max_file_bytes=100))
    assert d.code == "E405"


def test_networks_in_file_order() -> None:
    text = "network B { input [1] }\nnetwork A { input [1] }\nnetwork C { input [1] }\n"
    assert archlang.load(text).networks == ["B", "A", "C"]


@pytest.mark.parametrize("make", ["missing", "directory", "latin1"])
def test_unreadable_main_file_is_a_usage_error(tmp_path: Path, make: str) -> None:
    target = tmp_path / "spec.arch"
    if make == "directory":
        target.mkdir()
    elif make == "latin1":
        target.write_bytes("network N { input [1] } # caf\xe9\n".encode("latin-1"))
    with pytest.raises(UsageError, match="spec.arch"):
        archlang.load(target)
    with pytest.raises(UsageError):
        archlang.check(target)


def test_a_str_that_looks_like_a_missing_file_is_not_read_as_text() -> None:
    with pytest.raises(UsageError, match="no such file"):
        archlang.load("specs/does_not_exist.arch")


def test_file_too_large(tmp_path: Path) -> None:
    main = write(tmp_path, {"big.arch": NET.format(body="relu") + "# padding\n" * 50})
    (d,) = load_errors(main, limits=Limits(max_file_bytes=100))
    assert d.code == "E405" and d.span.line == 1


# -- imports -----------------------------------------------------------------------------------
def test_imports_are_relative_to_the_importing_file(tmp_path: Path) -> None:
    main = write(tmp_path, {
        "main.arch": 'import "lib/blocks.arch"\n' + NET.format(body="Pair(4)"),
        "lib/blocks.arch": 'import "layers.arch"\nblock Pair(c) { Conv1(c) Conv1(c) }\n',
        "lib/layers.arch": "block Conv1(c) { conv(c, k=1) }\n",
    })
    program = archlang.load(main)
    assert program.networks == ["Net"]  # the imported files hold no network of the program
    assert program.network().output_shapes() == [(4, 8, 8)]


def test_a_diamond_is_read_once(tmp_path: Path) -> None:
    main = write(tmp_path, {
        "main.arch": 'import "a.arch"\nimport "b.arch"\n' + NET.format(body="A(2) B(2)"),
        "a.arch": 'import "common.arch"\nblock A(c) { Common(c) }\n',
        "b.arch": 'import "common.arch"\nblock B(c) { Common(c) }\n',
        "common.arch": "block Common(c) { conv(c, k=1) }\n",
    })
    assert archlang.load(main).network().ok  # Common is not "defined twice"


def test_import_not_found(tmp_path: Path) -> None:
    main = write(tmp_path, {"main.arch": 'import "nope.arch"\n' + NET.format(body="relu")})
    (d,) = load_errors(main)
    assert where(d) == ("main.arch", 1, "E205") and d.span.text == '"nope.arch"'


def test_import_cycle_names_the_chain(tmp_path: Path) -> None:
    main = write(tmp_path, {
        "main.arch": 'import "a.arch"\n' + NET.format(body="relu"),
        "a.arch": 'import "b.arch"\nblock A(c) { relu }\n',
        "b.arch": 'import "a.arch"\nblock B(c) { relu }\n',
    })
    (d,) = load_errors(main)
    assert where(d) == ("b.arch", 1, "E206")
    assert "a.arch -> " in d.message and d.message.endswith("a.arch")


def test_imports_too_deep(tmp_path: Path) -> None:
    main = write(tmp_path, {
        "main.arch": 'import "a.arch"\n' + NET.format(body="relu"),
        "a.arch": 'import "b.arch"\n',
        "b.arch": 'import "c.arch"\n',
        "c.arch": "block C(x) { relu }\n",
    })
    (d,) = load_errors(main, limits=Limits(max_import_depth=2))
    assert where(d) == ("b.arch", 1, "E406")


def test_syntax_errors_in_imported_files(tmp_path: Path) -> None:
    main = write(tmp_path, {"main.arch": 'import "lib.arch"\n' + NET.format(body="relu"),
                            "lib.arch": "block B(c) { conv(c k=1) }\n"})
    (d,) = load_errors(main)
    assert where(d) == ("lib.arch", 1, "E101")


# -- the prelude ---------------------------------------------------------------------------------
def test_the_prelude_is_always_there() -> None:
    graph = archlang.load(NET.format(body="dense(2, 4) transition(5) inception(1, [2, 3], [4, 5], 6)")).network()
    assert graph.output_shapes() == [(1 + 3 + 5 + 6, 4, 4)]
    assert graph.nodes_in(graph.root.children[0])[-1].shape == (3 + 2 * 4, 8, 8)
    assert [s.block for s in graph.root.children] == ["dense", "transition", "inception"]


def test_a_user_block_replaces_the_prelude_block_silently() -> None:
    program = archlang.load("block dense(n, growth) { conv(growth * n, k=1) }\n" + NET.format(body="dense(2, 7)"))
    assert not program.diagnostics
    assert program.network().output_shapes() == [(14, 8, 8)]


def test_an_own_block_named_like_a_prelude_block_stays_in_its_file(tmp_path: Path) -> None:
    """Issue 10, bug 5: the main file's `dense` replaced the prelude's inside an imported library."""
    main = write(tmp_path, {
        "main.arch": 'import "lib.arch"\nblock dense(n, growth) {\n    conv(growth * n, k=1)\n}\n' +
                     NET.format(body="Lib() dense(2, 7)"),
        "lib.arch": "block Lib {\n    dense(2, 4)\n}\n",
    })
    graph = archlang.load(main).network()
    lib, own = graph.root.children
    assert [n.op for n in graph.nodes_in(lib)].count("concat") == 2      # the prelude's dense: 3 + 2 * 4 channels
    assert graph.nodes_in(lib)[-1].shape == (3 + 2 * 4, 8, 8)
    assert [n.op for n in graph.nodes_in(own)] == ["conv"] and graph.output_shapes() == [(14, 8, 8)]


def test_a_library_block_named_like_a_prelude_block_is_the_importers_too(tmp_path: Path) -> None:
    main = write(tmp_path, {"main.arch": 'import "lib.arch"\n' + NET.format(body="dense(2, 7)"),
                            "lib.arch": "block dense(n, growth) {\n    conv(growth * n, k=1)\n}\n"})
    assert archlang.load(main).network().output_shapes() == [(14, 8, 8)]


PRELUDE_CALLS = {"dense": "dense(2, 4)", "transition": "transition(5)", "inception": "inception(1, [2, 3], [4, 5], 6)"}


@pytest.mark.parametrize("name", sorted(PRELUDE_CALLS))
def test_a_library_means_the_same_whatever_its_importer_defines(tmp_path: Path, name: str) -> None:
    """The class of test that catches bug 5: an imported file's meaning does not depend on the
    names its importer defines; here, an importer's block named like each prelude block."""
    def library_layers(main_blocks: str) -> list:
        main = write(tmp_path, {"main.arch": 'import "lib.arch"\n' + main_blocks + NET.format(body="Lib()"),
                                "lib.arch": f"block Lib {{\n    {PRELUDE_CALLS[name]}\n}}\n"})
        graph = archlang.load(main).network()
        return [(n.op, n.args, n.shape) for n in graph.layers()]

    params = {"dense": "n, growth", "transition": "c", "inception": "c1, c2, c3, c4"}[name]
    shadow = f"block {name}({params}) {{\n    relu\n}}\n"
    assert library_layers(shadow) == library_layers("")


def test_a_name_resolves_only_among_the_blocks_its_file_can_see(tmp_path: Path) -> None:
    main = write(tmp_path, {"main.arch": 'import "lib.arch"\nblock Head {\n    relu\n}\n' +
                                         NET.format(body="Lib() Head()"),
                            "lib.arch": "block Lib {\n    Head()\n}\n"})
    (d,) = [d for d in archlang.check(main) if d.is_error]
    assert where(d) == ("lib.arch", 2, "E201")   # lib.arch imports nothing that defines Head


def test_prelude_blocks_are_never_reported_unused() -> None:
    assert archlang.check(NET.format(body="relu")) == []


# -- whole-program checks ---------------------------------------------------------------------------
def test_duplicate_definitions() -> None:
    text = ("let w = 1\nlet w = 2\n"
            "block B(c) { relu }\nblock B(c) { bn }\n"
            "block P(c, s, c) { conv(c, k=1, s=s) }\n" + NET.format(body="B(1) P(1, 1)") +
            NET.format(body="relu"))
    diags = [d for d in load_errors(text) if d.code == "E207"]
    assert [d.span.line for d in diags] == [2, 4, 5, 10]


def test_duplicate_blocks_across_files(tmp_path: Path) -> None:
    main = write(tmp_path, {"main.arch": 'import "lib.arch"\nblock B(c) { relu }\n' + NET.format(body="B(1)"),
                            "lib.arch": "block B(c) { bn }\n"})
    (d,) = [d for d in load_errors(main) if d.is_error]
    assert where(d) == ("main.arch", 2, "E207")
    (first, label), = d.related   # the first definition, as a labelled span
    assert (Path(first.file).name, first.line, label) == ("lib.arch", 1, "first defined here")


def test_recursion_is_found_without_elaborating(tmp_path: Path) -> None:
    text = ("block Down(c) {\n    conv(c, k=1)\n    Up(c)\n}\n"
            "block Up(c) { relu; Down(c) }\n"
            "block Self(c) { if c > 0 { Self(c - 1) } }\n" + NET.format(body="Down(1)"))
    diags = [d for d in load_errors(text) if d.code == "E208"]
    assert [(d.span.line, d.span.text) for d in diags] == [(3, "Up(c)"), (6, "Self(c - 1)")]
    assert "Down -> Up -> Down" in diags[0].message


def test_constants_are_checked_once() -> None:
    (d,) = load_errors("let a = 1 // 0\n" + NET.format(body="relu"))
    assert d.code == "E212"


def test_unused_blocks_and_parameters() -> None:
    text = ("block Used(c, s = 1) { conv(c, k=1) }\n"
            "block Helper(c) { conv(c, k=1) }\n"
            "block Unused(c) { Helper(c) }\n"
            "network Net(classes = 10) {\n    input [3, 8, 8]\n    Used(4)\n}\n")
    program = archlang.load(text)
    assert [(d.span.line, d.code, d.span.text) for d in program.diagnostics] == [
        (1, "W502", "s"), (2, "W501", "Helper"), (3, "W501", "Unused"), (4, "W502", "classes")]


def test_a_library_without_networks_has_no_unused_blocks(tmp_path: Path) -> None:
    lib = write(tmp_path, {"lib.arch": "block A(c) { conv(c, k=1) }\n"})
    assert archlang.check(lib) == []


def test_warnings_only_for_the_main_file(tmp_path: Path) -> None:
    main = write(tmp_path, {"main.arch": 'import "lib.arch"\n' + NET.format(body="A(1)"),
                            "lib.arch": "block A(c, unused = 1) { conv(c, k=1) }\nblock Spare(c) { relu }\n"})
    assert archlang.load(main).diagnostics == []


def test_a_misspelt_parameter_is_one_error_not_also_a_warning() -> None:
    diags = archlang.check("block B(channels) { conv(chanels, k=1) }\n" + NET.format(body="B(4)"))
    assert [d.code for d in diags] == ["E209"]


# -- the API -----------------------------------------------------------------------------------------
def test_network_raises_and_elaborate_does_not() -> None:
    program = archlang.load(NET.format(body="conv(4, k=9)"))
    graph = program.elaborate()
    assert not graph.ok and [d.code for d in graph.diagnostics] == ["E305"]
    with pytest.raises(SpecError) as err:
        program.network()
    assert [d.code for d in err.value.diagnostics] == ["E305"] and "E305" in str(err.value)


def test_choosing_a_network() -> None:
    program = archlang.load(NET.format(body="relu") + NET.replace("Net", "Other").format(body="bn"))
    assert [n.op for n in program.network("Other").nodes] == ["input", "bn"]
    for name in (None, "Nett"):
        graph = program.elaborate(name)
        assert [d.code for d in graph.diagnostics] == ["E216"]
    assert "did you mean Net?" in program.elaborate("Nett").diagnostics[0].message


def test_check_reports_everything_and_never_raises() -> None:
    text = ("block B(c) { conv(c, k=9) }\nblock Spare(c) { conv(c, k=1) }\n" + NET.format(body="B(4)") +
            NET.replace("Net", "Two").format(body="linear(3)"))
    assert [d.code for d in archlang.check(text)] == ["W501", "E305", "E306"]
    assert [d.code for d in archlang.check(text, network="Two")] == ["W501", "E306"]
    assert [d.code for d in archlang.check("network N {")] == ["E102"]


def test_importing_archlang_is_cheap() -> None:
    code = ("import sys, archlang; archlang.check('network N { input [1, 4, 4] relu }'); "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'graphviz', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    bare = subprocess.run([sys.executable, "-c", "import sys, archlang; print('lark' in sys.modules)"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    assert bare.stdout.strip() == "False"  # the front end loads on first use


def test_compile_builds_the_module() -> None:
    torch = pytest.importorskip("torch")
    model = archlang.compile(NET.format(body="conv(4, k=3, p=1) relu gap flatten linear(2)"))
    assert isinstance(model, torch.nn.Module)
    assert model(torch.zeros(5, 3, 8, 8)).shape == (5, 2)
    with pytest.raises(SpecError):
        archlang.compile(NET.format(body="linear(2)"))
