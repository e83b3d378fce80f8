"""How fast `archlang lsp` shows diagnostics: didChange to publishDiagnostics.

For specs of 1,000 and 10,000 layers (bench/check_scaling.py makes them),
a real client (pytest-lsp's, over stdio, as an editor connects) opens the
spec, then edits one layer again and again, alternating a change that
breaks the network with one that mends it, so every round is a full
recheck whose diagnostics differ. Each round is timed from sending the
change to receiving the diagnostics of that version; the median is
reported, with the server's debounce (the wait for a pause in typing, part
of the figure) and, side by side in the same run, the time of the same check
in-process without a server (`lsp.analysis.analyse`) and its ratio.

    .venv/bin/python bench/lsp_latency.py [--rounds 9]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from check_scaling import generate  # noqa: E402
from lsprotocol import types  # noqa: E402
from pygls.protocol import default_converter  # noqa: E402
from pytest_lsp import LanguageClient, client_capabilities  # noqa: E402
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features  # noqa: E402

from archlang.lsp.analysis import analyse  # noqa: E402
from archlang.lsp.server import DEBOUNCE_S  # noqa: E402

GOOD, BAD = "    gap flatten linear(10)\n", "    gap linear(10)\n"   # BAD: E306, linear on [8, 1, 1]


class Timer:
    """Arrival time of each published version."""

    def __init__(self) -> None:
        self.arrived: dict[int, tuple[float, int]] = {}

    def client(self) -> LanguageClient:
        client = LanguageClient(converter_factory=default_converter)

        def publish(_client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
            self.arrived[params.version] = (time.perf_counter(), len(params.diagnostics))

        register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish})
        return client

    async def wait(self, version: int) -> tuple[float, int]:
        while version not in self.arrived:
            await asyncio.sleep(0.001)
        return self.arrived[version]


async def measure(path: Path, text: str, rounds: int) -> list[float]:
    timer = Timer()
    client = timer.client()
    await client.start_io(sys.executable, "-m", "archlang", "lsp", env={**os.environ, "PYTHONPATH": str(ROOT)})
    await client.initialize_session(types.InitializeParams(capabilities=client_capabilities("neovim"),
                                                           root_uri=path.parent.as_uri()))
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="arch", version=1, text=text)))
    await timer.wait(1)
    line = text.count("\n", 0, text.index(GOOD))
    latencies = []
    for version in range(2, rounds + 2):
        broken = version % 2 == 0
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line + 1, character=0)),
            text=BAD if broken else GOOD)
        start = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=[change]))
        arrived, count = await timer.wait(version)
        assert count == (1 if broken else 0), (version, count)
        latencies.append(arrived - start)
    await client.shutdown_session()
    await client.stop()
    return latencies


def in_process(path: Path, text: str, runs: int) -> float:
    analyse(str(path), text)  # warm up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        analyse(str(path), text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"debounce {DEBOUNCE_S * 1000:.0f} ms (included below)")
    print(f"{'layers':>7} {'didChange->publish median':>26} {'min':>7} {'max':>7} {'check in-process':>17} "
          f"{'latency - debounce':>19} {'ratio to check':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for layers in (1_000, 10_000):
            path = Path(tmp) / f"deep{layers}.arch"
            text = generate(layers)
            path.write_text(text, encoding="utf-8")
            latencies = asyncio.run(measure(path, text, args.rounds))
            check = in_process(path, text, 3)
            median = statistics.median(latencies)
            print(f"{layers:>7,} {median * 1000:>23.0f} ms {min(latencies) * 1000:>4.0f} ms "
                  f"{max(latencies) * 1000:>4.0f} ms {check * 1000:>14.0f} ms "
                  f"{(median - DEBOUNCE_S) * 1000:>16.0f} ms {(median - DEBOUNCE_S) / check:>14.2f}x")


if __name__ == "__main__":
    main()
