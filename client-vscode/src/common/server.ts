/**
 * Starts the editseq language server, `<python> -m editseq.cli --log-level L serve`, over stdio with
 * vscode-languageclient 11 (LSP 3.18: inline completion is a standard feature there).
 */
import * as vscode from 'vscode';
import {
    ExecuteCommandRequest,
    LanguageClient,
    LogMessageNotification,
    RevealOutputChannelOn,
    type ExecuteCommandParams,
    type LanguageClientOptions,
    type ServerOptions,
} from 'vscode-languageclient/node';
import { SERVER_COMMANDS, SERVER_ID, SERVER_MODULE, SERVER_NAME } from './constants';
import { logServerMessage, outputChannel } from './logging';
import { pickServerOptions } from './serverOptions';
import { STATUS_NOTIFICATION } from './statusNotification';
import { getServerLogLevel, getServerOptions, serverOptionKeys, workspaceRoot } from './settings';

export interface ServerHooks {
    /**
     * Every `editseq/status` notification (docs/protocol.md), params unchecked: the model's state
     * and the last suggestion. Registered before start(), so it survives the language client's own
     * restarts (it re-attaches registered handlers to each new connection).
     */
    onStatus(params: unknown): void;
}

export function createServer(python: string, hooks: ServerHooks): LanguageClient {
    const serverOptions: ServerOptions = {
        command: python,
        args: ['-m', SERVER_MODULE, '--log-level', getServerLogLevel(), 'serve'],
        options: { cwd: workspaceRoot(), env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
    const clientOptions: LanguageClientOptions = {
        documentSelector: [
            { scheme: 'file', language: 'python' },
            { scheme: 'untitled', language: 'python' },
        ],
        outputChannel: outputChannel(),
        traceOutputChannel: outputChannel(),
        revealOutputChannelOn: RevealOutputChannelOn.Never,
        initializationOptions: getServerOptions(),
        middleware: {
            workspace: {
                // The server may pull the `editseq` section: send it only the server's options,
                // not client settings such as `interpreter`, which it would report as unknown.
                configuration: async (params, token, next) => {
                    const result = await next(params, token);
                    if (!Array.isArray(result)) {
                        return result;
                    }
                    return result.map((value, i) =>
                        params.items[i]?.section === SERVER_ID && value && typeof value === 'object'
                            ? pickServerOptions(value as Record<string, unknown>, serverOptionKeys())
                            : value,
                    );
                },
            },
        },
    };
    // The language client announces window.workDoneProgress and shows the server's $/progress
    // (e.g. "editseq: loading the model") in VS Code's own status bar; nothing to add here.
    const client = new LanguageClient(SERVER_ID, SERVER_NAME, serverOptions, clientOptions);
    keepOwnCommands(client);
    // The output channel only: the status bar follows editseq/status, not the log's wording.
    client.onNotification(LogMessageNotification.type, logServerMessage);
    client.onNotification(STATUS_NOTIFICATION, (params: unknown) => hooks.onStatus(params));
    return client;
}

/**
 * The language client registers a VS Code command for every command the server announces in
 * executeCommandProvider; the extension registers editseq.explainFunction/insertDocstring/
 * repairFunction/implementFunction itself (so the palette works with the active editor's position, and their
 * `{ok, message}` replies are shown), so those are left out here.
 */
function keepOwnCommands(client: LanguageClient): void {
    const feature = client.getFeature(ExecuteCommandRequest.method);
    const register = feature.register.bind(feature);
    feature.register = (data) =>
        register({
            ...data,
            registerOptions: {
                ...data.registerOptions,
                commands: (data.registerOptions.commands ?? []).filter((c) => !SERVER_COMMANDS.has(c)),
            },
        });
}

/** True if the running server announced `command` in its executeCommandProvider. */
export function serverHasCommand(client: LanguageClient, command: string): boolean {
    return client.initializeResult?.capabilities.executeCommandProvider?.commands.includes(command) ?? false;
}

/** Forwards `command` to the server with the editor's document uri and cursor position. */
export function executeAtCursor(
    client: LanguageClient,
    command: string,
    editor: vscode.TextEditor,
    token?: vscode.CancellationToken,
): Promise<unknown> {
    const params: ExecuteCommandParams = {
        command,
        arguments: [
            client.code2ProtocolConverter.asUri(editor.document.uri),
            client.code2ProtocolConverter.asPosition(editor.selection.active),
        ],
    };
    return client.sendRequest(ExecuteCommandRequest.type, params, token);
}

/** Sends the current server options (called when a setting in the server section changes). */
export async function pushServerOptions(client: LanguageClient): Promise<void> {
    await client.sendNotification('workspace/didChangeConfiguration', {
        settings: { [SERVER_ID]: getServerOptions() },
    });
}

