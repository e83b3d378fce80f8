"""The language server: pygls over stdio, the handlers, debounced checking.

A document is checked when it is opened, and again DEBOUNCE_S after the
last change of a burst of typing: the check runs in a worker thread, and its
diagnostics are published only if the document has not changed meanwhile.
Requests (hover, definition...) read the analysis of the current version,
waiting for it if a check is under way; completion uses the last version
that loaded when the current text does not (it rarely does while typing).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..formatter import NotFormatted, format_text
from ..program import PRELUDE_NAME, PRELUDE_PATH
from ..source import Source
from . import navigation
from .analysis import Analysis, analyse, path_for
from .completion import complete
from .positions import offset, span_range, whole
from .publish import lsp_diagnostics

DEBOUNCE_S = 0.15
log = logging.getLogger(__name__)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("archlang")
    except PackageNotFoundError:
        return "0+unknown"


class ArchServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("archlang", _version(), text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.analyses: dict[str, Analysis] = {}      # uri -> the analysis of the latest version checked
        self.loaded: dict[str, Analysis] = {}        # uri -> the latest analysis whose program loaded
        self.running: dict[tuple[str, int | None], asyncio.Task] = {}
        self.debounce: dict[str, asyncio.Task] = {}

    # -- analyses -------------------------------------------------------------------------------------
    async def analysis(self, uri: str) -> Analysis:
        """The analysis of the document's current version (checked now if need be)."""
        doc = self.workspace.get_text_document(uri)
        known = self.analyses.get(uri)
        if known is not None and known.version == doc.version and known.text == doc.source:
            return known
        key = (uri, doc.version)
        task = self.running.get(key)
        if task is None:
            path = path_for(doc.path, uri)
            task = asyncio.ensure_future(asyncio.to_thread(analyse, path, doc.source, doc.version))
            self.running[key] = task
            task.add_done_callback(lambda _: self.running.pop(key, None))
        result = await task
        if result.version == self.workspace.get_text_document(uri).version:
            self.analyses[uri] = result
            if result.program is not None:
                self.loaded[uri] = result
        return result

    async def check(self, uri: str, delay: float) -> None:
        """Check the document (after `delay`, unless it changes again) and publish."""
        if delay:
            await asyncio.sleep(delay)
        result = await self.analysis(uri)
        doc = self.workspace.get_text_document(uri)
        if result.version != doc.version:
            return  # a newer version has its own check coming
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=doc.version, diagnostics=lsp_diagnostics(result, uri_of)))

    def schedule(self, uri: str, delay: float) -> None:
        pending = self.debounce.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self.debounce[uri] = asyncio.ensure_future(self.check(uri, delay))


server = ArchServer()


def uri_of(path: str) -> str:
    """The URI of a file named in a span (the prelude is named for people, not by its path)."""
    if path == PRELUDE_NAME:
        return PRELUDE_PATH.as_uri()
    return Path(path).resolve().as_uri()


# -- documents ----------------------------------------------------------------------------------------
@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ArchServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ArchServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, DEBOUNCE_S)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ArchServer, params: types.DidSaveTextDocumentParams) -> None:
    """A saved file may be imported by the others that are open: check them all again."""
    for uri in {params.text_document.uri, *ls.analyses}:
        ls.analyses.pop(uri, None)
        ls.schedule(uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ArchServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    for table in (ls.analyses, ls.loaded):
        table.pop(uri, None)
    pending = ls.debounce.pop(uri, None)
    if pending is not None:
        pending.cancel()
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


# -- requests ------------------------------------------------------------------------------------------
@server.feature(types.TEXT_DOCUMENT_HOVER)
async def hover(ls: ArchServer, params: types.HoverParams) -> types.Hover | None:
    a = await ls.analysis(params.text_document.uri)
    return navigation.hover(a, offset(a.source, params.position))


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
async def definition(ls: ArchServer, params: types.DefinitionParams) -> types.Location | None:
    a = await ls.analysis(params.text_document.uri)
    target = navigation.definition(a, offset(a.source, params.position))
    if target is None:
        return None
    if isinstance(target, Path):
        return types.Location(uri=target.as_uri(), range=types.Range(start=types.Position(line=0, character=0),
                                                                     end=types.Position(line=0, character=0)))
    return types.Location(uri=uri_of(target.file), range=span_range(target))


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
async def document_symbols(ls: ArchServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    return navigation.symbols(await ls.analysis(params.text_document.uri))


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["(", ","]))
def completion(ls: ArchServer, params: types.CompletionParams) -> types.CompletionList:
    uri = params.text_document.uri
    source = _source(ls, uri)
    loaded = ls.loaded.get(uri)
    items = complete(source.text, offset(source, params.position), loaded.blocks if loaded is not None else {})
    return types.CompletionList(is_incomplete=False, items=items)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: ArchServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
    source = _source(ls, params.text_document.uri)
    try:
        formatted = format_text(source.text, source.name)
    except NotFormatted:
        return None  # its syntax errors are already shown
    if formatted == source.text:
        return []
    return [types.TextEdit(range=whole(source), new_text=formatted)]


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
def code_action(ls: ArchServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """The quick fixes that publishing put in each diagnostic's data."""
    uri = params.text_document.uri
    actions = []
    for diag in params.context.diagnostics:
        fixes = diag.data.get("fixes", []) if isinstance(diag.data, dict) else []
        for n, fix in enumerate(fixes):
            r = fix["range"]
            edit = types.TextEdit(range=types.Range(start=types.Position(**r["start"]), end=types.Position(**r["end"])),
                                  new_text=fix["text"])
            actions.append(types.CodeAction(title=fix["title"], kind=types.CodeActionKind.QuickFix,
                                            diagnostics=[diag], is_preferred=n == 0,
                                            edit=types.WorkspaceEdit(changes={uri: [edit]})))
    return actions


def _source(ls: ArchServer, uri: str) -> Source:
    doc = ls.workspace.get_text_document(uri)
    return Source(path_for(doc.path, uri), doc.source)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    server.start_io()
