// Content codings of the asset cache end to end, on the real binary over loopback:
// - against a real nginx configured like a BBB node (gzip on, gzip_static on, gzip_vary on,
//   gzip_proxied at its default): every asset in every coding a browser may ask for, cold and warm,
//   decoded here with zlib, libbrotli and libzstd (not the project's codec) and compared byte-exact
//   with the file; ETags, 304s, HEAD, and what nginx was asked (its access log);
// - against a raw-socket node that scripts what nginx cannot: chunked, close-delimited and cut
//   fills, gzip bodies that must not decode (a bomb, garbage, a truncated member, too large),
//   no-transform (response and request), codings the proxy did not ask for, revalidation, q-value
//   negotiation, and the identity-only rule for requests with Cookie or Authorization.
// Every process a test starts (nginx, the proxy) it stops; nothing waits a fixed time.
#include "child.hpp"
#include "harness.hpp"
#include "proxy_process.hpp"
#include "raw_node.hpp"
#include "support/test_ca.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

namespace bcp::test {
namespace {

namespace fs = std::filesystem;
namespace bhttp = boost::beast::http;

constexpr std::size_t decode_limit = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Codecs of the test's own (the libraries directly, so a bug in src/cache/codec cannot hide).

std::string gzip(std::string_view in, int level = 9) {
    z_stream z{};
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("deflateInit2");
    }
    std::string out(deflateBound(&z, static_cast<uLong>(in.size())), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        throw std::runtime_error("deflate");
    }
    return out;
}

// Exactly one complete gzip member, nothing after it.
std::optional<std::string> gunzip(std::string_view in) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        return std::nullopt;
    }
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    std::string out;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        char buf[65536];
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        rc = inflate(&z, Z_NO_FLUSH);
        if ((rc != Z_OK && rc != Z_STREAM_END) || out.size() > decode_limit) {
            inflateEnd(&z);
            return std::nullopt;
        }
        out.append(buf, sizeof buf - z.avail_out);
    }
    const bool exact = z.avail_in == 0;
    inflateEnd(&z);
    return exact ? std::optional(out) : std::nullopt;
}

std::optional<std::string> unbrotli(std::string_view in) {
    BrotliDecoderState* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    if (s == nullptr) {
        return std::nullopt;
    }
    std::size_t avail_in = in.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    std::string out;
    BrotliDecoderResult r = BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
    while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT && out.size() <= decode_limit) {
        std::uint8_t buf[65536];
        std::size_t avail_out = sizeof buf;
        std::uint8_t* next_out = buf;
        r = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, nullptr);
        out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(next_out - buf));
    }
    BrotliDecoderDestroyInstance(s);
    if (r != BROTLI_DECODER_RESULT_SUCCESS || avail_in != 0) {
        return std::nullopt;
    }
    return out;
}

// Exactly one complete zstd frame.
std::optional<std::string> unzstd(std::string_view in) {
    ZSTD_DCtx* d = ZSTD_createDCtx();
    if (d == nullptr) {
        return std::nullopt;
    }
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    std::string out;
    bool ok = false;
    while (out.size() <= decode_limit) {
        char buf[65536];
        ZSTD_outBuffer ob{buf, sizeof buf, 0};
        const std::size_t rc = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(rc) != 0) {
            break;
        }
        out.append(buf, ob.pos);
        if (rc == 0) {
            ok = ib.pos == ib.size;
            break;
        }
        if (ib.pos == ib.size && ob.pos < ob.size) {
            break;  // truncated frame
        }
    }
    ZSTD_freeDCtx(d);
    return ok ? std::optional(out) : std::nullopt;
}

// The identity bytes of `body` sent with Content-Encoding `coding` ("" = identity).
std::optional<std::string> decode(const std::string& coding, const std::string& body) {
    if (coding.empty()) {
        return body;
    }
    if (coding == "gzip") {
        return gunzip(body);
    }
    if (coding == "br") {
        return unbrotli(body);
    }
    if (coding == "zstd") {
        return unzstd(body);
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary) << bytes;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Every value of `name` in `r`, joined with ", ".
std::string field(const response& r, std::string_view name) {
    std::string out;
    const auto range = r.equal_range(name);
    for (auto it = range.first; it != range.second; ++it) {
        out += (out.empty() ? "" : ", ") + std::string(it->value());
    }
    return out;
}

std::string field(const std::optional<response>& r, std::string_view name) {
    return r ? field(*r, name) : "<no response>";
}

bool varies_on_accept_encoding(const response& r) {
    return lower(field(r, "Vary")).find("accept-encoding") != std::string::npos;
}

std::string ae_header(const std::string& ae) {
    return ae.empty() ? std::string() : "Accept-Encoding: " + ae + "\r\n";
}

// What a test prints about a response when an expectation fails: status and head fields.
std::string describe(const std::optional<response>& r) {
    if (!r) {
        return "<no response>";
    }
    std::ostringstream o;
    o << r->result_int() << " " << r->reason() << "\n";
    for (const auto& f : *r) {
        o << "  " << f.name_string() << ": " << f.value() << "\n";
    }
    o << "  (" << r->body().size() << " body bytes)";
    return o.str();
}

// The value of the exact series `series` ("name" or "name{labels}") in a /metrics body; NaN when
// absent.
double sample(const std::string& metrics, const std::string& series) {
    std::istringstream in(metrics);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
            line[series.size()] == ' ') {
            return std::stod(line.substr(series.size() + 1));
        }
    }
    return std::nan("");
}

// Deterministic pseudo-random numbers (xorshift64*), so the generated assets are the same in
// every run.
struct prng {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 2685821657736338717ull;
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

// Minified-looking JavaScript of about `size` bytes: short identifiers, a vocabulary of
// keywords and string literals, numbers; compressible like real bundles, not trivially.
std::string generated_js(std::size_t size, std::uint64_t seed) {
    prng r{seed};
    static const char* const words[] = {
        "function",  "return",        "var",      "const",     "this",        "null",
        "undefined", "prototype",     "length",   "push",      "apply",       "call",
        "Object",    "Array",         "meeting",  "presenter", "whiteboard",  "annotation",
        "chat",      "poll",          "breakout", "userId",    "voiceBridge", "Meteor",
        "React",     "createElement", "props",    "state"};
    auto ident = [&] {
        std::string id(1, static_cast<char>('a' + r.below(26)));
        for (std::size_t i = r.below(3); i > 0; --i) {
            id += static_cast<char>("abcdefghijklmnopqrstuvwxyz0123456789_$"[r.below(38)]);
        }
        return id;
    };
    std::string out = "/*! generated test bundle */\n!function(e){\"use strict\";";
    while (out.size() < size) {
        switch (r.below(6)) {
            case 0:
                out += "var " + ident() + "=function(" + ident() + "," + ident() + "){return " +
                       ident() + "." + words[r.below(std::size(words))] + "(" +
                       std::to_string(r.below(100000)) + ")};";
                break;
            case 1:
                out += ident() + "[\"" + words[r.below(std::size(words))] + "\"]=" + ident() +
                       "&&" + ident() + "." + words[r.below(std::size(words))] + ";";
                break;
            case 2:
                out += "if(" + ident() + "===" + std::to_string(r.below(1000)) + ")throw new " +
                       "Error(\"" + words[r.below(std::size(words))] + " " +
                       words[r.below(std::size(words))] + "\");";
                break;
            case 3:
                out += "e." + ident() + "=" + ident() + ".createElement(\"div\",{className:\"" +
                       words[r.below(std::size(words))] + "--" + ident() + "\"});";
                break;
            case 4:
                out += "for(var " + ident() + "=0;" + ident() + "<" + std::to_string(r.below(64)) +
                       ";++" + ident() + ")" + ident() + ".push(" + ident() + ");";
                break;
            default:
                out += "/*" + std::to_string(r.next() % 1000000007) + "*/";
                break;
        }
    }
    return out + "}(window);\n";
}

std::string generated_css(std::size_t size, std::uint64_t seed) {
    prng r{seed};
    std::string out;
    static const char* const props[] = {"margin",          "padding",   "color",
                                        "border-radius",   "font-size", "line-height",
                                        "background-color"};
    while (out.size() < size) {
        out += ".c" + std::to_string(r.below(5000)) + "_" + std::to_string(r.below(97)) + "{";
        for (std::size_t i = 1 + r.below(3); i > 0; --i) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "%06llx",
                          static_cast<unsigned long long>(r.next() & 0xffffff));
            out += std::string(props[r.below(std::size(props))]) + ":" +
                   (r.below(2) == 0 ? std::to_string(r.below(40)) + "px" : "#" + std::string(hex)) +
                   ";";
        }
        out += "}";
    }
    return out;
}

