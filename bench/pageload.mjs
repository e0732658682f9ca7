// bench/pageload: a real browser loads a BBB-like HTML5 client through two front ends in front of
// the same node, on emulated networks, and reports what the user lives through (docs/benchmarks.md
// "Client page load"). Run it as bench/pageload; bench/pageload-deps installs what it needs.
//
//   node      nginx as BBB configures a node's html5client: `gzip on`, `gzip_static on`,
//             `gzip_types` as in Debian's stock nginx.conf, `gzip_proxied` left at its default
//             (off), `location /bbb-01/html5client/ { alias …; }`, hashed assets with
//             `expires 1y`, the index page `no-cache`. Plain HTTP on 127.0.0.1.
//   recipe    nginx on the proxy host as operators set it up by hand today: `listen … ssl http2`
//             and `location /bbb-01/html5client/ { proxy_pass http://node; }` with the lines of the
//             BBB cluster docs' block (proxy_http_version 1.1, Upgrade/Connection), no proxy_cache.
//   ours      `bbb-cluster-proxy serve` with `cache: {enabled: true}`, TLS on 127.0.0.1.
//
// The client (assembled in a temp dir, see buildClient): an index page loading real minified
// JavaScript and CSS from Debian's libjs-* packages under hashed names, woff2 fonts referenced from
// CSS @font-face, a locale JSON fetched by the page and a web worker; some files have a `.gz`
// sibling for gzip_static (as BBB ships), the rest are gzipped by the node on the fly (chunked).
// The page sets window.__loaded once every script ran, the locale arrived, the worker answered and
// document.fonts are loaded.
//
// The browser: Debian's chromium via the browser tests' playwright-core (tests/e2e/node_modules),
// a fresh browser (its own new profile: empty cache, no pooled connections) per load, the cache
// disabled, the network emulated with DevTools' Network.emulateNetworkConditions (Chromium adds
// the latency once per request, not per packet or handshake, and shares the bandwidth among all
// requests). A load not done within --timeout is reported as stalled and run again.
// Per load: ms until __loaded and until the load event, bytes received (the sum of CDP
// loadingFinished encodedDataLength: headers and body as they came over the wire, before
// decompression), each response's Content-Encoding and protocol (h2, http/1.1), X-Cache, and the
// bytes the node sent (its access log, $bytes_sent, lines written during the load).
//
// Order: per network, one load through ours right after a cache purge (the cold fill), then
// rounds of recipe, ours, recipe, ours, ... (ours' cache warm). Medians per front end, ratios
// ours ÷ recipe. Everything listens on 127.0.0.1; every process started here is stopped on exit
// (also on Ctrl-C/SIGTERM; and via PR_SET_PDEATHSIG, `setpriv --pdeathsig`, if this script dies).

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import {
    BASE,
    FONT_AWESOME_WOFF2,
    KATEX_FONTS,
    LOCALE_TEXT,
    MIME_TYPES,
    NODE_ID,
    ROBOTO,
    ROBOTO_DIR,
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
    nginxCommon,
    nginxTemps,
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
    stopAll,
    versions,
    waitFor,
    workerScript,
} from './lib/bbb-client.mjs';

const CHROMIUM = process.env.BCP_CHROMIUM || '/usr/bin/chromium';
const PLAYWRIGHT = path.join(ROOT, 'tests', 'e2e', 'node_modules', 'playwright-core', 'index.mjs');

const USAGE = `Usage: bench/pageload [options]
  --rounds N       alternating rounds (recipe, ours) per network after the cold load (default 5)
  --binary BIN     bbb-cluster-proxy to run (default build/bbb-cluster-proxy: \`make build\`)
  --network LIST   emulated networks, comma-separated DOWN/UP/RTT in Mbit/s and ms, or "none"
                   (no throttling) (default 5/2/100,20/5/40)
  --json           write the results as JSON to stdout (the tables go to stderr)
  --keep           leave the temp dir (configs, logs, the client files) and print its path
  --timeout S      a load not done after S seconds has stalled: it is reported and run again,
                   up to 3 times in all (default 60)
  --help`;

// ---------------------------------------------------------------------------------------------
// options

function parseOptions() {
    const { values } = parseArgs({
        options: {
            rounds: { type: 'string', default: '5' },
            binary: { type: 'string', default: path.join(ROOT, 'build', 'bbb-cluster-proxy') },
            network: { type: 'string', default: '5/2/100,20/5/40' },
            json: { type: 'boolean', default: false },
            keep: { type: 'boolean', default: false },
            timeout: { type: 'string', default: '60' },
            help: { type: 'boolean', default: false },
        },
        strict: true,
    });
    if (values.help) {
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
    }
    const rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1) {
        throw new Error(`--rounds: a whole number ≥ 1, not ${values.rounds}`);
    }
    const timeoutMs = Number(values.timeout) * 1000;
    if (!(timeoutMs > 0)) {
        throw new Error(`--timeout: seconds > 0, not ${values.timeout}`);
    }
    const networks = values.network.split(',').map((spec) => {
        if (spec === 'none') {
            return { name: 'no throttling (loopback)', spec, conditions: null };
        }
        const m = /^(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)\/(\d+)$/.exec(spec);
        if (!m) {
            throw new Error(`--network: DOWN/UP/RTT (Mbit/s, Mbit/s, ms) or none, not ${spec}`);
        }
        const [down, up, rtt] = [Number(m[1]), Number(m[2]), Number(m[3])];
        return {
            name: `${down} Mbit/s down, ${up} Mbit/s up, ${rtt} ms RTT`,
            spec,
            conditions: {
                offline: false,
                latency: rtt,
                downloadThroughput: (down * 1e6) / 8,
                uploadThroughput: (up * 1e6) / 8,
            },
        };
    });
    return { ...values, rounds, timeoutMs, networks, binary: path.resolve(values.binary) };
}

