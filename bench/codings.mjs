// bench/codings: the two ways of getting bytes from BBB nodes (issue 14, "Bytes to the browser"),
// measured in the same run, in alternating turns, in front of the same node (docs/benchmarks.md
// "Node codings"). Run it as bench/codings.
//
//   gzip upstream      the working tree's proxy (build/bbb-cluster-proxy): no Via, Accept-Encoding:
//                      gzip to the node when the client takes gzip; it decodes the node's gzip once
//                      per cache fill, stores identity and makes br/zstd/gzip variants itself on a
//                      worker thread; uncacheable responses are relayed with the node's gzip.
//   identity upstream  the proxy of commit 79a5a8b (--old): it sends Via, so the node's nginx
//                      (gzip_proxied off) answers identity; it compresses nothing itself.
//   identity upstream, compressing (optional, --identity-new): the working tree's proxy built with
//                      bench/experiments/identity-upstream.diff (Via, no Accept-Encoding): the node
//                      answers identity, the cache compresses stored bodies as the gzip mode does.
//                      The issue's second option as it would ship, so the proxy CPU of the two ways
//                      differs only by the upstream coding.
//
// The node: nginx configured as BBB configures a node's html5client, as in bench/pageload (gzip on,
// gzip_static on, Debian's gzip_types, gzip_proxied off, hashed assets `expires 1y`, the index page
// no-cache), 1 worker, plus a location serving the same JavaScript files with `Cache-Control:
// no-store` (what a proxy cannot keep). The client: the files bench/pageload assembles from
// Debian's libjs-*/fonts-* packages (the same sources and the same .gz siblings; the app's own
// script, styles and index page are small stand-ins written here): 29 responses.
//
// Workloads, per mode, on a fresh proxy process each turn (`cache: {enabled: true}`, an admin
// listener), plain HTTP/1.1 on 127.0.0.1:
//   storm        --users clients at once (default 50), each on one keep-alive connection, each
//                fetching every file of the client once (the index page first) with Chromium's
//                `Accept-Encoding: gzip, deflate, br, zstd`; the cache is empty at the start (cold).
//   warm storm   the same again on the same proxy once it is idle: hashed assets are cache hits,
//                the no-cache index page is revalidated (the node's 304s are its only bytes).
//   uncacheable  --requests requests (default 1000) over --conns keep-alive connections (16) for
//                the no-store copies of the 14 JavaScript files, round-robin, same Accept-Encoding.
// Measured per workload, before and after (after the storm: once the proxy's compression queue is
// empty and its threads are idle, so the compression the storm caused is counted):
//   node CPU     the nginx worker's time on CPU (/proc/PID/task/*/schedstat, ns; utime + stime
//                from /proc/PID/stat as a cross-check, in clock ticks)
//   proxy CPU    the same for the proxy process (all its threads); for the working tree's builds
//                also bcp_cache_compression_cpu_seconds_total (compression threads) from /metrics
//   node link    the node's access log: $bytes_sent (response headers + body) and $request_length
//   client link  bytes the clients' sockets read (headers + bodies as sent, encoded)
//   wall time    from the first request to the last response
// Every body is checked once per turn after the timed part (decoded as its Content-Encoding says
// and compared with the node's file). Medians over --rounds turns. Everything listens on
// 127.0.0.1; every process started here is stopped on exit (also on Ctrl-C/SIGTERM; via
// PR_SET_PDEATHSIG, `setpriv --pdeathsig`, if this script dies).

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

import {
    BASE,
    LOCALE_TEXT,
    MIME_TYPES,
    NODE_ID,
    ROOT,
    SCRIPTS,
    STYLES,
    WORKER_LIB,
    clientFonts,
    clientWriter,
    dateBack,
    fmt,
    freePort,
    hashed,
    localeJson,
    logTails,
    median,
    nodeConfig as bbbNodeConfig,
    putVendorScripts,
    putVendorStyles,
    readFrom,
    report,
    robotoFaces,
    say,
    setJsonMode,
    startNginx,
    startProcess,
    stop,
    stopAll,
    versions,
    waitFor,
    workerScript,
} from './lib/bbb-client.mjs';

const NOSTORE = `${BASE}nostore/`; // the same js/ files, Cache-Control: no-store
// What Chromium sends (version 123 and later).
const CLIENT_HEADERS = {
    'user-agent':
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36',
    accept: '*/*',
    'accept-encoding': 'gzip, deflate, br, zstd',
    'accept-language': 'en-US,en;q=0.9',
};

const USAGE = `Usage: bench/codings --old BIN [options]
  --old BIN           the proxy of commit 79a5a8b (identity upstream); build it with
                        mkdir -p /tmp/bcp-old/src && git archive 79a5a8b | tar -x -C /tmp/bcp-old/src
                        cmake -S /tmp/bcp-old/src -B /tmp/bcp-old/build -G Ninja \\
                              -DCMAKE_BUILD_TYPE=Release -DBCP_TESTS=OFF
                        cmake --build /tmp/bcp-old/build
  --new BIN           the gzip-upstream proxy (default build/bbb-cluster-proxy: \`make build\`)
  --identity-new BIN  also run the working tree built with bench/experiments/identity-upstream.diff
                      (bench/build-candidate bench/experiments/identity-upstream.diff BIN)
  --rounds N          alternating turns per mode (default 5)
  --users N           clients in the cold join storm (default 50)
  --requests M        uncacheable requests per turn (default 1000)
  --conns C           connections for the uncacheable requests (default 16)
  --workers W         proxy event-loop threads (default 2, one per core here)
  --json              write the results as JSON to stdout (the tables go to stderr)
  --keep              leave the temp dir (configs, logs, the client) and print its path
  --help`;

