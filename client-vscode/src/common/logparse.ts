/**
 * Parses the server's window/logMessage lines that the status bar shows. Pure: no vscode import.
 *
 * The server (server/lsp.py) writes, per computed suggestion,
 *   `editseq suggest <uri>:<line 1-based>: <reason> (<key>=<number>, ...)`
 * with `latency_ms` among the keys, and once the model is loaded
 *   `editseq: model <file> + adapter <file> loaded in <seconds> s` (or `(no adapter)`).
 */

export interface SuggestLog {
    uri: string;
    /** 1-based, as the server prints it. */
    line: number;
    reason: string;
    timings: Record<string, number>;
    latencyMs: number | undefined;
}

export interface ModelLoadedLog {
    model: string;
    loadSeconds: number;
}

const SUGGEST = /^editseq suggest (\S+):(\d+): (.*) \(([^()]*)\)\s*$/;
const TIMING = /^([A-Za-z_][\w]*)=(-?\d+(?:\.\d+)?)$/;
const LATENCY = /\blatency_ms=(\d+(?:\.\d+)?)/;
const MODEL_LOADED = /^editseq: model (.+?) loaded in (\d+(?:\.\d+)?) s\s*$/;

export function parseSuggestLog(message: string): SuggestLog | undefined {
    const match = SUGGEST.exec(message);
    if (!match) {
        // Tolerate a changed layout as long as the latency is still printed.
        const latency = message.startsWith('editseq suggest') ? LATENCY.exec(message) : null;
        if (!latency) {
            return undefined;
        }
        return { uri: '', line: 0, reason: '', timings: {}, latencyMs: Number(latency[1]) };
    }
    const timings: Record<string, number> = {};
    for (const part of match[4].split(',')) {
        const timing = TIMING.exec(part.trim());
        if (timing) {
            timings[timing[1]] = Number(timing[2]);
        }
    }
    return {
        uri: match[1],
        line: Number(match[2]),
        reason: match[3],
        timings,
        latencyMs: timings['latency_ms'],
    };
}

export function parseModelLoaded(message: string): ModelLoadedLog | undefined {
    const match = MODEL_LOADED.exec(message);
    return match ? { model: match[1], loadSeconds: Number(match[2]) } : undefined;
}
