// bench/lib/bbb-client.mjs: what bench/pageload and bench/codings share. The BBB-like HTML5
// client assembled from Debian's libjs-*/fonts-* packages (sources, hashed names, .gz siblings for
// gzip_static, files dated back), the node's nginx configuration as BBB sets up a node's
// html5client, child processes (each in its own process group, stopped on exit), free ports,
// waiting, reading the node's log from an offset, the output channels and a few statistics.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NODE_ID = 'bbb-01';
export const BASE = `/${NODE_ID}/html5client/`;
export const MIME_TYPES = '/etc/nginx/mime.types';
// Files are dated this far back (a node's client was installed some time ago; it also gives
// unhashed files without Cache-Control a heuristic freshness, as on a real node).
export const FILE_AGE_S = 30 * 24 * 3600;

// ---------------------------------------------------------------------------------------------
// output: progress to stderr; the tables to stdout, or to stderr when stdout carries the JSON

let jsonMode = false;
export function setJsonMode(on) {
    jsonMode = Boolean(on);
}
export function say(text = '') {
    process.stderr.write(`${text}\n`);
}
export function report(text = '') {
    (jsonMode ? process.stderr : process.stdout).write(`${text}\n`);
}

// ---------------------------------------------------------------------------------------------
// processes: every one in its own process group, SIGTERM to the group when done

export const children = [];

export function startProcess(name, argv, logPath) {
    const out = fs.openSync(logPath, 'a');
    // setpriv execs argv with PR_SET_PDEATHSIG: if the script is killed outright, the child
    // (nginx master, the proxy) still gets SIGTERM. detached: its own process group, so nginx's
    // workers are stopped with their master.
    const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', ...argv], {
        stdio: ['ignore', out, out],
        detached: true,
    });
    fs.closeSync(out);
    const entry = { name, child, logPath, status: null };
    entry.exited = new Promise((resolve) => {
        child.once('exit', (code, signal) => {
            entry.status = { code, signal };
            resolve(entry.status);
        });
        child.once('error', (error) => {
            entry.status = { code: null, signal: null, error };
            resolve(entry.status);
        });
    });
    children.push(entry);
    return entry;
}

/// nginx with its prefix in dir; its own messages and its error_log go to one file.
export function startNginx(name, dir, conf) {
    const log = path.join(dir, 'error.log');
    return startProcess(name, ['nginx', '-p', dir, '-e', log, '-c', conf], log);
}

export const alive = (entry) => entry.status === null;

function signalGroup(entry, signal) {
    try {
        process.kill(-entry.child.pid, signal);
    } catch {
        /* already gone */
    }
}

export async function stop(entry) {
    if (!alive(entry)) {
        return;
    }
    signalGroup(entry, 'SIGTERM');
    const t = delay(10_000).then(() => 'timeout');
    if ((await Promise.race([entry.exited, t])) === 'timeout') {
        signalGroup(entry, 'SIGKILL');
        await entry.exited;
    }
}

export async function stopAll() {
    await Promise.all(children.filter(alive).map(stop));
}

process.on('exit', () => {
    // Last resort (an exception path that skipped stopAll): never leave servers behind.
    for (const entry of children.filter(alive)) {
        signalGroup(entry, 'SIGKILL');
    }
});

export function logTail(entry, lines = 20) {
    try {
        return fs
            .readFileSync(entry.logPath, 'utf8')
            .trimEnd()
            .split('\n')
            .filter(Boolean)
            .slice(-lines)
            .map((l) => `  [${entry.name}] ${l}`)
            .join('\n');
    } catch {
        return '';
    }
}

/// The last lines of every process' log, for an error report.
export const logTails = (lines) => children.map((c) => logTail(c, lines)).filter(Boolean).join('\n');

export async function waitFor(what, probe, timeoutMs = 20_000, entry = null) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        if (entry && !alive(entry)) {
            throw new Error(`${entry.name} exited before it was ready:\n${logTail(entry)}`);
        }
        try {
            const v = await probe();
            if (v) {
                return v;
            }
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
        }
        await delay(50);
    }
}

export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/// A file's text from offset on (the node's access log since a load or turn began).
export function readFrom(file, offset) {
    const size = fs.statSync(file).size;
    if (size <= offset) {
        return '';
    }
    const fd = fs.openSync(file, 'r');
    try {
        const buf = Buffer.alloc(size - offset);
        fs.readSync(fd, buf, 0, buf.length, offset);
        return buf.toString('utf8');
    } finally {
        fs.closeSync(fd);
    }
}

// ---------------------------------------------------------------------------------------------
// the client: real minified code from Debian packages under hashed names