// ---------------------------------------------------------------------------------------------
// options

function parseOptions() {
    const { values } = parseArgs({
        options: {
            old: { type: 'string' },
            new: { type: 'string', default: path.join(ROOT, 'build', 'bbb-cluster-proxy') },
            'identity-new': { type: 'string' },
            rounds: { type: 'string', default: '5' },
            users: { type: 'string', default: '50' },
            requests: { type: 'string', default: '1000' },
            conns: { type: 'string', default: '16' },
            workers: { type: 'string', default: '2' },
            json: { type: 'boolean', default: false },
            keep: { type: 'boolean', default: false },
            help: { type: 'boolean', default: false },
        },
        strict: true,
    });
    if (values.help) {
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
    }
    if (!values.old) {
        throw new Error(`--old BIN is required\n${USAGE}`);
    }
    const whole = (name, min) => {
        const v = Number(values[name]);
        if (!Number.isInteger(v) || v < min) {
            throw new Error(`--${name}: a whole number ≥ ${min}, not ${values[name]}`);
        }
        return v;
    };
    const modes = [
        {
            key: 'gzip',
            label: 'gzip upstream (working tree: no Via, Accept-Encoding: gzip)',
            binary: path.resolve(values.new),
        },
        {
            key: 'identity-old',
            label: 'identity upstream (79a5a8b: Via; compresses nothing)',
            binary: path.resolve(values.old),
        },
    ];
    if (values['identity-new']) {
        modes.push({
            key: 'identity-new',
            label: 'identity upstream, compressing (working tree + identity-upstream.diff: Via)',
            binary: path.resolve(values['identity-new']),
        });
    }
    return {
        modes,
        rounds: whole('rounds', 1),
        users: whole('users', 1),
        requests: whole('requests', 1),
        conns: whole('conns', 1),
        workers: whole('workers', 1),
        json: values.json,
        keep: values.keep,
    };
}

// ---------------------------------------------------------------------------------------------
// CPU time from /proc

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function statFields(pid) {
    // Fields after "(comm)": state is field 3, so field n is rest[n - 3].
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/// Time on CPU of every thread of pid, ns (schedstat's first field), and utime + stime in ticks.
function cpuOf(pid) {
    let ns = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        try {
            ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        } catch {
            /* a thread that just ended */
        }
    }
    const f = statFields(pid);
    return { ns, ticks: Number(f[11]) + Number(f[12]) };
}

function childrenOf(ppid) {
    const out = [];
    for (const d of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) {
            continue;
        }
        try {
            if (Number(statFields(d)[1]) === ppid) {
                out.push(Number(d));
            }
        } catch {
            /* gone */
        }
    }
    return out.sort((a, b) => a - b);
}

function cpuSum(pids) {
    const s = { ns: 0, ticks: 0, pids: pids.join(',') };
    for (const p of pids) {
        const c = cpuOf(p);
        s.ns += c.ns;
        s.ticks += c.ticks;
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// HTTP: Node's client on keep-alive agents (one connection per agent); no decompression

const HTTP_TIMEOUT_MS = 60_000;

/// One GET on agent; resolves {status, headers, bytes (body bytes as sent), body (if keep)}.
function get(port, urlPath, { agent = false, headers = CLIENT_HEADERS, keep = false, sockets } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(
            { host: '127.0.0.1', port, path: urlPath, method: 'GET', agent, headers, timeout: HTTP_TIMEOUT_MS },
            (res) => {
                const chunks = [];
                let bytes = 0;
                res.on('data', (c) => {
                    bytes += c.length;
                    if (keep) {
                        chunks.push(c);
                    }
                });
                res.on('end', () =>
                    resolve({
                        status: res.statusCode,
                        headers: res.headers,
                        bytes,
                        body: keep ? Buffer.concat(chunks) : null,
                    }),
                );
                res.on('error', reject);
            },
        );
        if (sockets) {
            req.on('socket', (s) => sockets.add(s));
        }
        req.on('timeout', () => req.destroy(new Error(`${urlPath}: no answer in ${HTTP_TIMEOUT_MS} ms`)));
        req.on('error', reject);
        req.end();
    });
}

/// A tally of what clients received.
function newTally() {
    return { requests: 0, body_bytes: 0, wire_bytes: 0, sent_bytes: 0, connections: 0, encodings: {}, x_cache: {}, statuses: {} };
}

function count(map, key) {
    map[key] = (map[key] ?? 0) + 1;
}

function record(tally, r) {
    tally.requests += 1;
    tally.body_bytes += r.bytes;
    count(tally.statuses, r.status);
    count(tally.encodings, r.headers['content-encoding'] || 'none');
    count(tally.x_cache, r.headers['x-cache'] || '-');
}

