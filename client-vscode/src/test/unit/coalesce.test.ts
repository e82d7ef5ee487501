import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer } from '../../common/coalesce';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
    });
    return { promise, resolve, reject };
}

describe('Coalescer', () => {
    it('runs once when idle', async () => {
        let runs = 0;
        const c = new Coalescer(async () => {
            runs++;
        });
        await c.run();
        assert.equal(runs, 1);
        assert.equal(c.busy, false);
    });

    it('collapses requests made during a run into one follow-up run', async () => {
        const gates = [deferred(), deferred()];
        let runs = 0;
        const c = new Coalescer(() => gates[runs++].promise);
        const first = c.run();
        const second = c.run();
        const third = c.run();
        assert.equal(second, third, 'requests during a run share one follow-up');
        assert.equal(runs, 1);
        gates[0].resolve();
        await first;
        await new Promise((r) => setImmediate(r));
        assert.equal(runs, 2, 'the follow-up starts after the first run ends');
        gates[1].resolve();
        await third;
        assert.equal(runs, 2);
        assert.equal(c.busy, false);
    });

    it('runs the follow-up even if the current run fails', async () => {
        const gate = deferred();
        let runs = 0;
        const c = new Coalescer(async () => {
            runs++;
            if (runs === 1) {
                await gate.promise;
            }
        });
        const first = c.run();
        const second = c.run();
        gate.reject(new Error('boom'));
        await assert.rejects(first, /boom/);
        await second;
        assert.equal(runs, 2);
    });
});
