/**
 * The server's `editseq/status` notification (docs/protocol.md) as status bar state. Pure: no
 * vscode import (extension.ts registers the handler, status.ts draws the result).
 *
 * The server sends it when the model starts loading, when it is loaded or failed to load, and
 * after every inline completion it computed. Absent fields are unknown (the state keeps what it
 * had); a field of the wrong type counts as absent, so a malformed notification changes nothing
 * it cannot vouch for and never throws.
 */
import type { ServerPhase, ServerState } from './state';

export const STATUS_NOTIFICATION = 'editseq/status';

export type ModelState = 'loading' | 'ready' | 'error';

/** The last suggestion the server computed. */
export interface SuggestionStatus {
    uri?: string;
    /** 0-based. */
    line?: number;
    offered?: boolean;
    /** Why nothing was offered (a value of editseq.complete.Skip), null when something was. */
    skip?: string | null;
    /** The same in words. */
    reason?: string;
    latencyMs?: number;
}

/** The well-typed fields of an `editseq/status` notification. */
export interface StatusParams {
    state?: ModelState;
    model?: string;
    loadSeconds?: number;
    message?: string;
    suggestion?: SuggestionStatus;
}

const MODEL_STATES: ReadonlySet<string> = new Set<ModelState>(['loading', 'ready', 'error']);

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
    return typeof value === 'string' ? value : undefined;
}

/** A finite number >= 0 (a duration, a line), else undefined. */
function amount(value: unknown): number | undefined {
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function parseSuggestion(value: unknown): SuggestionStatus | undefined {
    if (!isRecord(value)) {
        return undefined;
    }
    const suggestion: SuggestionStatus = {};
    const uri = str(value.uri);
    if (uri !== undefined) {
        suggestion.uri = uri;
    }
    const line = amount(value.line);
    if (line !== undefined && Number.isInteger(line)) {
        suggestion.line = line;
    }
    if (typeof value.offered === 'boolean') {
        suggestion.offered = value.offered;
    }
    if (typeof value.skip === 'string' || value.skip === null) {
        suggestion.skip = value.skip;
    }
    const reason = str(value.reason);
    if (reason !== undefined) {
        suggestion.reason = reason;
    }
    const latencyMs = amount(value.latencyMs);
    if (latencyMs !== undefined) {
        suggestion.latencyMs = latencyMs;
    }
    return suggestion;
}

/** The fields of `params` that have their documented types; undefined if it is not an object. */
export function parseStatusParams(params: unknown): StatusParams | undefined {
    if (!isRecord(params)) {
        return undefined;
    }
    const status: StatusParams = {};
    if (typeof params.state === 'string' && MODEL_STATES.has(params.state)) {
        status.state = params.state as ModelState;
    }
    const model = str(params.model);
    if (model !== undefined) {
        status.model = model;
    }
    const loadSeconds = amount(params.loadSeconds);
    if (loadSeconds !== undefined) {
        status.loadSeconds = loadSeconds;
    }
    const message = str(params.message);
    if (message !== undefined) {
        status.message = message;
    }
    const suggestion = parseSuggestion(params.suggestion);
    if (suggestion !== undefined) {
        status.suggestion = suggestion;
    }
    return status;
}

const PHASES: Record<ModelState, ServerPhase> = { loading: 'loading', ready: 'ready', error: 'error' };

/**
 * The status bar state after an `editseq/status` notification with `params`.
 *
 * - `state`: the phase (`loading`, `ready`, `error`). `loading` forgets the previous load time;
 *   a change of phase drops the previous phase's note (e.g. a stale error), and entering `error`
 *   without a `message` says the model did not load.
 * - `model`, `loadSeconds`, `message` (the tooltip's note): replaced when present.
 * - `suggestion`: replaces everything known about the last suggestion (latency, reason, offered,
 *   skip, uri, line), so fields of two different suggestions are never mixed.
 */
export function applyStatus(current: Readonly<ServerState>, params: unknown): ServerState {
    const status = parseStatusParams(params);
    if (!status) {
        return { ...current };
    }
    const next: ServerState = { ...current };
    if (status.state !== undefined) {
        const phase = PHASES[status.state];
        if (phase !== current.phase) {
            next.detail = phase === 'error' ? 'The model did not load.' : undefined;
        }
        if (phase === 'loading') {
            // Also when the client already showed "loading" itself (after a restart).
            next.loadSeconds = undefined;
        }
        next.phase = phase;
    }
    if (status.model !== undefined) {
        next.model = status.model;
    }
    if (status.loadSeconds !== undefined) {
        next.loadSeconds = status.loadSeconds;
    }
    if (status.message !== undefined) {
        next.detail = status.message;
    }
    if (status.suggestion !== undefined) {
        const s = status.suggestion;
        next.lastLatencyMs = s.latencyMs;
        next.lastReason = s.reason;
        next.lastOffered = s.offered;
        next.lastSkip = s.skip ?? undefined;
        next.lastUri = s.uri;
        next.lastLine = s.line;
    }
    return next;
}