/// Runs `work(agent, sockets)` on a fresh one-connection keep-alive agent and adds the bytes its
/// connection(s) read and wrote to the tally.
async function onOneConnection(tally, work) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
    const sockets = new Set();
    try {
        await work(agent, sockets);
    } finally {
        agent.destroy();
        for (const s of sockets) {
            tally.wire_bytes += s.bytesRead;
            tally.sent_bytes += s.bytesWritten;
        }
        tally.connections += sockets.size;
    }
}

// ---------------------------------------------------------------------------------------------
// the client: the Debian files bench/pageload assembles, under hashed names (bench/lib/bbb-client.mjs)

// [source, path in the client]: the faces the page of bench/pageload requests.
const FONTS = clientFonts(['KaTeX_Main-Regular.woff2', 'KaTeX_Math-Italic.woff2']);

/// Writes the client into dir; returns {files: [{path, bytes, kind, gz}], order: [paths as the
/// page requests them], js: [paths under js/]}.
function buildClient(dir) {
    const { files, put } = clientWriter(dir);
    const css = putVendorStyles(put);
    const ownCss =
        '/* bench/codings: the stand-in client\'s own styles */\n' +
        robotoFaces() +
        "\nbody { font-family: 'Roboto', 'Helvetica Neue', Arial, sans-serif; }\n";
    css.push(put(`css/${hashed('app', ownCss, 'css')}`, ownCss, 'css', true));
    const js = putVendorScripts(put);
    const worker = workerScript();
    const workerPath = put(`js/${hashed('worker', worker, 'js')}`, worker, 'js', true);
    const localePath = put('locales/en.json', localeJson('BigBlueButton (bench/codings)'), 'json');
    const app =
        '/* bench/codings: the stand-in client\'s start-up code */\n(function () {\n  \'use strict\';\n' +
        `  var CFG = ${JSON.stringify({ worker: workerPath, locale: localePath })};\n` +
        '  fetch(CFG.locale).then(function (r) { return r.json(); }).then(function (l) {\n' +
        "    document.getElementById('title').textContent = l['app.title'];\n" +
        '    new Worker(CFG.worker).postMessage(document.title);\n  });\n})();\n';
    js.push(put(`js/${hashed('app', app, 'js')}`, app, 'js'));
    const fonts = FONTS.map(([src, rel]) => put(rel, fs.readFileSync(src), 'font'));
    const index =
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n' +
        '  <title>BigBlueButton - bench/codings stand-in client</title>\n' +
        css.map((c) => `  <link rel="stylesheet" href="${c}">`).join('\n') +
        '\n' +
        js.map((s) => `  <script defer src="${s}"></script>`).join('\n') +
        '\n</head>\n<body><main><h1 id="title">Loading…</h1></main></body>\n</html>\n';
    const indexPath = put('index.html', index, 'html');
    dateBack(dir, files);
    // As a browser asks: the page, its style sheets and scripts, the locale and the worker, fonts.
    const order = [indexPath, ...css, ...js, localePath, workerPath, ...fonts];
    return { files, order, js: [...js, workerPath] };
}

// ---------------------------------------------------------------------------------------------
// configurations

/// The node (bench/lib/bbb-client.mjs), its access log with the request bytes too, plus the
/// same scripts with Cache-Control: no-store.
function nodeConfig(dir, port, clientDir) {
    return bbbNodeConfig(dir, port, clientDir, {
        tag: 'codings',
        httpExtra: '    keepalive_requests 100000;\n',
        logFormat: `    # One line per response: what went over the node link each way, and what asked for it.
    log_format codings '$msec $status $bytes_sent $body_bytes_sent $request_length '
                       '"$sent_http_content_encoding" "$http_accept_encoding" "$http_via" "$request"';`,
        locations: `        # The same scripts, not to be stored by anyone (what the proxy relays).
        location ${NOSTORE} {
            gzip_static on;
            alias ${clientDir}/js/;
            add_header Cache-Control "no-store" always;
        }
`,
    });
}

