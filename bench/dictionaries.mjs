// bench/dictionaries: what compression dictionaries (RFC 9842, issue 18) save a user who moves to
// another node of the cluster, or comes back after an upgrade (docs/benchmarks.md "Compression
// dictionaries"). Run it as `node bench/dictionaries.mjs` (after `make build`; the browser tests'
// playwright-core and Debian's chromium, as bench/pageload).
//
// The client: real minified JavaScript and CSS from Debian's libjs-* packages (bench/lib/
// bbb-client.mjs's SCRIPTS and STYLES) under hashed names, plus a small app script, as a BBB node
// serves its html5client. Two versions: v2 is an upgrade that changed one library (lodash: one
// function rewritten) and the app script, and, as a new build does, renamed every file (a new
// build number in each hash).
// The nodes: one nginx configured as BBB configures a node's html5client (bench/lib nodeConfig:
// gzip on, gzip_static, hashed assets `expires 1y`) serving /bbb-01/ and /bbb-02/ (v1) and
// /bbb-03/ (v2, the upgraded node); `bbb-cluster-proxy serve` in front, cache on, plain HTTP on
// 127.0.0.1 (Chromium treats loopback as a secure context and sends Available-Dictionary there).
//
// A user: one Chromium context (cache and dictionaries kept between loads) loads the client from
// bbb-01 (the first load), then from bbb-02 (a node hop, same version) and from bbb-03 (after the
// upgrade). Bytes per load: the sum of CDP loadingFinished encodedDataLength (headers and bodies
// as they came over the wire). The measured user is the second user of the day: a first user runs
// the same sequence before, so the proxy has made the deltas (it makes each once, off the event
// loops, when a client first names the dictionary; that first client gets br). Then the proxy's
// /metrics give the CPU per delta made and the memory the deltas hold. The same user again
// against a proxy with `cache.dictionaries: false` is the baseline (what the nginx recipe gives
// too: every node's URLs are new to the browser's cache).
//
// Usage: node bench/dictionaries.mjs [--binary BIN] [--rounds N] [--json]
// Everything listens on 127.0.0.1; every process started here is stopped on exit.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import {
    ROOT,
    SCRIPTS,
    STYLES,
    clientWriter,
    dateBack,
    fmt,
    freePort,
    median,
    nodeConfig,
    readSource,
    say,
    startNginx,
    startProcess,
    stop,
    stopAll,
    versions,
    waitFor,
} from './lib/bbb-client.mjs';

const CHROMIUM = process.env.BCP_CHROMIUM || '/usr/bin/chromium';
const PLAYWRIGHT = path.join(ROOT, 'tests', 'e2e', 'node_modules', 'playwright-core', 'index.mjs');
const NODES = [
    ['bbb-01', 'v1'],
    ['bbb-02', 'v1'],
    ['bbb-03', 'v2'],
];

const name16 = (name, content, build, ext) =>
    `${name}.${crypto.createHash('sha256').update(build).update(content).digest('hex').slice(0, 16)}.${ext}`;

