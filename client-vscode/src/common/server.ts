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
import { getServerLogLevel, getServerOptions, serverOptionKeys, workspaceRoot } from './settings';

export interface ServerHooks {
    /** Every window/logMessage from the server, after it is written to the output channel. */
    onLogMessage(message: string, type: number): void;
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
    const client = new LanguageClient(SERVER_ID, SERVER_NAME, serverOptions, clientOptions);
    keepOwnCommands(client);
    client.onNotification(LogMessageNotification.type, (params) => {
        logServerMessage(params);
        hooks.onLogMessage(params.message, params.type);
    });
    return client;
}

/**
 * The language client registers a VS Code command for every command the server announces in
 * executeCommandProvider; the extension registers editseq.explainFunction/repairFunction itself
 * (so the palette works with the active editor's position), so those are left out here.
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