function proxyConfig(port, adminPort, nodePort, workers) {
    const q = JSON.stringify;
    return `# bench/codings: bbb-cluster-proxy serve, cache on (generated)
public_url: ${q(`http://127.0.0.1:${port}`)}
listen:
  - address: ${q(`127.0.0.1:${port}`)}
nodes:
  - id: ${NODE_ID}
    url: ${q(`http://127.0.0.1:${nodePort}`)}
cache:
  enabled: true
admin:
  address: ${q(`127.0.0.1:${adminPort}`)}
workers: ${workers}
# One client address makes every request here: no per-address caps (the defaults would answer 429).
limits:
  max_connections_per_ip: 0
  requests_per_second_per_ip: 0
timeouts:
  shutdown: 1s
log_level: warn
`;
}

// ---------------------------------------------------------------------------------------------
// the node's access log, /metrics

function parseNodeLog(text) {
    const re = /^(\S+) (\d{3}) (\d+) (\d+) (\d+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)"$/;
    const out = { requests: 0, bytes_sent: 0, body_bytes: 0, request_bytes: 0, statuses: {}, encodings: {}, with_via: 0 };
    for (const line of text.split('\n')) {
        const m = re.exec(line);
        if (!m) {
            continue;
        }
        out.requests += 1;
        out.bytes_sent += Number(m[3]);
        out.body_bytes += Number(m[4]);
        out.request_bytes += Number(m[5]);
        count(out.statuses, m[2]);
        count(out.encodings, m[6] === '-' || m[6] === '' ? 'none' : m[6]);
        if (m[8] !== '-' && m[8] !== '') {
            out.with_via += 1;
        }
    }
    return out;
}

async function scrape(adminPort) {
    const r = await get(adminPort, '/metrics', { headers: {}, keep: true });
    if (r.status !== 200) {
        throw new Error(`/metrics: HTTP ${r.status}`);
    }
    const m = {};
    for (const line of r.body.toString('utf8').split('\n')) {
        const x = /^(bcp_cache_\w+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
        if (x) {
            m[`${x[1]}${x[2] ?? ''}`] = Number(x[3]);
        }
    }
    return m;
}

function metricsDelta(after, before) {
    const d = {};
    for (const [k, v] of Object.entries(after)) {
        d[k] = v - (before[k] ?? 0);
    }
    return d;
}

const byCoding = (d, name) =>
    Object.fromEntries(
        Object.entries(d)
            .filter(([k]) => k.startsWith(`${name}{coding=`))
            .map(([k, v]) => [/coding="(\w+)"/.exec(k)[1], v]),
    );

// ---------------------------------------------------------------------------------------------
// checking bodies

function decode(body, coding) {
    switch (coding || 'identity') {
        case 'identity':
            return body;
        case 'gzip':
            return zlib.gunzipSync(body);
        case 'br':
            return zlib.brotliDecompressSync(body);
        case 'zstd':
            if (typeof zlib.zstdDecompressSync === 'function') {
                return zlib.zstdDecompressSync(body);
            }
            return execFileSync('zstd', ['-d', '-c', '-q'], { input: body, maxBuffer: 1 << 28 });
        default:
            throw new Error(`unexpected Content-Encoding ${coding}`);
    }
}

/// Asks for each path once (Chromium's Accept-Encoding) and compares the decoded body with the
/// file; returns {coding: count}.
async function verify(port, items) {
    const seen = {};
    for (const [urlPath, file] of items) {
        const r = await get(port, urlPath, { keep: true });
        const coding = r.headers['content-encoding'];
        if (r.status !== 200 || !decode(r.body, coding).equals(fs.readFileSync(file))) {
            throw new Error(`${urlPath}: HTTP ${r.status}, ${coding ?? 'identity'}: not the node's file`);
        }
        count(seen, coding ?? 'identity');
    }
    return seen;
}

// ---------------------------------------------------------------------------------------------
// one turn: a fresh proxy, the cold storm, then the uncacheable requests

async function snapshot(nodeWorkers, proxyPid, adminPort, nodeLog) {
    return {
        node: cpuSum(nodeWorkers),
        proxy: cpuSum([proxyPid]),
        metrics: await scrape(adminPort),
        log: fs.statSync(nodeLog).size,
    };
}

/// Waits until the proxy is idle: compression queue empty (where it has one) and under 1 ms of
/// CPU in 250 ms. Returns the ms it waited.
async function settle(proxyPid, adminPort) {
    const t0 = Date.now();
    for (let i = 0; i < 240; i += 1) {
        const m = await scrape(adminPort);
        const a = cpuOf(proxyPid).ns;
        await delay(250);
        const b = cpuOf(proxyPid).ns;
        if ((m.bcp_cache_compression_queued ?? 0) === 0 && b - a < 1e6) {
            return Date.now() - t0;
        }
    }
    throw new Error('the proxy did not go idle within 60 s');
}

function measured(before, after, nodeLog, tally, wallMs) {
    const node = parseNodeLog(readFrom(nodeLog, before.log));
    const d = metricsDelta(after.metrics, before.metrics);
    const cpuS = byCoding(d, 'bcp_cache_compression_cpu_seconds_total');
    return {
        wall_ms: wallMs,
        node_cpu_ms: (after.node.ns - before.node.ns) / 1e6,
        node_cpu_ticks_ms: ((after.node.ticks - before.node.ticks) * 1000) / CLK_TCK,
        proxy_cpu_ms: (after.proxy.ns - before.proxy.ns) / 1e6,
        proxy_cpu_ticks_ms: ((after.proxy.ticks - before.proxy.ticks) * 1000) / CLK_TCK,
        node_workers_changed: before.node.pids !== after.node.pids,
        node,
        client: tally,
        cache: {
            results: Object.fromEntries(
                Object.entries(d)
                    .filter(([k, v]) => k.startsWith('bcp_cache_requests_total{') && v)
                    .map(([k, v]) => [/result="(\w+)"/.exec(k)[1], v]),
            ),
            bytes_from_nodes: d.bcp_cache_bytes_from_nodes_total ?? null,
            bytes_served: d.bcp_cache_bytes_served_total ?? null,
            compression_cpu_ms: Object.keys(cpuS).length
                ? Object.fromEntries(Object.entries(cpuS).map(([k, v]) => [k, v * 1000]))
                : null,
            compressions: Object.keys(cpuS).length ? byCoding(d, 'bcp_cache_compressions_total') : null,
            compression_in: byCoding(d, 'bcp_cache_compression_input_bytes_total'),
            compression_out: byCoding(d, 'bcp_cache_compression_output_bytes_total'),
            encoded_bytes: byCoding(d, 'bcp_cache_encoded_bytes_total'),
            encoded_responses: byCoding(d, 'bcp_cache_encoded_responses_total'),
            skipped: Object.fromEntries(
                Object.entries(d)
                    .filter(([k, v]) => k.startsWith('bcp_cache_compression_skipped_total{') && v)
                    .map(([k, v]) => [/reason="(\w+)"/.exec(k)[1], v]),
            ),
            decode_faults: d.bcp_cache_decode_faults_total ?? null,
        },
    };
}

