import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readCommandResult } from '../../common/commandResult';

describe('readCommandResult', () => {
    it('explain: ok with markdown opens it', () => {
        const outcome = readCommandResult('editseq.explainFunction', {
            ok: true,
            message: 'explained area',
            function: 'area',
            markdown: '**`area`** (editseq, on-device model)\n\nReturns the area.',
            text: 'Returns the area.',
            latencyMs: 900,
        });
        assert.deepEqual(outcome, {
            kind: 'done',
            message: 'explained area',
            markdown: '**`area`** (editseq, on-device model)\n\nReturns the area.',
        });
    });

    it('ok: false shows the message', () => {
        assert.deepEqual(readCommandResult('editseq.insertDocstring', { ok: false, message: 'area already has a docstring', function: 'area' }), {
            kind: 'failed',
            message: 'area already has a docstring',
        });
        assert.deepEqual(
            readCommandResult('editseq.repairFunction', {
                ok: false,
                message: 'no repair for f: no candidate passed the checks',
                function: 'f',
                verification: 'none',
                candidates: 3,
                applied: false,
            }),
            { kind: 'failed', message: 'no repair for f: no candidate passed the checks' },
        );
    });

    it('ok: false without a message still says which command failed', () => {
        const outcome = readCommandResult('editseq.repairFunction', { ok: false, function: 'f', message: 3 });
        assert.equal(outcome.kind, 'failed');
        assert.match(outcome.message ?? '', /editseq\.repairFunction failed \(f\)/);
    });

    it('ok: true without markdown (repair, docstring) opens nothing', () => {
        assert.deepEqual(readCommandResult('editseq.repairFunction', { ok: true, message: 'applied', applied: true }), {
            kind: 'done',
            message: 'applied',
            markdown: undefined,
        });
        assert.deepEqual(readCommandResult('editseq.explainFunction', { ok: true, markdown: 42 }), {
            kind: 'done',
            message: undefined,
            markdown: undefined,
        });
    });

    it('a reply without a boolean ok is unexpected (e.g. an older server), never thrown', () => {
        for (const result of [undefined, null, 'text', 3, [], { error: 'no function at line 3' }, { ok: 'false' }]) {
            const outcome = readCommandResult('editseq.explainFunction', result);
            assert.equal(outcome.kind, 'unexpected');
            assert.match(outcome.message ?? '', /editseq\.explainFunction/);
        }
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        assert.equal(readCommandResult('c', circular).kind, 'unexpected');
    });
});
