// BBB 2.x (Meteor) clients through the proxy, in a real browser (issue 15): the client page POSTs
// its lazy code request to <ROOT_URL>/__meteor__/dynamic-import/fetch, with ROOT_URL under the
// proxy. The proxy must pass that POST to the right node and answer repeats from its cache; with
// the POST exception turned off (`post: {paths: []}`) the POST must be refused and never reach a
// node. Run: `node --test tests/e2e/` or `ctest -R e2e_browser`.
//
// Topology (plain HTTP: the TLS path is the same as for GETs, which proxy.test.mjs covers twice):
// two meteor `demo-node` processes, bbb-02 behind a proxy with the default post section and the
// cache on, bbb-03 behind a second proxy with `post: {paths: []}`. Each node sits behind one proxy
// only, so its counters tell exactly what that proxy let through.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as h from './harness.mjs';

const MOUNT = 'html5client';
const HOOK_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 90_000;
const DYNAMIC_IMPORT = '__meteor__/dynamic-import/fetch';

describe('BBB 2.x (Meteor) client through the proxy', () => {
    let dir;
    let artifacts;
    let procs;
    let browser;
    const nodes = {}; // id -> ready file of its demo-node: {id, origin, port, stats}
    const proxies = {}; // name -> origin
    const contexts = []; // every browser context, for the failure report
    const consoleLines = [];

    // name -> [node id, extra config lines]
    const setups = {
        open: ['bbb-02', []],
        closed: ['bbb-03', ['post:', '  paths: []']],
    };

    before(
        async () => {
            dir = await h.makeTempDir('bcp-e2e-meteor-');
            artifacts = h.artifactsDir();
            procs = new h.ProcessGroup(artifacts, 'meteor');
            const started = await Promise.all(
                Object.values(setups).map(([id]) =>
                    procs.start(
                        id,
                        ['demo-node', '--id', id, '--port', '0', '--mount', MOUNT]
                            .concat(['--client', 'meteor', '--stats-port', '0']),
                        { readyFile: path.join(dir, `${id}.ready`) },
                    ),
                ),
            );
            for (const ready of started) {
                nodes[ready.id] = ready;
            }
            await Promise.all(
                Object.entries(setups).map(async ([name, [id, extra]]) => {
                    const port = await h.freePort();
                    const origin = `http://127.0.0.1:${port}`;
                    const config = path.join(dir, `${name}.yaml`);
                    fs.writeFileSync(
                        config,
                        [
                            `public_url: "${origin}"`,
                            'listen:',
                            `  - address: "127.0.0.1:${port}"`,
                            'nodes:',
                            `  - id: ${id}`,
                            `    url: "${nodes[id].origin}"`,
                            // As operators run it; X-Cache lets the test see where an answer
                            // came from.
                            'cache:',
                            '  enabled: true',
                            '  x_cache_header: true',
                            ...extra,
                            'timeouts:',
                            '  shutdown: 5s',
                            'workers: 2',
                            'log_level: info',
                            '',
                        ].join('\n'),
                    );
                    await procs.start(`proxy-${name}`, ['serve', '--config', config], {
                        readyFile: path.join(dir, `${name}.ready`),
                    });
                    proxies[name] = origin;
                }),
            );
            browser = await h.launchChromium(HOOK_TIMEOUT_MS);
        },
        { timeout: HOOK_TIMEOUT_MS },
    );

    after(() => h.tearDown({ browser, procs, dir }), { timeout: HOOK_TIMEOUT_MS });

    /// The client of `id` through proxy `name`, in a new browser context (so nothing comes from
    /// the browser's cache). Resolves with the page and the response to its dynamic-import POST
    /// (null if the page made none).
    async function openClient(name, id) {
        const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
        contexts.push(context);
        const page = await context.newPage();
        const tag = `[${name} ${id} #${contexts.length}]`;
        page.on('console', (m) => consoleLines.push(`${tag} ${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => consoleLines.push(`${tag} pageerror: ${e.message}`));
        page.on('requestfailed', (r) =>
            consoleLines.push(`${tag} request failed: ${r.url()}: ${r.failure()?.errorText}`),
        );
        const url = `${proxies[name]}/${id}/${MOUNT}/${DYNAMIC_IMPORT}`;
        const posted = page
            .waitForResponse((r) => r.request().method() === 'POST' && r.url() === url, {
                timeout: h.UI_TIMEOUT_MS,
            })
            .catch(() => null);
        const response = await page.goto(`${proxies[name]}/${id}/${MOUNT}/`, { waitUntil: 'load' });
        assert.equal(response?.status(), 200, `status of ${page.url()}`);
        return { page, posted };
    }

    /// Waits until #lazy-status (it starts as "pending") matches `pattern`; returns its text.
    async function lazyStatus(page, pattern) {
        try {
            const handle = await page.waitForFunction(
                (source) => {
                    const text = document.getElementById('lazy-status')?.textContent ?? '';
                    return new RegExp(source).test(text) ? text : false;
                },
                pattern.source,
                { timeout: h.UI_TIMEOUT_MS },
            );
            return await handle.jsonValue();
        } catch {
            const actual = await page
                .evaluate(() => document.getElementById('lazy-status')?.textContent ?? '<none>')
                .catch((e) => `<${e.message}>`);
            assert.fail(`#lazy-status on ${page.url()}: expected ${pattern}, got "${actual}"`);
        }
    }

    const counters = (id) => h.fetchJson(nodes[id].stats);

    /// A test that, when it fails, prints the browser consoles and the processes' output and
    /// saves a screenshot of each open page.
    function check(name, fn) {
        test(name, { timeout: TEST_TIMEOUT_MS }, async () => {
            try {
                await fn();
            } catch (error) {
                const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
                let n = 0;
                for (const context of contexts) {
                    for (const page of context.pages()) {
                        await page
                            .screenshot({
                                path: path.join(artifacts, `meteor-FAILED-${slug}-${++n}.png`),
                            })
                            .catch(() => {});
                    }
                }
                const lines = [`--- meteor: "${name}" failed; browser consoles and process logs:`];
                lines.push(...consoleLines, procs?.tails() ?? '');
                console.error(lines.join('\n'));
                throw error;
            }
        });
    }

    check('the dynamic import reaches its node once, then comes from the proxy cache', async () => {
        const id = setups.open[0];
        const before = await counters(id);
        assert.equal(before.dynamic_imports, 0, 'no dynamic import before the first page');

        const first = await openClient('open', id);
        assert.equal(await lazyStatus(first.page, /^loaded /), `loaded ${id}`);
        const firstPost = await first.posted;
        assert.ok(firstPost, 'the page made no dynamic-import POST through the proxy');
        assert.equal(firstPost.status(), 200);
        assert.equal(firstPost.request().headers()['content-type'], 'text/plain;charset=UTF-8');
        assert.equal(await firstPost.headerValue('x-cache'), 'MISS');
        const afterFirst = await counters(id);
        assert.ok(afterFirst.dynamic_imports >= 1, `node counters: ${JSON.stringify(afterFirst)}`);
        await first.page.screenshot({ path: path.join(artifacts, `meteor-${id}.png`) });
        await first.page.context().close();

        // A new user (a new context: no browser cache) asks for the same modules: same node,
        // same body, so the same cache key. The proxy answers; the node sees nothing.
        const second = await openClient('open', id);
        assert.equal(await lazyStatus(second.page, /^loaded /), `loaded ${id}`);
        const secondPost = await second.posted;
        assert.ok(secondPost, 'the second page made no dynamic-import POST through the proxy');
        assert.equal(secondPost.status(), 200);
        assert.equal(await secondPost.headerValue('x-cache'), 'HIT');
        const afterSecond = await counters(id);
        assert.equal(
            afterSecond.dynamic_imports,
            afterFirst.dynamic_imports,
            'the second dynamic import reached the node instead of the proxy cache',
        );
        await second.page.context().close();
    });

    check('feedback POSTs pass to the node every time, never from the cache', async () => {
        const id = setups.open[0];
        const { page } = await openClient('open', id);
        const before = await counters(id);
        const statuses = await page.evaluate(async (url) => {
            const out = [];
            for (let i = 0; i < 2; ++i) {
                const r = await fetch(url, {
                    method: 'POST',
                    headers: { 'Content-Type': 'application/json' },
                    body: JSON.stringify({ rating: 5 }),
                });
                out.push(r.status);
            }
            return out;
        }, `${proxies.open}/${id}/${MOUNT}/feedback`);
        assert.deepEqual(statuses, [200, 200]);
        const after = await counters(id);
        const why = `node counters: ${JSON.stringify(after)}`;
        assert.equal(after.feedbacks, before.feedbacks + 2, why);
        await page.context().close();
    });

    check('with post.paths: [] the dynamic import is refused, never sent to the node', async () => {
        const id = setups.closed[0];
        const { page, posted } = await openClient('closed', id);
        // The page itself (GET) still works; only its POST is refused.
        assert.equal(await lazyStatus(page, /^error\b/), 'error 405');
        const response = await posted;
        assert.ok(response, 'the page made no dynamic-import POST through the proxy');
        assert.equal(response.status(), 405);
        const feedback = await page.evaluate(
            (url) => fetch(url, { method: 'POST', body: '{}' }).then((r) => r.status),
            `${proxies.closed}/${id}/${MOUNT}/feedback`,
        );
        assert.equal(feedback, 405);
        const after = await counters(id);
        assert.equal(after.dynamic_imports, 0, `node counters: ${JSON.stringify(after)}`);
        assert.equal(after.feedbacks, 0, `node counters: ${JSON.stringify(after)}`);
        await page.screenshot({ path: path.join(artifacts, `meteor-${id}-refused.png`) });
        await page.context().close();
    });
});