async function turn(ctx, mode, round) {
    const { opts, tmp, nodeWorkers, nodeLog, nodePort, client, clientDir } = ctx;
    const dir = path.join(tmp, `${mode.key}-${round}`);
    fs.mkdirSync(dir, { recursive: true });
    const [port, adminPort] = [await freePort(), await freePort()];
    const conf = path.join(dir, 'config.yaml');
    fs.writeFileSync(conf, proxyConfig(port, adminPort, nodePort, opts.workers));
    const ready = path.join(dir, 'ready.json');
    const proc = startProcess(
        `${mode.key}#${round}`,
        [mode.binary, 'serve', '--config', conf, '--ready-file', ready],
        path.join(dir, 'serve.log'),
    );
    try {
        await waitFor(`${mode.key}: serve`, () => fs.existsSync(ready), 30_000, proc);
        await waitFor(`${mode.key}: admin`, async () => (await scrape(adminPort)) !== null, 10_000, proc);
        // setpriv execs the proxy: the child's pid is the proxy's.
        const pid = proc.child.pid;
        await settle(pid, adminPort);
        const out = { mode: mode.key, round };

        // --- join storms: cold (empty cache), then warm
        const storm = async (phase) => {
            const before = await snapshot(nodeWorkers, pid, adminPort, nodeLog);
            const tally = newTally();
            const t0 = performance.now();
            await Promise.all(
                Array.from({ length: opts.users }, () =>
                    onOneConnection(tally, async (agent, sockets) => {
                        for (const p of client.order) {
                            const r = await get(port, `${BASE}${p}`, { agent, sockets });
                            if (r.status !== 200) {
                                throw new Error(`${mode.key}: ${phase} storm: ${BASE}${p}: HTTP ${r.status}`);
                            }
                            record(tally, r);
                        }
                    }),
                ),
            );
            const wall = performance.now() - t0;
            const settleMs = await settle(pid, adminPort);
            const after = await snapshot(nodeWorkers, pid, adminPort, nodeLog);
            return { ...measured(before, after, nodeLog, tally, wall), settle_ms: settleMs };
        };
        const checkAll = () =>
            verify(
                port,
                client.order.map((p) => [`${BASE}${p}`, path.join(clientDir, p)]),
            );
        out.storm = await storm('cold');
        out.storm.verified = await checkAll();
        await settle(pid, adminPort);
        out.warm = await storm('warm');

        // --- uncacheable responses
        await settle(pid, adminPort);
        const before = await snapshot(nodeWorkers, pid, adminPort, nodeLog);
        const tally = newTally();
        let next = 0;
        const t0 = performance.now();
        await Promise.all(
            Array.from({ length: opts.conns }, () =>
                onOneConnection(tally, async (agent, sockets) => {
                    for (let i = next++; i < opts.requests; i = next++) {
                        const p = client.js[i % client.js.length];
                        const r = await get(port, `${NOSTORE}${p.slice(3)}`, { agent, sockets });
                        if (r.status !== 200) {
                            throw new Error(`${mode.key}: uncacheable: ${p}: HTTP ${r.status}`);
                        }
                        record(tally, r);
                    }
                }),
            ),
        );
        const wall = performance.now() - t0;
        await delay(150); // the node's last log line
        const after = await snapshot(nodeWorkers, pid, adminPort, nodeLog);
        out.uncacheable = measured(before, after, nodeLog, tally, wall);
        out.uncacheable.verified = await verify(
            port,
            client.js.map((p) => [`${NOSTORE}${p.slice(3)}`, path.join(clientDir, p)]),
        );
        return out;
    } finally {
        await stop(proc);
    }
}

// ---------------------------------------------------------------------------------------------
// statistics and tables

const counts = (o) =>
    Object.entries(o ?? {})
        .sort()
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', ');

function mergeCounts(list) {
    const keys = new Set(list.flatMap((o) => Object.keys(o ?? {})));
    return [...keys]
        .sort()
        .map((k) => {
            const vals = list.map((o) => o?.[k] ?? 0);
            const lo = Math.min(...vals);
            const hi = Math.max(...vals);
            return `${k} ${lo === hi ? fmt(lo) : `${fmt(lo)}–${fmt(hi)}`}`;
        })
        .join(', ');
}

