/**
 * The reply of editseq.explainFunction / insertDocstring / repairFunction / implementFunction (docs/protocol.md:
 * `{ok, message, function, ...}` plus each command's own fields), read without trusting its
 * types. Pure: no vscode import (extension.ts shows the outcome).
 */

export type CommandOutcome =
    /** `ok: true`; `markdown` is an explanation to open beside the editor (explain only). */
    | { kind: 'done'; message?: string; markdown?: string }
    /**
     * `ok: false`: show `message` as a warning. `stale`: the document changed while the command
     * ran, so the server refused its edit (`stale: true` in the reply, docs/protocol.md); the user
     * can ask again, about `function` when the reply names it.
     */
    | { kind: 'failed'; message: string; stale?: { function?: string } }
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
        const fn = typeof result.function === 'string' && result.function ? result.function : undefined;
        const failed = message ?? `${command} failed${fn ? ` (${fn})` : ''}.`;
        return result.stale === true
            ? { kind: 'failed', message: failed, stale: fn ? { function: fn } : {} }
            : { kind: 'failed', message: failed };
    }
    const markdown = typeof result.markdown === 'string' && result.markdown ? result.markdown : undefined;
    return { kind: 'done', message, markdown };
}

/**
 * `message` with each document URI in it (`file:///…/shapes.py`) replaced by `label(uri)`, e.g. the
 * workspace-relative path: a notification shows one line, which a long URI would fill.
 */
export function relabelUris(message: string, label: (uri: string) => string): string {
    return message.replace(/\b(?:file:\/\/|untitled:)[^\s]+/g, (uri) => label(uri));
}

/**
 * The 0-based line of the first `def name(` (or `async def name(`) in `text`, at any indentation;
 * undefined when there is none. Where to ask again about a function after the document changed.
 */
export function defLine(text: string, name: string): number | undefined {
    if (!/^\w+$/.test(name)) {
        return undefined;
    }
    const pattern = new RegExp(`^\\s*(?:async\\s+)?def\\s+${name}\\s*\\(`);
    const index = text.split(/\r?\n/).findIndex((line) => pattern.test(line));
    return index >= 0 ? index : undefined;
}
