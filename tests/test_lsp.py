"""`archlang lsp`, driven by a real LSP client (pytest-lsp) over stdio.

One server process for the module; each test opens its own document (a
file under a temporary folder, so imports and definitions resolve on disk).
The parts that need no server (positions, quick fixes, completion
contexts) are tested directly in tests/test_lsp_parts.py.
"""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from archlang.formatter import format_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.asyncio(loop_scope="module")


WAIT_S = 120   # the longest wait for a publication: a ceiling against hangs, not a speed test


def recording_client() -> LanguageClient:
    """pytest-lsp's client, keeping every publishDiagnostics with its version (a test waits
    for its document's version; awaiting "the next notification" could miss one)."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)

    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish})
    return client


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(
    server_command=[sys.executable, "-m", "archlang", "lsp"], client_factory=recording_client,
    server_env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


class Doc:
    """A document opened in the client, with its versions."""

    def __init__(self, client: LanguageClient, path: Path, text: str) -> None:
        self.client, self.path, self.uri, self.text, self.version = client, path, path.as_uri(), text, 1
        path.write_text(text, encoding="utf-8")

    async def open(self) -> list[types.Diagnostic]:
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=self.uri, language_id="arch", version=self.version, text=self.text)))
        return await self.diagnostics()

    async def change(self, text: str) -> list[types.Diagnostic]:
        """Replace the whole text, as one incremental change."""
        end = types.Position(line=len(self.text.splitlines()) + 1, character=0)
        self.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=0, character=0), end=end), text=text)]))
        self.text = text
        return await self.diagnostics()

    async def diagnostics(self) -> list[types.Diagnostic]:
        """The diagnostics published for this document's current version."""
        async def published() -> list[types.Diagnostic]:
            while True:
                for params in self.client.published:
                    if params.uri == self.uri and params.version == self.version:
                        return list(params.diagnostics)
                await asyncio.sleep(0.01)

        return await asyncio.wait_for(published(), WAIT_S)

    def at(self, needle: str, nth: int = 0, shift: int = 0) -> types.Position:
        """The position of the `nth` occurrence of `needle` (plus `shift` characters)."""
        index = -1
        for _ in range(nth + 1):
            index = self.text.index(needle, index + 1)
        index += shift
        line = self.text.count("\n", 0, index)
        return types.Position(line=line, character=index - (self.text.rfind("\n", 0, index) + 1))

    def ident(self) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(uri=self.uri)

    async def close(self) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=self.ident()))


RESIDUAL = (EXAMPLES / "residual_without_projection.arch").read_text(encoding="utf-8")


async def test_a_residual_mismatch_is_e304_on_its_line_and_clears_when_fixed(client: LanguageClient,
                                                                              tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "residual.arch", RESIDUAL)
    (diag,) = await doc.open()
    assert diag.code == "E304" and diag.source == "archlang"
    assert diag.severity == types.DiagnosticSeverity.Error
    assert diag.range.start == doc.at("conv(c, k=3, p=1, s=s)")
    assert diag.range.end == doc.at("conv(c, k=3, p=1, s=s)", shift=len("conv(c, k=3, p=1, s=s)"))
    assert "this path yields [128, 12, 12]" in diag.message and "help: path 2 passes" in diag.message
    (call,) = diag.related_information
    assert call.message == "in: Residual(128, s=2)" and call.location.uri == doc.uri
    assert call.location.range.start == doc.at("Residual(128, s=2)")

    assert await doc.change(RESIDUAL.replace("Residual(128, s=2)", "Residual(128, use_1x1conv=true, s=2)")) == []
    await doc.close()


async def test_only_the_last_of_several_quick_changes_is_published(client: LanguageClient, tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "typing.arch", RESIDUAL)
    await doc.open()
    for _ in range(3):  # typing: each change within the debounce of the one before
        doc.version += 1
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=doc.text + "#" * doc.version)]))
    (diag,) = await doc.diagnostics()   # waits for the newest version's publication
    assert diag.code == "E304"
    versions = [p.version for p in client.published if p.uri == doc.uri]
    assert versions[0] == 1 and versions[-1] == doc.version
    assert len(versions) < 4, "every change was checked: no debounce"   # [1, 4] unless the machine stalls
    await doc.close()


async def test_hover_on_a_conv_inside_a_block_shows_each_call_sites_shape(client: LanguageClient,
                                                                          tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "hover.arch", RESIDUAL)
    await doc.open()
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=doc.ident(), position=doc.at("conv(c, k=3, p=1)", shift=2)))
    text = hover.contents.value
    assert text.startswith("`conv(out, k, s=1, p=0, d=1, groups=1, bias=true)`")
    assert "2 instances" in text
    assert "| `residual1.conv2` | [64, 24, 24] | 36.9K | 21.2M |" in text
    assert "| `residual2.conv2` | [128, 12, 12] | 147.6K | 21.2M |" in text
    assert hover.range.start == doc.at("conv(c, k=3, p=1)")

    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=doc.ident(), position=doc.at("Residual(64)", shift=1)))
    assert "**[64, 24, 24]** · 74.1K params · 42.5M MACs" in hover.contents.value  # 2 x (36,928 + 128)
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=doc.ident(), position=doc.at("network ResNet", shift=9)))
    assert hover.contents.value.startswith("network `ResNet` (has errors)")
    await doc.close()


UNET = (EXAMPLES / "unet.arch").read_text(encoding="utf-8")


