// Process and browser plumbing for the browser tests (proxy.test.mjs): starts the real binary
// (`demo-node`, `serve`), waits for its ready file with a deadline (never a fixed sleep), keeps its
// output in the artefact directory, and stops everything it started, even after a failure.
//
// Environment:
//   BCP_BINARY     the bbb-cluster-proxy binary (default: the newest build*/bbb-cluster-proxy)
//   BCP_ARTIFACTS  where screenshots and process logs go (default: <binary's dir>/e2e-artifacts)
//   BCP_CHROMIUM   the browser (default: /usr/bin/chromium, Debian's package)

import { spawn, execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceDir = path.resolve(here, '..', '..');

// Generous: `make test` runs an ASan/UBSan build, whose start alone takes a second or two, on a
// machine whose two cores are shared with compilers.
export const READY_TIMEOUT_MS = 30_000;
export const EXIT_TIMEOUT_MS = 15_000;
export const UI_TIMEOUT_MS = 20_000;

function newestBuiltBinary() {
    const candidates = fs
        .readdirSync(sourceDir)
        .filter((d) => d.startsWith('build'))
        .map((d) => path.join(sourceDir, d, 'bbb-cluster-proxy'))
        .filter((f) => fs.existsSync(f))
        .map((f) => ({ f, mtime: fs.statSync(f).mtimeMs }))
        .sort((a, b) => b.mtime - a.mtime);
    return candidates.length > 0 ? candidates[0].f : null;
}

export function binaryPath() {
    const bin = process.env.BCP_BINARY || newestBuiltBinary();
    if (!bin || !fs.existsSync(bin)) {
        throw new Error(
            `bbb-cluster-proxy binary not found (${bin ?? 'no build*/bbb-cluster-proxy'}); ` +
                'build it and/or set BCP_BINARY',
        );
    }
    return path.resolve(bin);
}

export function artifactsDir() {
    const dir = process.env.BCP_ARTIFACTS || path.join(path.dirname(binaryPath()), 'e2e-artifacts');
    fs.mkdirSync(dir, { recursive: true });
    return path.resolve(dir);
}

export const chromiumPath = process.env.BCP_CHROMIUM || '/usr/bin/chromium';

/// DESIGN.md §7 plus: no QUIC, fake capture devices. Deliberately NOT
/// --use-fake-ui-for-media-stream: it accepts every permission prompt, so a page on an origin we
/// never granted would get the camera too and the permission assertions would prove nothing.
export const chromiumArgs = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    '--use-fake-device-for-media-stream',
];

/// A free loopback TCP port, chosen by the kernel. Used for the proxy because its public_url must
/// name the port before the proxy starts; if another process takes the port in between, the proxy
/// fails to bind and start() reports its exit.
export async function freePort() {
    const server = net.createServer();
    await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address();
    await new Promise((resolve) => server.close(resolve));
    return port;
}

/// Polls `probe` until it returns something other than undefined/null/false, or the deadline
/// passes (`what` names the awaited thing in the error). An error thrown by the probe counts as
/// "not yet" unless it has `fatal: true`, which ends the wait at once.
export async function waitFor(probe, { timeoutMs, what, intervalMs = 50 }) {
    const deadline = Date.now() + timeoutMs;
    let lastError;
    for (;;) {
        try {
            const value = await probe();
            if (value !== undefined && value !== null && value !== false) {
                return value;
            }
        } catch (e) {
            if (e.fatal) {
                throw e;
            }
            lastError = e;
        }
        if (Date.now() > deadline) {
            const why = lastError ? ` (last error: ${lastError.message})` : '';
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
        }
        await delay(intervalMs);
    }
}

/// Every process a suite starts, so after() can stop them whatever happened.
export class ProcessGroup {
    constructor(logDir, prefix) {
        this.logDir = logDir;
        this.prefix = prefix;
        this.children = new Map(); // name -> { child, exited: Promise<{code, signal}>, log }
        // Last resort if the test process itself dies: never leave servers behind.
        this.onExit = () => {
            for (const { child } of this.children.values()) {
                if (child.exitCode === null && child.signalCode === null) {
                    try {
                        child.kill('SIGKILL');
                    } catch {
                        /* already gone */
                    }
                }
            }
        };
        process.on('exit', this.onExit);
    }

