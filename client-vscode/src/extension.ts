/**
 * editseq for VS Code: runs the editseq language server (inline completions and "Apply suggested
 * edit (editseq)" code actions for Python) from the chosen Python interpreter, shows its state in
 * the status bar, and restarts it on demand or when the interpreter changes.
 */
import * as vscode from 'vscode';
import { ExecuteCommandRequest, MessageType, State, type LanguageClient } from 'vscode-languageclient/node';
import { Coalescer } from './common/coalesce';
import { Commands, CONFIG_SECTION } from './common/constants';
import { errorText, outputChannel, traceError, traceLog } from './common/logging';
import { parseModelLoaded, parseSuggestLog } from './common/logparse';
import { checkEditseq, onDidChangePythonInterpreter, resolveInterpreter } from './common/python';
import { createServer, executeAtCursor, pushServerOptions, serverHasCommand } from './common/server';
import { affectsServerOptions } from './common/serverOptions';
import { getServerLogLevel, initSettings, serverOptionKeys } from './common/settings';
import { StatusBar } from './common/status';

let client: LanguageClient | undefined;
let status: StatusBar | undefined;
let restarter: Coalescer | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
    initSettings(context.extension.packageJSON);
    status = new StatusBar();
    context.subscriptions.push(outputChannel(), status);
    restarter = new Coalescer(() => restartServer());
    const restart = (why: string) => {
        traceLog(`restarting the server: ${why}`);
        return restarter!.run();
    };

    context.subscriptions.push(
        vscode.commands.registerCommand(Commands.restart, () => restart('restart command')),
        vscode.commands.registerCommand(Commands.showLog, () => outputChannel().show(true)),
        vscode.commands.registerCommand(Commands.explainFunction, (...args: unknown[]) =>
            runServerCommand(Commands.explainFunction, 'Explaining the function…', args),
        ),
        vscode.commands.registerCommand(Commands.repairFunction, (...args: unknown[]) =>
            runServerCommand(Commands.repairFunction, 'Repairing the function…', args),
        ),
        vscode.workspace.onDidChangeConfiguration(async (event) => {
            if (event.affectsConfiguration(`${CONFIG_SECTION}.interpreter`)) {
                await restart('editseq.interpreter changed');
            } else if (event.affectsConfiguration(`${CONFIG_SECTION}.serverLogLevel`)) {
                await restart('editseq.serverLogLevel changed');
            } else if (affectsServerOptions((s) => event.affectsConfiguration(s), serverOptionKeys())) {
                // The server applies options live (didChangeConfiguration); no restart needed.
                if (client?.state === State.Running) {
                    await pushServerOptions(client);
                }
            }
        }),
        await onDidChangePythonInterpreter(() => {
            if (!vscode.workspace.getConfiguration(CONFIG_SECTION).get<string>('interpreter')) {
                void restart('the Python extension selected another interpreter');
            }
        }),
    );
    await restart('activation');
}

export async function deactivate(): Promise<void> {
    await stopServer();
}

async function stopServer(): Promise<void> {
    const old = client;
    client = undefined;
    if (!old) {
        return;
    }
    try {
        if (old.isRunning()) {
            await old.stop(5000);
        }
        await old.dispose(5000);
    } catch (error) {
        traceError('stopping the server failed', error);
    }
}

