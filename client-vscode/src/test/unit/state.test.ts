import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describe as describeState } from '../../common/state';

describe('status bar text', () => {
    it('shows the last latency when ready', () => {
        const view = describeState({ phase: 'ready', model: 'm.gguf', loadSeconds: 1.5, lastLatencyMs: 812.4, lastReason: 'offered' });
        assert.equal(view.text, '$(sparkle) editseq 812 ms');
        assert.match(view.tooltip, /Model: m\.gguf \(loaded in 1\.50 s\)/);
        assert.match(view.tooltip, /Last suggestion: 812 ms — offered/);
        assert.equal(view.error, false);
    });

    it('flags a missing install as an error with its fix', () => {
        const view = describeState({
            phase: 'notInstalled',
            python: '/usr/bin/python3',
            detail: 'editseq is not installed in /usr/bin/python3: run /usr/bin/python3 -m pip install editseq',
        });
        assert.equal(view.error, true);
        assert.match(view.text, /not installed/);
        assert.match(view.tooltip, /pip install editseq/);
    });

    it('has a text for every phase', () => {
        for (const phase of ['starting', 'loading', 'ready', 'error', 'notInstalled', 'stopped'] as const) {
            assert.ok(describeState({ phase }).text.includes('editseq'));
        }
    });
});