// [name, source file, precompressed (.gz sibling for gzip_static)] in the order the page runs them.
export const SCRIPTS = [
    ['vendor-jquery', '/usr/share/javascript/jquery/jquery.min.js', true],
    ['vendor-bootstrap', '/usr/share/javascript/bootstrap5/js/bootstrap.bundle.min.js', true],
    ['vendor-lodash', '/usr/share/javascript/lodash/lodash.min.js', true],
    ['vendor-moment', '/usr/share/javascript/moment/moment.min.js', true],
    ['vendor-d3', '/usr/share/javascript/d3/d3.min.js', true],
    ['chart', '/usr/share/javascript/chart.js/chart.min.js', false],
    ['leaflet', '/usr/share/javascript/leaflet/leaflet.min.js', false],
    ['katex', '/usr/share/javascript/katex/katex.min.js', false],
    ['codemirror', '/usr/share/javascript/codemirror/lib/codemirror.js', false],
    ['codemirror-javascript', '/usr/share/javascript/codemirror/mode/javascript/javascript.js', false],
    ['codemirror-css', '/usr/share/javascript/codemirror/mode/css/css.js', false],
    ['codemirror-xml', '/usr/share/javascript/codemirror/mode/xml/xml.js', false],
];
export const STYLES = [
    ['bootstrap', '/usr/share/javascript/bootstrap5/css/bootstrap.min.css', true],
    ['katex', '/usr/share/javascript/katex/katex.min.css', false], // its fonts: css/fonts/
    ['leaflet', '/usr/share/javascript/leaflet/leaflet.css', false],
    ['codemirror', '/usr/share/javascript/codemirror/lib/codemirror.css', false],
    ['font-awesome', '/usr/share/fonts-font-awesome/css/font-awesome.min.css', false], // ../fonts/
];
export const WORKER_LIB = '/usr/share/javascript/highlight.js/highlight.min.js';
export const ROBOTO_DIR = '/usr/share/fonts-roboto-fontface/fonts/roboto';
export const ROBOTO = [
    // [file, weight, style]
    ['Roboto-Regular.woff2', 400, 'normal'],
    ['Roboto-Medium.woff2', 500, 'normal'],
    ['Roboto-Bold.woff2', 700, 'normal'],
    ['Roboto-RegularItalic.woff2', 400, 'italic'],
];
export const FONT_AWESOME_WOFF2 = '/usr/share/fonts-font-awesome/fonts/fontawesome-webfont.woff2';
export const KATEX_FONTS = '/usr/share/javascript/katex/fonts';
export const LOCALE_TEXT = '/usr/share/common-licenses/GPL-3';

export function hashed(name, content, ext) {
    const h = crypto.createHash('sha256').update(content).digest('hex').slice(0, 16);
    return `${name}.${h}.${ext}`;
}

