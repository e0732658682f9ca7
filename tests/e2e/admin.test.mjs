// The status page of the admin listener, in a real browser: the real proxy in front of two
// simulated nodes and one dead node, known traffic, then the page must show the same figures as
// /metrics, load nothing from anywhere else, and draw its charts. A screenshot goes to the
// artefact directory (admin-status.png). Run: `node --test tests/e2e/` or `ctest -R e2e_browser`.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import * as h from './harness.mjs';

const HOOK_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 120_000;
const LIVE_NODES = ['bbb-01', 'bbb-02'];

/// Sum of bcp_requests_total per node label, from a /metrics body.
function requestsByNode(metrics) {
    const out = {};
    for (const line of metrics.split('\n')) {
        const m = /^bcp_requests_total\{node="([^"]*)",code="(\d+)",class="(\w+)"\} (\d+)$/.exec(line);
        if (m) {
            out[m[1]] ??= { total: 0, byClass: {} };
            out[m[1]].total += Number(m[4]);
            out[m[1]].byClass[m[3]] = (out[m[1]].byClass[m[3]] ?? 0) + Number(m[4]);
        }
    }
    return out;
}

describe('admin status page', () => {
    let dir;
    let artifacts;
    let procs;
    let browser;
    let proxyOrigin;
    let adminOrigin;

    before(
        async () => {
            dir = await h.makeTempDir('bcp-e2e-admin-');
            artifacts = h.artifactsDir();
            procs = new h.ProcessGroup(artifacts, 'admin');
            const nodes = {};
            const started = await Promise.all(
                LIVE_NODES.map((id) =>
                    procs.start(id, ['demo-node', '--id', id, '--port', '0'], {
                        readyFile: path.join(dir, `${id}.ready`),
                    }),
                ),
            );
            for (const ready of started) {
                nodes[ready.id] = ready;
            }
            const deadPort = await h.freePort(); // nothing listens there: every request is a 502
            let ready;
            ({ origin: proxyOrigin, ready } = await h.startProxy(procs, dir, 'proxy', [
                'nodes:',
                ...LIVE_NODES.flatMap((id) => [`  - id: ${id}`, `    url: "${nodes[id].origin}"`]),
                '  - id: bbb-03',
                `    url: "http://127.0.0.1:${deadPort}"`,
                'admin:',
                '  address: "127.0.0.1:0"',
                'workers: 2',
            ]));
            assert.ok(ready.admin, 'the ready file names the admin listener');
            adminOrigin = `http://${ready.admin}`;
            browser = await h.launchChromium(HOOK_TIMEOUT_MS);
        },
        { timeout: HOOK_TIMEOUT_MS },
    );

    after(() => h.tearDown({ browser, procs, dir }), { timeout: HOOK_TIMEOUT_MS });

    async function get(url) {
        const r = await fetch(url, { cache: 'no-store' });
        await r.arrayBuffer();
        return r.status;
    }

    /// Known traffic: per round, 3 pages of bbb-01, 1 of bbb-02, 1 request to the dead bbb-03,
    /// 1 unknown node.
    async function traffic(rounds) {
        const expected = { 'bbb-01': 0, 'bbb-02': 0, 'bbb-03': 0, '-': 0 };
        for (let i = 0; i < rounds; ++i) {
            for (let k = 0; k < 3; ++k) {
                assert.equal(await get(`${proxyOrigin}/bbb-01/html5client/`), 200);
                expected['bbb-01']++;
            }
            assert.equal(await get(`${proxyOrigin}/bbb-02/html5client/`), 200);
            expected['bbb-02']++;
            assert.equal(await get(`${proxyOrigin}/bbb-03/html5client/`), 502);
            expected['bbb-03']++;
            assert.equal(await get(`${proxyOrigin}/nope/html5client/`), 404);
            expected['-']++;
            await delay(150); // spread over several polls so the charts have a shape
        }
        return expected;
    }

    test('shows the figures of /metrics, live, self-contained', { timeout: TEST_TIMEOUT_MS }, async () => {
        const options = { artifacts, name: 'admin-status', procs, viewport: { width: 1360, height: 900 } };
        await h.withPage(browser, options, async (page) => {
            const requested = [];
            page.on('request', (r) => requested.push(r.url()));
            const response = await page.goto(`${adminOrigin}/`, { waitUntil: 'load' });
            assert.equal(response.status(), 200);
            await page.waitForFunction(() => Number(document.body.dataset.polls || 0) >= 1, null, {
                timeout: h.UI_TIMEOUT_MS,
            });
            const expected = await traffic(12);

            // Settle: two polls after the last request, so the page shows the final figures, and
            // at least four in all: the chart below draws one point per pair of polls (the traffic
            // may have taken less than one poll interval).
            const polls = await page.evaluate(() => Number(document.body.dataset.polls));
            await page.waitForFunction(
                (n) => Number(document.body.dataset.polls) >= Math.max(n + 2, 4),
                polls,
                { timeout: h.UI_TIMEOUT_MS },
            );
            const metrics = await (await fetch(`${adminOrigin}/metrics`)).text();
            const byNode = requestsByNode(metrics);
            for (const [id, n] of Object.entries(expected)) {
                assert.equal(byNode[id]?.total, n, `/metrics requests for ${id}`);
            }

            const cell = (id, field) =>
                page
                    .locator(`#nodes tr[data-node="${id}"] td[data-field="${field}"]`)
                    .textContent();
            for (const id of ['bbb-01', 'bbb-02', 'bbb-03']) {
                assert.equal(
                    (await cell(id, 'requests')).replaceAll(',', ''),
                    String(byNode[id].total),
                    `page requests for ${id}`,
                );
                assert.equal(
                    (await cell(id, '2xx')).replaceAll(',', ''),
                    String((byNode[id].byClass['2xx'] ?? 0) + (byNode[id].byClass['1xx'] ?? 0)),
                );
                assert.equal(
                    (await cell(id, '5xx')).replaceAll(',', ''),
                    String(byNode[id].byClass['5xx'] ?? 0),
                );
            }
            assert.equal(await cell('bbb-03', '5xx'), String(expected['bbb-03']));
            assert.equal(
                await cell('bbb-03', 'connect-errors'),
                /bcp_upstream_connect_errors_total\{node="bbb-03"\} (\d+)/.exec(metrics)[1],
            );
            const total = Object.values(byNode).reduce((a, n) => a + n.total, 0);
            assert.equal(
                (await page.locator('#total-requests').textContent()).replaceAll(',', ''),
                String(total),
            );
            assert.equal(await page.locator('#state').textContent(), 'serving');
            assert.equal(await page.locator('#nodes-up').textContent(), '3 / 3');

            // Live charts: the request chart has drawn lines from several polls.
            const points = await page
                .locator('#chart-requests polyline')
                .first()
                .getAttribute('points');
            assert.ok(points && points.split(' ').length >= 3, `chart points: ${points}`);
            assert.ok((await page.locator('#nodes tr[data-node="bbb-01"] td.spark polyline').count()) === 1);

            // Self-contained: everything the page fetched came from the admin origin.
            const foreign = requested.filter((u) => !u.startsWith(adminOrigin));
            assert.deepEqual(foreign, [], 'requests to other origins');
        });
    });

    test('shows the proxy as unreachable when it stops', { timeout: TEST_TIMEOUT_MS }, async () => {
        const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
        const page = await context.newPage();
        try {
            await page.goto(`${adminOrigin}/status`, { waitUntil: 'load' });
            await page.waitForFunction(() => Number(document.body.dataset.polls || 0) >= 1, null, {
                timeout: h.UI_TIMEOUT_MS,
            });
            await procs.stop('proxy');
            await page.waitForFunction(
                () => document.getElementById('state').textContent === 'unreachable',
                null,
                { timeout: h.UI_TIMEOUT_MS },
            );
            assert.ok(await page.locator('#error').isVisible());
        } finally {
            await context.close();
        }
    });
});
