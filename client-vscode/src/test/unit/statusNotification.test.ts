import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describe as describeState, type ServerState } from '../../common/state';
import { applyStatus, parseStatusParams, STATUS_NOTIFICATION } from '../../common/statusNotification';

const LOADING: ServerState = { phase: 'loading', python: '/venv/bin/python' };

describe('editseq/status notification', () => {
    it('is the documented method', () => {
        assert.equal(STATUS_NOTIFICATION, 'editseq/status');
    });

    it('loading: shows the spinner and the model being loaded', () => {
        const state = applyStatus({ phase: 'starting', python: '/venv/bin/python' }, { state: 'loading', model: 'm.gguf + adapter a.gguf' });
        assert.equal(state.phase, 'loading');
        assert.equal(state.model, 'm.gguf + adapter a.gguf');
        assert.equal(state.python, '/venv/bin/python');
        assert.equal(describeState(state).text, '$(sync~spin) editseq: loading model');
    });

    it('ready: the model and its load time', () => {
        const state = applyStatus(LOADING, { state: 'ready', model: 'm.gguf + adapter a.gguf', loadSeconds: 1.25 });
        assert.equal(state.phase, 'ready');
        assert.equal(state.loadSeconds, 1.25);
        const view = describeState(state);
        assert.equal(view.text, '$(sparkle) editseq');
        assert.equal(view.error, false);
        assert.match(view.tooltip, /Model: m\.gguf \+ adapter a\.gguf \(loaded in 1\.25 s\)/);
    });

    it('error: the error background and the message in the tooltip', () => {
        const state = applyStatus(LOADING, { state: 'error', model: 'missing.gguf', message: 'model file not found: missing.gguf' });
        const view = describeState(state);
        assert.equal(state.phase, 'error');
        assert.equal(view.text, '$(error) editseq');
        assert.equal(view.error, true);
        assert.match(view.tooltip, /model file not found: missing\.gguf/);
    });

    it('error without a message still says what failed', () => {
        const state = applyStatus(LOADING, { state: 'error' });
        assert.equal(state.phase, 'error');
        assert.ok(state.detail);
    });

    it('ready after an error drops the stale error; loading forgets the old load time', () => {
        const failed = applyStatus(LOADING, { state: 'error', message: 'boom' });
        const ready = applyStatus(failed, { state: 'ready', loadSeconds: 0.5 });
        assert.equal(ready.detail, undefined);
        const reloading = applyStatus(ready, { state: 'loading' });
        assert.equal(reloading.loadSeconds, undefined);
        // After a crash the client shows "loading" itself before the server says so.
        const restarted = applyStatus({ ...ready, phase: 'loading' }, { state: 'loading' });
        assert.equal(restarted.loadSeconds, undefined);
    });

    it('a suggestion: latency in the text, reason and place in the tooltip', () => {
        const ready = applyStatus(LOADING, { state: 'ready', model: 'm.gguf', loadSeconds: 1 });
        const state = applyStatus(ready, {
            state: 'ready',
            suggestion: {
                uri: 'file:///home/u/my%20shapes.py',
                line: 12,
                offered: false,
                skip: 'lint_gate',
                reason: 'every sample was rejected by the lint gate',
                latencyMs: 812.4,
            },
        });
        assert.equal(state.lastLatencyMs, 812.4);
        assert.equal(state.lastOffered, false);
        assert.equal(state.lastSkip, 'lint_gate');
        assert.equal(state.loadSeconds, 1, 'absent fields keep their value');
        const view = describeState(state);
        assert.equal(view.text, '$(sparkle) editseq 812 ms');
        assert.match(view.tooltip, /Last suggestion \(my shapes\.py:13\): 812 ms — every sample was rejected by the lint gate/);
    });

    it('a suggestion without a reason falls back to offered / skip', () => {
        const offered = applyStatus(LOADING, { state: 'ready', suggestion: { offered: true, skip: null, latencyMs: 5 } });
        assert.equal(offered.lastSkip, undefined);
        assert.match(describeState(offered).tooltip, /Last suggestion: 5 ms — offered/);
        const skipped = applyStatus(offered, { suggestion: { offered: false, skip: 'repeats', latencyMs: 7 } });
        assert.match(describeState(skipped).tooltip, /Last suggestion: 7 ms — nothing offered \(repeats\)/);
    });

    it('a new suggestion replaces the whole previous one', () => {
        const first = applyStatus(LOADING, { state: 'ready', suggestion: { reason: 'offered', latencyMs: 800, uri: 'file:///a.py', line: 1 } });
        const second = applyStatus(first, { suggestion: { offered: false } });
        assert.equal(second.lastLatencyMs, undefined);
        assert.equal(second.lastReason, undefined);
        assert.equal(second.lastUri, undefined);
        assert.equal(second.phase, 'ready');
    });

    it('a notification without state keeps the phase', () => {
        const state = applyStatus({ phase: 'ready', model: 'a' }, { model: 'b' });
        assert.equal(state.phase, 'ready');
        assert.equal(state.model, 'b');
    });

    it('never throws on malformed params, and ignores the fields of the wrong type', () => {
        const current: ServerState = { phase: 'ready', model: 'm.gguf', loadSeconds: 2, lastLatencyMs: 100 };
        for (const params of [undefined, null, 42, 'ready', [], [{ state: 'error' }], true]) {
            assert.deepEqual(applyStatus(current, params), current);
        }
        const state = applyStatus(current, {
            state: 'exploded',
            model: 7,
            loadSeconds: 'soon',
            message: { text: 'x' },
            suggestion: 'fast',
        });
        assert.deepEqual(state, current);
        const odd = applyStatus(current, {
            state: 'ready',
            loadSeconds: -1,
            suggestion: { uri: 3, line: 1.5, offered: 'yes', skip: 4, reason: null, latencyMs: Number.NaN },
        });
        assert.equal(odd.loadSeconds, 2);
        assert.equal(odd.lastLatencyMs, undefined);
        assert.equal(odd.lastUri, undefined);
        assert.equal(odd.lastLine, undefined);
        assert.equal(odd.lastOffered, undefined);
        assert.doesNotThrow(() => describeState(odd));
    });

    it('does not change the state it is given', () => {
        const current: ServerState = { phase: 'loading' };
        applyStatus(current, { state: 'ready', model: 'm' });
        assert.deepEqual(current, { phase: 'loading' });
    });

    it('parseStatusParams keeps only the documented, well-typed fields', () => {
        assert.deepEqual(
            parseStatusParams({ state: 'ready', model: 'm', loadSeconds: 0, message: 'ok', extra: 1, suggestion: { skip: null, other: 2 } }),
            { state: 'ready', model: 'm', loadSeconds: 0, message: 'ok', suggestion: { skip: null } },
        );
        assert.equal(parseStatusParams(null), undefined);
    });
});