const sumValues = (o) => (o ? Object.values(o).reduce((a, b) => a + b, 0) : null);

function summarise(runs) {
    const comp = runs.map((r) => sumValues(r.cache.compression_cpu_ms));
    return {
        turns: runs.length,
        node_cpu_ms: median(runs.map((r) => r.node_cpu_ms)),
        proxy_cpu_ms: median(runs.map((r) => r.proxy_cpu_ms)),
        compression_cpu_ms: comp.every((x) => x === null) ? null : median(comp),
        proxy_other_cpu_ms: median(runs.map((r, i) => r.proxy_cpu_ms - (comp[i] ?? 0))),
        node_share: median(runs.map((r) => r.node.bytes_sent / r.client.wire_bytes)),
        node_bytes: median(runs.map((r) => r.node.bytes_sent)),
        node_request_bytes: median(runs.map((r) => r.node.request_bytes)),
        node_requests: median(runs.map((r) => r.node.requests)),
        client_bytes: median(runs.map((r) => r.client.wire_bytes)),
        client_body_bytes: median(runs.map((r) => r.client.body_bytes)),
        wall_ms: median(runs.map((r) => r.wall_ms)),
        node_encodings: mergeCounts(runs.map((r) => r.node.encodings)),
        client_encodings: mergeCounts(runs.map((r) => r.client.encodings)),
        x_cache: mergeCounts(runs.map((r) => r.client.x_cache)),
    };
}

function table(modes, sums) {
    const lines = [
        '| mode | node CPU ms | proxy CPU ms | of it compression threads | proxy CPU outside compression | ' +
            'node link bytes (node requests) | client bytes | node ÷ client bytes | time ms | ' +
            'node → proxy Content-Encoding | proxy → clients Content-Encoding |',
        `|${'---|'.repeat(11)}`,
    ];
    for (const m of modes) {
        const s = sums[m.key];
        lines.push(
            `| ${m.label} | ${fmt(s.node_cpu_ms, 1)} | ${fmt(s.proxy_cpu_ms)} | ` +
                `${s.compression_cpu_ms === null ? '–' : fmt(s.compression_cpu_ms)} | ${fmt(s.proxy_other_cpu_ms)} | ` +
                `${fmt(s.node_bytes)} (${fmt(s.node_requests)}) | ${fmt(s.client_bytes)} | ` +
                `${fmt(100 * s.node_share, 3)} % | ${fmt(s.wall_ms)} | ${s.node_encodings} | ${s.client_encodings} |`,
        );
    }
    const base = sums[modes[0].key];
    const r = (a, b) => (a !== null && b ? fmt(a / b, 2) : '–');
    for (const m of modes.slice(1)) {
        const s = sums[m.key];
        lines.push(
            `| ${m.key} ÷ ${modes[0].key} | ${r(s.node_cpu_ms, base.node_cpu_ms)} | ${r(s.proxy_cpu_ms, base.proxy_cpu_ms)} | ` +
                `${r(s.compression_cpu_ms, base.compression_cpu_ms)} | ${r(s.proxy_other_cpu_ms, base.proxy_other_cpu_ms)} | ` +
                `${r(s.node_bytes, base.node_bytes)} | ${r(s.client_bytes, base.client_bytes)} | | ` +
                `${r(s.wall_ms, base.wall_ms)} | | |`,
        );
    }
    return lines;
}

// ---------------------------------------------------------------------------------------------

function checkPrerequisites(opts) {
    const problems = [];
    for (const m of opts.modes) {
        if (!fs.existsSync(m.binary)) {
            problems.push(`${m.binary} (${m.key}) not found`);
        }
    }
    for (const f of [MIME_TYPES, WORKER_LIB, LOCALE_TEXT, ...FONTS.map((x) => x[0]),
        ...SCRIPTS.map((s) => s[1]), ...STYLES.map((s) => s[1])]) {
        if (!fs.existsSync(f)) {
            problems.push(`${f} missing (bench/pageload-deps installs it)`);
        }
    }
    for (const cmd of ['nginx', 'setpriv', 'getconf']) {
        if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
            problems.push(`${cmd} not found`);
        }
    }
    if (problems.length) {
        throw new Error(`cannot run:\n  ${problems.join('\n  ')}`);
    }
}

