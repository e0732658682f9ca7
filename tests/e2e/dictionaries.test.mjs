// Compression dictionaries (RFC 9842, issue 18) in a real browser: a user loads the client from
// bbb-01, then from bbb-02 (same version), then from bbb-03 (an upgraded node: `demo-node
// --client-version 2`, whose app bundle changed and got a new hashed name). Chromium keeps the
// first load's scripts as dictionaries (Use-As-Dictionary) and names them on the later loads; the
// proxy answers with dcz deltas. Every script must arrive byte-exact (compared with the node's own
// bytes) and run, and the later loads must be dcz.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as h from './harness.mjs';

const HOOK_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 180_000;
const NODES = [
    ['bbb-01', 1],
    ['bbb-02', 1],
    ['bbb-03', 2],
];

/// The script URLs (absolute, through the proxy) of a node's client page.
async function scriptsOf(proxyOrigin, id) {
    const html = await (await fetch(`${proxyOrigin}/${id}/html5client/`)).text();
    return [...html.matchAll(/<script src="\.\/([^"]+)"/g)].map(
        (m) => `${proxyOrigin}/${id}/html5client/${m[1]}`,
    );
}

/// The bytes a node itself serves for `file` (no proxy, identity).
async function nodeBytes(origin, id, file) {
    const r = await fetch(`${origin}/${id}/html5client/${file}`, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(r.status, 200);
    return Buffer.from(await r.arrayBuffer());
}

describe('compression dictionaries', () => {
    let dir;
    let artifacts;
    let procs;
    let browser;
    let proxyOrigin;
    let adminOrigin;
    const origins = {};

    before(
        async () => {
            dir = await h.makeTempDir('bcp-e2e-dictionaries-');
            artifacts = h.artifactsDir();
            procs = new h.ProcessGroup(artifacts, 'dictionaries');
            const lines = ['cache:', '  enabled: true', 'admin:', '  address: "127.0.0.1:0"', 'nodes:'];
            for (const [id, version] of NODES) {
                const ready = await procs.start(
                    id,
                    ['demo-node', '--id', id, '--port', '0', '--client-version', String(version)],
                    { readyFile: path.join(dir, `${id}.ready`) },
                );
                origins[id] = ready.origin;
                lines.push(`  - {id: ${id}, url: "${ready.origin}"}`);
            }
            let ready;
            ({ origin: proxyOrigin, ready } = await h.startProxy(procs, dir, 'proxy', lines));
            adminOrigin = `http://${ready.admin}`;
            browser = await h.launchChromium(HOOK_TIMEOUT_MS);
        },
        { timeout: HOOK_TIMEOUT_MS },
    );

    after(async () => h.tearDown({ browser, procs, dir }), { timeout: HOOK_TIMEOUT_MS });

    test('a node hop and an upgrade download deltas, and every script is byte-exact', {
        timeout: TEST_TIMEOUT_MS,
    }, async () => {
        const context = await browser.newContext();
        const page = await context.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(e.message));
        const seen = []; // {id, file, encoding, body, requestHeaders}
        page.on('response', async (response) => {
            const m = /\/(bbb-0\d)\/html5client\/([^/?]+\.js)$/.exec(response.url());
            if (!m) {
                return;
            }
            seen.push({
                id: m[1],
                file: m[2],
                encoding: response.headers()['content-encoding'] ?? 'identity',
                offer: response.headers()['use-as-dictionary'],
                body: await response.body(),
                named: (await response.request().allHeaders())['available-dictionary'],
            });
        });
        const load = async (id) => {
            await page.goto(`${proxyOrigin}/${id}/html5client/`, { waitUntil: 'load' });
            await page.waitForFunction(() => document.querySelector('#assets-ok')?.textContent === 'yes', null, {
                timeout: h.UI_TIMEOUT_MS,
            });
        };

        try {
            await load('bbb-01');
            const first = seen.filter((s) => s.id === 'bbb-01');
            assert.equal(first.length, 2, 'the app and vendor bundles');
            for (const s of first) {
                assert.match(s.offer ?? '', /^match="\/\*\/html5client\/(app|vendor)-\*\.js", id="[0-9a-f]+"$/);
            }

            // The proxy makes a delta once per (dictionary, file), off its event loops, on the first
            // request that names the dictionary; the user after that one gets it at once. Be that
            // second user: ask (as Chromium will) until the deltas are there.
            const dictionaries = {};
            for (const s of first) {
                const kind = s.file.split('-')[0];
                dictionaries[kind] = `:${crypto.createHash('sha256').update(s.body).digest('base64')}:`;
            }
            for (const id of ['bbb-02', 'bbb-03']) {
                for (const url of await scriptsOf(proxyOrigin, id)) {
                    const kind = url.split('/').pop().split('-')[0];
                    await h.waitFor(
                        async () => {
                            const r = await fetch(url, {
                                headers: { 'accept-encoding': 'dcz', 'available-dictionary': dictionaries[kind] },
                            });
                            await r.arrayBuffer();
                            return r.headers.get('content-encoding') === 'dcz';
                        },
                        { timeoutMs: 60_000, what: `a dcz delta of ${url}` },
                    );
                }
            }

            await load('bbb-02'); // a node hop: same version, other URLs
            await load('bbb-03'); // after an upgrade: the app bundle changed
            for (const id of ['bbb-02', 'bbb-03']) {
                const later = seen.filter((s) => s.id === id);
                assert.equal(later.length, 2, `${id}: the app and vendor bundles`);
                for (const s of later) {
                    assert.ok(s.named, `${id} ${s.file}: Chromium named a dictionary`);
                    assert.equal(s.encoding, 'dcz', `${id} ${s.file}`);
                }
            }
            // Every script byte-exact, whatever its coding.
            for (const s of seen) {
                const expected = await nodeBytes(origins[s.id], s.id, s.file);
                assert.ok(s.body.equals(expected), `${s.id} ${s.file} (${s.encoding}) is the node's file`);
            }
            const upgraded = seen.find((s) => s.id === 'bbb-03' && s.file.startsWith('app-'));
            const original = seen.find((s) => s.id === 'bbb-01' && s.file.startsWith('app-'));
            assert.notEqual(upgraded.file, original.file, 'the upgrade renamed the app bundle');
            assert.deepEqual(errors, []);

            // The operator sees it on the status page: deltas sent, and the bytes they saved.
            await page.goto(`${adminOrigin}/`, { waitUntil: 'load' });
            const sent = page.locator('[data-dictionaries="sent"]');
            await sent.waitFor({ timeout: h.UI_TIMEOUT_MS });
            const count = Number((await sent.textContent()).split(' ')[0].replace(/,/g, ''));
            assert.ok(count >= 4, `deltas sent: ${await sent.textContent()}`);
            assert.match(await page.locator('[data-dictionaries="saved"]').textContent(), /[1-9].* (KB|MB|KiB|MiB)/);
            await page.screenshot({ path: path.join(artifacts, 'dictionaries-status.png'), fullPage: true });
        } catch (error) {
            await page.screenshot({ path: path.join(artifacts, 'dictionaries-FAILED.png') }).catch(() => {});
            console.error(procs.tails());
            throw error;
        } finally {
            await context.close();
        }
    });
});
