/**
 * Which Python runs the server: the `editseq.interpreter` setting, else the interpreter selected
 * in the Python extension (ms-python.python) when it is installed, else `python3` from PATH.
 * Also checks that editseq can be imported there, so a missing install is reported with its fix.
 */
import { execFile } from 'child_process';
import * as vscode from 'vscode';
import { PythonExtension } from '@vscode/python-extension';
import { getInterpreterSetting } from './settings';
import { errorText, traceLog, traceWarn } from './logging';

export const DEFAULT_PYTHON = 'python3';
const PYTHON_EXTENSION_ID = 'ms-python.python';

export interface Interpreter {
    python: string;
    source: 'setting' | 'Python extension' | 'default';
}

let pythonApi: PythonExtension | undefined;

async function getPythonApi(): Promise<PythonExtension | undefined> {
    if (pythonApi) {
        return pythonApi;
    }
    if (!vscode.extensions.getExtension(PYTHON_EXTENSION_ID)) {
        return undefined;
    }
    try {
        pythonApi = await PythonExtension.api();
        return pythonApi;
    } catch (error) {
        traceWarn(`the Python extension is installed but its API is unavailable: ${errorText(error)}`);
        return undefined;
    }
}

/** Fires when the Python extension's selected interpreter changes (never if it is absent). */
export async function onDidChangePythonInterpreter(listener: () => void): Promise<vscode.Disposable> {
    const api = await getPythonApi();
    if (!api) {
        return new vscode.Disposable(() => undefined);
    }
    return api.environments.onDidChangeActiveEnvironmentPath(() => listener());
}

export async function resolveInterpreter(resource?: vscode.Uri): Promise<Interpreter> {
    const setting = getInterpreterSetting();
    if (setting) {
        return { python: setting, source: 'setting' };
    }
    const api = await getPythonApi();
    if (api) {
        try {
            const active = api.environments.getActiveEnvironmentPath(resource);
            const resolved = await api.environments.resolveEnvironment(active);
            const executable = resolved?.executable.uri?.fsPath;
            if (executable) {
                return { python: executable, source: 'Python extension' };
            }
        } catch (error) {
            traceWarn(`could not resolve the Python extension's interpreter: ${errorText(error)}`);
        }
    }
    return { python: DEFAULT_PYTHON, source: 'default' };
}

export type EditseqCheck =
    | { ok: true; version: string }
    | { ok: false; kind: 'noInterpreter' | 'notInstalled'; message: string; fix: string };

/** Runs `<python> -c "import editseq"`; tells how to fix a missing interpreter or package. */
export function checkEditseq(python: string, timeoutMs = 30000): Promise<EditseqCheck> {
    const script = 'import editseq; print(editseq.__version__)';
    return new Promise((resolve) => {
        execFile(python, ['-c', script], { timeout: timeoutMs }, (error, stdout, stderr) => {
            if (!error) {
                const version = stdout.trim();
                traceLog(`editseq ${version} found in ${python}`);
                resolve({ ok: true, version });
                return;
            }
            const code = (error as NodeJS.ErrnoException).code;
            if (code === 'ENOENT' || code === 'EACCES') {
                resolve({
                    ok: false,
                    kind: 'noInterpreter',
                    message: `editseq: the Python interpreter ${python} cannot be run (${code}).`,
                    fix: 'Set "editseq.interpreter" to a Python that has editseq installed.',
                });
                return;
            }
            traceWarn(`"${python} -c import editseq" failed: ${stderr.trim() || errorText(error)}`);
            resolve({
                ok: false,
                kind: 'notInstalled',
                message: `editseq is not installed in ${python}: run ${python} -m pip install editseq`,
                fix: `${python} -m pip install editseq`,
            });
        });
    });
}
