/**
 * What the status bar shows for each server state. Pure: no vscode import (status.ts draws it).
 */

export type ServerPhase = 'starting' | 'loading' | 'ready' | 'error' | 'notInstalled' | 'stopped';

export interface ServerState {
    phase: ServerPhase;
    /** The interpreter running (or meant to run) the server. */
    python?: string;
    /** Model file name once loaded. */
    model?: string;
    loadSeconds?: number;
    /** The last computed suggestion (from the server's `editseq/status` notification). */
    lastLatencyMs?: number;
    lastReason?: string;
    lastOffered?: boolean;
    /** Why nothing was offered, as the server names it (e.g. a value of editseq.complete.Skip). */
    lastSkip?: string;
    lastUri?: string;
    /** 0-based. */
    lastLine?: number;
    /** Why the server is in the error/notInstalled phase. */
    detail?: string;
}

export interface StatusView {
    text: string;
    tooltip: string;
    /** true: draw with the error background. */
    error: boolean;
}

/** The file name at the end of a URI, decoded where it can be. */
function fileName(uri: string): string {
    const name = uri.replace(/[?#].*$/, '').replace(/\/+$/, '').split('/').pop() ?? uri;
    try {
        return decodeURIComponent(name);
    } catch {
        return name;
    }
}

/** "Last suggestion (shapes.py:14): 812 ms — <reason>", or undefined if nothing is known. */
function lastSuggestion(state: ServerState): string | undefined {
    const parts: string[] = [];
    if (state.lastLatencyMs !== undefined) {
        parts.push(`${Math.round(state.lastLatencyMs)} ms`);
    }
    const why =
        state.lastReason ||
        (state.lastOffered === true ? 'offered' : state.lastSkip ? `nothing offered (${state.lastSkip})` : state.lastOffered === false ? 'nothing offered' : '');
    if (why) {
        parts.push(why);
    }
    if (!parts.length) {
        return undefined;
    }
    const where = state.lastUri
        ? ` (${fileName(state.lastUri)}${state.lastLine !== undefined ? `:${state.lastLine + 1}` : ''})`
        : '';
    return `Last suggestion${where}: ${parts.join(' — ')}`;
}

export function describe(state: ServerState): StatusView {
    const lines: string[] = [];
    if (state.python) {
        lines.push(`Interpreter: ${state.python}`);
    }
    if (state.model) {
        lines.push(`Model: ${state.model}` + (state.loadSeconds !== undefined ? ` (loaded in ${state.loadSeconds.toFixed(2)} s)` : ''));
    }
    const last = lastSuggestion(state);
    if (last) {
        lines.push(last);
    }
    if (state.detail) {
        lines.push(state.detail);
    }
    lines.push('Click to show the editseq log.');
    const tooltip = lines.join('\n');
    switch (state.phase) {
        case 'starting':
            return { text: '$(sync~spin) editseq', tooltip: `Starting the editseq server\n${tooltip}`, error: false };
        case 'loading':
            return { text: '$(sync~spin) editseq: loading model', tooltip, error: false };
        case 'ready': {
            const latency = state.lastLatencyMs !== undefined ? ` ${Math.round(state.lastLatencyMs)} ms` : '';
            return { text: `$(sparkle) editseq${latency}`, tooltip, error: false };
        }
        case 'notInstalled':
            return { text: '$(error) editseq: not installed', tooltip, error: true };
        case 'error':
            return { text: '$(error) editseq', tooltip, error: true };
        case 'stopped':
            return { text: '$(circle-slash) editseq', tooltip: `The editseq server is stopped\n${tooltip}`, error: false };
    }
}