/// One GET with Node's own client (no pooling): {status, headers, body}.
function get(url, { ca, headers = {}, method = 'GET' } = {}) {
    const mod = url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
        const req = mod.request(url, { method, headers, ca, agent: false, timeout: 10_000 }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () =>
                resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
            );
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
        req.on('error', reject);
        req.end();
    });
}

// ---------------------------------------------------------------------------------------------
// the client: real minified code from Debian packages under hashed names (bench/lib/bbb-client.mjs)

/// The app's own start-up code (written here): runs last, exercises every library a little,
/// fetches the locale, starts the worker, waits for the fonts, then sets window.__loaded.
function appScript(cfg) {
    return `/* bench/pageload: the stand-in client's start-up code */
(function () {
  'use strict';
  var CFG = ${JSON.stringify(cfg)};
  function need(name, v) { if (!v) { throw new Error(name + ' did not load'); } return v; }
  async function main() {
    var $ = need('jQuery', window.jQuery);
    need('bootstrap', window.bootstrap); need('lodash', window._); need('moment', window.moment);
    need('d3', window.d3); need('Chart', window.Chart); need('Leaflet', window.L);
    need('KaTeX', window.katex); need('CodeMirror', window.CodeMirror);
    $('#joined').text('Joined ' + moment().format('LLL'));
    new bootstrap.Tooltip(document.getElementById('hint'));
    var counts = _.countBy(_.range(2000), function (n) { return n % 9; });
    d3.select('#bars').selectAll('div').data(_.values(counts)).enter().append('div')
      .style('width', function (d) { return d / 2 + 'px'; }).text(function (d) { return d; });
    new Chart(document.getElementById('chart'), { type: 'bar', options: { animation: false },
      data: { labels: _.keys(counts), datasets: [{ label: 'users', data: _.values(counts) }] } });
    L.map('map', { center: [52.52, 13.40], zoom: 11, zoomControl: false });
    katex.render('c = \\\\pm\\\\sqrt{a^2 + b^2}', document.getElementById('math'));
    CodeMirror(document.getElementById('editor'), { value: CFG.snippet, mode: 'javascript' });
    var locale = await fetch(CFG.locale).then(function (r) {
      if (!r.ok) { throw new Error('locale: HTTP ' + r.status); } return r.json(); });
    $('#title').text(locale['app.title']);
    var worker = new Worker(CFG.worker);
    var answer = await new Promise(function (resolve, reject) {
      worker.onmessage = function (e) { resolve(e.data); };
      worker.onerror = function (e) { reject(new Error('worker: ' + e.message)); };
      worker.postMessage(CFG.snippet);
    });
    void document.body.offsetHeight;
    await Promise.all(CFG.fonts.map(function (f) { return document.fonts.load(f); }));
    await document.fonts.ready;
    var faces = [];
    document.fonts.forEach(function (f) { if (f.status !== 'unloaded') { faces.push(f.family.replace(/["']/g, '') + ':' + f.status); } });
    var bad = faces.filter(function (f) { return !/:loaded$/.test(f); });
    if (bad.length) { throw new Error('fonts not loaded: ' + bad.join(', ')); }
    CFG.families.forEach(function (fam) {
      if (!faces.some(function (f) { return f.indexOf(fam + ':') === 0; })) { throw new Error('no ' + fam + ' face loaded'); }
    });
    window.__loadedAt = performance.now();
    window.__loadResult = { worker: answer, faces: faces.length, localeKeys: Object.keys(locale).length };
    window.__loaded = true;
  }
  main().catch(function (e) { window.__loadError = String((e && e.stack) || e); });
})();
`;
}

function appStyles(roboto) {
    return `/* bench/pageload: the stand-in client's own styles */
${robotoFaces(roboto)}
body { font-family: 'Roboto', 'Helvetica Neue', Arial, sans-serif; font-weight: 400; }
h1 { font-weight: 700; font-size: 1.6rem; }
.lead { font-weight: 500; }
#bars div { background: #2a6fb0; color: #fff; font-size: 10px; margin: 1px 0; padding-left: 2px; }
#map { height: 140px; border: 1px solid #ccc; }
#editor .CodeMirror { height: 80px; border: 1px solid #ccc; }
#chart { max-width: 480px; max-height: 200px; }
`;
}

