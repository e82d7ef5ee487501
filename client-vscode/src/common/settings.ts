/** Reads the extension's settings (package.json's contributes.configuration, generated). */
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { CONFIG_SECTION } from './constants';
import { pickServerOptions, serverOptionNames } from './serverOptions';

let optionNames: string[] = [];

/** Call once on activation with the extension's package.json. */
export function initSettings(packageJSON: unknown): void {
    optionNames = serverOptionNames(packageJSON);
}

export function serverOptionKeys(): readonly string[] {
    return optionNames;
}

/** The server options as the server reads them (initializationOptions / didChangeConfiguration). */
export function getServerOptions(): Record<string, unknown> {
    const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
    const values: Record<string, unknown> = {};
    for (const name of optionNames) {
        values[name] = config.get(name);
    }
    return pickServerOptions(values, optionNames);
}

/** The `editseq.interpreter` setting with `${workspaceFolder}`, `${userHome}` and `~` expanded; '' if unset. */
export function getInterpreterSetting(): string {
    const raw = (vscode.workspace.getConfiguration(CONFIG_SECTION).get<string>('interpreter') ?? '').trim();
    if (!raw) {
        return '';
    }
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
    let value = raw
        .replace(/\$\{workspaceFolder\}/g, folder)
        .replace(/\$\{userHome\}/g, os.homedir());
    if (value === '~' || value.startsWith('~/')) {
        value = path.join(os.homedir(), value.slice(1));
    }
    return value;
}

/** The server's stderr log level (`editseq --log-level LEVEL serve`). */
export function getServerLogLevel(): string {
    const level = vscode.workspace.getConfiguration(CONFIG_SECTION).get<string>('serverLogLevel') ?? 'warning';
    return /^(error|warning|info|debug)$/i.test(level) ? level.toUpperCase() : 'WARNING';
}

export function workspaceRoot(): string | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}
