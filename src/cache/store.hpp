#pragma once
// The in-memory cache shared by all workers (DESIGN.md §4): a sharded index of immutable entries
// and a content-addressed body store.
//
// - Entries are immutable once published (shared_ptr<const entry>); a 304 refresh publishes a new
//   entry that shares the old body. A reader keeps what it found alive for as long as it sends it,
//   whatever eviction or purge does meanwhile.
// - The index is split into shards, each with its own mutex held only for a map lookup and an LRU
//   splice: no lock is shared by all workers on the hit path.
// - Bodies are keyed by their SHA-256: identical bundles fetched from N nodes (the same BBB
//   version) are stored once. Memory is charged per distinct body plus per entry (heads, key).
// - Eviction: least recently used, with a second chance for entries hit since they last reached
//   the tail (their hit count is halved instead): recency with a frequency bias, so one-hit
//   wonders in a churn of cold URLs do not push out the client bundle.
// Thread-safe: every public function may be called from any thread.

#include "cache/encoding.hpp"
#include "cache/policy.hpp"
#include "http/request_head.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcp::cache {

using digest = std::array<std::uint8_t, 32>;

/// A body compressed against another stored body as its dictionary (RFC 9842 "dcz"): the
/// dictionary's SHA-256 and the complete dcz bytes (header included), made by the compressor.
struct delta {
    digest dictionary{};
    std::string bytes;
};

/// Response body bytes (the identity coding). Written once by the fill that creates it,
/// immutable once shared as const — except for its encoded variants, which are made later (by the
/// compression pool, or the node's own gzip kept by the fill) and attached at most once each
/// through store::attach_variant. A reader that loaded a variant pointer may use it for as long
/// as it holds the body: a variant is never replaced or freed before the body.
struct body {
    explicit body(std::size_t n);
    ~body();
    body(const body&) = delete;
    body& operator=(const body&) = delete;
    std::unique_ptr<char[]> bytes;
    std::size_t size = 0;
    digest hash{};  ///< SHA-256 of bytes; set when the fill completes
    std::string_view view() const { return {bytes.get(), size}; }

    /// The bytes in coding `c` (identity: the body itself), or nullptr while there are none.
    const std::string* variant(coding c) const {
        return variants_[static_cast<std::size_t>(c)].load(std::memory_order_acquire);
    }
    /// Mask (cache::bit) of the codings available now; identity always.
    unsigned available() const;
    /// Sum of the variants' sizes.
    std::size_t variant_bytes() const;
    /// Set when compression was asked for (once per body, whoever asks first).
    mutable std::atomic<bool> compression_requested{false};
    /// Offered to clients as a compression dictionary (an entry::dictionary entry held it): only
    /// such a body may be named as a dictionary.
    mutable std::atomic<bool> offered{false};

    /// This body as a delta against the stored body with SHA-256 `dictionary`, or nullptr.
    std::shared_ptr<const delta> find_delta(const digest& dictionary) const;
    /// Memory the store charges for it: the bytes, the variants and the deltas.
    std::size_t charge() const;
    /// Deltas attached, and their bytes.
    std::size_t delta_count() const;
    std::size_t delta_bytes() const;

  private:
    friend class store;
    mutable std::mutex deltas_mu_;
    mutable std::vector<std::shared_ptr<const delta>> deltas_;
    /// Sets the variant for `c` if it has none yet; false otherwise (`bytes` then unused).
    bool set_variant(coding c, std::string bytes) const;
    mutable std::array<std::atomic<const std::string*>, coding_count> variants_{};
};

/// Incremental SHA-256 (OpenSSL EVP).
class sha256 {
  public:
    sha256();
    ~sha256();
    sha256(const sha256&) = delete;
    sha256& operator=(const sha256&) = delete;
    void update(const char* data, std::size_t n);
    digest finish();

  private:
    void* ctx_;  // EVP_MD_CTX*
};

/// `d` in lower-case hex (64 characters).
std::string to_hex(const digest& d);

/// A request header nominated by the stored response's Vary, and the value the stored response
/// was selected with (nullopt: the header was absent).
struct vary_field {
    std::string name;  ///< lower case
    std::optional<std::string> value;
};

