/** Identifiers shared by the extension's modules (no vscode import: usable from unit tests). */

export const SERVER_ID = 'editseq';
export const SERVER_NAME = 'editseq';
export const CONFIG_SECTION = 'editseq';
/** Section ids written by scripts/gen-settings.py into package.json's contributes.configuration. */
export const CLIENT_SECTION_ID = 'editseq.client';
export const SERVER_SECTION_ID = 'editseq.server';

export const Commands = {
    restart: 'editseq.restart',
    showLog: 'editseq.showLog',
    explainFunction: 'editseq.explainFunction',
    insertDocstring: 'editseq.insertDocstring',
    repairFunction: 'editseq.repairFunction',
    implementFunction: 'editseq.implementFunction',
} as const;

/**
 * Commands the server implements through workspace/executeCommand and the extension registers
 * itself (to fill in the active editor's uri and position). The language client must not also
 * register them, or VS Code reports "command already exists".
 */
export const SERVER_COMMANDS: ReadonlySet<string> = new Set([
    Commands.explainFunction,
    Commands.insertDocstring,
    Commands.repairFunction,
    Commands.implementFunction,
]);

/** The server module run as `<python> -m editseq.cli serve`. */
export const SERVER_MODULE = 'editseq.cli';