// A PNG signature followed by noise: a binary that neither nginx nor the proxy compresses.
std::string generated_png(std::size_t size, std::uint64_t seed) {
    prng r{seed};
    std::string out = "\x89PNG\r\n\x1a\n";
    while (out.size() < size) {
        out += static_cast<char>(r.next() >> 56);
    }
    return out;
}

std::string pattern(std::size_t n, char base = 'a') {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>(base + i % 26);
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// The real binary (proxy_process), stopped with SIGTERM: it must exit within 15 s.

class proxy_child {
  public:
    explicit proxy_child(const std::string& yaml) : process_(yaml) {}
    ~proxy_child() {
        if (!process_.ok()) {
            return;
        }
        process_.signal(SIGTERM);
        if (process_.wait_exit(15s) == -1) {
            ADD_FAILURE() << "serve did not exit on SIGTERM";
        }
    }
    proxy_child(const proxy_child&) = delete;
    proxy_child& operator=(const proxy_child&) = delete;

    bool ok() const { return process_.ok(); }
    std::uint16_t port() const { return process_.port(); }
    std::string log() const { return process_.log(); }

    std::string metrics() const {
        client c(process_.admin_port());
        auto r = c.get("/metrics");
        return r ? r->body() : std::string();
    }
    double metric(const std::string& series) const { return sample(metrics(), series); }

  private:
    proxy_process process_;
};

std::string proxy_config(std::uint16_t node_port, const std::string& cache_extra = {}) {
    return "public_url: \"https://proxy.example.com\"\n"
           "listen:\n  - address: \"127.0.0.1:0\"\n"
           "admin:\n  address: \"127.0.0.1:0\"\n"
           "workers: 2\n"
           "nodes:\n  - id: bbb-01\n    url: \"http://127.0.0.1:" +
           std::to_string(node_port) +
           "\"\n"
           "cache:\n  enabled: true\n" +
           cache_extra;
}

// Like eventually(), at a gentler pace for predicates that make a whole request.
template <class Pred>
bool eventually_every(Pred pred, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds interval = 25ms) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(interval);
    }
    return pred();
}

// GETs `target` with `ae` until the response has Content-Encoding `coding` ("" = identity) or
// `timeout` passes (the compressor runs after the fill, on its own thread). The last response.
std::optional<response> get_until_coding(std::uint16_t port, const std::string& target,
                                         const std::string& ae, const std::string& coding,
                                         const std::string& extra_headers = {},
                                         std::chrono::milliseconds timeout = 60s) {
    std::optional<response> last;
    const auto end = std::chrono::steady_clock::now() + timeout;
    do {
        client c(port);
        last = c.get(target, ae_header(ae) + extra_headers);
        if (last && field(*last, "Content-Encoding") == coding) {
            return last;
        }
        std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < end);
    return last;
}

// ---------------------------------------------------------------------------------------------
// nginx, configured like a BBB node's client location, in a temp dir of its own.

class nginx_node {
  public:
    static constexpr const char* binary = "/usr/sbin/nginx";

    /// Serves `www` (a directory) as /bbb-01/html5client/. ok() once it accepts connections.
    nginx_node(const fs::path& dir, const fs::path& www) : dir_(dir) {
        fs::create_directories(dir_ / "tmp");
        for (int attempt = 0; attempt < 3 && port_ == 0; ++attempt) {
            start(closed_port(), www);
        }
        if (port_ == 0) {
            ADD_FAILURE() << "nginx did not start:\n" << slurp(dir_ / "error.log");
        }
    }
    ~nginx_node() { stop(); }
    nginx_node(const nginx_node&) = delete;
    nginx_node& operator=(const nginx_node&) = delete;

    bool ok() const { return port_ != 0; }
    std::uint16_t port() const { return port_; }

    /// One entry per logged request: uri | accept-encoding | via | status | content-encoding |
    /// transfer-encoding ("-" for an absent value, as nginx logs it).
    struct logged {
        std::string uri, accept_encoding, via, status, content_encoding, transfer_encoding;
    };
    std::vector<logged> access_log() const {
        std::vector<logged> out;
        std::istringstream in(slurp(dir_ / "access.log"));
        std::string line;
        while (std::getline(in, line)) {
            std::vector<std::string> parts;
            std::string part;
            std::istringstream fields(line);
            while (std::getline(fields, part, '|')) {
                parts.push_back(part);
            }
            if (parts.size() == 6) {
                out.push_back({parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]});
            } else {
                ADD_FAILURE() << "unexpected access log line: " << line;
            }
        }
        return out;
    }
    std::size_t requests_for(const std::string& uri) const {
        const auto log = access_log();
        return static_cast<std::size_t>(
            std::count_if(log.begin(), log.end(), [&](const logged& l) { return l.uri == uri; }));
    }

  private:
    void start(std::uint16_t port, const fs::path& www) {
        const std::string d = dir_.string();
        // As on a BBB node: gzip for the client's text types, precompressed files where the build
        // ships them, Vary, and gzip_proxied left at its default (off). master_process off: one
        // process as this user (no switch to nobody, who could not read the temp dir).
        const std::string conf =
            fmt::format(R"(daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    types {{ application/javascript js; text/css css; image/png png; application/json json;
             image/svg+xml svg; }}
    default_type application/octet-stream;
    log_format bcp '$request_uri|$http_accept_encoding|$http_via|$status|$sent_http_content_encoding|$sent_http_transfer_encoding';
    access_log {dir}/access.log bcp;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    sendfile on;
    keepalive_timeout 65;
    gzip on;
    gzip_types text/css application/javascript application/json image/svg+xml;
    gzip_vary on;
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        location /bbb-01/html5client/ {{
            gzip_static on;
            alias {www}/;
            expires 30d;
        }}
    }}
}}
)",
                        fmt::arg("dir", d), fmt::arg("port", port), fmt::arg("www", www.string()));
        write_file(dir_ / "nginx.conf", conf);
        pid_ = spawn_child({binary, "-p", d + "/", "-c", d + "/nginx.conf", "-e", d + "/error.log"},
                           dir_ / "nginx.out", dir_ / "nginx.err");
        if (pid_ <= 0) {
            return;
        }
        const bool up = eventually([&] { return exited_now() || accepts(port); }, 10s);
        if (up && !exited_) {
            port_ = port;
            return;
        }
        stop();
    }

    static bool accepts(std::uint16_t port) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port);
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }

    bool exited_now() {
        if (exited_ || pid_ <= 0) {
            return true;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
        }
        return exited_;
    }

    void stop() {
        if (pid_ > 0 && !exited_now()) {
            ::kill(pid_, SIGTERM);
            if (!eventually([&] { return exited_now(); }, 10s)) {
                ::kill(pid_, SIGKILL);
                eventually([&] { return exited_now(); }, 5s);
            }
        }
        pid_ = -1;
        exited_ = false;
    }

    fs::path dir_;
    pid_t pid_ = -1;
    bool exited_ = false;
    std::uint16_t port_ = 0;
};

// The value of header `name` in a raw request head ("" when absent).
std::string head_field(const std::string& head, const std::string& name) {
    std::istringstream in(head);
    std::string line;
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (colon != std::string::npos && lower(line.substr(0, colon)) == lower(name)) {
            auto v = line.substr(colon + 1);
            v.erase(0, v.find_first_not_of(' '));
            while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) {
                v.pop_back();
            }
            return v;
        }
    }
    return {};
}

bool head_has(const std::string& head, const std::string& name) {
    std::istringstream in(head);
    std::string line;
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (colon != std::string::npos && lower(line.substr(0, colon)) == lower(name)) {
            return true;
        }
    }
    return false;
}

std::string ok_head(const std::string& type, const std::string& cache_control,
                    const std::string& extra = {}) {
    return "HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nCache-Control: " + cache_control +
           "\r\n" + extra;
}

