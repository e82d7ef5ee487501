import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { affectsServerOptions, pickServerOptions, serverOptionNames } from '../../common/serverOptions';

// out/test/unit -> client-vscode/package.json
const packageJSON = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));

describe('serverOptionNames', () => {
    it('lists the generated server section of package.json, not the client settings', () => {
        const names = serverOptionNames(packageJSON);
        assert.ok(names.includes('maxTokens'));
        assert.ok(names.includes('enabled'));
        assert.ok(!names.includes('interpreter'));
        assert.ok(!names.some((n) => n.startsWith('trace')));
    });

    it('is empty for a manifest without the section', () => {
        assert.deepEqual(serverOptionNames({}), []);
        assert.deepEqual(serverOptionNames(undefined), []);
        assert.deepEqual(serverOptionNames({ contributes: { configuration: { properties: { 'editseq.x': {} } } } }), []);
    });
});

describe('pickServerOptions', () => {
    it('keeps only server options that have a value', () => {
        assert.deepEqual(
            pickServerOptions({ maxTokens: 24, interpreter: '/usr/bin/python3', trace: { server: 'off' }, samples: undefined }, [
                'maxTokens',
                'samples',
            ]),
            { maxTokens: 24 },
        );
        assert.deepEqual(pickServerOptions(undefined, ['maxTokens']), {});
    });
});

describe('affectsServerOptions', () => {
    it('matches changes under editseq.<option>', () => {
        const names = ['maxTokens'];
        assert.equal(affectsServerOptions((s) => s === 'editseq.maxTokens', names), true);
        assert.equal(affectsServerOptions((s) => s === 'editseq.interpreter', names), false);
    });
});
