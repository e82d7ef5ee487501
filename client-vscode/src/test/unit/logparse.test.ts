import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseModelLoaded, parseSuggestLog } from '../../common/logparse';

describe('parseSuggestLog', () => {
    it('reads the uri, line, reason and timings of the server line', () => {
        const log = parseSuggestLog(
            'editseq suggest file:///home/u/shapes.py:13: offered 1 of 2 samples (latency_ms=812, generate_ms=640, samples=2)',
        );
        assert.ok(log);
        assert.equal(log.uri, 'file:///home/u/shapes.py');
        assert.equal(log.line, 13);
        assert.equal(log.reason, 'offered 1 of 2 samples');
        assert.equal(log.latencyMs, 812);
        assert.deepEqual(log.timings, { latency_ms: 812, generate_ms: 640, samples: 2 });
    });

    it('keeps parentheses inside the reason', () => {
        const log = parseSuggestLog('editseq suggest file:///a%20b.py:1: no offer (lint gate) (latency_ms=5)');
        assert.equal(log?.reason, 'no offer (lint gate)');
        assert.equal(log?.latencyMs, 5);
    });

    it('still finds latency_ms in a changed layout', () => {
        assert.equal(parseSuggestLog('editseq suggest something new latency_ms=1234.5 more')?.latencyMs, 1234.5);
    });

    it('ignores other messages', () => {
        assert.equal(parseSuggestLog('editseq: model x.gguf loaded in 1.00 s'), undefined);
        assert.equal(parseSuggestLog('latency_ms=3'), undefined);
    });
});

describe('parseModelLoaded', () => {
    it('reads the model and load time', () => {
        assert.deepEqual(
            parseModelLoaded('editseq: model smollm2.gguf + adapter lintseq.gguf loaded in 1.25 s'),
            { model: 'smollm2.gguf + adapter lintseq.gguf', loadSeconds: 1.25 },
        );
        assert.deepEqual(parseModelLoaded('editseq: model base.gguf (no adapter) loaded in 0.50 s'), {
            model: 'base.gguf (no adapter)',
            loadSeconds: 0.5,
        });
        assert.equal(parseModelLoaded('editseq suggest file:///x.py:1: ok (latency_ms=1)'), undefined);
    });
});