export function readSource(file) {
    // Source-map comments are dropped: the browser would not fetch the maps anyway (no DevTools
    // front end), but a 404 in the node's log would only confuse.
    return fs.readFileSync(file, 'utf8').replace(/\n?\/[/*]# sourceMappingURL=[^\n]*/g, '');
}

/// A client being written into dir (BBB's layout: one directory aliased by the node's nginx):
/// {files: [{path (relative), bytes, kind, gz, gz_bytes}], put(rel, content, kind, gz) -> rel}.
/// gz: a .gz sibling (gzip -9) for gzip_static, as BBB ships some files.
export function clientWriter(dir) {
    const files = [];
    const put = (rel, content, kind, gz = false) => {
        const full = path.join(dir, rel);
        fs.mkdirSync(path.dirname(full), { recursive: true });
        fs.writeFileSync(full, content);
        const entry = { path: rel, bytes: fs.statSync(full).size, kind, gz: false };
        if (gz) {
            const packed = zlib.gzipSync(fs.readFileSync(full), { level: 9 });
            fs.writeFileSync(`${full}.gz`, packed);
            entry.gz = true;
            entry.gz_bytes = packed.length;
        }
        files.push(entry);
        return rel;
    };
    return { files, put };
}

/// The library files of list (STYLES or SCRIPTS) as ext/NAME.HASH.ext, in page order; returns
/// their paths.
const putVendor = (put, list, ext) =>
    list.map(([name, src, gz]) => {
        const text = readSource(src);
        return put(`${ext}/${hashed(name, text, ext)}`, text, ext, gz);
    });
export const putVendorStyles = (put) => putVendor(put, STYLES, 'css');
export const putVendorScripts = (put) => putVendor(put, SCRIPTS, 'js');

/// The woff2 fonts as [source, path in the client]: Roboto's four faces and FontAwesome under
/// fonts/, and the KaTeX faces named (file names in KATEX_FONTS) under css/fonts/.
export const clientFonts = (katexFaces) => [
    ...ROBOTO.map(([file]) => [path.join(ROBOTO_DIR, file), `fonts/${file}`]),
    [FONT_AWESOME_WOFF2, 'fonts/fontawesome-webfont.woff2'],
    ...katexFaces.map((f) => [path.join(KATEX_FONTS, f), `css/fonts/${f}`]),
];

/// The @font-face rules for the Roboto faces (relative to css/), one a line.
export const robotoFaces = (roboto = ROBOTO) =>
    roboto
        .map(
            ([file, weight, style]) =>
                `@font-face { font-family: 'Roboto'; font-style: ${style}; font-weight: ${weight}; ` +
                `font-display: swap; src: url(../fonts/${file}) format('woff2'); }`,
        )
        .join('\n');

/// The worker: highlight.js (846 KB minified) does the work a client's worker would do off the
/// main thread; header, if given, is a comment line before the worker's own code.
export function workerScript(header = null) {
    return `${readSource(WORKER_LIB)}
${header ? `${header}\n` : ''}self.onmessage = function (e) {
  var r = hljs.highlightAuto(String(e.data));
  self.postMessage({ language: r.language, html: r.value.length });
};
`;
}

/// The locale JSON: the title, then one key a non-empty line of LOCALE_TEXT.
export function localeJson(title) {
    const lines = fs
        .readFileSync(LOCALE_TEXT, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
    const out = { 'app.title': title };
    lines.forEach((l, i) => {
        out[`app.text.${String(i).padStart(4, '0')}`] = l;
    });
    return `${JSON.stringify(out, null, 2)}\n`;
}

/// Dates the files back FILE_AGE_S, .gz siblings with the same time as their originals (as nginx
/// recommends).
export function dateBack(dir, files) {
    const when = new Date(Date.now() - FILE_AGE_S * 1000);
    for (const f of files) {
        fs.utimesSync(path.join(dir, f.path), when, when);
        if (f.gz) {
            fs.utimesSync(path.join(dir, `${f.path}.gz`), when, when);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// nginx configurations

export function nginxCommon(dir) {
    return `daemon off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
worker_processes 1;
events { worker_connections 1024; }
`;
}

export function nginxTemps(dir) {
    // nginx creates these (owned by its worker user) at start.
    const t = (d) => path.join(dir, 'tmp', d);
    return `    client_body_temp_path ${t('body')};
    proxy_temp_path ${t('proxy')};
    fastcgi_temp_path ${t('fastcgi')};
    uwsgi_temp_path ${t('uwsgi')};
    scgi_temp_path ${t('scgi')};`;
}

/// The node: BBB's html5client location (alias, gzip_static) and Debian's stock gzip settings,
/// 1 worker, plain HTTP on 127.0.0.1:port. tag: the script's name (the log format's and the
/// map's). logFormat: the `log_format TAG …;` lines (the access log is dir/access.log).
/// httpExtra: lines for the http block; locations: more location blocks in the server.
export function nodeConfig(dir, port, clientDir, { tag, logFormat, httpExtra = '', locations = '' }) {
    return `# bench/${tag}: the BBB node (generated)
${nginxCommon(dir)}
http {
    include ${MIME_TYPES};
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
${httpExtra}${nginxTemps(dir)}
${logFormat}
    access_log ${path.join(dir, 'access.log')} ${tag};

    # As on a BBB node (Debian/Ubuntu nginx.conf): gzip on, the stock gzip_types list; gzip_proxied
    # stays at its default (off): no compression for requests that carry Via. gzip_comp_level 1.
    gzip on;
    gzip_types text/plain text/css application/json application/javascript text/xml
               application/xml application/xml+rss text/javascript;

    # Hashed assets and fonts: cached for a year; the index page: revalidated on every use.
    map $uri $${tag}_expires {
        default                                  off;
        "~\\.[0-9a-f]{16}\\.(js|css)$"            1y;
        "~\\.woff2$"                              1y;
        "~/$"                                    -1;
        "~/index\\.html$"                         -1;
    }

    server {
        listen 127.0.0.1:${port};
        server_name ${NODE_ID};

        location ${BASE} {
            gzip_static on;
            alias ${clientDir}/;
            index index.html;
            try_files $uri $uri/ =404;
            expires $${tag}_expires;
        }

${locations}    }
}
`;
}

// ---------------------------------------------------------------------------------------------
// statistics, numbers, the run's surroundings

export function median(xs) {
    const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
    if (v.length === 0) {
        return null;
    }
    const m = Math.floor(v.length / 2);
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function fmt(x, digits = 0) {
    if (x === null || x === undefined || !Number.isFinite(x)) {
        return '–';
    }
    return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function versions() {
    const v = {};
    v.nginx = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace(/^nginx version: /, '');
    try {
        v.git = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
        const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], {
            encoding: 'utf8',
        }).trim();
        v.src_uncommitted_files = dirty ? dirty.split('\n').length : 0;
    } catch {
        v.git = '?';
    }
    v.node = process.version;
    v.load_average = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    v.cpus = `${os.cpus()[0]?.model ?? '?'} (${os.cpus().length} cores)`;
    return v;
}
