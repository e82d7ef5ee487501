import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defLine, readCommandResult, relabelUris } from '../../common/commandResult';

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

    it('a refused stale edit can be asked for again, about the function it names', () => {
        const uri = 'file:///work/shapes.py';
        for (const message of [
            `${uri} changed while add was being implemented; ask again`,
            `${uri} changed while add was being repaired; ask again`,
            `${uri} changed while the docstring of add was written; ask again`,
        ]) {
            assert.deepEqual(readCommandResult('editseq.implementFunction', { ok: false, message, stale: true, function: 'add', applied: false }), {
                kind: 'failed',
                message,
                stale: { function: 'add' },
            });
        }
        const unnamed = readCommandResult('editseq.repairFunction', { ok: false, stale: true, message: `${uri} changed while f was being repaired; ask again` });
        assert.deepEqual(unnamed.kind === 'failed' && unnamed.stale, {});
        // other refusals are not stale, whatever their words say
        for (const reply of [
            { ok: false, message: 'implementing add was cancelled', function: 'add' },
            { ok: false, message: `${uri} changed while add was being implemented; ask again`, function: 'add' },
            { ok: false, message: 'no repair for add', stale: 'yes', function: 'add' },
        ]) {
            const other = readCommandResult('editseq.implementFunction', reply);
            assert.equal(other.kind === 'failed' && other.stale, undefined);
        }
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

describe('relabelUris', () => {
    it('replaces each document URI, and leaves the rest of the message alone', () => {
        const label = (uri: string) => uri.slice(uri.lastIndexOf('/') + 1);
        assert.equal(
            relabelUris('file:///work/my%20project/shapes.py changed while add was being implemented; ask again', label),
            'shapes.py changed while add was being implemented; ask again',
        );
        assert.equal(relabelUris('untitled:Untitled-1 changed', () => 'Untitled-1'), 'Untitled-1 changed');
        assert.equal(relabelUris('no repair for f: no candidate helped', label), 'no repair for f: no candidate helped');
    });
});

describe('defLine', () => {
    const text = 'import math\n\n\nclass A:\n    async def add (self):\n        pass\n\ndef add(a, b):\r\n    pass\n';
    it('finds the first def of the name, at any indentation, async too', () => {
        assert.equal(defLine(text, 'add'), 4);
        assert.equal(defLine('def adder(x):\n    pass\ndef add(x):\n    pass\n', 'add'), 2);
    });
    it('is undefined without such a def, or for a name that is no identifier', () => {
        assert.equal(defLine(text, 'sub'), undefined);
        assert.equal(defLine(text, 'math'), undefined);
        assert.equal(defLine('def a(x):\n', '.'), undefined);
    });
});
