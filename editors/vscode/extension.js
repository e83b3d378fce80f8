// The archlang extension: the .arch language (package.json, the TextMate grammar)
// and a client of `archlang lsp`, which does the rest (diagnostics, hover,
// completion, definitions, formatting, quick fixes).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("archlang").get("server.command");
  client = new LanguageClient(
    "archlang",
    "archlang",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "arch" }, { scheme: "untitled", language: "arch" }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