async function restartServer(): Promise<void> {
    await stopServer();
    const { python, source } = await resolveInterpreter(vscode.window.activeTextEditor?.document.uri);
    traceLog(`interpreter (${source}): ${python}`);
    status!.set({ phase: 'starting', python });
    const check = await checkEditseq(python);
    if (!check.ok) {
        status!.set({ phase: 'notInstalled', python, detail: check.message });
        traceError(check.message);
        void showInstallError(check.message, check.fix, check.kind === 'notInstalled');
        return;
    }
    const next = createServer(python, {
        onLogMessage: (message, type) => {
            const loaded = parseModelLoaded(message);
            if (loaded) {
                status!.update({ phase: 'ready', model: loaded.model, loadSeconds: loaded.loadSeconds, detail: undefined });
                return;
            }
            const suggest = parseSuggestLog(message);
            if (suggest) {
                status!.update({ phase: 'ready', lastLatencyMs: suggest.latencyMs, lastReason: suggest.reason });
            } else if (type === MessageType.Error && message.startsWith('editseq')) {
                status!.update({ phase: 'error', detail: message });
            }
        },
    });
    // Also follows the language client's own restarts after a server crash.
    next.onDidChangeState((event) => {
        if (client !== next) {
            return;
        }
        if (event.newState === State.Stopped) {
            status!.update({ phase: 'stopped' });
        } else if (event.newState === State.Starting) {
            status!.update({ phase: 'starting' });
        } else if (event.newState === State.Running && status!.current.phase === 'starting') {
            status!.update({ phase: 'loading' });
        }
    });
    client = next;
    try {
        await next.start();
        if (status!.current.phase === 'starting') {
            status!.update({ phase: 'loading' });
        }
        traceLog(`server started: ${python} -m editseq.cli --log-level ${getServerLogLevel()} serve`);
    } catch (error) {
        status!.set({ phase: 'error', python, detail: `The server did not start: ${errorText(error)}` });
        traceError('the server did not start', error);
        void vscode.window.showErrorMessage(`editseq: the server did not start (${errorText(error)}). See the editseq output.`, 'Show Log')
            .then((choice) => choice && outputChannel().show());
    }
}

async function showInstallError(message: string, fix: string, canCopy: boolean): Promise<void> {
    const actions = canCopy ? ['Copy Command', 'Open Settings'] : ['Open Settings'];
    const choice = await vscode.window.showErrorMessage(message, ...actions);
    if (choice === 'Copy Command') {
        await vscode.env.clipboard.writeText(fix);
    } else if (choice === 'Open Settings') {
        await vscode.commands.executeCommand('workbench.action.openSettings', `${CONFIG_SECTION}.interpreter`);
    }
}

/**
 * Runs a server command on the function at the cursor. From the palette or the editor menu the
 * arguments are the active editor's (uri, position); from the server's own code actions they
 * arrive already in protocol form and are passed on unchanged.
 */
async function runServerCommand(command: string, title: string, args: unknown[]): Promise<void> {
    const fromServer = args.length >= 2 && typeof args[0] === 'string';
    const editor = vscode.window.activeTextEditor;
    if (!fromServer && (!editor || editor.document.languageId !== 'python')) {
        void vscode.window.showInformationMessage('editseq: put the cursor in a Python function first.');
        return;
    }
    if (!client || client.state !== State.Running) {
        void vscode.window.showWarningMessage('editseq: the server is not running (see the status bar).');
        return;
    }
    if (!serverHasCommand(client, command)) {
        void vscode.window.showWarningMessage(
            `editseq: this server does not provide ${command}; update editseq in the interpreter.`,
        );
        return;
    }
    const running = client;
    try {
        const result = await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Window, title: `editseq: ${title}`, cancellable: true },
            (_progress, token) =>
                fromServer
                    ? running.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token)
                    : executeAtCursor(running, command, editor!, token),
        );
        await showCommandResult(result);
    } catch (error) {
        traceError(`${command} failed`, error);
        void vscode.window.showErrorMessage(`editseq: ${command} failed: ${errorText(error)}`);
    }
}

/**
 * An explanation (a string, or an object with `markdown`) opens beside the editor; `error` is
 * shown as a warning. Edits (repair, docstring) arrive separately as workspace/applyEdit.
 */
async function showCommandResult(result: unknown): Promise<void> {
    const reply = (result && typeof result === 'object' ? result : {}) as { markdown?: unknown; error?: unknown };
    if (typeof reply.error === 'string') {
        void vscode.window.showWarningMessage(`editseq: ${reply.error}`);
        return;
    }
    const text = typeof result === 'string' ? result : typeof reply.markdown === 'string' ? reply.markdown : undefined;
    if (!text) {
        return;
    }
    const document = await vscode.workspace.openTextDocument({ language: 'markdown', content: text });
    await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
}