function indexHtml(styles, scripts) {
    const links = styles.map((s) => `  <link rel="stylesheet" href="css/${s}">`).join('\n');
    const tags = scripts.map((s) => `  <script defer src="js/${s}"></script>`).join('\n');
    return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>BigBlueButton - bench/pageload stand-in client</title>
  <link rel="icon" href="data:,">
${links}
${tags}
</head>
<body>
  <main class="container-fluid">
    <h1 id="title">Loading…</h1>
    <p class="lead"><i class="fa fa-microphone"></i> <span id="joined"></span></p>
    <p><em>Italic text in Roboto.</em> <button id="hint" class="btn btn-sm btn-primary" title="A tooltip">?</button></p>
    <div id="math"></div>
    <div id="bars"></div>
    <canvas id="chart"></canvas>
    <div id="map"></div>
    <div id="editor"></div>
  </main>
</body>
</html>
`;
}

/// Writes the client into dir (BBB's layout: one directory aliased by the node's nginx) and
/// returns what it holds.
function buildClient(dir) {
    const { files, put: putPath } = clientWriter(dir); // files: {path (relative), bytes, kind, gz}
    const put = (...args) => path.basename(putPath(...args));

    // fonts first: the CSS refers to them
    for (const [src, rel] of clientFonts(fs.readdirSync(KATEX_FONTS).filter((n) => n.endsWith('.woff2')))) {
        put(rel, fs.readFileSync(src), 'font');
    }

    const styleNames = putVendorStyles(putPath).map((p) => path.basename(p));
    const own = appStyles(ROBOTO);
    styleNames.push(put(`css/${hashed('app', own, 'css')}`, own, 'css', true));

    const scriptNames = putVendorScripts(putPath).map((p) => path.basename(p));
    const worker = workerScript("/* bench/pageload: the worker's own code */");
    const workerName = put(`js/${hashed('worker', worker, 'js')}`, worker, 'js', true);
    put('locales/en.json', localeJson('BigBlueButton (bench/pageload)'), 'json');
    const app = appScript({
        worker: `js/${workerName}`,
        locale: 'locales/en.json',
        snippet: 'function greet(name) {\n  return `Hello, ${name}!`;\n}\nconsole.log(greet("BBB"));',
        fonts: [
            '400 16px Roboto',
            '500 16px Roboto',
            '700 16px Roboto',
            'italic 400 16px Roboto',
            '16px FontAwesome',
            '16px KaTeX_Main',
            'italic 16px KaTeX_Math',
        ],
        families: ['Roboto', 'FontAwesome', 'KaTeX_Main'],
    });
    scriptNames.push(put(`js/${hashed('app', app, 'js')}`, app, 'js'));
    put('index.html', indexHtml(styleNames, scriptNames), 'html');

    dateBack(dir, files);
    // What the page fetches (KaTeX ships 20 faces; only those a formula uses are requested).
    const sum = (list) => list.reduce((a, f) => a + f.bytes, 0);
    const jsCss = files.filter((f) => f.kind === 'js' || f.kind === 'css');
    return {
        files,
        scripts: scriptNames.length + 1, // + the worker
        styles: styleNames.length,
        js_css_bytes: sum(jsCss),
        precompressed_files: files.filter((f) => f.gz).length,
        precompressed_bytes: sum(files.filter((f) => f.gz)),
        font_files: files.filter((f) => f.kind === 'font').length,
        index: 'index.html',
        probe: `js/${scriptNames[0]}`,
    };
}

// ---------------------------------------------------------------------------------------------
// TLS: a throw-away CA and a leaf for 127.0.0.1/localhost (P-256, two days)

function makeTls(dir) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const f = (n) => path.join(dir, n);
    const run = (args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    fs.writeFileSync(
        f('ca.cnf'),
        '[req]\ndistinguished_name = dn\nx509_extensions = v3_ca\n[dn]\n' +
            '[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n' +
            'subjectKeyIdentifier = hash\n',
    );
    run(['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=bench-pageload throw-away CA',
        '-config', f('ca.cnf'), '-keyout', f('ca.key'), '-out', f('ca.pem')]);
    fs.writeFileSync(
        f('leaf.ext'),
        'basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n' +
            'extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n' +
            'authorityKeyIdentifier = keyid\n',
    );
    run(['req', '-new', ...ec, '-subj', '/CN=localhost', '-keyout', f('leaf.key'), '-out', f('leaf.csr')]);
    run(['x509', '-req', '-days', '2', '-sha256', '-in', f('leaf.csr'), '-CA', f('ca.pem'),
        '-CAkey', f('ca.key'), '-CAcreateserial', '-extfile', f('leaf.ext'), '-out', f('leaf.pem')]);
    fs.writeFileSync(f('chain.pem'), fs.readFileSync(f('leaf.pem'), 'utf8') + fs.readFileSync(f('ca.pem'), 'utf8'));
    const spki = new crypto.X509Certificate(fs.readFileSync(f('leaf.pem'))).publicKey.export({
        type: 'spki',
        format: 'der',
    });
    return {
        ca: fs.readFileSync(f('ca.pem')),
        chain: f('chain.pem'),
        key: f('leaf.key'),
        spki: crypto.createHash('sha256').update(spki).digest('base64'),
    };
}

// ---------------------------------------------------------------------------------------------
// configurations (written here, by hand)

/// The node: BBB's html5client location (alias, gzip_static) and Debian's stock gzip settings
/// (bench/lib/bbb-client.mjs), and the locales as a JSON directory listing.
function nodeConfig(dir, port, clientDir) {
    return bbbNodeConfig(dir, port, clientDir, {
        tag: 'pageload',
        logFormat: `    # One line per response: what went over the node link, and what asked for it.
    log_format pageload '$msec $status $bytes_sent $body_bytes_sent "$sent_http_content_encoding" '
                        '"$http_accept_encoding" "$http_via" "$request"';`,
        locations: `        location ${BASE}locales {
            alias ${clientDir}/locales;
            autoindex on;
            autoindex_format json;
        }
`,
    });
}

/// The recipe: nginx with TLS and HTTP/2 on the proxy host, the location block of the BBB cluster
/// docs (proxy_pass, HTTP/1.1 and the Upgrade headers for WebSockets), nothing else.
function recipeConfig(dir, port, nodePort, tls) {
    return `# bench/pageload: the hand-made recipe (generated)
${nginxCommon(dir)}
http {
    include ${MIME_TYPES};
    default_type application/octet-stream;
${nginxTemps(dir)}
    access_log off;

    server {
        listen 127.0.0.1:${port} ssl http2;
        ssl_certificate ${tls.chain};
        ssl_certificate_key ${tls.key};

        location ${BASE} {
            proxy_pass http://127.0.0.1:${nodePort};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "Upgrade";
        }
    }
}
`;
}

function oursConfig(port, adminPort, nodePort, tls) {
    const q = JSON.stringify; // a JSON string is a YAML double-quoted scalar
    return `# bench/pageload: bbb-cluster-proxy serve with its cache on (generated)
public_url: ${q(`https://127.0.0.1:${port}`)}
listen:
  - address: ${q(`127.0.0.1:${port}`)}
    tls: { certificate: ${q(tls.chain)}, private_key: ${q(tls.key)} }
nodes:
  - id: ${NODE_ID}
    url: ${q(`http://127.0.0.1:${nodePort}`)}
cache:
  enabled: true
admin:
  address: ${q(`127.0.0.1:${adminPort}`)}
workers: 1
timeouts:
  shutdown: 1s
log_level: warn
`;
}

// ---------------------------------------------------------------------------------------------
// the node's access log

function parseNodeLog(text) {
    const re = /^(\S+) (\d{3}) (\d+) (\d+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)"$/;
    const out = { requests: 0, bytes_sent: 0, body_bytes: 0, statuses: {}, encodings: {}, with_via: 0 };
    for (const line of text.split('\n')) {
        const m = re.exec(line);
        if (!m) {
            continue;
        }
        out.requests += 1;
        out.bytes_sent += Number(m[3]);
        out.body_bytes += Number(m[4]);
        out.statuses[m[2]] = (out.statuses[m[2]] ?? 0) + 1;
        const enc = m[5] === '-' || m[5] === '' ? 'none' : m[5];
        out.encodings[enc] = (out.encodings[enc] ?? 0) + 1;
        if (m[7] !== '-' && m[7] !== '') {
            out.with_via += 1; // nginx compresses nothing for these (gzip_proxied off)
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// one page load in a fresh browser context

async function loadPage(browser, url, network, nodeLog, timeoutMs) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
        const page = await context.newPage();
        const cdp = await context.newCDPSession(page);
        const responses = new Map(); // requestId -> {url, encoding, protocol, status, xcache, bytes}
        const failed = [];
        const sent = new Map(); // requestId -> url, for the diagnosis of a load that hangs
        cdp.on('Network.requestWillBeSent', ({ requestId, request }) => sent.set(requestId, request.url));
        cdp.on('Network.responseReceived', ({ requestId, response }) => {
            const h = Object.fromEntries(
                Object.entries(response.headers).map(([k, v]) => [k.toLowerCase(), v]),
            );
            responses.set(requestId, {
                url: response.url,
                status: response.status,
                protocol: response.protocol ?? '?',
                encoding: h['content-encoding'] || 'none',
                xcache: h['x-cache'] ?? null,
                bytes: null,
            });
        });
        cdp.on('Network.loadingFinished', ({ requestId, encodedDataLength }) => {
            const r = responses.get(requestId);
            if (r) {
                r.bytes = encodedDataLength;
            }
        });
        cdp.on('Network.loadingFailed', ({ requestId, errorText, canceled }) => {
            failed.push({ requestId, errorText, canceled, url: responses.get(requestId)?.url });
        });
        // A dedicated worker's own script is fetched on the worker's target, which this page
        // session does not see: Playwright reports it (and its headers); its size and protocol
        // come from the page's Resource Timing entry for it (transferSize: Chromium counts the
        // encoded body plus a flat 300 bytes for the headers).
        const pending = [];
        const others = new Map(); // url -> {status, encoding, xcache}
        context.on('requestfinished', (request) => {
            pending.push(
                (async () => {
                    const response = await request.response();
                    const h = response ? await response.allHeaders() : {};
                    others.set(request.url(), {
                        status: response?.status() ?? 0,
                        encoding: h['content-encoding'] || 'none',
                        xcache: h['x-cache'] ?? null,
                    });
                })().catch(() => {}),
            );
        });
        await cdp.send('Network.enable');
        await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
        if (network.conditions) {
            await cdp.send('Network.emulateNetworkConditions', network.conditions);
        }
        const logOffset = fs.statSync(nodeLog).size;
        await page.goto(url, { waitUntil: 'commit', timeout: timeoutMs });
        try {
            await page.waitForFunction(
                () =>
                    (window.__loaded === true &&
                        performance.getEntriesByType('navigation')[0]?.loadEventEnd > 0) ||
                    window.__loadError !== undefined,
                null,
                { timeout: timeoutMs, polling: 100 },
            );
        } catch (e) {
            // Say what it was waiting for: requests without a response, bodies not finished.
            const state = await page
                .evaluate(() => ({
                    loaded: window.__loaded === true,
                    loadEvent: performance.getEntriesByType('navigation')[0]?.loadEventEnd > 0,
                }))
                .catch(() => ({}));
            const noResponse = [...sent].filter(([id]) => !responses.has(id)).map(([, u]) => u);
            const noEnd = [...responses.values()].filter((r) => r.bytes === null).map((r) => r.url);
            const short = (u) => u.replace(/^https:\/\/[^/]+/, '');
            throw new Error(
                `${e.message.split('\n')[0]} (${url}: __loaded ${state.loaded}, load event ${state.loadEvent}; ` +
                    `no response: ${noResponse.map(short).join(' ') || 'none'}; ` +
                    `body not finished: ${noEnd.map(short).join(' ') || 'none'}; ` +
                    `failed: ${failed.map((f) => `${short(f.url ?? sent.get(f.requestId) ?? '?')} ${f.errorText}`).join(' ') || 'none'})`,
            );
        }
        const inPage = await page.evaluate(() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const fcp = performance.getEntriesByName('first-contentful-paint')[0];
            return {
                error: window.__loadError ?? null,
                loaded_ms: window.__loadedAt ?? null,
                result: window.__loadResult ?? null,
                load_ms: nav.loadEventStart,
                dcl_ms: nav.domContentLoadedEventStart,
                fcp_ms: fcp ? fcp.startTime : null,
                resources: performance.getEntriesByType('resource').map((r) => ({
                    url: r.name,
                    transferSize: r.transferSize,
                    protocol: r.nextHopProtocol,
                })),
            };
        });
        if (inPage.error) {
            throw new Error(`the page failed: ${inPage.error}`);
        }
        // The node logs a request when it has handed the last byte to the kernel; the browser
        // has them all by now. A moment for the log write of the last one.
        await delay(150);
        await Promise.all(pending);
        const node = parseNodeLog(readFrom(nodeLog, logOffset));
        const list = [...responses.values()];
        const seen = new Set(list.map((r) => r.url));
        for (const [url, o] of others) {
            if (!seen.has(url)) {
                const rt = inPage.resources.find((r) => r.url === url);
                list.push({
                    url,
                    status: o.status,
                    protocol: rt?.protocol || '?',
                    encoding: o.encoding,
                    xcache: o.xcache,
                    bytes: rt ? rt.transferSize : null,
                    seen_by: 'resource timing (worker target)',
                });
            }
        }
        const unfinished = list.filter((r) => r.bytes === null);
        const count = (key) =>
            list.reduce((acc, r) => {
                const k = r[key] ?? '-';
                acc[k] = (acc[k] ?? 0) + 1;
                return acc;
            }, {});
        const bytesBy = (key) =>
            list.reduce((acc, r) => {
                acc[r[key]] = (acc[r[key]] ?? 0) + (r.bytes ?? 0);
                return acc;
            }, {});
        return {
            loaded_ms: inPage.loaded_ms,
            load_ms: inPage.load_ms,
            dcl_ms: inPage.dcl_ms,
            fcp_ms: inPage.fcp_ms,
            requests: list.length,
            bytes: list.reduce((a, r) => a + (r.bytes ?? 0), 0),
            encodings: count('encoding'),
            bytes_by_encoding: bytesBy('encoding'),
            protocols: count('protocol'),
            x_cache: count('xcache'),
            statuses: count('status'),
            failed,
            unfinished: unfinished.map((r) => r.url),
            page_result: inPage.result,
            node,
            responses: list,
        };
    } finally {
        await context.close().catch(() => {});
    }
}

// ---------------------------------------------------------------------------------------------
// statistics and tables

/// Kilobytes (1000 B) for the tables: one decimal below 10 KB (a 304 is ~0.2 KB).
function kb(bytes) {
    if (bytes === null || bytes === undefined) {
        return '–';
    }
    return fmt(bytes / 1000, bytes < 10_000 && bytes > 0 ? 1 : 0);
}

function ratio(a, b) {
    return a !== null && b ? a / b : null;
}

function mergeCounts(loads, key) {
    // "gzip 22, none 7": the loads of one row normally agree; where they do not, a range.
    const keys = new Set(loads.flatMap((l) => Object.keys(l[key])));
    return [...keys]
        .sort()
        .map((k) => {
            const vals = loads.map((l) => l[key][k] ?? 0);
            const lo = Math.min(...vals);
            const hi = Math.max(...vals);
            return `${k} ${lo === hi ? lo : `${lo}–${hi}`}`;
        })
        .join(', ');
}

function summarise(loads) {
    return {
        loads: loads.length,
        loaded_ms: median(loads.map((l) => l.loaded_ms)),
        load_ms: median(loads.map((l) => l.load_ms)),
        fcp_ms: median(loads.map((l) => l.fcp_ms)),
        bytes: median(loads.map((l) => l.bytes)),
        node_bytes: median(loads.map((l) => l.node.bytes_sent)),
        node_requests: median(loads.map((l) => l.node.requests)),
        requests: median(loads.map((l) => l.requests)),
        protocols: mergeCounts(loads, 'protocols'),
        encodings: mergeCounts(loads, 'encodings'),
        x_cache: mergeCounts(loads, 'x_cache'),
        loaded_ms_each: loads.map((l) => l.loaded_ms),
    };
}

function table(rows) {
    const header =
        '| front end | loads | until __loaded ms | load event ms | first paint ms | KB to the browser | KB on the node link (node requests) | requests | protocol | Content-Encoding (responses) |';
    const sep = `|${'---|'.repeat(10)}`;
    const line = (label, s) =>
        `| ${label} | ${s.loads} | ${fmt(s.loaded_ms)} | ${fmt(s.load_ms)} | ${fmt(s.fcp_ms)} | ` +
        `${kb(s.bytes)} | ${kb(s.node_bytes)} (${fmt(s.node_requests)}) | ` +
        `${fmt(s.requests)} | ${s.protocols} | ${s.encodings} |`;
    const out = [header, sep];
    for (const [label, s] of rows) {
        out.push(line(label, s));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------

function checkPrerequisites(opts) {
    const problems = [];
    if (!fs.existsSync(opts.binary)) {
        problems.push(`${opts.binary} not found: build it (make build) or pass --binary`);
    }
    if (!fs.existsSync(PLAYWRIGHT)) {
        problems.push(`${PLAYWRIGHT} not found (bench/pageload-deps runs npm ci in tests/e2e)`);
    }
    for (const f of [CHROMIUM, MIME_TYPES, WORKER_LIB, FONT_AWESOME_WOFF2, LOCALE_TEXT, ROBOTO_DIR,
        KATEX_FONTS, ...SCRIPTS.map((s) => s[1]), ...STYLES.map((s) => s[1])]) {
        if (!fs.existsSync(f)) {
            problems.push(`${f} missing (bench/pageload-deps installs it)`);
        }
    }
    for (const cmd of ['nginx', 'openssl', 'setpriv']) {
        try {
            execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
        } catch {
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
    const { chromium } = await import(pathToFileURL(PLAYWRIGHT).href);

    const tmp = fs.mkdtempSync(path.join('/tmp', 'bcp-pageload-'));
    // nginx's workers run as its unprivileged user: they must reach the client files (the TLS
    // key stays in a 0700 directory, read by the master).
    fs.chmodSync(tmp, 0o755);
    let browser;
    let failed = false;
    let stopping = false;
    const onSignal = (sig) => {
        say(`\npageload: ${sig}, stopping`);
        failed = true;
        stopping = true;
        Promise.resolve(browser?.close())
            .catch(() => {})
            .then(stopAll)
            .finally(() => {
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
        const meta = { started: new Date().toISOString(), ...versions(), binary: opts.binary };
        meta.binary_mtime = fs.statSync(opts.binary).mtime.toISOString();

        say(`pageload: temp dir ${tmp}`);
        const clientDir = path.join(tmp, 'client');
        const client = buildClient(clientDir);
        say(
            `pageload: client: ${client.files.length} files, ${client.scripts} scripts + ` +
                `${client.styles} style sheets = ${fmt(client.js_css_bytes / 1e6, 2)} MB of JS/CSS, ` +
                `${client.precompressed_files} with a .gz sibling (${fmt(client.precompressed_bytes / 1e6, 2)} MB)`,
        );
        const tls = makeTls(path.join(tmp, 'tls'));

        const [nodePort, recipePort, oursPort, adminPort] = [
            await freePort(),
            await freePort(),
            await freePort(),
            await freePort(),
        ];
        const dirs = {};
        for (const d of ['node', 'recipe', 'ours']) {
            dirs[d] = path.join(tmp, d);
            fs.mkdirSync(path.join(dirs[d], 'tmp'), { recursive: true });
        }
        const nodeConf = path.join(dirs.node, 'nginx.conf');
        fs.writeFileSync(nodeConf, nodeConfig(dirs.node, nodePort, clientDir));
        const recipeConf = path.join(dirs.recipe, 'nginx.conf');
        fs.writeFileSync(recipeConf, recipeConfig(dirs.recipe, recipePort, nodePort, tls));
        const oursConf = path.join(dirs.ours, 'config.yaml');
        fs.writeFileSync(oursConf, oursConfig(oursPort, adminPort, nodePort, tls));
        const nodeLog = path.join(dirs.node, 'access.log');

        // nginx's own messages and its error_log go to one file.
        const nodeProc = startNginx('node', dirs.node, nodeConf);
        const nodeOrigin = `http://127.0.0.1:${nodePort}`;
        await waitFor('the node', async () => (await get(`${nodeOrigin}${BASE}`)).status === 200, 20_000, nodeProc);

        const recipeProc = startNginx('recipe', dirs.recipe, recipeConf);
        const recipeOrigin = `https://127.0.0.1:${recipePort}`;
        await waitFor(
            'the recipe nginx',
            async () => (await get(`${recipeOrigin}${BASE}`, { ca: tls.ca })).status === 200,
            20_000,
            recipeProc,
        );

        const ready = path.join(dirs.ours, 'ready.json');
        const oursProc = startProcess(
            'ours',
            [opts.binary, 'serve', '--config', oursConf, '--ready-file', ready],
            path.join(dirs.ours, 'serve.log'),
        );
        await waitFor('bbb-cluster-proxy serve', () => fs.existsSync(ready), 30_000, oursProc);
        const oursOrigin = `https://127.0.0.1:${oursPort}`;
        const adminOrigin = `http://127.0.0.1:${adminPort}`;

        // Both front ends must hand out the node's bytes before anything is timed.
        const probe = fs.readFileSync(path.join(clientDir, client.probe));
        for (const [label, origin] of [['recipe', recipeOrigin], ['ours', oursOrigin]]) {
            const r = await get(`${origin}${BASE}${client.probe}`, {
                ca: tls.ca,
                headers: { 'accept-encoding': 'identity' },
            });
            if (r.status !== 200 || !r.body.equals(probe)) {
                throw new Error(`${label}: ${BASE}${client.probe} is not the node's file (HTTP ${r.status})`);
            }
        }
        fs.writeFileSync(nodeLog, ''); // the probes are not part of any load

        // A fresh browser per load (its own temporary --user-data-dir: nothing cached, nothing
        // pooled, no state carried from one load to the next).
        const launch = () =>
            chromium.launch({
                executablePath: CHROMIUM,
                headless: true,
                // As the browser tests (tests/e2e/harness.mjs); trust exactly our one leaf key.
                args: [
                    '--headless',
                    '--no-sandbox',
                    '--disable-gpu',
                    '--disable-quic',
                    '--disable-background-networking',
                    '--disable-component-update',
                    '--disable-sync',
                    '--no-first-run',
                    `--ignore-certificate-errors-spki-list=${tls.spki}`,
                ],
                timeout: 60_000,
            });
        browser = await launch();
        meta.chromium = browser.version();
        await browser.close();
        browser = null;

        const frontEnds = {
            recipe: { label: 'nginx recipe (listen ssl http2; proxy_pass)', url: `${recipeOrigin}${BASE}` },
            ours: { label: 'bbb-cluster-proxy serve, cache on', url: `${oursOrigin}${BASE}` },
        };
        const purge = async () => {
            const r = await get(`${adminOrigin}/cache/purge`, { method: 'POST' });
            if (r.status !== 200) {
                throw new Error(`cache purge: HTTP ${r.status}`);
            }
        };
        const loads = [];
        const stalls = []; // loads that did not finish within --timeout (retried, and reported)
        const ATTEMPTS = 3;
        const one = async (network, fe, phase, round) => {
            let r;
            for (let attempt = 1; !r; attempt += 1) {
                if (phase === 'cold') {
                    await purge(); // a retried cold load must start from an empty cache again
                }
                browser = await launch();
                try {
                    r = await loadPage(browser, frontEnds[fe].url, network, nodeLog, opts.timeoutMs);
                } catch (e) {
                    if (stopping || attempt >= ATTEMPTS) {
                        throw e;
                    }
                    const error = e.message.split('\n')[0];
                    stalls.push({ network: network.spec, front_end: fe, phase, round, attempt, error });
                    say(`  ${network.spec.padEnd(9)} ${`${fe} ${phase}`.padEnd(12)} round ${String(round).padStart(2)}: ` +
                        `STALLED, trying again: ${error}`);
                } finally {
                    await browser.close().catch(() => {});
                    browser = null;
                }
            }
            const entry = { network: network.spec, front_end: fe, phase, round, ...r };
            loads.push(entry);
            const issues = [];
            if (r.failed.length) {
                issues.push(`${r.failed.length} failed: ${r.failed.map((f) => `${f.url} ${f.errorText}`).join('; ')}`);
            }
            if (r.unfinished.length) {
                issues.push(`${r.unfinished.length} unfinished`);
            }
            say(
                `  ${network.spec.padEnd(9)} ${`${fe} ${phase}`.padEnd(12)} round ${String(round).padStart(2)}: ` +
                    `__loaded ${fmt(r.loaded_ms).padStart(6)} ms, load ${fmt(r.load_ms).padStart(6)} ms, ` +
                    `${kb(r.bytes).padStart(5)} KB in ${r.requests} responses ` +
                    `(${Object.entries(r.encodings).map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
                    `${Object.entries(r.protocols).map(([k, v]) => `${k} ${v}`).join(', ')}), ` +
                    `node ${kb(r.node.bytes_sent)} KB in ${r.node.requests} (${r.node.with_via} with Via)` +
                    `${issues.length ? ` !! ${issues.join('; ')}` : ''}`,
            );
            return entry;
        };

        say(`pageload: ${opts.rounds} rounds per network; chromium ${meta.chromium}`);
        for (const network of opts.networks) {
            await one(network, 'ours', 'cold', 0); // purges the cache first
            for (let round = 1; round <= opts.rounds; round += 1) {
                await one(network, 'recipe', 'warm', round);
                await one(network, 'ours', 'warm', round);
            }
        }
        meta.finished = new Date().toISOString();
        meta.load_average_end = os.loadavg().map((x) => x.toFixed(2)).join(' ');

        // ----- report
        const summaries = [];
        report('');
        report(
            `bench/pageload, ${meta.started.slice(0, 16).replace('T', ' ')} UTC, commit ${meta.git}` +
                `${meta.src_uncommitted_files ? ` (+${meta.src_uncommitted_files} uncommitted files in src/)` : ''}, ` +
                `${meta.cpus}, load average ${meta.load_average} → ${meta.load_average_end}`,
        );
        report(`${meta.nginx}; chromium ${meta.chromium}; node ${meta.node}; binary ${meta.binary} (${meta.binary_mtime})`);
        report(
            `client: ${client.scripts} scripts + ${client.styles} style sheets, ${fmt(client.js_css_bytes / 1e6, 2)} MB ` +
                `of JS/CSS (${client.precompressed_files} files with a .gz sibling), woff2 fonts, a locale JSON, a worker; ` +
                `${opts.rounds} rounds (recipe, ours) per network after one cold load through ours; medians`,
        );
        for (const network of opts.networks) {
            const of = (fe, phase) =>
                loads.filter((l) => l.network === network.spec && l.front_end === fe && l.phase === phase);
            const recipe = summarise(of('recipe', 'warm'));
            const cold = summarise(of('ours', 'cold'));
            const warm = summarise(of('ours', 'warm'));
            const ratios = (s) => ({
                loaded: ratio(s.loaded_ms, recipe.loaded_ms),
                load: ratio(s.load_ms, recipe.load_ms),
                fcp: ratio(s.fcp_ms, recipe.fcp_ms),
                bytes: ratio(s.bytes, recipe.bytes),
            });
            const summary = {
                network: network.spec,
                name: network.name,
                recipe,
                ours_cold: cold,
                ours_warm: warm,
                ratio_warm: ratios(warm),
                ratio_cold: ratios(cold),
            };
            summaries.push(summary);
            report('');
            report(`### ${network.name}`);
            report('');
            for (const l of table([
                [frontEnds.recipe.label, recipe],
                [`${frontEnds.ours.label}: cold (first load, fills the cache)`, cold],
                [`${frontEnds.ours.label}: warm (cache hits)`, warm],
            ])) {
                report(l);
            }
            const r = (x) => fmt(x, 2);
            report(
                `| ours warm ÷ recipe | | ${r(summary.ratio_warm.loaded)} | ${r(summary.ratio_warm.load)} | ` +
                    `${r(summary.ratio_warm.fcp)} | ${r(summary.ratio_warm.bytes)} | | | | |`,
            );
            report(
                `| ours cold ÷ recipe | | ${r(summary.ratio_cold.loaded)} | ${r(summary.ratio_cold.load)} | ` +
                    `${r(summary.ratio_cold.fcp)} | ${r(summary.ratio_cold.bytes)} | | | | |`,
            );
            report('');
            report(
                `until __loaded per load (ms): recipe ${recipe.loaded_ms_each.map((x) => fmt(x)).join(', ')}; ` +
                    `ours cold ${cold.loaded_ms_each.map((x) => fmt(x)).join(', ')}; ` +
                    `ours warm ${warm.loaded_ms_each.map((x) => fmt(x)).join(', ')}`,
            );
            report(
                `X-Cache: ours cold ${cold.x_cache}; ours warm ${warm.x_cache}. Node requests with Via: ` +
                    `recipe ${median(of('recipe', 'warm').map((l) => l.node.with_via))}, ` +
                    `ours ${median(of('ours', 'cold').map((l) => l.node.with_via))} (cold)`,
            );
        }
        const problems = loads.filter((l) => l.failed.length || l.unfinished.length);
        report('');
        report(problems.length ? `${problems.length} loads had failed or unfinished requests (see above)` : 'No failed requests.');
        if (stalls.length) {
            report(`${stalls.length} loads stalled (not loaded within ${opts.timeoutMs / 1000} s) and were run again:`);
            for (const st of stalls) {
                report(`  ${st.network} ${st.front_end} ${st.phase} round ${st.round}: ${st.error}`);
            }
        }

        if (opts.json) {
            const out = {
                meta,
                client: { ...client, files: client.files },
                networks: opts.networks,
                rounds: opts.rounds,
                stalls,
                summary: summaries,
                loads,
            };
            process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        }
    } catch (e) {
        failed = true;
        if (stopping) {
            return; // the signal handler cleans up and exits
        }
        // Playwright appends the browser's whole log to its messages: the first lines say it.
        say(`pageload: ${e.message.split('\n').slice(0, 6).join('\n')}`);
        const tails = logTails(10);
        if (tails) {
            say(tails);
        }
    } finally {
        await browser?.close().catch(() => {});
        await stopAll();
        if (opts.keep) {
            say(`pageload: kept ${tmp}`);
        } else {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }
    process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
    say(`pageload: ${e.message}`);
    process.exitCode = 2;
});