async function main() {
    const opts = parseOptions();
    setJsonMode(opts.json);
    checkPrerequisites(opts);
    const tmp = fs.mkdtempSync(path.join('/tmp', 'bcp-codings-'));
    fs.chmodSync(tmp, 0o755); // nginx's workers (its unprivileged user) read the client
    let failed = false;
    let stopping = false;
    const onSignal = (sig) => {
        say(`\ncodings: ${sig}, stopping`);
        failed = true;
        stopping = true;
        stopAll().finally(() => {
            if (!opts.keep) {
                fs.rmSync(tmp, { recursive: true, force: true });
            }
            process.exit(sig === 'SIGINT' ? 130 : 143);
        });
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGHUP', () => onSignal('SIGHUP'));
    try {
        const meta = { started: new Date().toISOString(), ...versions() };
        meta.binaries = Object.fromEntries(
            opts.modes.map((m) => [m.key, { path: m.binary, mtime: fs.statSync(m.binary).mtime.toISOString() }]),
        );
        say(`codings: temp dir ${tmp}`);
        const clientDir = path.join(tmp, 'client');
        const client = buildClient(clientDir);
        const sizeOf = (p) => client.files.find((f) => f.path === p).bytes;
        const clientBytes = client.order.reduce((a, p) => a + sizeOf(p), 0);
        const jsBytes = client.js.reduce((a, p) => a + sizeOf(p), 0);
        const gzFiles = client.files.filter((f) => f.gz);
        say(
            `codings: client: ${client.order.length} files, ${fmt(clientBytes)} B; ${gzFiles.length} with a .gz ` +
                `sibling; no-store: the ${client.js.length} scripts (${fmt(jsBytes)} B)`,
        );

        const nodeDir = path.join(tmp, 'node');
        fs.mkdirSync(path.join(nodeDir, 'tmp'), { recursive: true });
        const nodePort = await freePort();
        const nodeConf = path.join(nodeDir, 'nginx.conf');
        fs.writeFileSync(nodeConf, nodeConfig(nodeDir, nodePort, clientDir));
        const nodeLog = path.join(nodeDir, 'access.log');
        const nodeProc = startNginx('node', nodeDir, nodeConf);
        await waitFor('the node', async () => (await get(nodePort, BASE)).status === 200, 20_000, nodeProc);
        const nodeWorkers = await waitFor('the node worker', () => {
            const w = childrenOf(nodeProc.child.pid);
            return w.length ? w : null;
        });
        // The node hands out the files as a browser would get them (and they are in the page
        // cache before anything is measured).
        for (const p of client.order) {
            const r = await get(nodePort, `${BASE}${p}`, { keep: true });
            if (r.status !== 200 || !decode(r.body, r.headers['content-encoding']).equals(fs.readFileSync(path.join(clientDir, p)))) {
                throw new Error(`the node: ${BASE}${p}: HTTP ${r.status}: not the file`);
            }
        }
        const direct = { storm: newTally(), uncacheable: newTally() };
        await onOneConnection(direct.storm, async (agent, sockets) => {
            for (const p of client.order) {
                record(direct.storm, await get(nodePort, `${BASE}${p}`, { agent, sockets }));
            }
        });
        await onOneConnection(direct.uncacheable, async (agent, sockets) => {
            for (const p of client.js) {
                const r = await get(nodePort, `${NOSTORE}${p.slice(3)}`, { agent, sockets });
                if (r.headers['cache-control'] !== 'no-store') {
                    throw new Error(`the node: ${NOSTORE}${p.slice(3)}: Cache-Control ${r.headers['cache-control']}`);
                }
                record(direct.uncacheable, r);
            }
        });
        say(
            `codings: straight from the node with Chromium's Accept-Encoding: the client ${fmt(direct.storm.wire_bytes)} B ` +
                `(${counts(direct.storm.encodings)}); the ${client.js.length} no-store scripts ${fmt(direct.uncacheable.wire_bytes)} B`,
        );

        const ctx = { opts, tmp, nodeWorkers, nodeLog, nodePort, client, clientDir };
        const turns = [];
        for (let round = 1; round <= opts.rounds; round += 1) {
            for (const mode of opts.modes) {
                const t = await turn(ctx, mode, round);
                turns.push(t);
                const line = (w, r) =>
                    `${w} node ${fmt(r.node_cpu_ms, 1)} ms CPU, ${fmt(r.node.bytes_sent)} B in ${r.node.requests} ` +
                    `(${counts(r.node.encodings)}); proxy ${fmt(r.proxy_cpu_ms)} ms CPU` +
                    `${r.cache.compression_cpu_ms ? ` (compression ${fmt(sumValues(r.cache.compression_cpu_ms))})` : ''}; ` +
                    `clients ${fmt(r.client.wire_bytes)} B (${counts(r.client.encodings)}); ${fmt(r.wall_ms)} ms`;
                say(`  round ${round} ${mode.key.padEnd(12)} ${line('storm:', t.storm)}`);
                say(`  round ${round} ${mode.key.padEnd(12)} ${line('warm:', t.warm)}`);
                say(`  round ${round} ${mode.key.padEnd(12)} ${line('no-store:', t.uncacheable)}`);
            }
        }
        meta.finished = new Date().toISOString();
        meta.load_average_end = os.loadavg().map((x) => x.toFixed(2)).join(' ');
        meta.nginx_workers = nodeWorkers.length;

        const of = (key, w) => turns.filter((t) => t.mode === key).map((t) => t[w]);
        const sums = {};
        for (const w of ['storm', 'warm', 'uncacheable']) {
            sums[w] = Object.fromEntries(opts.modes.map((m) => [m.key, summarise(of(m.key, w))]));
        }

        report('');
        report(
            `bench/codings, ${meta.started.slice(0, 16).replace('T', ' ')} UTC, commit ${meta.git}` +
                `${meta.src_uncommitted_files ? ` (+${meta.src_uncommitted_files} uncommitted files in src/)` : ''}, ` +
                `${meta.cpus}, load average ${meta.load_average} → ${meta.load_average_end}; ${meta.nginx}; node ${meta.node}`,
        );
        report(
            `client: ${client.order.length} files, ${fmt(clientBytes)} B (${gzFiles.length} with a .gz sibling); ` +
                `${opts.rounds} turns per mode, alternating; proxy workers ${opts.workers}; medians`,
        );
        report(
            `straight from the node (Chromium's Accept-Encoding, one connection): the client ${fmt(direct.storm.wire_bytes)} B, ` +
                `the ${client.js.length} no-store scripts ${fmt(direct.uncacheable.wire_bytes)} B`,
        );
        report('');
        report(`### Cold join storm: ${opts.users} clients × ${client.order.length} files (${fmt(opts.users * clientBytes)} B identity)`);
        report('');
        for (const l of table(opts.modes, sums.storm)) {
            report(l);
        }
        report('');
        report(`### Warm join storm: the same on the same proxy, its cache filled`);
        report('');
        for (const l of table(opts.modes, sums.warm)) {
            report(l);
        }
        report('');
        report(`### Uncacheable: ${opts.requests} requests for the ${client.js.length} no-store scripts over ${opts.conns} connections`);
        report('');
        for (const l of table(opts.modes, sums.uncacheable)) {
            report(l);
        }
        report('');
        report('### Per turn (cold storm | warm storm | uncacheable): node CPU ms / proxy CPU ms (from /proc schedstat; utime + stime in brackets)');
        report('');
        for (const m of opts.modes) {
            const each = (w) =>
                of(m.key, w)
                    .map((r) => `${fmt(r.node_cpu_ms, 1)} [${fmt(r.node_cpu_ticks_ms)}] / ${fmt(r.proxy_cpu_ms)} [${fmt(r.proxy_cpu_ticks_ms)}]`)
                    .join('; ');
            report(`- ${m.key}: ${each('storm')} | ${each('warm')} | ${each('uncacheable')}`);
        }
        report('');
        report('### The cache during the cold storm (/metrics deltas, medians)');
        report('');
        for (const m of opts.modes) {
            const st = of(m.key, 'storm');
            const med = (f) => median(st.map(f));
            const codings = ['zstd', 'br', 'gzip'];
            const c0 = st[0].cache;
            const parts = [
                `results ${mergeCounts(st.map((r) => r.cache.results))}`,
                `body bytes from the node ${fmt(med((r) => r.cache.bytes_from_nodes))}`,
                `X-Cache ${mergeCounts(st.map((r) => r.client.x_cache))}`,
            ];
            if (c0.compression_cpu_ms) {
                parts.push(
                    `compression CPU ms ${codings.map((c) => `${c} ${fmt(med((r) => r.cache.compression_cpu_ms[c]), 1)}`).join(', ')}`,
                    `compressions ${codings.map((c) => `${c} ${fmt(med((r) => r.cache.compressions[c]))}`).join(', ')}`,
                    `compression in → out B ${codings.map((c) => `${c} ${fmt(med((r) => r.cache.compression_in[c]))} → ${fmt(med((r) => r.cache.compression_out[c]))}`).join(', ')}`,
                    `encoded bytes sent ${['identity', ...codings].map((c) => `${c} ${fmt(med((r) => r.cache.encoded_bytes[c]))}`).join(', ')}`,
                    `responses by coding ${['identity', ...codings].map((c) => `${c} ${fmt(med((r) => r.cache.encoded_responses[c]))}`).join(', ')}`,
                    `skipped ${mergeCounts(st.map((r) => r.cache.skipped)) || 'none'}`,
                    `decode faults ${mergeCounts(st.map((r) => ({ n: r.cache.decode_faults ?? 0 })))}`,
                    `settled ${fmt(med((r) => r.settle_ms))} ms after the last response`,
                );
            }
            report(`- ${m.key}: ${parts.join('; ')}`);
        }
        report('');
        report(
            `Every turn: all responses 200, every body checked (storm: ${mergeCounts(turns.map((t) => t.storm.verified))}; ` +
                `uncacheable: ${mergeCounts(turns.map((t) => t.uncacheable.verified))}). Warm storm X-Cache: ` +
                `${opts.modes.map((m) => `${m.key} ${mergeCounts(of(m.key, 'warm').map((r) => r.client.x_cache))}`).join('; ')}.` +
                `${turns.some((t) => ['storm', 'warm', 'uncacheable'].some((w) => t[w].node_workers_changed)) ? ' The node\'s workers changed during a turn!' : ''}`,
        );
        if (opts.json) {
            process.stdout.write(`${JSON.stringify({ meta, opts, client, direct, summary: sums, turns }, null, 2)}\n`);
        }
    } catch (e) {
        failed = true;
        if (stopping) {
            return;
        }
        say(`codings: ${e.stack ?? e.message}`);
        const tails = logTails(10);
        if (tails) {
            say(tails);
        }
    } finally {
        await stopAll();
        if (opts.keep) {
            say(`codings: kept ${tmp}`);
        } else {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }
    process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
    say(`codings: ${e.message}`);
    process.exitCode = 2;
});