    /// Starts `bbb-cluster-proxy ...args --ready-file F` and resolves with the parsed ready file.
    async start(name, args, { readyFile, timeoutMs = READY_TIMEOUT_MS } = {}) {
        const log = path.join(this.logDir, `${this.prefix}-${name}.log`);
        const out = fs.openSync(log, 'w');
        const child = spawn(binaryPath(), [...args, '--ready-file', readyFile], {
            stdio: ['ignore', out, out],
        });
        fs.closeSync(out);
        const exited = new Promise((resolve) => {
            child.once('exit', (code, signal) => resolve({ code, signal }));
            child.once('error', (error) => resolve({ code: null, signal: null, error }));
        });
        this.children.set(name, { child, exited, log });
        let status;
        exited.then((s) => {
            status = s;
        });
        const ready = await waitFor(
            async () => {
                if (status) {
                    const how =
                        status.error?.message ?? `code ${status.code}, signal ${status.signal}`;
                    const error = new Error(
                        `${name} exited before it was ready (${how}):\n${this.tail(name)}`,
                    );
                    error.fatal = true;
                    throw error;
                }
                try {
                    return JSON.parse(await fsp.readFile(readyFile, 'utf8'));
                } catch (e) {
                    if (e.code === 'ENOENT') {
                        return undefined;
                    }
                    throw e;
                }
            },
            { timeoutMs, what: `${name} to write ${readyFile}` },
        );
        return ready;
    }

    pid(name) {
        return this.children.get(name)?.child.pid;
    }

