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
    /** The last computed suggestion. */
    lastLatencyMs?: number;
    lastReason?: string;
    /** Why the server is in the error/notInstalled phase. */
    detail?: string;
}

export interface StatusView {
    text: string;
    tooltip: string;
    /** true: draw with the error background. */
    error: boolean;
}

export function describe(state: ServerState): StatusView {
    const lines: string[] = [];
    if (state.python) {
        lines.push(`Interpreter: ${state.python}`);
    }
    if (state.model) {
        lines.push(`Model: ${state.model}` + (state.loadSeconds !== undefined ? ` (loaded in ${state.loadSeconds.toFixed(2)} s)` : ''));
    }
    if (state.lastLatencyMs !== undefined) {
        lines.push(`Last suggestion: ${Math.round(state.lastLatencyMs)} ms` + (state.lastReason ? ` — ${state.lastReason}` : ''));
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
