/**
 * The reply of editseq.explainFunction / insertDocstring / repairFunction / implementFunction (docs/protocol.md:
 * `{ok, message, function, ...}` plus each command's own fields), read without trusting its
 * types. Pure: no vscode import (extension.ts shows the outcome).
 */

export type CommandOutcome =
    /** `ok: true`; `markdown` is an explanation to open beside the editor (explain only). */
    | { kind: 'done'; message?: string; markdown?: string }
    /** `ok: false`: show `message` as a warning. */
    | { kind: 'failed'; message: string }
    /** Not the documented shape (e.g. an older server): say so, with what it was. */
    | { kind: 'unexpected'; message: string };

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function preview(value: unknown): string {
    let text: string;
    try {
        text = JSON.stringify(value) ?? String(value);
    } catch {
        text = String(value);
    }
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export function readCommandResult(command: string, result: unknown): CommandOutcome {
    if (!isRecord(result) || typeof result.ok !== 'boolean') {
        return {
            kind: 'unexpected',
            message: `${command} gave a reply without "ok" (${preview(result)}); update editseq in the interpreter.`,
        };
    }
    const message = typeof result.message === 'string' && result.message ? result.message : undefined;
    if (!result.ok) {
        const name = typeof result.function === 'string' && result.function ? ` (${result.function})` : '';
        return { kind: 'failed', message: message ?? `${command} failed${name}.` };
    }
    const markdown = typeof result.markdown === 'string' && result.markdown ? result.markdown : undefined;
    return { kind: 'done', message, markdown };
}