    /// Sends `signal` to one process we started and waits for it to end; resolves with
    /// {code, signal}. Escalates to SIGKILL after the deadline (and then rejects).
    async stop(name, signal = 'SIGTERM', timeoutMs = EXIT_TIMEOUT_MS) {
        const entry = this.children.get(name);
        if (!entry) {
            throw new Error(`no process named ${name}`);
        }
        const { child, exited } = entry;
        if (child.exitCode === null && child.signalCode === null) {
            child.kill(signal);
        }
        let timer;
        const timedOut = new Promise((resolve) => {
            timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        const result = await Promise.race([exited, timedOut]);
        clearTimeout(timer);
        if (result === 'timeout') {
            child.kill('SIGKILL');
            await exited;
            throw new Error(`${name} did not exit within ${timeoutMs} ms of ${signal}`);
        }
        return result;
    }

    /// Stops every process still running (SIGTERM, then SIGKILL), for after() hooks.
    async stopAll() {
        const names = [...this.children.keys()];
        await Promise.allSettled(names.map((n) => this.stop(n, 'SIGTERM')));
        process.off('exit', this.onExit);
    }

    /// The last lines a process wrote, for failure messages.
    tail(name, lines = 30) {
        const entry = this.children.get(name);
        if (!entry) {
            return '';
        }
        try {
            const text = fs.readFileSync(entry.log, 'utf8').trimEnd().split('\n');
            return text
                .slice(-lines)
                .map((l) => `  [${name}] ${l}`)
                .join('\n');
        } catch {
            return '';
        }
    }

    tails() {
        return [...this.children.keys()]
            .map((n) => this.tail(n))
            .filter(Boolean)
            .join('\n');
    }
}

/// Runs the openssl CLI: `words` is a space-separated option string, `files` maps options to
/// paths (kept apart so that a path with a space stays one argument).
function openssl(words, files) {
    const args = [...words.split(' '), ...Object.entries(files).flat()];
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const P256 = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';

/// A throw-away CA and a leaf for localhost / 127.0.0.1 signed by it (both P-256, valid two days),
/// made with the openssl CLI in `dir`. Returns file paths and the base64 SHA-256 of the leaf's
/// SubjectPublicKeyInfo (what Chromium's --ignore-certificate-errors-spki-list takes).
/// `name` lets a suite make a second, unrelated leaf (same CA) with a key nobody pinned.
export function makeTlsMaterial(dir, name = 'leaf') {
    const ca = path.join(dir, 'ca.pem');
    const caKey = path.join(dir, 'ca.key');
    if (!fs.existsSync(ca)) {
        const caExt = path.join(dir, 'ca.ext');
        fs.writeFileSync(
            caExt,
            '[req]\ndistinguished_name = dn\nx509_extensions = ca\n[dn]\n[ca]\n' +
                'basicConstraints = critical,CA:TRUE\n' +
                'keyUsage = critical,keyCertSign,cRLSign\n' +
                'subjectKeyIdentifier = hash\n',
        );
        openssl(`req -x509 ${P256} -days 2 -subj /CN=bbb-cluster-proxy-e2e-test-CA`, {
            '-config': caExt,
            '-keyout': caKey,
            '-out': ca,
        });
    }
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.pem`);
    const ext = path.join(dir, `${name}.ext`);
    fs.writeFileSync(
        ext,
        'basicConstraints = critical,CA:FALSE\n' +
            'keyUsage = critical,digitalSignature\n' +
            'extendedKeyUsage = serverAuth\n' +
            'subjectAltName = DNS:localhost,IP:127.0.0.1\n' +
            'authorityKeyIdentifier = keyid\n',
    );
    openssl(`req -new ${P256} -subj /CN=localhost`, { '-keyout': key, '-out': csr });
    openssl('x509 -req -days 2 -sha256 -CAcreateserial', {
        '-in': csr,
        '-CA': ca,
        '-CAkey': caKey,
        '-extfile': ext,
        '-out': cert,
    });
    // The chain a server sends: leaf first, then the CA (like Let's Encrypt's fullchain.pem).
    const chain = path.join(dir, `${name}-chain.pem`);
    fs.writeFileSync(chain, fs.readFileSync(cert, 'utf8') + fs.readFileSync(ca, 'utf8'));
    const spki = new X509Certificate(fs.readFileSync(cert)).publicKey.export({
        type: 'spki',
        format: 'der',
    });
    const spkiHash = createHash('sha256').update(spki).digest('base64');
    return { ca, cert, chain, key, spkiHash };
}

/// Chromium as every suite launches it: headless, chromiumArgs and then `extraArgs`.
export async function launchChromium(timeoutMs, extraArgs = []) {
    return chromium.launch({
        executablePath: chromiumPath,
        args: [...chromiumArgs, ...extraArgs],
        headless: true,
        timeout: timeoutMs,
    });
}

/// The end of every suite: the browser, then every process it started, then its temporary
/// directory (each may be missing when the suite's setup failed half-way).
export async function tearDown({ browser, procs, dir }) {
    await browser?.close().catch(() => {});
    await procs?.stopAll();
    if (dir) {
        await fsp.rm(dir, { recursive: true, force: true });
    }
}

/// Runs `body(page)` in a new browser context of `viewport`, with the page's console collected.
/// Console errors and page errors fail it. On success the page is saved as `<name>.png` in
/// `artifacts`; on failure as `<name>-FAILED.png`, and the console lines and the log tails of
/// `procs` go to stderr before the error is rethrown. The context is closed either way.
export async function withPage(browser, { artifacts, name, procs, viewport }, body) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    try {
        await body(page);
        const errors = consoleLines.filter((l) => l.startsWith('error') || l.startsWith('pageerror'));
        if (errors.length > 0) {
            throw new Error(`console errors on the page:\n${errors.join('\n')}`);
        }
        await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
    } catch (error) {
        await page
            .screenshot({ path: path.join(artifacts, `${name}-FAILED.png`), fullPage: true })
            .catch(() => {});
        console.error(consoleLines.join('\n'));
        console.error(procs.tails());
        throw error;
    } finally {
        await context.close();
    }
}

/// `serve` on a free loopback port over plain HTTP: writes `<dir>/<name>.yaml` (public_url and
/// listen, then the YAML `lines`) and starts it as process `name`. Resolves with the proxy's origin
/// and its ready file (`ready.admin` names the admin listener, if any).
export async function startProxy(procs, dir, name, lines) {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const config = path.join(dir, `${name}.yaml`);
    const yaml = [`public_url: "${origin}"`, 'listen:', `  - address: "127.0.0.1:${port}"`, ...lines, ''];
    fs.writeFileSync(config, yaml.join('\n'));
    const ready = await procs.start(name, ['serve', '--config', config], {
        readyFile: path.join(dir, `${name}.ready`),
    });
    return { origin, ready };
}

export async function makeTempDir(prefix) {
    return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/// GET `url` with Node's own HTTP client (not the browser) and parse the JSON answer.
export async function fetchJson(url) {
    const response = await fetch(url, { cache: 'no-store' });
    if (!response.ok) {
        throw new Error(`${url}: HTTP ${response.status}`);
    }
    return response.json();
}