/// One stored response (a 200 to GET) with everything precomputed for the hit path.
struct entry {
    std::string key;      ///< node id + ' ' + request target (path and query)
    std::string node_id;  ///< for purging one node
    std::vector<vary_field> vary;
    /// The node's response fields as stored (no Age, framing or hop-by-hop fields, no
    /// Set-Cookie): the heads are built from them, and a 304 refresh updates them (§4.3.4).
    std::vector<std::pair<std::string, std::string>> fields;
    std::shared_ptr<const body> content;  ///< set when published; shared with identical bodies
    std::uint64_t length = 0;             ///< body size (Content-Length)
    /// The length was known before the body: always for stored entries; in a fill's streaming
    /// meta only when the node sent a Content-Length (else the flight's end marks it).
    bool sized = true;
    /// "HTTP/1.1 200 OK\r\n" + the client-facing fields, without framing (Content-Length or
    /// Transfer-Encoding), Age, X-Cache, Connection and the final CRLF: the hit path appends
    /// those and sends head + body in one gather write.
    std::string head;
    std::string head_304;  ///< the same for a 304 (RFC 9110 §15.4.5 fields only)
    std::string etag;      ///< as sent by the node (may be empty): for revalidating with it
    /// Served in the coding each client negotiates (cache/encoding.hpp) from `content` (the
    /// identity bytes) and its variants. Then `head`/`head_304` carry no ETag and no
    /// Content-Encoding: the hit path adds the chosen coding's, and `vary` omits
    /// Accept-Encoding (the cache negotiates it itself; the head says Vary: Accept-Encoding).
    bool encodable = false;
    /// Our own compression may make variants (a compressible type, no no-transform).
    bool compress = false;
    /// Offered as a compression dictionary (Use-As-Dictionary in `fields`; RFC 9842): with
    /// `encodable`, it may also be sent as a dcz delta against a dictionary the client names.
    bool dictionary = false;
    bool text = true;  ///< a text type (brotli's text mode)
    /// With `encodable`: the client-facing entity tag per coding (cache::variant_etag: strong,
    /// from the identity bytes' SHA-256, also when the node sent none).
    std::array<std::string, coding_count> etags;
    /// With `encodable`: the coding whose bytes the node's own ETag (`etag`) names — identity
    /// when it sent identity, gzip when it sent the gzip that became the gzip variant. A client
    /// that got the node's ETag from a fill's first answer revalidates with it.
    coding node_etag_coding = coding::identity;
    std::optional<std::time_t> last_modified;
    std::string last_modified_text;
    cache_control cc;
    std::int64_t lifetime = 0;     ///< freshness lifetime, seconds
    std::int64_t initial_age = 0;  ///< corrected initial age, seconds
    std::time_t response_time = 0;
    bool explicitly_public = false;  ///< public or s-maxage: usable for requests with credentials

    std::int64_t age(std::time_t now) const {
        return initial_age + (now > response_time ? now - response_time : 0);
    }
    /// Usable without contacting the node (§4.2: fresh, and no no-cache).
    bool fresh(std::time_t now) const { return !cc.no_cache && lifetime > age(now); }
    /// Seconds since it went stale (0 while fresh).
    std::int64_t stale_for(std::time_t now) const {
        const auto a = age(now);
        return a > lifetime ? a - lifetime : 0;
    }
    /// Memory charged for the entry itself (not its body).
    std::size_t charge() const;
    /// Whether `req` carries the same values for every Vary-nominated header (§4.1).
    bool matches(const http::request_head& req) const;
};

/// The value of a request header for Vary matching: every field line with this name joined by
/// ", " (§4.1), or nullopt when absent.
std::optional<std::string> vary_value(const http::request_head& req, std::string_view name);

struct store_options {
    std::uint64_t max_size = 512ull << 20;         ///< memory for bodies and entries
    std::uint64_t max_object = 64ull << 20;        ///< largest body stored
    std::size_t max_variants = 8;                  ///< Vary variants kept per key (oldest dropped)
    std::size_t max_deltas_per_body = 4;           ///< dictionary deltas (dcz) kept per body
    std::uint64_t max_delta_memory = 64ull << 20;  ///< all deltas together (part of max_size)
    /// Bodies of dictionary entries (entry::dictionary) that no entry holds any more (purged,
    /// replaced, evicted) stay findable as dictionaries up to this much memory (part of
    /// max_size, dropped first when it is exceeded): browsers hold the previous version of the
    /// client after every node is upgraded and purged. 0: none kept.
    std::uint64_t retired_dictionary_memory = 64ull << 20;
};

/// Figures for /metrics; a consistent-enough snapshot (each field read atomically).
struct store_stats {
    std::uint64_t entries = 0;
    std::uint64_t bodies = 0;  ///< distinct bodies
    std::uint64_t memory = 0;  ///< bytes charged against max_size
    std::uint64_t inserts = 0;
    std::uint64_t evictions = 0;
    std::uint64_t deduplicated = 0;  ///< inserts whose body was already stored
    std::uint64_t purged = 0;
    std::uint64_t variant_bytes = 0;  ///< memory of encoded variants (part of `memory`)
    std::uint64_t deltas = 0;         ///< dictionary deltas held
    std::uint64_t delta_bytes = 0;    ///< their memory (part of `memory`)
    std::uint64_t retired = 0;        ///< dictionary bodies kept without an entry
    std::uint64_t retired_bytes = 0;  ///< their memory (part of `memory`)
};

