// The product's promise, proven in a real browser (Debian's chromium driven by playwright-core):
// the HTML5 client of every node is served from ONE origin, the proxy, so the user grants
// microphone and camera once; WebSockets still go straight to each node. The suite runs twice:
// plain HTTP, then HTTPS on the proxy (and the nodes, like production), with a throw-away CA.
//
// Topology per run: two `bbb-cluster-proxy demo-node` processes (so one can be killed) and
// `bbb-cluster-proxy serve` in front of them, all on 127.0.0.1. Run: `node --test tests/e2e/`
// (see harness.mjs for BCP_BINARY / BCP_ARTIFACTS), or `ctest -R e2e_browser`.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as h from './harness.mjs';

const NODE_IDS = ['bbb-01', 'bbb-02'];
const MOUNT = 'html5client';
const HOOK_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 90_000;
const GUEST_MESSAGE = 'Waiting for a moderator to approve you';

for (const scheme of ['http', 'https']) {
    const tls = scheme === 'https';

    describe(`proxy over ${scheme}`, () => {
        let dir;
        let artifacts;
        let procs;
        let material; // TLS files and the pinned SPKI hash (https run)
        let browser;
        let context;
        let proxyOrigin;
        const nodes = {}; // id -> ready file of its demo-node: {id, origin, port, stats}
        const pages = new Map(); // key -> {page, response, requests, websockets, console}

        before(
            async () => {
                dir = await h.makeTempDir(`bcp-e2e-${scheme}-`);
                artifacts = h.artifactsDir();
                procs = new h.ProcessGroup(artifacts, scheme);
                if (tls) {
                    material = h.makeTlsMaterial(dir);
                }
                const started = await Promise.all(
                    NODE_IDS.map((id) => {
                        const args = ['demo-node', '--id', id, '--port', '0', '--mount', MOUNT];
                        args.push('--stats-port', '0');
                        if (tls) {
                            args.push('--tls-cert', material.chain, '--tls-key', material.key);
                        }
                        return procs.start(id, args, { readyFile: path.join(dir, `${id}.ready`) });
                    }),
                );
                for (const ready of started) {
                    nodes[ready.id] = ready;
                }

                const port = await h.freePort();
                proxyOrigin = `${scheme}://127.0.0.1:${port}`;
                const config = path.join(dir, 'proxy.yaml');
                fs.writeFileSync(config, proxyConfig(port));
                const ready = await procs.start('proxy', ['serve', '--config', config], {
                    readyFile: path.join(dir, 'proxy.ready'),
                });
                assert.deepEqual(ready.listen, [`127.0.0.1:${port}`]);

                // https: trust exactly our leaf key. Chromium ignores the system trust store for a
                // custom CA (it would need an NSS database in $HOME), and ignoreHTTPSErrors would
                // switch certificate checking off for every server. A pin on our one SPKI is an
                // honest "trust this certificate": any other certificate is still refused (the
                // "not pinned" test below proves it).
                const pin = tls
                    ? [`--ignore-certificate-errors-spki-list=${material.spkiHash}`]
                    : [];
                browser = await h.launchChromium(HOOK_TIMEOUT_MS, pin);
                context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
                // The one grant of the whole run: microphone and camera, for the proxy's origin.
                await context.grantPermissions(['microphone', 'camera'], { origin: proxyOrigin });
            },
            { timeout: HOOK_TIMEOUT_MS },
        );

        after(() => h.tearDown({ browser, procs, dir }), { timeout: HOOK_TIMEOUT_MS });

        function proxyConfig(port) {
            const lines = [
                `public_url: "${scheme}://127.0.0.1:${port}"`,
                'listen:',
                `  - address: "127.0.0.1:${port}"`,
            ];
            if (tls) {
                lines.push(
                    `    tls: { certificate: "${material.chain}", private_key: "${material.key}" }`,
                );
            }
            lines.push('nodes:');
            for (const id of NODE_IDS) {
                lines.push(`  - id: ${id}`, `    url: "${nodes[id].origin}"`);
            }
            if (tls) {
                // The proxy verifies the nodes' certificates against our test CA.
                lines.push('upstream:', '  verify: true', `  ca_file: "${material.ca}"`);
            }
            // The cache as operators run it: it stores and compresses the client.
            lines.push('cache:', '  enabled: true');
            lines.push('timeouts:', '  shutdown: 5s', 'workers: 2', 'log_level: info', '');
            return lines.join('\n');
        }

        /// A new tab that records what the browser fetched, its WebSockets and its console.
        async function openPage(key, url) {
            const page = await context.newPage();
            const entry = { page, response: null, requests: [], websockets: [], console: [] };
            page.on('request', (r) => entry.requests.push(r.url()));
            page.on('websocket', (ws) => entry.websockets.push(ws.url()));
            page.on('console', (m) =>
                entry.console.push(`${m.type()}: ${m.text()} (${m.location().url || page.url()})`),
            );
            page.on('pageerror', (e) => entry.console.push(`pageerror: ${e.message}`));
            page.on('requestfailed', (r) =>
                entry.console.push(`request failed: ${r.url()}: ${r.failure()?.errorText}`),
            );
            page.on('response', (r) => {
                if (r.status() >= 400) {
                    entry.console.push(`HTTP ${r.status()}: ${r.url()}`);
                }
            });
            pages.set(key, entry);
            entry.response = await page.goto(url, { waitUntil: 'load' });
            return entry;
        }

        /// The fake client of node `id`, through the proxy unless `origin` says otherwise; opened
        /// once per key and reused by later tests.
        async function client(id, { origin = proxyOrigin, key = id } = {}) {
            return pages.get(key) ?? openPage(key, `${origin}/${id}/${MOUNT}/`);
        }

        async function expectText(page, selector, expected, timeout = h.UI_TIMEOUT_MS) {
            try {
                await page.waitForFunction(
                    ([s, e]) => document.querySelector(s)?.textContent === e,
                    [selector, expected],
                    { timeout },
                );
            } catch {
                const actual = await page
                    .evaluate(
                        (s) => document.querySelector(s)?.textContent ?? '<no element>',
                        selector,
                    )
                    .catch((e) => `<${e.message}>`);
                assert.fail(
                    `${selector} on ${page.url()}: expected "${expected}", got "${actual}"`,
                );
            }
        }

        async function stats() {
            const out = {};
            for (const id of NODE_IDS) {
                out[id] = await h.fetchJson(nodes[id].stats);
            }
            return out;
        }

        const screenshot = (page, name) =>
            page.screenshot({
                path: path.join(artifacts, `${scheme}-${name}.png`),
                fullPage: true,
            });

        /// A test that, when it fails, prints every page's console and the processes' output and
        /// saves a screenshot of each open page.
        function check(name, fn) {
            test(name, { timeout: TEST_TIMEOUT_MS }, async () => {
                try {
                    await fn();
                } catch (error) {
                    await report(name);
                    throw error;
                }
            });
        }

        async function report(name) {
            const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
            const lines = [`--- ${scheme}: "${name}" failed; browser consoles and process logs:`];
            for (const [key, entry] of pages) {
                lines.push(`[page ${key}] ${entry.page.url()}`);
                lines.push(...entry.console.map((l) => `  console ${l}`));
                await entry.page
                    .screenshot({
                        path: path.join(artifacts, `${scheme}-FAILED-${slug}-${key}.png`),
                    })
                    .catch(() => {});
            }
            lines.push(procs?.tails() ?? '');
            console.error(lines.join('\n'));
        }

        check('serves every node from the one proxy origin, subresources included', async () => {
            const origins = [];
            for (const id of NODE_IDS) {
                const c = await client(id);
                assert.equal(c.response?.status(), 200, `status of ${c.page.url()}`);
                origins.push(await c.page.evaluate(() => window.location.origin));
                await expectText(c.page, '#node-id', id);
                await expectText(c.page, '#served-origin', proxyOrigin);
                await expectText(c.page, '#assets-ok', 'yes');
                const fetched = c.requests.filter((u) => !/^(data|blob):/.test(u));
                const elsewhere = fetched.filter((u) => new URL(u).origin !== proxyOrigin);
                assert.deepEqual(elsewhere, [], `${id}: requests that bypassed the proxy`);
                for (const asset of [
                    /\/app-[0-9a-f]{8}\.js$/,
                    /\/vendor-[0-9a-f]{8}\.js$/,
                    /\.css$/,
                ]) {
                    const prefix = `${proxyOrigin}/${id}/${MOUNT}/`;
                    assert.ok(
                        fetched.some((u) => u.startsWith(prefix) && asset.test(u)),
                        `${id}: no ${asset} under ${prefix} in ${JSON.stringify(fetched)}`,
                    );
                }
                // Over TLS the page and its assets come over HTTP/2 (ALPN h2), over plain HTTP
                // over HTTP/1.1 (browsers do not use h2c).
                const protocols = await c.page.evaluate(() =>
                    [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
                        .filter((e) => new URL(e.name).origin === window.location.origin)
                        .map((e) => [new URL(e.name).pathname, e.nextHopProtocol]),
                );
                assert.ok(protocols.length >= 4, `${id}: entries ${JSON.stringify(protocols)}`);
                for (const [pathname, protocol] of protocols) {
                    if (tls) {
                        assert.equal(protocol, 'h2', `${id}: ${pathname}`);
                    } else {
                        // Chromium leaves some plain-HTTP entries empty; never h2 or h2c.
                        assert.ok(['http/1.1', ''].includes(protocol), `${id}: ${pathname} ${protocol}`);
                    }
                }
            }
            assert.deepEqual(origins, [proxyOrigin, proxyOrigin]);
        });

        check('opens each WebSocket on its own node directly, not through the proxy', async () => {
            for (const id of NODE_IDS) {
                const other = NODE_IDS.find((n) => n !== id);
                const before = await stats();
                const c = await client(id, { key: `ws-${id}` });
                await expectText(c.page, '#ws-status', 'open');
                const after = await stats();

                assert.equal(c.websockets.length, 1, `${id}: WebSockets ${c.websockets}`);
                const ws = new URL(c.websockets[0]);
                const nodeWs = nodes[id].origin.replace(/^http/, 'ws');
                assert.equal(
                    `${ws.protocol}//${ws.host}`,
                    nodeWs,
                    `${id}: the WebSocket must go to the node's own origin`,
                );
                assert.equal(ws.pathname, '/ws');
                assert.notEqual(ws.host, new URL(proxyOrigin).host, 'WebSocket went to the proxy');
                assert.equal(after[id].websockets, before[id].websockets + 1, `${id} node counter`);
                assert.equal(after[other].websockets, before[other].websockets, `${other} counter`);
            }
        });

        check(
            'one grant for the proxy origin gives microphone and camera on every node',
            async () => {
                for (const id of NODE_IDS) {
                    const c = await client(id);
                    assert.equal(await c.page.evaluate(() => window.isSecureContext), true);
                    await expectText(c.page, '#permission-status', 'granted');
                    const states = await c.page.evaluate(() =>
                        Promise.all(
                            ['microphone', 'camera'].map((name) =>
                                navigator.permissions.query({ name }).then((s) => s.state),
                            ),
                        ),
                    );
                    assert.deepEqual(states, ['granted', 'granted'], `${id}: permission states`);
                    await c.page.click('#media-button');
                    await expectText(c.page, '#media-status', 'granted');
                    const kinds = await c.page.evaluate(() =>
                        document
                            .getElementById('preview')
                            .srcObject.getTracks()
                            .map((t) => t.kind)
                            .sort(),
                    );
                    assert.deepEqual(kinds, ['audio', 'video'], `${id}: captured tracks`);
                    await screenshot(c.page, id);
                }
            },
        );

        check('the same client on the node origin is still asked (the control)', async () => {
            const id = NODE_IDS[0];
            const origin = nodes[id].origin;
            const c = await client(id, { origin, key: `direct-${id}` });
            assert.equal(c.response?.status(), 200);
            await expectText(c.page, '#served-origin', origin);
            await expectText(c.page, '#permission-status', 'prompt');
            const states = await c.page.evaluate(() =>
                Promise.all(
                    ['microphone', 'camera'].map((name) =>
                        navigator.permissions.query({ name }).then((s) => s.state),
                    ),
                ),
            );
            assert.deepEqual(states, ['prompt', 'prompt'], 'permission states on the node origin');
            await screenshot(c.page, `${id}-direct`);
        });

        check(
            'guest lobby and locale work through the proxy; the node redirects its locale',
            async () => {
                const id = NODE_IDS[0];
                const base = `${proxyOrigin}/${id}/${MOUNT}`;
                const guest = await openPage('guest', `${base}/guestWait`);
                assert.equal(guest.response?.status(), 200);
                assert.equal(await guest.page.evaluate(() => window.location.origin), proxyOrigin);
                await expectText(guest.page, '#guest-locale', GUEST_MESSAGE);
                await expectText(guest.page, '#guest-status', 'waiting');
                assert.ok(
                    guest.requests.includes(`${base}/locale?locale=en`),
                    'lobby fetched its locale',
                );
                const elsewhere = guest.requests.filter((u) => new URL(u).origin !== proxyOrigin);
                assert.deepEqual(elsewhere, [], 'lobby requests that bypassed the proxy');

                const locale = await guest.page.goto(`${base}/locale?locale=en`);
                assert.equal(locale.status(), 200);
                const json = await locale.json();
                assert.equal(json.locale, 'en');
                assert.equal(json.messages['app.guest.waiting'], GUEST_MESSAGE);

                // BBB's nginx rule on the node:
                //   /html5client/locale?… → 301 /<id>/html5client/locale?…
                const origin = nodes[id].origin;
                const redirected = await guest.page.goto(`${origin}/${MOUNT}/locale?locale=de`);
                assert.equal(redirected.status(), 200);
                assert.equal(redirected.url(), `${origin}/${id}/${MOUNT}/locale?locale=de`);
                const hop = redirected.request().redirectedFrom();
                assert.ok(hop, 'no redirect was followed');
                assert.equal(hop.url(), `${origin}/${MOUNT}/locale?locale=de`);
                const hopResponse = await hop.response();
                assert.equal(hopResponse.status(), 301);
                assert.equal(hopResponse.headers().location, `/${id}/${MOUNT}/locale?locale=de`);
                assert.equal((await redirected.json()).locale, 'de');
            },
        );

        if (tls) {
            check(
                'certificate checks stay on: a server whose key is not pinned is refused',
                async () => {
                    const other = h.makeTlsMaterial(dir, 'unpinned');
                    const ready = await procs.start(
                        'unpinned-node',
                        [
                            'demo-node',
                            '--id',
                            'bbb-09',
                            '--tls-cert',
                            other.chain,
                            '--tls-key',
                            other.key,
                        ],
                        { readyFile: path.join(dir, 'unpinned.ready') },
                    );
                    const page = await context.newPage();
                    await assert.rejects(
                        page.goto(`${ready.origin}/bbb-09/${MOUNT}/`),
                        /ERR_CERT_AUTHORITY_INVALID/,
                    );
                    await page.close();
                    await procs.stop('unpinned-node');
                },
            );
        }

        check('the client arrives compressed, in the best coding the browser offers', async () => {
            // The proxy's cache stores each asset once and compresses it off the event loops
            // (br, zstd, gzip): the first load may still get the node's own bytes, later ones
            // the variant. Each load is a fresh page with the browser cache off, as a new user.
            const id = NODE_IDS[0];
            const deadline = Date.now() + 30_000;
            let seen = {};
            for (;;) {
                const page = await context.newPage();
                const cdp = await context.newCDPSession(page);
                await cdp.send('Network.enable');
                await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
                const pending = [];
                page.on('response', (r) => {
                    const { pathname } = new URL(r.url());
                    if (/\.(js|css)$/.test(pathname)) {
                        pending.push(
                            Promise.all([r.allHeaders(), r.request().allHeaders()]).then(
                                ([res, req]) => [pathname, res['content-encoding'] ?? 'identity',
                                                 req['accept-encoding'] ?? '',
                                                 req['available-dictionary'] ?? ''],
                            ),
                        );
                    }
                });
                await page.goto(`${proxyOrigin}/${id}/${MOUNT}/`, { waitUntil: 'load' });
                // The page checks its own scripts and styles: decoding gave the right bytes.
                await expectText(page, '#assets-ok', 'yes');
                const rows = await Promise.all(pending);
                await page.close();
                seen = Object.fromEntries(rows.map(([p, coding]) => [p, coding]));
                assert.ok(rows.length >= 3, `scripts and styles seen: ${JSON.stringify(seen)}`);
                // What the browser offered decides what it should get: br over HTTPS (Chromium
                // offers br and zstd to secure origins only), gzip over plain HTTP.
                const offered = rows[0][2];
                const best = /\bbr\b/.test(offered) ? 'br' : /\bgzip\b/.test(offered) ? 'gzip' : 'identity';
                if (tls) {
                    assert.equal(best, 'br', `Accept-Encoding over HTTPS: ${offered}`);
                }
                // A file this browser already holds a matching dictionary for (an earlier test
                // loaded the client: Use-As-Dictionary) comes as a dcz delta once the proxy made it.
                const expected = ([, , ae, named]) => (named && /\bdcz\b/.test(ae) ? 'dcz' : best);
                if (rows.every((row) => row[1] === expected(row))) {
                    break;
                }
                if (Date.now() > deadline) {
                    const want = Object.fromEntries(rows.map((row) => [row[0], expected(row)]));
                    assert.fail(`expected ${JSON.stringify(want)}, got ${JSON.stringify(seen)}`);
                }
                await new Promise((resolve) => setTimeout(resolve, 500));
            }
        });

        check(
            'a node that goes down gets the error page; the other node keeps working',
            async () => {
                const [alive, down] = NODE_IDS;
                const killed = await procs.stop(down, 'SIGKILL');
                assert.equal(killed.signal, 'SIGKILL');

                // Its WebSocket was a direct connection to the dead node: it closes.
                const ws = pages.get(`ws-${down}`);
                if (ws) {
                    await expectText(ws.page, '#ws-status', 'closed');
                }

                const error = await openPage(`down-${down}`, `${proxyOrigin}/${down}/${MOUNT}/`);
                assert.equal(error.response?.status(), 502);
                const marker = error.page.locator('#proxy-error');
                assert.equal(await marker.count(), 1, 'no #proxy-error element');
                assert.equal(await marker.getAttribute('data-status'), '502');
                assert.equal(await error.page.evaluate(() => window.location.origin), proxyOrigin);
                await screenshot(error.page, `${down}-down`);

                const c = await client(alive, { key: `after-${alive}` });
                assert.equal(c.response?.status(), 200);
                await expectText(c.page, '#node-id', alive);
                await expectText(c.page, '#ws-status', 'open');
                await c.page.click('#media-button');
                await expectText(c.page, '#media-status', 'granted');
                const earlier = pages.get(alive);
                if (earlier) {
                    await expectText(earlier.page, '#ws-status', 'open');
                }
            },
        );

        check('the proxy and the remaining node exit 0 on SIGTERM', async () => {
            // The browser still holds connections to both: graceful means they do not block exit.
            assert.deepEqual(await procs.stop('proxy', 'SIGTERM'), { code: 0, signal: null });
            assert.deepEqual(await procs.stop(NODE_IDS[0], 'SIGTERM'), { code: 0, signal: null });
        });
    });
}