/// The client of `version` into dir: {files}.
function buildClient(dir, version) {
    const { files, put } = clientWriter(dir);
    const build = version === 'v1' ? 'build 3.0.10' : 'build 3.0.11';
    const styles = STYLES.map(([name, src, gz]) => {
        const text = readSource(src);
        return path.basename(put(`css/${name16(name, text, build, 'css')}`, text, 'css', gz));
    });
    const scripts = SCRIPTS.map(([name, src, gz]) => {
        let text = readSource(src);
        if (version === 'v2' && name === 'vendor-lodash') {
            // The upgrade's one changed library: a function rewritten, the rest as it was.
            text = text.replace(/function\s+([A-Za-z_$][\w$]*)\s*\(/, 'function $1 /* 4.17.22 */ (');
            text += '\n/* lodash 4.17.22: security fix in template() */\n';
        }
        return path.basename(put(`js/${name16(name, text, build, 'js')}`, text, 'js', gz));
    });
    const app = `/* the client's own code, ${build} */
window.__app = { build: ${JSON.stringify(build)}, libs: [typeof jQuery, typeof _, typeof moment, typeof d3] };
`;
    scripts.push(path.basename(put(`js/${name16('app', app, build, 'js')}`, app, 'js')));
    const links = styles.map((s) => `  <link rel="stylesheet" href="css/${s}">`).join('\n');
    const tags = scripts.map((s) => `  <script src="js/${s}"></script>`).join('\n');
    put(
        'index.html',
        `<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n  <title>bench/dictionaries ${build}</title>\n  <link rel="icon" href="data:,">\n${links}\n</head>\n<body>\n  <h1>BigBlueButton</h1>\n${tags}\n  <script>window.__loaded = !!(window.__app && window.jQuery && window._);</script>\n</body>\n</html>\n`,
        'html',
    );
    dateBack(dir, files);
    return { files };
}

async function metrics(adminPort) {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const get = (name) => {
        const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} ([0-9.e+]+)$`, 'm'));
        return m ? Number(m[1]) : 0;
    };
    return {
        deltas: get('bcp_cache_dictionary_deltas'),
        delta_bytes: get('bcp_cache_dictionary_delta_bytes'),
        made: get('bcp_cache_compressions_total{coding="dcz"}'),
        cpu: get('bcp_cache_compression_cpu_seconds_total{coding="dcz"}'),
        queued: get('bcp_cache_compression_queued'),
        sent: get('bcp_cache_encoded_responses_total{coding="dcz"}'),
        saved: get('bcp_cache_dictionary_saved_bytes_total'),
        pending: get('bcp_cache_dictionary_requests_total{result="pending"}'),
    };
}

/// One user: a fresh context loads the three nodes' clients in turn; bytes and codings per load.
async function user(browser, origin) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    let bytes = 0;
    const codings = {};
    const seen = new Map();
    cdp.on('Network.responseReceived', ({ requestId, response }) => {
        const h = Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k.toLowerCase(), v]));
        seen.set(requestId, h['content-encoding'] || 'identity');
    });
    cdp.on('Network.loadingFinished', ({ requestId, encodedDataLength }) => {
        bytes += encodedDataLength;
        const c = seen.get(requestId) ?? '?';
        codings[c] = (codings[c] ?? 0) + 1;
    });
    const loads = [];
    for (const [id] of NODES) {
        bytes = 0;
        for (const k of Object.keys(codings)) {
            delete codings[k];
        }
        await page.goto(`${origin}/${id}/html5client/`, { waitUntil: 'load' });
        const ok = await page.evaluate(() => window.__loaded === true);
        if (!ok) {
            throw new Error(`${id}: the client did not run`);
        }
        await delay(200); // late loadingFinished events
        loads.push({ id, bytes, codings: { ...codings } });
    }
    await context.close();
    return loads;
}

async function main() {
    const { values: opts } = parseArgs({
        options: {
            binary: { type: 'string', default: path.join(ROOT, 'build', 'bbb-cluster-proxy') },
            rounds: { type: 'string', default: '3' },
            json: { type: 'boolean', default: false },
        },
    });
    const rounds = Number(opts.rounds);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bcp-bench-dict-'));
    fs.chmodSync(tmp, 0o755);
    const { chromium } = await import(pathToFileURL(PLAYWRIGHT).href);
    let browser;
    try {
        // The node: one nginx as BBB configures it, the three nodes' html5client directories.
        const dirs = { v1: path.join(tmp, 'client-v1'), v2: path.join(tmp, 'client-v2') };
        const built = { v1: buildClient(dirs.v1, 'v1'), v2: buildClient(dirs.v2, 'v2') };
        const nodePort = await freePort();
        const locations = NODES.slice(1)
            .map(
                ([id, v]) => `        location /${id}/html5client/ {
            gzip_static on;
            alias ${dirs[v]}/;
            index index.html;
            try_files $uri $uri/ =404;
            expires $dict_expires;
        }
`,
            )
            .join('');
        const nodeDir = path.join(tmp, 'node');
        fs.mkdirSync(path.join(nodeDir, 'tmp'), { recursive: true });
        fs.writeFileSync(
            path.join(nodeDir, 'nginx.conf'),
            nodeConfig(nodeDir, nodePort, dirs.v1, {
                tag: 'dict',
                logFormat: '    log_format dict \'$request $status $bytes_sent\';',
                locations,
            }),
        );
        for (const d of [tmp, nodeDir, dirs.v1, dirs.v2]) {
            fs.chmodSync(d, 0o755);
        }
        const node = startNginx('node', nodeDir, path.join(nodeDir, 'nginx.conf'));
        await waitFor('the node', async () => (await fetch(`http://127.0.0.1:${nodePort}/bbb-03/html5client/`)).ok, 20_000, node);

        const startProxy = async (name, dictionaries) => {
            const port = await freePort();
            const admin = await freePort();
            const cfg = path.join(tmp, `${name}.yaml`);
            fs.writeFileSync(
                cfg,
                [
                    `public_url: "http://127.0.0.1:${port}"`,
                    `listen: [{address: "127.0.0.1:${port}"}]`,
                    `admin: {address: "127.0.0.1:${admin}"}`,
                    `cache: {enabled: true, dictionaries: ${dictionaries}}`,
                    'nodes:',
                    ...NODES.map(([id]) => `  - {id: ${id}, url: "http://127.0.0.1:${nodePort}"}`),
                    '',
                ].join('\n'),
            );
            const p = startProcess(name, [opts.binary, 'serve', '--config', cfg], path.join(tmp, `${name}.log`));
            await waitFor(name, async () => (await fetch(`http://127.0.0.1:${admin}/healthz`)).ok, 20_000, p);
            return { p, origin: `http://127.0.0.1:${port}`, admin };
        };
        const idle = async (admin) => {
            // The compression threads done: variants and deltas made.
            await waitFor('the compressor idle', async () => (await metrics(admin)).queued === 0, 120_000);
            await delay(3000);
            await waitFor('the compressor idle', async () => (await metrics(admin)).queued === 0, 120_000);
        };

        browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
        const results = {};
        for (const [name, dictionaries] of [
            ['dictionaries', true],
            ['baseline', false],
        ]) {
            const proxy = await startProxy(name, dictionaries);
            await user(browser, proxy.origin); // the day's first user: fills the cache, asks for deltas
            await idle(proxy.admin);
            await user(browser, proxy.origin); // deltas asked by the first user's later loads
            await idle(proxy.admin);
            const runs = [];
            for (let r = 0; r < rounds; r++) {
                runs.push(await user(browser, proxy.origin));
            }
            results[name] = { runs, metrics: await metrics(proxy.admin) };
            say(`${name}: ${runs.map((l) => l.map((x) => `${x.id} ${x.bytes}`).join(', ')).join(' | ')}`);
            await stop(proxy.p);
        }

        const med = (name, i) => median(results[name].runs.map((l) => l[i].bytes));
        const out = [];
        out.push('| load | bytes with dictionaries | ÷ first load | bytes without (baseline) | ÷ first load | codings with dictionaries |');
        out.push('|---|---|---|---|---|---|');
        const labels = ['first load (bbb-01)', 'node hop (bbb-02, same version)', 'after an upgrade (bbb-03)'];
        for (let i = 0; i < 3; i++) {
            const c = results.dictionaries.runs[0][i].codings;
            out.push(
                `| ${labels[i]} | ${fmt(med('dictionaries', i))} | ${(med('dictionaries', i) / med('dictionaries', 0)).toFixed(3)}× | ` +
                    `${fmt(med('baseline', i))} | ${(med('baseline', i) / med('baseline', 0)).toFixed(3)}× | ` +
                    `${Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ')} |`,
            );
        }
        const m = results.dictionaries.metrics;
        out.push('');
        out.push(
            `Deltas made: ${m.made} (${fmt((1000 * m.cpu) / Math.max(1, m.made), 1)} ms CPU each, ` +
                `${fmt(m.cpu, 2)} s in all); deltas held: ${m.deltas}, ${fmt(m.delta_bytes / 1024, 1)} KiB; ` +
                `dcz responses: ${m.sent}, ${fmt(m.saved / 1024, 0)} KiB saved against br.`,
        );
        const js = built.v1.files.filter((f) => f.kind === 'js' || f.kind === 'css');
        out.push(`Client: ${js.length} JS/CSS files, ${fmt(js.reduce((a, f) => a + f.bytes, 0) / 1024, 0)} KiB identity.`);
        const v = versions();
        out.push(`Run: commit ${v.git}, ${v.cpus}, load ${v.load_average}, ${v.nginx}, chromium ${browser.version()}.`);
        const text = out.join('\n');
        if (opts.json) {
            process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
            say(text);
        } else {
            process.stdout.write(`${text}\n`);
        }
    } finally {
        await browser?.close().catch(() => {});
        await stopAll();
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

main().catch((e) => {
    say(`dictionaries: ${e.stack || e.message}`);
    process.exitCode = 2;
});