std::string with_length(const std::string& head, const std::string& body) {
    return head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// `body` as chunks of varying sizes, with or without the last chunk.
std::string chunked(const std::string& body, bool complete = true) {
    std::string out;
    std::size_t at = 0;
    for (std::size_t i = 0; at < body.size(); ++i) {
        const std::size_t n = std::min<std::size_t>({body.size() - at, 1000 + 3777 * (i % 5)});
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", n);
        out += size + body.substr(at, n) + "\r\n";
        at += n;
    }
    return complete ? out + "0\r\n\r\n" : out;
}

const std::string mount = "/bbb-01/html5client/";

// ---------------------------------------------------------------------------------------------
// 1. A real nginx node.

struct asset {
    std::string name;
    std::string body;
    bool compressible;   // in nginx's gzip_types and the proxy's compressible types
    bool precompressed;  // ships a .gz beside it (gzip_static: sent with a Content-Length)
};

struct ae_case {
    std::string header;                // "" = no Accept-Encoding
    std::string warm;                  // the coding a warm hit must have ("" = identity)
    std::set<std::string> acceptable;  // codings the client takes
};

const std::vector<ae_case>& ae_cases() {
    static const std::vector<ae_case> cases{
        {"br", "br", {"", "br"}},
        {"zstd", "zstd", {"", "zstd"}},
        {"gzip", "gzip", {"", "gzip"}},
        {"", "", {""}},
        {"gzip, deflate, br, zstd", "br", {"", "gzip", "br", "zstd"}},
    };
    return cases;
}

bool takes_gzip(const ae_case& c) {
    return c.acceptable.count("gzip") != 0;
}

void write_assets(const fs::path& www, const std::vector<asset>& assets) {
    for (const auto& a : assets) {
        write_file(www / a.name, a.body);
        if (a.precompressed) {
            write_file(www / (a.name + ".gz"), gzip(a.body, 9));
        }
    }
}

// A strong ETag made by the cache: "<32 hex>" for identity, "<32 hex>-<coding>" otherwise.
struct cache_etag {
    std::string hex;     // 32 lower-case hex digits
    std::string coding;  // "" for identity
};
std::optional<cache_etag> parse_cache_etag(const std::string& etag) {
    if (etag.size() < 34 || etag.front() != '"' || etag.back() != '"') {
        return std::nullopt;
    }
    cache_etag out{etag.substr(1, 32), {}};
    if (!std::all_of(out.hex.begin(), out.hex.end(),
                     [](char c) { return std::isdigit(c) != 0 || (c >= 'a' && c <= 'f'); })) {
        return std::nullopt;
    }
    const std::string rest = etag.substr(33, etag.size() - 34);
    if (rest.empty()) {
        return out;
    }
    if (rest == "-br" || rest == "-zstd" || rest == "-gzip") {
        out.coding = rest.substr(1);
        return out;
    }
    return std::nullopt;
}

TEST(EncodingNginx, EveryAssetInEveryCodingColdAndWarmIsTheFileByteForByte) {
    if (!fs::exists(nginx_node::binary)) {
        GTEST_SKIP() << nginx_node::binary << " is not installed";
    }
    temp_dir dir("bcp-enc-nginx");
    const fs::path www = dir.path() / "www";
    fs::create_directories(www);
    const std::vector<asset> assets{
        {"app.static.js", generated_js(420 * 1024, 1), true, true},
        {"chunk.dynamic.js", generated_js(300 * 1024, 2), true, false},
        {"style.css", generated_css(90 * 1024, 3), true, false},
        {"logo.png", generated_png(70 * 1024, 4), false, false},
    };
    write_assets(www, assets);
    nginx_node nginx(dir.path(), www);
    ASSERT_TRUE(nginx.ok());
    proxy_child proxy(proxy_config(nginx.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();

    std::set<std::string> bases;  // the ETag hex of each asset
    for (const auto& a : assets) {
        SCOPED_TRACE(a.name);
        const std::string url = mount + a.name;

        // Cold: a URL of its own per Accept-Encoding, so each first request is a MISS streamed
        // from the node's bytes, and the second one a HIT in a coding the client takes.
        for (std::size_t i = 0; i < ae_cases().size(); ++i) {
            const auto& ae = ae_cases()[i];
            SCOPED_TRACE("cold, Accept-Encoding: " + ae.header);
            const std::string cold_url = url + "?cold=" + std::to_string(i);
            client c(proxy.port());
            auto miss = c.get(cold_url, ae_header(ae.header));
            ASSERT_TRUE(miss) << c.last_error();
            EXPECT_EQ(miss->result_int(), 200u) << describe(miss);
            EXPECT_EQ(field(miss, "X-Cache"), "MISS") << describe(miss);
            // The node's own coding, streamed: gzip when we asked for it and nginx compresses the
            // type, else identity.
            const std::string node_coding = a.compressible && takes_gzip(ae) ? "gzip" : "";
            EXPECT_EQ(field(miss, "Content-Encoding"), node_coding) << describe(miss);
            const auto miss_body = decode(field(*miss, "Content-Encoding"), miss->body());
            ASSERT_TRUE(miss_body) << describe(miss);
            EXPECT_TRUE(*miss_body == a.body) << "cold MISS body differs from the file";
            if (node_coding == "gzip" && !a.precompressed) {
                // nginx compressed on the fly (no length): the proxy streams it chunked.
                EXPECT_EQ(lower(field(miss, "Transfer-Encoding")), "chunked") << describe(miss);
            } else {
                EXPECT_EQ(field(miss, "Content-Length"), std::to_string(miss->body().size()))
                    << describe(miss);
            }
            if (a.compressible) {
                EXPECT_TRUE(varies_on_accept_encoding(*miss)) << describe(miss);
            }

            auto hit = c.get(cold_url, ae_header(ae.header));
            ASSERT_TRUE(hit) << c.last_error();
            EXPECT_EQ(hit->result_int(), 200u) << describe(hit);
            EXPECT_EQ(field(hit, "X-Cache"), "HIT") << describe(hit);
            const std::string hit_coding = field(*hit, "Content-Encoding");
            EXPECT_EQ(ae.acceptable.count(hit_coding), 1u) << describe(hit);
            if (!a.compressible) {
                EXPECT_EQ(hit_coding, "") << describe(hit);
            } else if (takes_gzip(ae)) {
                // The fill that asked gzip left the node's bytes as the gzip variant at least.
                EXPECT_NE(hit_coding, "") << describe(hit);
            }
            EXPECT_EQ(field(hit, "Content-Length"), std::to_string(hit->body().size()))
                << describe(hit);
            EXPECT_EQ(field(hit, "Transfer-Encoding"), "") << describe(hit);
            EXPECT_TRUE(varies_on_accept_encoding(*hit)) << describe(hit);
            const auto hit_body = decode(hit_coding, hit->body());
            ASSERT_TRUE(hit_body) << describe(hit);
            EXPECT_TRUE(*hit_body == a.body) << "cold HIT body differs from the file";
            // nginx saw this URL once, and was asked for gzip exactly when the client takes it.
            EXPECT_TRUE(eventually([&] { return nginx.requests_for(cold_url) >= 1; }, 5s));
            EXPECT_EQ(nginx.requests_for(cold_url), 1u);
            for (const auto& l : nginx.access_log()) {
                if (l.uri == cold_url) {
                    EXPECT_EQ(l.accept_encoding, takes_gzip(ae) ? "gzip" : "-");
                    EXPECT_EQ(l.via, "-");
                    if (node_coding == "gzip") {
                        // The setup is what it claims: .gz sent with a length, the rest chunked.
                        EXPECT_EQ(l.content_encoding, "gzip");
                        EXPECT_EQ(l.transfer_encoding, a.precompressed ? "-" : "chunked");
                    }
                }
            }
        }

        // Warm: the base URL filled, and once the variants exist (the body is the cold URLs'
        // body: stored once), each Accept-Encoding gets exactly its best coding at once.
        ASSERT_TRUE(http_get(proxy.port(), url));
        if (a.compressible) {
            for (const std::string coding : {"br", "zstd"}) {
                auto r = get_until_coding(proxy.port(), url, coding, coding);
                ASSERT_EQ(field(r, "Content-Encoding"), coding)
                    << "the " << coding << " variant did not appear: " << describe(r);
            }
        }
        std::map<std::string, std::string> etags;  // coding -> ETag
        for (const auto& ae : ae_cases()) {
            const std::string expected = a.compressible ? ae.warm : "";
            SCOPED_TRACE("warm, Accept-Encoding: " + ae.header);
            client c(proxy.port());
            auto r = c.get(url, ae_header(ae.header));
            ASSERT_TRUE(r) << c.last_error();
            EXPECT_EQ(r->result_int(), 200u) << describe(r);
            EXPECT_EQ(field(r, "X-Cache"), "HIT") << describe(r);
            EXPECT_EQ(field(r, "Content-Encoding"), expected) << describe(r);
            EXPECT_EQ(field(r, "Content-Length"), std::to_string(r->body().size())) << describe(r);
            EXPECT_EQ(field(r, "Transfer-Encoding"), "") << describe(r);
            EXPECT_TRUE(varies_on_accept_encoding(*r)) << describe(r);
            EXPECT_EQ(field(r, "Cache-Control"), "max-age=2592000") << describe(r);
            const auto body = decode(field(*r, "Content-Encoding"), r->body());
            ASSERT_TRUE(body) << "does not decode: " << describe(r);
            EXPECT_TRUE(*body == a.body) << "warm body differs from the file";
            if (expected != "") {
                EXPECT_LT(r->body().size(), a.body.size());
            }

            const std::string etag = field(*r, "ETag");
            const auto parsed = parse_cache_etag(etag);
            ASSERT_TRUE(parsed) << describe(r);
            EXPECT_EQ(parsed->coding, expected) << etag;
            bases.insert(parsed->hex);
            etags.emplace(expected, etag);
            EXPECT_EQ(etags[expected], etag) << "two ETags for one coding";

            // HEAD: the same head, no body.
            auto head = c.get(url, ae_header(ae.header), "HEAD");
            ASSERT_TRUE(head) << c.last_error();
            EXPECT_EQ(head->result_int(), 200u) << describe(head);
            EXPECT_EQ(field(head, "Content-Length"), field(r, "Content-Length")) << describe(head);
            EXPECT_EQ(field(head, "Content-Encoding"), expected) << describe(head);
            EXPECT_EQ(field(head, "ETag"), etag) << describe(head);
            EXPECT_TRUE(varies_on_accept_encoding(*head)) << describe(head);
            EXPECT_TRUE(head->body().empty());

            // If-None-Match with the ETag of this coding: 304 with that ETag and Vary.
            auto not_modified =
                c.get(url, ae_header(ae.header) + "If-None-Match: " + etag + "\r\n");
            ASSERT_TRUE(not_modified) << c.last_error();
            EXPECT_EQ(not_modified->result_int(), 304u) << describe(not_modified);
            EXPECT_EQ(field(not_modified, "ETag"), etag) << describe(not_modified);
            EXPECT_TRUE(varies_on_accept_encoding(*not_modified)) << describe(not_modified);
            EXPECT_TRUE(not_modified->body().empty());
            // Keep-alive still works after the 304.
            auto again = c.get(url, ae_header(ae.header));
            ASSERT_TRUE(again) << c.last_error();
            EXPECT_EQ(again->result_int(), 200u) << describe(again);
            EXPECT_TRUE(again->body() == r->body());
        }
        // One strong ETag per coding, all derived from the same identity bytes.
        std::set<std::string> distinct;
        for (const auto& [coding, etag] : etags) {
            distinct.insert(etag);
        }
        EXPECT_EQ(distinct.size(), etags.size());
        EXPECT_EQ(etags.size(), a.compressible ? 4u : 1u);
        if (a.compressible) {
            // A validator of another coding does not match: the br client gets a 200.
            client c(proxy.port());
            auto other = c.get(url, "Accept-Encoding: br\r\nIf-None-Match: " + etags[""] + "\r\n");
            ASSERT_TRUE(other) << c.last_error();
            EXPECT_EQ(other->result_int(), 200u) << describe(other);
            EXPECT_EQ(field(other, "Content-Encoding"), "br") << describe(other);
            // A list with the right one in it matches.
            auto listed = c.get(url, "Accept-Encoding: br\r\nIf-None-Match: " + etags[""] + ", " +
                                         etags["br"] + "\r\n");
            ASSERT_TRUE(listed) << c.last_error();
            EXPECT_EQ(listed->result_int(), 304u) << describe(listed);
        }
        // nginx saw the base URL once: one entry serves every coding.
        EXPECT_EQ(nginx.requests_for(url), 1u);
    }
    EXPECT_EQ(bases.size(), assets.size()) << "one ETag base per distinct body";

    // What nginx was asked, all along: gzip or nothing, and never a Via.
    const auto log = nginx.access_log();
    EXPECT_FALSE(log.empty());
    for (const auto& l : log) {
        EXPECT_TRUE(l.accept_encoding == "gzip" || l.accept_encoding == "-")
            << l.uri << " " << l.accept_encoding;
        EXPECT_EQ(l.via, "-") << l.uri;
        EXPECT_EQ(l.status, "200") << l.uri;
    }

    // Each distinct compressible body compressed once per coding, whatever the number of URLs
    // and keys that share it.
    EXPECT_TRUE(eventually([&] { return proxy.metric("bcp_cache_compression_queued") == 0; }, 30s));
    const auto m = proxy.metrics();
    EXPECT_EQ(sample(m, "bcp_cache_compressions_total{coding=\"br\"}"), 3.0) << m;
    EXPECT_EQ(sample(m, "bcp_cache_compressions_total{coding=\"zstd\"}"), 3.0) << m;
    EXPECT_GT(sample(m, "bcp_cache_encoded_bytes_total{coding=\"br\"}"), 0.0) << m;
    EXPECT_GT(sample(m, "bcp_cache_encoded_bytes_total{coding=\"zstd\"}"), 0.0) << m;
    EXPECT_GT(sample(m, "bcp_cache_encoded_bytes_total{coding=\"gzip\"}"), 0.0) << m;
    EXPECT_GT(sample(m, "bcp_cache_encoded_bytes_total{coding=\"identity\"}"), 0.0) << m;
    EXPECT_EQ(sample(m, "bcp_cache_decode_faults_total"), 0.0) << m;
}

// Many clients at once, in every coding, for assets nobody asked for yet: each gets the file in a
// coding it takes, and nginx sees at most one request per coding asked of it (gzip, none).
TEST(EncodingNginx, ConcurrentColdRequestsInMixedCodingsAllGetTheFile) {
    if (!fs::exists(nginx_node::binary)) {
        GTEST_SKIP() << nginx_node::binary << " is not installed";
    }
    temp_dir dir("bcp-enc-nginx");
    const fs::path www = dir.path() / "www";
    fs::create_directories(www);
    const std::vector<asset> assets{
        {"main.static.js", generated_js(600 * 1024, 5), true, true},
        {"main.dynamic.js", generated_js(600 * 1024, 6), true, false},
    };
    write_assets(www, assets);
    nginx_node nginx(dir.path(), www);
    ASSERT_TRUE(nginx.ok());
    proxy_child proxy(proxy_config(nginx.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    for (const auto& a : assets) {
        SCOPED_TRACE(a.name);
        const std::string url = mount + a.name;
        constexpr std::size_t n = 30;
        std::vector<std::unique_ptr<client>> clients;
        for (std::size_t i = 0; i < n; ++i) {
            clients.push_back(std::make_unique<client>(proxy.port()));
            ASSERT_TRUE(clients.back()->connected());
        }
        for (std::size_t i = 0; i < n; ++i) {
            clients[i]->send("GET " + url + " HTTP/1.1\r\nHost: localhost\r\n" +
                             ae_header(ae_cases()[i % ae_cases().size()].header) + "\r\n");
        }
        for (std::size_t i = 0; i < n; ++i) {
            const auto& ae = ae_cases()[i % ae_cases().size()];
            SCOPED_TRACE("client " + std::to_string(i) + ", Accept-Encoding: " + ae.header);
            auto r = clients[i]->read(false, 30s);
            ASSERT_TRUE(r) << clients[i]->last_error();
            EXPECT_EQ(r->result_int(), 200u) << describe(r);
            const std::string coding = field(*r, "Content-Encoding");
            EXPECT_EQ(ae.acceptable.count(coding), 1u) << describe(r);
            const auto body = decode(coding, r->body());
            ASSERT_TRUE(body) << describe(r);
            EXPECT_TRUE(*body == a.body) << describe(r);
        }
        EXPECT_TRUE(eventually([&] { return nginx.requests_for(url) >= 1; }, 5s));
        EXPECT_LE(nginx.requests_for(url), 2u);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Fills of every framing.

TEST(EncodingFill, ChunkedAndCloseDelimitedFillsAreStoredAndServedWithALength) {
    const std::string js = generated_js(150 * 1024, 11);
    const std::string css = generated_css(60 * 1024, 12);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "chunked.js") {
            return {ok_head("application/javascript", "max-age=60",
                            "Transfer-Encoding: chunked\r\n\r\n") +
                    chunked(js)};
        }
        if (target == mount + "close.css") {
            return {
                "HTTP/1.0 200 OK\r\nContent-Type: text/css\r\nCache-Control: max-age=60\r\n"
                "\r\n" +
                    css,
                true};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();

    for (const auto& [name, body] :
         std::vector<std::pair<std::string, std::string>>{{"chunked.js", js}, {"close.css", css}}) {
        SCOPED_TRACE(name);
        const std::string url = mount + name;
        client c(proxy.port());
        auto miss = c.get(url);
        ASSERT_TRUE(miss) << c.last_error();
        EXPECT_EQ(miss->result_int(), 200u) << describe(miss);
        EXPECT_EQ(field(miss, "X-Cache"), "MISS") << describe(miss);
        EXPECT_TRUE(miss->body() == body);
        auto hit = c.get(url);
        ASSERT_TRUE(hit) << c.last_error();
        EXPECT_EQ(field(hit, "X-Cache"), "HIT") << describe(hit);
        EXPECT_EQ(field(hit, "Content-Length"), std::to_string(body.size())) << describe(hit);
        EXPECT_EQ(field(hit, "Transfer-Encoding"), "") << describe(hit);
        EXPECT_EQ(field(hit, "Content-Encoding"), "") << describe(hit);
        EXPECT_TRUE(hit->body() == body);
        EXPECT_EQ(node.requests_for(url), 1u);
        // Compressible: the compressor works on these fills too.
        auto br = get_until_coding(proxy.port(), url, "br", "br");
        ASSERT_EQ(field(br, "Content-Encoding"), "br") << describe(br);
        const auto decoded = unbrotli(br->body());
        ASSERT_TRUE(decoded);
        EXPECT_TRUE(*decoded == body);
        EXPECT_EQ(node.requests_for(url), 1u);
    }
}

TEST(EncodingFill, BodiesCutShortAreNeverStored) {
    const std::string js = generated_js(80 * 1024, 13);
    const std::string js_gzip = gzip(js, 6);
    struct cut_case {
        std::string name;
        bool chunked_framing;
        bool gzip_coded;  // the node's gzip, asked for (the fill decodes it)
    };
    const std::vector<cut_case> cases{{"cut-chunked.js", true, false},
                                      {"cut-length.js", false, false},
                                      {"cut-gzip-length.js", false, true},
                                      {"cut-gzip-chunked.js", true, true}};
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        for (const auto& c : cases) {
            if (target != mount + c.name) {
                continue;
            }
            const std::string& body = c.gzip_coded ? js_gzip : js;
            const std::string head = ok_head("application/javascript", "max-age=60",
                                             c.gzip_coded ? "Content-Encoding: gzip\r\n" : "");
            // Two thirds of the body, then the connection closes: no last chunk, or fewer bytes
            // than announced.
            if (c.chunked_framing) {
                const std::string all = chunked(body, false);
                return {
                    head + "Transfer-Encoding: chunked\r\n\r\n" + all.substr(0, all.size() * 2 / 3),
                    true};
            }
            return {head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                        body.substr(0, body.size() * 2 / 3),
                    true};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    for (const auto& cc : cases) {
        SCOPED_TRACE(cc.name);
        const std::string url = mount + cc.name;
        for (std::size_t i = 1; i <= 3; ++i) {
            SCOPED_TRACE("request " + std::to_string(i));
            client c(proxy.port());
            c.send("GET " + url + " HTTP/1.1\r\nHost: localhost\r\n" +
                   (cc.gzip_coded ? "Accept-Encoding: gzip\r\n" : "") + "\r\n");
            std::string got;
            EXPECT_TRUE(c.closed_within(10s, &got)) << "the proxy kept the connection open";
            // The client never sees a complete response: the head, part of the body, then the
            // close (a terminating chunk would present the cut body as whole).
            EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got.substr(0, 400);
            EXPECT_EQ(got.find("X-Cache: HIT"), std::string::npos) << got.substr(0, 400);
            const auto body_at = got.find("\r\n\r\n");
            ASSERT_NE(body_at, std::string::npos) << got.substr(0, 400);
            if (cc.chunked_framing) {
                EXPECT_EQ(got.find("\r\n0\r\n\r\n"), std::string::npos)
                    << "cut body ended as complete";
            } else {
                const std::size_t announced = (cc.gzip_coded ? js_gzip : js).size();
                EXPECT_NE(got.find("Content-Length: " + std::to_string(announced) + "\r\n"),
                          std::string::npos)
                    << got.substr(0, 400);
                EXPECT_LT(got.size() - body_at - 4, announced);
            }
            EXPECT_TRUE(eventually([&] { return node.requests_for(url) == i; }, 5s))
                << node.requests_for(url);
        }
    }
    const auto m = proxy.metrics();
    EXPECT_EQ(sample(m, "bcp_cache_entries"), 0.0) << m;
}

// An HTTP/1.0 client cannot take chunked: during a fill from a chunked node response it gets the
// body delimited by the close, and from the stored entry a Content-Length.
TEST(EncodingFill, Http10ClientsGetNoChunkedFraming) {
    const std::string js = generated_js(70 * 1024, 14);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "chunked.js") {
            return {ok_head("application/javascript", "max-age=60",
                            "Transfer-Encoding: chunked\r\n\r\n") +
                    chunked(js)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    for (const char* expected : {"MISS", "HIT"}) {
        SCOPED_TRACE(expected);
        client c(proxy.port());
        c.send("GET " + mount + "chunked.js HTTP/1.0\r\nHost: localhost\r\n\r\n");
        std::string got;
        EXPECT_TRUE(c.closed_within(10s, &got));
        const auto body_at = got.find("\r\n\r\n");
        ASSERT_NE(body_at, std::string::npos) << got.substr(0, 400);
        const std::string head = got.substr(0, body_at + 2);
        EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
        EXPECT_NE(head.find(std::string("X-Cache: ") + expected), std::string::npos) << head;
        EXPECT_TRUE(got.substr(body_at + 4) == js) << head;
    }
    EXPECT_EQ(node.requests_for(mount + "chunked.js"), 1u);
}

// ---------------------------------------------------------------------------------------------
// 3. Node gzip bodies that do not decode within bounds: relayed as they are, never stored.

TEST(EncodingFaults, GzipBodiesThatDoNotDecodeAreRelayedUnchangedAndNotStored) {
    const std::string bomb = gzip(std::string(30 * 1024 * 1024, '\0'), 9);
    ASSERT_LT(bomb.size(), 200'000u);
    const std::string text = generated_js(100 * 1024, 21);
    const std::string valid = gzip(text, 6);
    // A gzip header, then bytes that are no deflate stream.
    const std::string garbage =
        std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10) + pattern(3000);
    const std::string truncated = valid.substr(0, valid.size() - 100);  // no trailer, no end
    const std::string trailing = valid + "trailing bytes after the member";
    const std::map<std::string, std::pair<std::string, bool>> cases{
        // name -> body, sent chunked
        {"bomb-length.js", {bomb, false}},
        {"bomb-chunked.js", {bomb, true}},
        {"garbage.js", {garbage, false}},
        {"truncated.js", {truncated, false}},
        {"truncated-chunked.js", {truncated, true}},
        {"trailing.js", {trailing, false}},
    };
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        for (const auto& [name, c] : cases) {
            if (target == mount + name) {
                const std::string head =
                    ok_head("application/javascript", "max-age=60",
                            "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
                return {c.second ? head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(c.first)
                                 : with_length(head, c.first)};
            }
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();

    for (const auto& [name, c] : cases) {
        SCOPED_TRACE(name);
        const std::string url = mount + name;
        const double faults_before = proxy.metric("bcp_cache_decode_faults_total");
        ASSERT_FALSE(std::isnan(faults_before)) << proxy.metrics();
        for (std::size_t i = 1; i <= 2; ++i) {
            client cl(proxy.port());
            auto r = cl.get(url, "Accept-Encoding: gzip, deflate, br\r\n");
            if (r) {
                // Relayed exactly as the node coded it.
                std::cout << "[ INFO     ] " << name << " request " << i << ": complete response, "
                          << r->body().size() << " bytes, " << field(*r, "X-Cache") << "\n";
                EXPECT_EQ(r->result_int(), 200u) << describe(r);
                EXPECT_EQ(field(r, "Content-Encoding"), "gzip") << describe(r);
                EXPECT_NE(field(r, "X-Cache"), "HIT") << describe(r);
                EXPECT_TRUE(r->body() == c.first) << "the node's bytes were changed: got "
                                                  << r->body().size() << " of " << c.first.size();
            } else {
                std::cout << "[ INFO     ] " << name << " request " << i
                          << ": no complete response (" << cl.last_error() << ")\n";
            }
            EXPECT_TRUE(eventually([&] { return node.requests_for(url) == i; }, 5s))
                << "stored although it does not decode: " << node.requests_for(url)
                << " node requests";
        }
        EXPECT_TRUE(eventually(
            [&] { return proxy.metric("bcp_cache_decode_faults_total") >= faults_before + 1; }, 5s))
            << proxy.metrics();
    }
    const auto m = proxy.metrics();
    EXPECT_GE(sample(m, "bcp_cache_decode_faults_total"), static_cast<double>(cases.size())) << m;
    EXPECT_EQ(sample(m, "bcp_cache_entries"), 0.0) << m;
}

// A node gzip that decodes to more than max_object_size (but is below it itself, and not a bomb
// by ratio): relayed as it is, never stored.
TEST(EncodingFaults, GzipThatDecodesPastMaxObjectSizeIsRelayedAndNotStored) {
    const std::string text = generated_js(3 * 1024 * 1024, 22);
    const std::string coded = gzip(text, 9);
    ASSERT_LT(coded.size(), 1024u * 1024u);
    ASSERT_LT(text.size() / coded.size(), 100u);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "big.js") {
            return {with_length(
                ok_head("application/javascript", "max-age=60", "Content-Encoding: gzip\r\n"),
                coded)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port(), "  max_object_size: 1MiB\n"));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "big.js";
    for (std::size_t i = 1; i <= 2; ++i) {
        client c(proxy.port());
        auto r = c.get(url, "Accept-Encoding: gzip\r\n");
        if (r) {
            EXPECT_EQ(field(r, "Content-Encoding"), "gzip") << describe(r);
            EXPECT_TRUE(r->body() == coded) << "the node's bytes were changed";
        } else {
            std::cout << "[ INFO     ] big.js request " << i << ": no complete response ("
                      << c.last_error() << ")\n";
        }
        EXPECT_TRUE(eventually([&] { return node.requests_for(url) == i; }, 5s))
            << node.requests_for(url);
    }
    EXPECT_TRUE(eventually([&] { return proxy.metric("bcp_cache_decode_faults_total") >= 1; }, 5s))
        << proxy.metrics();
    EXPECT_EQ(proxy.metric("bcp_cache_entries"), 0.0);
}

// A valid node gzip is decoded and stored once: its bytes are the gzip variant, and a client of
// the same key that prefers identity gets the decoded bytes; nobody goes back to the node.
TEST(EncodingFill, NodeGzipIsStoredDecodedAndItsBytesAreTheGzipVariant) {
    const std::string text = generated_js(120 * 1024, 31);
    const std::string node_gzip = gzip(text, 1);
    raw_node node([&](const std::string& target, const std::string& head) -> reply {
        if (target == mount + "app.js") {
            return {head_field(head, "Accept-Encoding") == "gzip"
                        ? with_length(ok_head("application/javascript", "public, max-age=60",
                                              "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
                                              "ETag: W/\"node-1\"\r\n"),
                                      node_gzip)
                        : with_length(ok_head("application/javascript", "public, max-age=60",
                                              "Vary: Accept-Encoding\r\nETag: \"node-1\"\r\n"),
                                      text)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    // No variants of the proxy's own: what is served is what the fill stored.
    proxy_child proxy(proxy_config(node.port(), "  compress: false\n"));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "app.js";
    client c(proxy.port());
    auto miss = c.get(url, "Accept-Encoding: gzip\r\n");
    ASSERT_TRUE(miss) << c.last_error();
    EXPECT_EQ(field(miss, "X-Cache"), "MISS") << describe(miss);
    EXPECT_EQ(field(miss, "Content-Encoding"), "gzip") << describe(miss);
    EXPECT_TRUE(miss->body() == node_gzip);
    auto gz = c.get(url, "Accept-Encoding: gzip\r\n");
    ASSERT_TRUE(gz) << c.last_error();
    EXPECT_EQ(field(gz, "X-Cache"), "HIT") << describe(gz);
    EXPECT_EQ(field(gz, "Content-Encoding"), "gzip") << describe(gz);
    EXPECT_TRUE(gz->body() == node_gzip) << "the gzip variant is not the node's bytes";
    EXPECT_TRUE(parse_cache_etag(field(*gz, "ETag"))) << describe(gz);
    // Same key (gzip asked of the node), identity preferred, or a Cookie: the decoded bytes.
    for (const std::string extra : {"Accept-Encoding: gzip;q=0.5, identity\r\n",
                                    "Accept-Encoding: gzip\r\nCookie: a=1\r\n"}) {
        SCOPED_TRACE(extra);
        auto r = c.get(url, extra);
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(field(r, "X-Cache"), "HIT") << describe(r);
        EXPECT_EQ(field(r, "Content-Encoding"), "") << describe(r);
        EXPECT_EQ(field(r, "Content-Length"), std::to_string(text.size())) << describe(r);
        EXPECT_TRUE(r->body() == text) << "the stored identity is not the decoded node gzip";
        EXPECT_NE(field(r, "ETag"), field(gz, "ETag")) << describe(r);
    }
    const auto heads = node.heads_for(url);
    ASSERT_EQ(heads.size(), 1u);
    EXPECT_EQ(head_field(heads[0], "Accept-Encoding"), "gzip") << heads[0];
    EXPECT_FALSE(head_has(heads[0], "Via")) << heads[0];
    const auto m = proxy.metrics();
    EXPECT_EQ(sample(m, "bcp_cache_decode_faults_total"), 0.0) << m;
    EXPECT_EQ(sample(m, "bcp_cache_compressions_total{coding=\"br\"}"), 0.0) << m;
}

// ---------------------------------------------------------------------------------------------
// 4./5. What the cache must not transform, and whom it serves identity.

// A compressible control body (no no-transform), filled after `url`, whose br variant appearing
// shows the compressor has gone past anything queued before it (one worker, FIFO).
void wait_for_compressor(std::uint16_t port, const std::string& control_url) {
    auto r = get_until_coding(port, control_url, "br", "br");
    ASSERT_EQ(field(r, "Content-Encoding"), "br") << describe(r);
}

TEST(EncodingPolicy, NoTransformResponsesAreServedAsTheNodeCodedThem) {
    const std::string js = generated_js(90 * 1024, 41);
    const std::string control = generated_js(90 * 1024, 42);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "nt.js") {
            return {with_length(ok_head("application/javascript", "max-age=60, no-transform"), js)};
        }
        if (target == mount + "control.js") {
            return {with_length(ok_head("application/javascript", "max-age=60"), control)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "nt.js";
    for (const std::string ae : {"br", "gzip, deflate, br, zstd"}) {
        SCOPED_TRACE("Accept-Encoding: " + ae);
        client c(proxy.port());
        auto cold = c.get(url, ae_header(ae));
        ASSERT_TRUE(cold) << c.last_error();
        EXPECT_EQ(field(cold, "Content-Encoding"), "") << describe(cold);
        EXPECT_TRUE(cold->body() == js);
    }
    wait_for_compressor(proxy.port(), mount + "control.js");
    for (const std::string ae : {"br", "zstd", "gzip", "gzip, deflate, br, zstd"}) {
        SCOPED_TRACE("warm, Accept-Encoding: " + ae);
        client c(proxy.port());
        auto warm = c.get(url, ae_header(ae));
        ASSERT_TRUE(warm) << c.last_error();
        if (ae == "br" || ae == "gzip, deflate, br, zstd") {
            EXPECT_EQ(field(warm, "X-Cache"), "HIT") << describe(warm);
        }
        EXPECT_EQ(field(warm, "Content-Encoding"), "") << describe(warm);
        EXPECT_TRUE(warm->body() == js);
        EXPECT_EQ(field(warm, "Cache-Control"), "max-age=60, no-transform") << describe(warm);
    }
    // Stored (kept apart per Accept-Encoding, being opaque): the warm requests for the two
    // values asked cold reached no node.
    EXPECT_LE(node.requests_for(url), 4u);
}

// The same bytes under two URLs, one with no-transform: the body is stored once
// (content-addressed) and gets variants through the other URL, but the no-transform entry must
// still be served as the node coded it.
TEST(EncodingPolicy, NoTransformHoldsWhenTheSharedBodyHasVariants) {
    const std::string js = generated_js(90 * 1024, 43);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "nt.js") {
            return {with_length(ok_head("application/javascript", "max-age=60, no-transform"), js)};
        }
        if (target == mount + "plain.js") {
            return {with_length(ok_head("application/javascript", "max-age=60"), js)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    wait_for_compressor(proxy.port(), mount + "plain.js");
    for (int round = 0; round < 2; ++round) {
        client c(proxy.port());
        auto r = c.get(mount + "nt.js", "Accept-Encoding: br\r\n");
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(field(r, "X-Cache"), round == 0 ? "MISS" : "HIT") << describe(r);
        EXPECT_EQ(field(r, "Content-Encoding"), "") << describe(r);
        EXPECT_TRUE(r->body() == js);
    }
    EXPECT_EQ(node.requests_for(mount + "nt.js"), 1u);
}

TEST(EncodingPolicy, CookieAndAuthorizationRequestsGetIdentity) {
    const std::string js = generated_js(100 * 1024, 51);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "public.js") {
            // With an ETag, as nginx sends for static files.
            return {with_length(
                ok_head("application/javascript", "public, max-age=60", "ETag: \"node-2\"\r\n"),
                js)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "public.js";
    auto br = get_until_coding(proxy.port(), url, "br", "br");
    ASSERT_EQ(field(br, "Content-Encoding"), "br") << describe(br);
    const std::string br_etag = field(*br, "ETag");
    std::string identity_etag;
    for (const std::string secret : {"Cookie: session=abc", "Authorization: Bearer abc"}) {
        for (const std::string ae : {"br", "gzip, deflate, br, zstd", "gzip"}) {
            SCOPED_TRACE(secret + ", Accept-Encoding: " + ae);
            client c(proxy.port());
            auto r = c.get(url, ae_header(ae) + secret + "\r\n");
            ASSERT_TRUE(r) << c.last_error();
            EXPECT_EQ(r->result_int(), 200u) << describe(r);
            EXPECT_EQ(field(r, "Content-Encoding"), "") << describe(r);
            EXPECT_TRUE(r->body() == js);
            if (ae == "br") {
                EXPECT_EQ(field(r, "X-Cache"), "HIT") << describe(r);
                identity_etag = field(*r, "ETag");
                EXPECT_NE(identity_etag, br_etag);
                // The br validator is not theirs; the identity one is.
                auto other =
                    c.get(url, ae_header(ae) + secret + "\r\nIf-None-Match: " + br_etag + "\r\n");
                ASSERT_TRUE(other) << c.last_error();
                EXPECT_EQ(other->result_int(), 200u) << describe(other);
                EXPECT_EQ(field(other, "Content-Encoding"), "") << describe(other);
                auto same = c.get(
                    url, ae_header(ae) + secret + "\r\nIf-None-Match: " + identity_etag + "\r\n");
                ASSERT_TRUE(same) << c.last_error();
                EXPECT_EQ(same->result_int(), 304u) << describe(same);
            }
        }
    }
    // Without the secret, br again.
    client c(proxy.port());
    auto again = c.get(url, "Accept-Encoding: br\r\n");
    ASSERT_TRUE(again);
    EXPECT_EQ(field(again, "Content-Encoding"), "br") << describe(again);
}

// docs/architecture.md "Asset cache": client-facing ETags are strong, derived from the identity
// bytes and the coding, distinct per coding; the node's own ETag only serves revalidation. So a
// node that sends none (Last-Modified only) still gives each coding its own ETag.
TEST(EncodingPolicy, EachCodingHasItsOwnETagAlsoWhenTheNodeSentNone) {
    const std::string js = generated_js(100 * 1024, 71);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "no-etag.js") {
            return {with_length(ok_head("application/javascript", "max-age=60",
                                        "Last-Modified: Tue, 01 Oct 2024 10:00:00 GMT\r\n"),
                                js)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "no-etag.js";
    auto br = get_until_coding(proxy.port(), url, "br", "br");
    ASSERT_EQ(field(br, "Content-Encoding"), "br") << describe(br);
    client c(proxy.port());
    auto identity = c.get(url);
    ASSERT_TRUE(identity) << c.last_error();
    EXPECT_EQ(field(identity, "Content-Encoding"), "") << describe(identity);
    const std::string br_etag = field(*br, "ETag");
    const std::string identity_etag = field(*identity, "ETag");
    const auto br_parsed = parse_cache_etag(br_etag);
    const auto identity_parsed = parse_cache_etag(identity_etag);
    EXPECT_TRUE(br_parsed && br_parsed->coding == "br") << describe(br);
    EXPECT_TRUE(identity_parsed && identity_parsed->coding.empty()) << describe(identity);
    EXPECT_NE(br_etag, identity_etag);
    // Last-Modified still validates.
    auto ims =
        c.get(url, "Accept-Encoding: br\r\nIf-Modified-Since: Tue, 01 Oct 2024 10:00:00 GMT\r\n");
    ASSERT_TRUE(ims) << c.last_error();
    EXPECT_EQ(ims->result_int(), 304u) << describe(ims);
}

// A node answering in a coding the proxy did not ask for (br to a gzip request, gzip to a request
// without Accept-Encoding, without Vary): stored as it came, served from the cache only to
// clients with the same Accept-Encoding; everyone else goes to the node.
TEST(EncodingPolicy, CodingsTheProxyDidNotAskForAreServedOnlyToTheSameAcceptEncoding) {
    const std::string bytes = "not really brotli, and nobody decodes it here " + pattern(5000);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "odd.js") {
            return {with_length(
                ok_head("application/javascript", "max-age=60", "Content-Encoding: br\r\n"),
                bytes)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "odd.js";
    client c(proxy.port());
    for (const char* expected : {"MISS", "HIT"}) {
        auto r = c.get(url, "Accept-Encoding: gzip, br\r\n");
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(field(r, "X-Cache"), expected) << describe(r);
        EXPECT_EQ(field(r, "Content-Encoding"), "br") << describe(r);
        EXPECT_TRUE(r->body() == bytes);
    }
    EXPECT_EQ(node.requests_for(url), 1u);
    std::size_t expected_requests = 1;
    for (const std::string ae : {"", "gzip", "identity", "gzip, deflate"}) {
        SCOPED_TRACE("Accept-Encoding: " + ae);
        auto r = c.get(url, ae_header(ae));
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_NE(field(r, "X-Cache"), "HIT") << describe(r);
        EXPECT_EQ(node.requests_for(url), ++expected_requests);
    }
}

// A no-transform gzip from the node (asked for) is stored as it came and never served to a
// client that does not take gzip, although the node sent no Vary.
TEST(EncodingPolicy, NoTransformGzipReachesOnlyClientsThatTakeGzip) {
    const std::string js = generated_js(60 * 1024, 44);
    const std::string js_gzip = gzip(js, 6);
    raw_node node([&](const std::string& target, const std::string& head) -> reply {
        if (target == mount + "ntgz.js") {
            const std::string cc = "max-age=60, no-transform";
            return {head_field(head, "Accept-Encoding") == "gzip"
                        ? with_length(
                              ok_head("application/javascript", cc, "Content-Encoding: gzip\r\n"),
                              js_gzip)
                        : with_length(ok_head("application/javascript", cc), js)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "ntgz.js";
    client c(proxy.port());
    for (const char* expected : {"MISS", "HIT"}) {
        auto r = c.get(url, "Accept-Encoding: gzip, deflate, br\r\n");
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(field(r, "X-Cache"), expected) << describe(r);
        EXPECT_EQ(field(r, "Content-Encoding"), "gzip") << describe(r);
        EXPECT_TRUE(r->body() == js_gzip) << "no-transform: the node's gzip bytes, unchanged";
    }
    for (const std::string ae : {"", "br", "identity", "gzip;q=0, br"}) {
        SCOPED_TRACE("Accept-Encoding: " + ae);
        auto r = c.get(url, ae_header(ae));
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(field(r, "Content-Encoding"), "") << describe(r);
        EXPECT_TRUE(r->body() == js);
    }
}

// Revalidating a stale encodable entry (the node answers 304) keeps its body and variants: the
// REVALIDATED response is br with the same ETag as before.
TEST(EncodingFill, RevalidationKeepsTheEncodedVariants) {
    const std::string js = generated_js(90 * 1024, 32);
    raw_node node([&](const std::string& target, const std::string& head) -> reply {
        if (target != mount + "short.js") {
            return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
        }
        if (head_field(head, "If-None-Match") == "\"node-7\"") {
            return {
                "HTTP/1.1 304 Not Modified\r\nETag: \"node-7\"\r\nCache-Control: max-age=2\r\n"
                "\r\n"};
        }
        return {with_length(ok_head("application/javascript", "max-age=2", "ETag: \"node-7\"\r\n"),
                            js)};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "short.js";
    auto br = get_until_coding(proxy.port(), url, "br", "br");
    ASSERT_EQ(field(br, "Content-Encoding"), "br") << describe(br);
    std::optional<response> revalidated;
    const bool seen = eventually_every(
        [&] {
            client c(proxy.port());
            revalidated = c.get(url, "Accept-Encoding: br\r\n");
            return revalidated && field(*revalidated, "X-Cache") == "REVALIDATED";
        },
        15s);
    ASSERT_TRUE(seen) << describe(revalidated);
    EXPECT_EQ(revalidated->result_int(), 200u) << describe(revalidated);
    EXPECT_EQ(field(revalidated, "Content-Encoding"), "br") << describe(revalidated);
    EXPECT_EQ(field(revalidated, "ETag"), field(br, "ETag")) << describe(revalidated);
    const auto body = unbrotli(revalidated->body());
    ASSERT_TRUE(body);
    EXPECT_TRUE(*body == js);
    const auto heads = node.heads_for(url);
    ASSERT_GE(heads.size(), 2u);
    EXPECT_EQ(head_field(heads[0], "If-None-Match"), "");
    EXPECT_EQ(head_field(heads.back(), "If-None-Match"), "\"node-7\"") << heads.back();
    EXPECT_EQ(proxy.metric("bcp_cache_compressions_total{coding=\"br\"}"), 1.0);
}

// RFC 9110 §7.7 and RFC 9111 §5.2.1.6: a proxy MUST NOT transform the content of a response to
// a request with Cache-Control: no-transform. The node sent identity, so such a client gets
// identity, not a coding the proxy made.
TEST(EncodingPolicy, RequestNoTransformGetsNoCodingOfTheProxysOwn) {
    const std::string js = generated_js(90 * 1024, 45);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "app.js") {
            return {with_length(
                ok_head("application/javascript", "max-age=60", "ETag: \"node-8\"\r\n"), js)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "app.js";
    for (const std::string coding : {"br", "zstd"}) {
        auto r = get_until_coding(proxy.port(), url, coding, coding);
        ASSERT_EQ(field(r, "Content-Encoding"), coding) << describe(r);
    }
    client c(proxy.port());
    auto r = c.get(url, "Accept-Encoding: br, zstd\r\nCache-Control: no-transform\r\n");
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->result_int(), 200u) << describe(r);
    EXPECT_EQ(field(r, "Content-Encoding"), "") << describe(r);
    EXPECT_TRUE(r->body() == js);
}

// A node that compresses without saying Vary (gzip_vary is off in Ubuntu's nginx.conf, which BBB
// nodes use): the representation still depends on Accept-Encoding through the proxy, which
// negotiates, so every 200 for the URL says Vary: Accept-Encoding, the streamed MISS included
// (RFC 9110 §12.5.5), or a shared cache behind it may store the gzip for clients without gzip.
TEST(EncodingFill, MissResponsesSayVaryAcceptEncodingWhenTheNodeDoesNot) {
    const std::string js = generated_js(60 * 1024, 33);
    const std::string js_gzip = gzip(js, 1);
    raw_node node([&](const std::string&, const std::string& head) -> reply {
        const std::string etag = "ETag: \"node-9\"\r\n";
        return {head_field(head, "Accept-Encoding") == "gzip"
                    ? with_length(ok_head("application/javascript", "max-age=60",
                                          etag + "Content-Encoding: gzip\r\n"),
                                  js_gzip)
                    : with_length(ok_head("application/javascript", "max-age=60", etag), js)};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    for (const std::string ae : {"gzip, deflate, br", ""}) {
        SCOPED_TRACE("Accept-Encoding: " + ae);
        const std::string url = mount + "novary.js?ae=" + std::to_string(ae.size());
        client c(proxy.port());
        auto miss = c.get(url, ae_header(ae));
        ASSERT_TRUE(miss) << c.last_error();
        EXPECT_EQ(field(miss, "X-Cache"), "MISS") << describe(miss);
        EXPECT_EQ(field(miss, "Content-Encoding"), ae.empty() ? "" : "gzip") << describe(miss);
        EXPECT_TRUE(varies_on_accept_encoding(*miss)) << describe(miss);
        auto hit = c.get(url, ae_header(ae));
        ASSERT_TRUE(hit) << c.last_error();
        EXPECT_EQ(field(hit, "X-Cache"), "HIT") << describe(hit);
        EXPECT_TRUE(varies_on_accept_encoding(*hit)) << describe(hit);
    }
}

// ---------------------------------------------------------------------------------------------
// Negotiation and what the node is asked.

TEST(EncodingNegotiation, HitsFollowQValuesWithTiesBrZstdGzipIdentity) {
    const std::string js = generated_js(100 * 1024, 61);
    raw_node node([&](const std::string& target, const std::string&) -> reply {
        if (target == mount + "app.js") {
            return {with_length(
                ok_head("application/javascript", "max-age=60", "ETag: \"node-6\"\r\n"), js)};
        }
        return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string url = mount + "app.js";
    for (const std::string coding : {"br", "zstd", "gzip"}) {
        auto r = get_until_coding(proxy.port(), url, coding, coding);
        ASSERT_EQ(field(r, "Content-Encoding"), coding) << describe(r);
    }
    const std::vector<std::pair<std::string, std::string>> table{
        {"gzip, br", "br"},
        {"zstd, gzip", "zstd"},
        {"br;q=0.5, gzip", "gzip"},
        {"br;q=0.5, zstd;q=0.9, gzip;q=0.1", "zstd"},
        {"zstd, br;q=0.999", "zstd"},
        {"gzip;q=1.0, br;q=1", "br"},
        {"BR", "br"},
        {"Gzip;Q=0.5", "gzip"},
        {"gzip;q=0, br;q=0, zstd;q=0", ""},
        {"identity", ""},
        {"deflate, compress", ""},
        {"*", "br"},
        {"br;q=0, *", "zstd"},
        {"br;q=0, zstd;q=0, *;q=0.5", "gzip"},
        {"identity;q=0.5, gzip;q=0.4", ""},
    };
    client c(proxy.port());
    for (const auto& [ae, expected] : table) {
        SCOPED_TRACE("Accept-Encoding: " + ae);
        auto r = c.get(url, ae_header(ae));
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(r->result_int(), 200u) << describe(r);
        EXPECT_EQ(field(r, "Content-Encoding"), expected) << describe(r);
        EXPECT_EQ(field(r, "X-Cache"), "HIT") << describe(r);
        const auto body = decode(expected, r->body());
        ASSERT_TRUE(body);
        EXPECT_TRUE(*body == js);
    }
    // Several Accept-Encoding lines are one list (RFC 9110 §5.3).
    auto two_lines = c.get(url, "Accept-Encoding: gzip\r\nAccept-Encoding: br\r\n");
    ASSERT_TRUE(two_lines) << c.last_error();
    EXPECT_EQ(field(two_lines, "Content-Encoding"), "br") << describe(two_lines);
    // If-None-Match compares weakly (RFC 9110 §13.1.2), and "*" matches any representation.
    const std::string br_etag = field(*two_lines, "ETag");
    ASSERT_TRUE(parse_cache_etag(br_etag)) << describe(two_lines);
    for (const std::string& inm : {"W/" + br_etag, std::string("*"), "\"other\", " + br_etag}) {
        SCOPED_TRACE("If-None-Match: " + inm);
        auto r = c.get(url, "Accept-Encoding: br\r\nIf-None-Match: " + inm + "\r\n");
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(r->result_int(), 304u) << describe(r);
        EXPECT_EQ(field(r, "ETag"), br_etag) << describe(r);
    }
    EXPECT_EQ(node.requests_for(url), 1u);
}

TEST(EncodingNegotiation, NodeIsAskedForGzipOnlyWhenTheClientTakesItAndNeverGetsVia) {
    raw_node node([&](const std::string&, const std::string&) -> reply {
        return {with_length(ok_head("text/plain", "no-store"), "ok")};
    });
    proxy_child proxy(proxy_config(node.port()));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::vector<std::pair<std::string, std::string>> table{
        // client Accept-Encoding -> what the node gets ("" = no field)
        {"gzip, deflate, br, zstd", "gzip"},
        {"gzip", "gzip"},
        {"GZIP;q=0.5", "gzip"},
        {"br", ""},
        {"br, zstd, deflate", ""},
        {"gzip;q=0, br", ""},
        {"identity", ""},
        {"", ""},
    };
    for (std::size_t i = 0; i < table.size(); ++i) {
        const auto& [ae, asked] = table[i];
        SCOPED_TRACE("Accept-Encoding: " + ae);
        const std::string url = mount + "plain?" + std::to_string(i);
        client c(proxy.port());
        auto r = c.get(url, ae_header(ae) + "Via: 1.1 browser-side-proxy\r\n");
        ASSERT_TRUE(r) << c.last_error();
        EXPECT_EQ(r->result_int(), 200u) << describe(r);
        const auto heads = node.heads_for(url);
        ASSERT_EQ(heads.size(), 1u);
        EXPECT_EQ(head_field(heads[0], "Accept-Encoding"), asked) << heads[0];
        EXPECT_EQ(head_has(heads[0], "Accept-Encoding"), !asked.empty()) << heads[0];
        EXPECT_FALSE(head_has(heads[0], "Via")) << heads[0];
    }
}

}  // namespace
}  // namespace bcp::test
