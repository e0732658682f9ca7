// Nodes from Scalelite's server API, in a real browser (issue 17): a fake Scalelite answers
// getServers as its Api::ServersController does and checks the checksum as its ApiHelper does
// (SHA-256 of "getServers" + LOADBALANCER_SECRET, computed here with node's crypto); the proxy has
// no `nodes:` at all. A user opens a discovered node's client through the proxy; the operator's
// status page shows the source, its state and each node's origin, also while Scalelite is down.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as h from './harness.mjs';

const HOOK_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 120_000;
const SECRET = 'e2e-loadbalancer-secret';
const NODES = ['bbb-01', 'bbb-02'];

/// Scalelite's server API, as far as the proxy uses it.
function fakeScalelite(servers) {
    const state = { failing: false, calls: 0 };
    const expected = crypto.createHash('sha256').update(`getServers${SECRET}`).digest('hex');
    const server = http.createServer((req, res) => {
        const url = new URL(req.url, 'http://scalelite');
        if (state.failing) {
            res.writeHead(503, { 'Content-Type': 'text/html' }).end('<html>503</html>');
            return;
        }
        if (req.method !== 'GET' || url.pathname !== '/scalelite/api/getServers') {
            res.writeHead(404).end();
            return;
        }
        state.calls++;
        if (url.searchParams.get('checksum') !== expected) {
            res.writeHead(200, { 'Content-Type': 'application/xml' }).end(
                '<response><returncode>FAILED</returncode><messageKey>checksumError</messageKey>' +
                    '<message>Checksums do not match</message></response>',
            );
            return;
        }
        const list = [...servers.values()];
        if (list.length === 0) {
            res.writeHead(404, { 'Content-Type': 'application/json' }).end(
                JSON.stringify({ error: 'No servers are configured' }),
            );
            return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(list));
    });
    return { server, state };
}

describe('nodes from Scalelite', () => {
    let dir;
    let artifacts;
    let procs;
    let browser;
    let scalelite;
    let proxyOrigin;
    let adminOrigin;
    const servers = new Map();

    before(
        async () => {
            dir = await h.makeTempDir('bcp-e2e-discovery-');
            artifacts = h.artifactsDir();
            procs = new h.ProcessGroup(artifacts, 'discovery');
            for (const id of NODES) {
                const ready = await procs.start(id, ['demo-node', '--id', id, '--port', '0'], {
                    readyFile: path.join(dir, `${id}.ready`),
                });
                // An IP-literal URL: the node id is the Scalelite id (as `servers:sync` sets it).
                servers.set(id, {
                    id,
                    url: `${ready.origin}/bigbluebutton/api`,
                    secret: 'x',
                    tag: '',
                    bbb_version: '3.0.4',
                    state: id === 'bbb-02' ? 'cordoned' : 'enabled',
                    load: 'unavailable',
                    load_multiplier: 1.0,
                    online: 'online',
                });
            }
            scalelite = fakeScalelite(servers);
            await new Promise((resolve) => scalelite.server.listen(0, '127.0.0.1', resolve));
            const apiUrl = `http://127.0.0.1:${scalelite.server.address().port}/scalelite/api`;
            let ready;
            ({ origin: proxyOrigin, ready } = await h.startProxy(procs, dir, 'proxy', [
                'admin:',
                '  address: "127.0.0.1:0"',
                'discovery:',
                '  scalelite:',
                `    api_url: "${apiUrl}"`,
                `    api_secret: "${SECRET}"`,
                '    interval: 200ms',
                `    snapshot: "${path.join(dir, 'scalelite-nodes.json')}"`,
            ]));
            adminOrigin = `http://${ready.admin}`;
            browser = await h.launchChromium(HOOK_TIMEOUT_MS);
        },
        { timeout: HOOK_TIMEOUT_MS },
    );

    after(
        async () => {
            await h.tearDown({ browser, procs, dir });
            await new Promise((resolve) => scalelite?.server.close(resolve) ?? resolve());
        },
        { timeout: HOOK_TIMEOUT_MS },
    );

    test('a discovered node serves its client, and the status page shows where it came from', {
        timeout: TEST_TIMEOUT_MS,
    }, async () => {
        const options = { artifacts, name: 'discovery-status', procs, viewport: { width: 1360, height: 900 } };
        await h.withPage(browser, options, async (page) => {
            // The user: the cordoned node's client, through the proxy (Scalelite still sends
            // running meetings' joins there).
            await h.waitFor(
                async () => (await fetch(`${proxyOrigin}/bbb-02/html5client/`)).status === 200,
                { timeoutMs: h.UI_TIMEOUT_MS, what: 'bbb-02 discovered' },
            );
            const client = await page.goto(`${proxyOrigin}/bbb-02/html5client/`, { waitUntil: 'load' });
            assert.equal(client.status(), 200);

            // The operator: the status page's Discovery panel and the nodes' origin.
            await page.goto(`${adminOrigin}/`, { waitUntil: 'load' });
            const field = (key) => page.locator(`[data-discovery="${key}"]`).textContent();
            await page.waitForFunction(
                () => document.querySelector('[data-discovery="state"]')?.textContent === 'up',
                null,
                { timeout: h.UI_TIMEOUT_MS },
            );
            assert.ok(await page.locator('#discovery-panel').isVisible());
            assert.equal(await field('via'), "Scalelite's server API");
            assert.equal(await field('where'), `http://127.0.0.1:${scalelite.server.address().port}/scalelite/api`);
            assert.equal(await field('nodes'), '2');
            assert.equal(await field('skipped'), '0');
            for (const id of NODES) {
                const cell = await page.locator(`#nodes tr[data-node="${id}"] td.node`).textContent();
                assert.match(cell, /from Scalelite/, `row of ${id}`);
            }
            assert.equal((await page.content()).includes(SECRET), false, 'the secret is not shown');

            // Scalelite down: the page says so and names the error; the proxy keeps serving.
            scalelite.state.failing = true;
            await page.waitForFunction(
                () =>
                    document.querySelector('[data-discovery="state"]')?.textContent ===
                    'down, serving the last table',
                null,
                { timeout: h.UI_TIMEOUT_MS },
            );
            assert.match(await field('last-error'), /answered HTTP 503/);
            assert.equal((await fetch(`${proxyOrigin}/bbb-01/html5client/`)).status, 200);
            scalelite.state.failing = false;
            await page.waitForFunction(
                () => document.querySelector('[data-discovery="state"]')?.textContent === 'up',
                null,
                { timeout: h.UI_TIMEOUT_MS },
            );
        });
    });
});