class store {
  public:
    explicit store(store_options options);
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    /// The stored response for `key` whose Vary fields match `req`, or nullptr. Counts as a use
    /// for eviction.
    std::shared_ptr<const entry> find(const std::string& key, const http::request_head& req);

    /// Publishes `e` (with e->content set to the fill's body): the body is replaced by an
    /// identical stored one if there is one, an entry with the same key and Vary values is
    /// replaced, and entries are evicted until memory fits max_size again. Returns the published
    /// entry (its content may differ from the one passed in).
    std::shared_ptr<const entry> insert(std::shared_ptr<entry> e);

    /// Attaches an encoded variant to a stored body (once per coding) and charges its memory.
    /// false when `b` is no longer stored or already has that coding.
    bool attach_variant(const std::shared_ptr<const body>& b, coding c, std::string bytes);

    /// The stored body whose SHA-256 is `hash` (a dictionary a client names), or nullptr.
    std::shared_ptr<const body> find_body(const digest& hash) const;

    /// Attaches `d` (a dcz delta of `b` against a stored dictionary) and charges its memory.
    /// false when `b` is no longer stored, already has a delta for that dictionary, holds
    /// max_deltas_per_body, or the deltas would exceed max_delta_memory.
    bool attach_delta(const std::shared_ptr<const body>& b, delta d);

    /// Drops `e` if it is still the published entry for its key and variant (a node answered
    /// that it no longer exists, e.g. 404 on revalidation).
    void remove(const std::shared_ptr<const entry>& e);

    /// Drops every entry (node_id empty: also the retired dictionary bodies) or those of one node
    /// (their dictionary bodies are retired). Returns how many entries were dropped.
    std::size_t purge(std::string_view node_id = {});

    store_stats stats() const;
    const store_options& options() const { return options_; }

  private:
    struct item {
        std::shared_ptr<const entry> e;
        std::uint64_t tick = 0;  ///< last use (global counter), for choosing a victim shard
        std::uint32_t hits = 0;  ///< uses since it last reached the tail
    };
    using lru_list = std::list<item>;
    struct shard {
        std::mutex mu;
        std::unordered_map<std::string, std::vector<lru_list::iterator>> index;
        lru_list lru;  ///< front = most recent
    };
    struct body_slot {
        std::shared_ptr<const body> b;
        std::size_t refs = 0;  ///< entries holding it; 0: retired (a dictionary kept)
    };
    struct digest_hash {
        std::size_t operator()(const digest& d) const;
    };
    using body_table = std::unordered_map<digest, body_slot, digest_hash>;

    shard& shard_for(const std::string& key);
    std::shared_ptr<const body> intern(const std::shared_ptr<const body>& b);
    /// One entry less holds `b`; with none left it is dropped, or retired when `dictionary`.
    void release(const std::shared_ptr<const body>& b, bool dictionary);
    // bodies_mu_ held: uncharges and erases a body; drops retired ones (oldest first) until they
    // fit `limit`.
    void erase_body(body_table::iterator it);
    void trim_retired(std::uint64_t limit);
    // Unlinks `it` from shard `s` (s.mu held); returns the entry for releasing outside the lock.
    std::shared_ptr<const entry> unlink(shard& s, lru_list::iterator it);
    void dropped(const std::shared_ptr<const entry>& e);
    void evict_to_fit();
    bool evict_one();

    store_options options_;
    static constexpr std::size_t shard_count = 16;
    std::array<shard, shard_count> shards_;
    mutable std::mutex bodies_mu_;
    body_table bodies_;
    std::mutex evict_mu_;
    std::atomic<std::uint64_t> tick_{0};
    std::atomic<std::uint64_t> memory_{0};
    std::atomic<std::uint64_t> entries_{0};
    std::atomic<std::uint64_t> body_count_{0};
    std::atomic<std::uint64_t> inserts_{0};
    std::atomic<std::uint64_t> evictions_{0};
    std::atomic<std::uint64_t> deduplicated_{0};
    std::atomic<std::uint64_t> purged_{0};
    std::atomic<std::uint64_t> variant_bytes_{0};
    std::atomic<std::uint64_t> deltas_{0};
    std::atomic<std::uint64_t> delta_bytes_{0};
    std::list<digest> retired_;  ///< under bodies_mu_, oldest first
    std::atomic<std::uint64_t> retired_bytes_{0};
};

}  // namespace bcp::cache