async def test_definition_of_blocks_imports_and_named_tensors(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "blocks.arch").write_text("block Wide(c) {\n    conv(c * 2, k=1)\n}\n", encoding="utf-8")
    text = 'import "blocks.arch"\n\n' + UNET.replace("-> conv(classes, k=1)", "-> conv(classes, k=1) Wide(2)")
    doc = Doc(client, tmp_path / "unet.arch", text)
    await doc.open()

    async def definition(pos: types.Position) -> types.Location:
        found = await client.text_document_definition_async(types.DefinitionParams(
            text_document=doc.ident(), position=pos))
        return found[0] if isinstance(found, list) else found

    local = await definition(doc.at("DoubleConv(32)"))
    assert local.uri == doc.uri and local.range.start == doc.at("DoubleConv(c)")
    imported = await definition(doc.at("Wide(2)"))
    assert imported.uri == (tmp_path / "blocks.arch").as_uri()
    assert (imported.range.start.line, imported.range.start.character) == (0, 6)
    target = await definition(doc.at('"blocks.arch"', shift=3))
    assert target.uri == (tmp_path / "blocks.arch").as_uri()
    tensor = await definition(doc.at("e2)", shift=0))          # `cat(e3 -> upsample(2), e2)`
    assert tensor.range.start == doc.at("e2 = e1")
    output = await definition(doc.at("output y", shift=7))
    assert output.range.start == doc.at("y = d1")
    param = await definition(doc.at("classes, k=1"))
    assert param.range.start == doc.at("classes = 2")
    await doc.close()


async def test_completion_of_layers_blocks_and_argument_names(client: LanguageClient, tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "complete.arch", UNET)
    await doc.open()
    # While typing, the text does not parse: completion reads the tokens before the cursor.
    await doc.change(UNET.replace("    output y\n", "    y2 = y -> conv(8, \n    output y\n"))
    found = await client.text_document_completion_async(types.CompletionParams(
        text_document=doc.ident(), position=doc.at("conv(8, ", shift=len("conv(8, "))))
    labels = [i.label for i in found.items]
    assert labels[:3] == ["out=", "k=", "s="] and "bias=" in labels
    k = next(i for i in found.items if i.label == "k=")
    assert k.detail.startswith("ints, required (also kernel)")

    found = await client.text_document_completion_async(types.CompletionParams(
        text_document=doc.ident(), position=doc.at("    y2", shift=4)))
    items = {i.label: i for i in found.items}
    assert items["conv"].detail == "conv(out, k, s=1, p=0, d=1, groups=1, bias=true)"
    assert items["DoubleConv"].detail == "DoubleConv(c)"           # from the last version that loaded
    assert items["dense"].kind == types.CompletionItemKind.Class    # the prelude's
    assert items["repeat"].kind == types.CompletionItemKind.Keyword
    await doc.close()


async def test_formatting_returns_the_fmt_layout(client: LanguageClient, tmp_path: Path) -> None:
    messy = "network N {\n  input [3, 8, 8]\n  conv(8,k=1)   # c\n  relu;bn\n}\n"
    doc = Doc(client, tmp_path / "messy.arch", messy)
    await doc.open()
    (edit,) = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc.ident(), options=types.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert edit.new_text == format_text(messy)
    assert edit.range.start == types.Position(line=0, character=0)
    assert edit.range.end == types.Position(line=5, character=0)
    await doc.change(format_text(messy))
    assert not await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc.ident(), options=types.FormattingOptions(tab_size=4, insert_spaces=True)))
    await doc.close()


async def test_quick_fix_adds_flatten(client: LanguageClient, tmp_path: Path) -> None:
    text = "network N {\n    input [1, 28, 28]\n    conv(6, k=5)\n    linear(10)\n}\n"
    doc = Doc(client, tmp_path / "flat.arch", text)
    (diag,) = await doc.open()
    assert diag.code == "E306"
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=doc.ident(), range=diag.range, context=types.CodeActionContext(diagnostics=[diag])))
    titles = [a.title for a in actions]
    assert titles == ["Add `flatten` before `linear`", "Add `gap flatten` before `linear`"]
    assert actions[0].is_preferred
    (edit,) = actions[0].edit.changes[doc.uri]
    assert edit.range.start == edit.range.end == doc.at("linear(10)") and edit.new_text == "flatten "
    await doc.close()


async def test_an_error_in_an_imported_block_shows_at_the_call(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "lib.arch").write_text("block Head(n) {\n    linear(n)\n}\n", encoding="utf-8")
    text = 'import "lib.arch"\n\nnetwork N {\n    input [3, 8, 8]\n    Head(10)\n}\n'
    doc = Doc(client, tmp_path / "main.arch", text)
    (diag,) = await doc.open()
    assert diag.code == "E306" and diag.range.start == doc.at("Head(10)")
    where, call = diag.related_information
    assert where.location.uri == (tmp_path / "lib.arch").as_uri() and where.location.range.start.line == 1
    assert call.message == "in: Head(10)"
    await doc.close()


async def test_document_symbols(client: LanguageClient, tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "symbols.arch", UNET)
    await doc.open()
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc.ident()))
    assert [(s.name, s.kind) for s in symbols] == [("DoubleConv", types.SymbolKind.Function),
                                                   ("TinyUNet", types.SymbolKind.Class)]
    assert [c.name for c in symbols[1].children] == ["x", "e1", "e2", "e3", "d2", "d1", "y"]
    await doc.close()
