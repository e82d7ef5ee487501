/**
 * editseq for VS Code: runs the editseq language server (inline completions and "Apply suggested
 * edit (editseq)" code actions for Python) from the chosen Python interpreter, shows its state in
 * the status bar (from the server's `editseq/status` notification, docs/protocol.md), and
 * restarts it on demand or when the interpreter changes.
 */
import * as vscode from 'vscode';
import { ExecuteCommandRequest, State, type LanguageClient } from 'vscode-languageclient/node';
import { Coalescer } from './common/coalesce';
import { defLine, readCommandResult, relabelUris } from './common/commandResult';
import { Commands, CONFIG_SECTION } from './common/constants';
import { errorText, outputChannel, traceError, traceLog, traceWarn } from './common/logging';
import { checkEditseq, onDidChangePythonInterpreter, resolveInterpreter } from './common/python';
import { createServer, executeAtCursor, pushServerOptions, serverHasCommand } from './common/server';
import { affectsServerOptions } from './common/serverOptions';
import { getServerLogLevel, initSettings, serverOptionKeys } from './common/settings';
import { StatusBar } from './common/status';
import { applyStatus } from './common/statusNotification';

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
        vscode.commands.registerCommand(Commands.insertDocstring, (...args: unknown[]) =>
            runServerCommand(Commands.insertDocstring, 'Writing a docstring…', args),
        ),
        vscode.commands.registerCommand(Commands.repairFunction, (...args: unknown[]) =>
            runServerCommand(Commands.repairFunction, 'Repairing the function…', args),
        ),
        vscode.commands.registerCommand(Commands.implementFunction, (...args: unknown[]) =>
            runServerCommand(Commands.implementFunction, 'Implementing the function…', args),
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
    const next: LanguageClient = createServer(python, {
        onStatus: (params) => {
            if (client === next) {
                status!.set(applyStatus(status!.current, params));
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
    const uri = fromServer ? (args[0] as string) : running.code2ProtocolConverter.asUri(editor!.document.uri);
    try {
        const result = await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Window, title: `editseq: ${title}`, cancellable: true },
            (_progress, token) =>
                fromServer
                    ? running.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }, token)
                    : executeAtCursor(running, command, editor!, token),
        );
        await showCommandResult(command, result, (name) => askAgain(command, title, uri, name));
    } catch (error) {
        traceError(`${command} failed`, error);
        void vscode.window.showErrorMessage(`editseq: ${command} failed: ${errorText(error)}`);
    }
}

const ASK_AGAIN = 'Ask Again';

/**
 * After a refusal because the document changed: the same command on the same function, found
 * again by name in the document as it is now (else at the cursor).
 */
async function askAgain(command: string, title: string, uri: string, name: string | undefined): Promise<void> {
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    const line = document && name ? defLine(document.getText(), name) : undefined;
    await runServerCommand(command, title, line === undefined ? [] : [uri, { line, character: 0 }]);
}

/**
 * The `{ok, message, ...}` reply (docs/protocol.md): `ok: false` shows `message` as a warning
 * (with "Ask Again" when the document changed while the command ran); an explanation's
 * `markdown` opens beside the editor. Edits (repair, docstring, implement) arrive separately as
 * workspace/applyEdit; what was done (`message` with `ok: true`) goes to the output channel.
 */
async function showCommandResult(
    command: string,
    result: unknown,
    retry: (name: string | undefined) => Promise<void>,
): Promise<void> {
    const outcome = readCommandResult(command, result);
    if (outcome.kind !== 'done') {
        traceWarn(`${command}: ${outcome.message}`);
        const message = `editseq: ${relabelUris(outcome.message, (uri) => vscode.workspace.asRelativePath(vscode.Uri.parse(uri)))}`;
        const stale = outcome.kind === 'failed' ? outcome.stale : undefined;
        if (!stale) {
            void vscode.window.showWarningMessage(message);
            return;
        }
        // Not awaited: the command is over; the notification stays until the user answers it.
        void vscode.window.showWarningMessage(message, ASK_AGAIN).then((choice) =>
            choice === ASK_AGAIN ? retry(stale.function) : undefined,
        );
        return;
    }
    if (outcome.message) {
        traceLog(`${command}: ${outcome.message}`);
    }
    if (!outcome.markdown) {
        return;
    }
    const document = await vscode.workspace.openTextDocument({ language: 'markdown', content: outcome.markdown });
    await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
}
