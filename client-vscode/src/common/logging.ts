/**
 * The "editseq" output channel: the language client's own messages, the server's stderr, and the
 * server's window/logMessage notifications.
 */
import * as vscode from 'vscode';
import { MessageType, type LogMessageParams } from 'vscode-languageclient/node';
import { SERVER_NAME } from './constants';

let channel: vscode.LogOutputChannel | undefined;

export function outputChannel(): vscode.LogOutputChannel {
    if (!channel) {
        channel = vscode.window.createOutputChannel(SERVER_NAME, { log: true });
    }
    return channel;
}

export function traceLog(message: string): void {
    outputChannel().info(message);
}

export function traceWarn(message: string): void {
    outputChannel().warn(message);
}

export function traceError(message: string, error?: unknown): void {
    outputChannel().error(error === undefined ? message : `${message}: ${errorText(error)}`);
}

/** Writes a server log message at its level (what the language client does by default). */
export function logServerMessage(params: LogMessageParams): void {
    const out = outputChannel();
    switch (params.type) {
        case MessageType.Error:
            out.error(params.message);
            break;
        case MessageType.Warning:
            out.warn(params.message);
            break;
        case MessageType.Debug:
            out.debug(params.message);
            break;
        default: // Info and Log (the per-suggestion lines)
            out.info(params.message);
    }
}

export function errorText(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}
