#include "cache/store.hpp"

#include "core/text.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace bcp::cache {
namespace {

// Bookkeeping per entry beyond its strings: the entry object, list node, index slot, shared_ptr
// control blocks. An estimate; it keeps a flood of tiny entries from escaping the bound.
constexpr std::size_t entry_overhead = 256;

// Second chances given while looking for one victim before the tail is evicted regardless.
constexpr int max_second_chances = 64;

}  // namespace

body::body(std::size_t n)
    : bytes(std::make_unique_for_overwrite<char[]>(n == 0 ? 1 : n)), size(n) {}

body::~body() {
    for (auto& v : variants_) {
        delete v.load(std::memory_order_relaxed);
    }
}

unsigned body::available() const {
    unsigned mask = bit(coding::identity);
    for (std::size_t i = 1; i < coding_count; ++i) {
        if (variants_[i].load(std::memory_order_acquire) != nullptr) {
            mask |= 1u << i;
        }
    }
    return mask;
}

std::size_t body::variant_bytes() const {
    std::size_t n = 0;
    for (const auto& v : variants_) {
        if (const auto* p = v.load(std::memory_order_acquire)) {
            n += p->size();
        }
    }
    return n;
}

std::shared_ptr<const delta> body::find_delta(const digest& dictionary) const {
    std::lock_guard lock(deltas_mu_);
    for (const auto& d : deltas_) {
        if (d->dictionary == dictionary) {
            return d;
        }
    }
    return nullptr;
}

std::size_t body::charge() const {
    return size + variant_bytes() + delta_bytes();
}

std::size_t body::delta_count() const {
    std::lock_guard lock(deltas_mu_);
    return deltas_.size();
}

std::size_t body::delta_bytes() const {
    std::lock_guard lock(deltas_mu_);
    std::size_t n = 0;
    for (const auto& d : deltas_) {
        n += d->bytes.size();
    }
    return n;
}

bool body::set_variant(coding c, std::string bytes) const {
    if (c == coding::identity) {
        return false;
    }
    auto owned = std::make_unique<const std::string>(std::move(bytes));
    const std::string* expected = nullptr;
    if (!variants_[static_cast<std::size_t>(c)].compare_exchange_strong(
            expected, owned.get(), std::memory_order_acq_rel)) {
        return false;
    }
    owned.release();  // NOLINT(bugprone-unused-return-value): owned by the body from now on
    return true;
}

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr ||
        EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1) {
        EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
        throw std::runtime_error("SHA-256 unavailable");
    }
}

sha256::~sha256() {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
}

void sha256::update(const char* data, std::size_t n) {
    EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, n);
}

digest sha256::finish() {
    digest d{};
    unsigned len = 0;
    EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), d.data(), &len);
    return d;
}

std::string to_hex(const digest& d) {
    return bcp::to_hex(d);
}

std::size_t entry::charge() const {
    std::size_t n = entry_overhead + key.size() + node_id.size() + head.size() + head_304.size() +
                    etag.size() + last_modified_text.size();
    for (const auto& tag : etags) {
        n += tag.size();
    }
    for (const auto& v : vary) {
        n += v.name.size() + (v.value ? v.value->size() : 0) + 32;
    }
    for (const auto& [name, value] : fields) {
        n += name.size() + value.size() + 64;
    }
    return n;
}

std::optional<std::string> vary_value(const http::request_head& req, std::string_view name) {
    std::optional<std::string> out;
    for (const auto& f : req.fields) {
        if (http::iequals(f.name, name)) {
            if (!out) {
                out.emplace(f.value);
            } else {
                out->append(", ");
                out->append(f.value);
            }
        }
    }
    return out;
}

bool entry::matches(const http::request_head& req) const {
    for (const auto& v : vary) {
        // The common case (one field line) compares views without building a string.
        if (req.count(v.name) <= 1) {
            const auto found = req.find(v.name);
            const bool present = found.data() != nullptr;
            if (present != v.value.has_value() || (present && found != *v.value)) {
                return false;
            }
        } else if (vary_value(req, v.name) != v.value) {
            return false;
        }
    }
    return true;
}

std::size_t store::digest_hash::operator()(const digest& d) const {
    std::size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
}

store::store(store_options options) : options_(options) {}

store::~store() = default;

store::shard& store::shard_for(const std::string& key) {
    return shards_[std::hash<std::string>{}(key) % shard_count];
}

std::shared_ptr<const entry> store::find(const std::string& key, const http::request_head& req) {
    shard& s = shard_for(key);
    std::lock_guard lock(s.mu);
    const auto slot = s.index.find(key);
    if (slot == s.index.end()) {
        return nullptr;
    }
    for (const auto it : slot->second) {
        if (it->e->matches(req)) {
            it->tick = tick_.fetch_add(1, std::memory_order_relaxed);
            it->hits = std::min<std::uint32_t>(it->hits + 1, 1u << 20);
            s.lru.splice(s.lru.begin(), s.lru, it);
            return it->e;
        }
    }
    return nullptr;
}

std::shared_ptr<const body> store::intern(const std::shared_ptr<const body>& b) {
    std::lock_guard lock(bodies_mu_);
    auto [it, inserted] = bodies_.try_emplace(b->hash);
    if (!inserted && it->second.refs == 0) {
        // A retired dictionary body: an entry holds it again.
        std::erase(retired_, it->first);
        retired_bytes_.fetch_sub(it->second.b->charge(), std::memory_order_relaxed);
    }
    if (!inserted && it->second.b == b) {
        it->second.refs++;  // a refreshed entry keeping its body
        return b;
    }
    if (!inserted) {
        // SHA-256 collisions are not a practical concern, but a size mismatch would be a
        // programming error upstream of us: never hand out different bytes under one hash.
        if (it->second.b->size == b->size &&
            std::memcmp(it->second.b->bytes.get(), b->bytes.get(), b->size) == 0) {
            it->second.refs++;
            deduplicated_.fetch_add(1, std::memory_order_relaxed);
            return it->second.b;
        }
        if (it->second.refs == 0) {
            erase_body(it);  // never reached in practice; keep the table consistent
        }
        return nullptr;
    }
    it->second.b = b;
    it->second.refs = 1;
    const std::size_t variants = b->variant_bytes();
    memory_.fetch_add(b->size + variants, std::memory_order_relaxed);
    variant_bytes_.fetch_add(variants, std::memory_order_relaxed);
    body_count_.fetch_add(1, std::memory_order_relaxed);
    return b;
}

void store::release(const std::shared_ptr<const body>& b, bool dictionary) {
    std::lock_guard lock(bodies_mu_);
    const auto it = bodies_.find(b->hash);
    if (it == bodies_.end() || it->second.b != b || it->second.refs == 0) {
        return;
    }
    if (--it->second.refs != 0) {
        return;
    }
    const std::uint64_t charge = b->charge();
    if (!dictionary || charge > options_.retired_dictionary_memory) {
        erase_body(it);
        return;
    }
    // Kept, still charged, as a dictionary clients may name (the newest retired last).
    retired_.push_back(b->hash);
    retired_bytes_.fetch_add(charge, std::memory_order_relaxed);
    trim_retired(options_.retired_dictionary_memory);
}

void store::erase_body(body_table::iterator it) {
    const auto& b = it->second.b;
    // Variants and deltas are attached under bodies_mu_ too, so these are their charged totals.
    const std::size_t variants = b->variant_bytes();
    const std::size_t deltas = b->delta_bytes();
    memory_.fetch_sub(b->size + variants + deltas, std::memory_order_relaxed);
    variant_bytes_.fetch_sub(variants, std::memory_order_relaxed);
    delta_bytes_.fetch_sub(deltas, std::memory_order_relaxed);
    deltas_.fetch_sub(b->delta_count(), std::memory_order_relaxed);
    body_count_.fetch_sub(1, std::memory_order_relaxed);
    bodies_.erase(it);
}

void store::trim_retired(std::uint64_t limit) {
    while (!retired_.empty() && retired_bytes_.load(std::memory_order_relaxed) > limit) {
        const auto it = bodies_.find(retired_.front());
        retired_.pop_front();
        if (it != bodies_.end() && it->second.refs == 0) {
            const auto& b = it->second.b;
            retired_bytes_.fetch_sub(b->charge(), std::memory_order_relaxed);
            erase_body(it);
        }
    }
}

std::shared_ptr<const entry> store::unlink(shard& s, lru_list::iterator it) {
    auto e = std::move(it->e);
    const auto slot = s.index.find(e->key);
    if (slot != s.index.end()) {
        auto& v = slot->second;
        v.erase(std::remove(v.begin(), v.end(), it), v.end());
        if (v.empty()) {
            s.index.erase(slot);
        }
    }
    s.lru.erase(it);
    return e;
}

void store::dropped(const std::shared_ptr<const entry>& e) {
    memory_.fetch_sub(e->charge(), std::memory_order_relaxed);
    entries_.fetch_sub(1, std::memory_order_relaxed);
    release(e->content, e->dictionary);
}

std::shared_ptr<const entry> store::insert(std::shared_ptr<entry> e) {
    auto shared_body = intern(e->content);
    if (!shared_body) {
        return e;  // not stored (hash clash with different bytes); still servable by the caller
    }
    e->content = std::move(shared_body);
    if (e->dictionary) {
        e->content->offered.store(true, std::memory_order_relaxed);
    }
    std::shared_ptr<const entry> published = e;
    std::vector<std::shared_ptr<const entry>> replaced;
    {
        shard& s = shard_for(published->key);
        std::lock_guard lock(s.mu);
        auto& variants = s.index[published->key];
        for (auto it = variants.begin(); it != variants.end();) {
            // Same variant: the one whose Vary fields and values are the same.
            const auto& old = (*it)->e;
            const bool same = old->vary.size() == published->vary.size() &&
                              std::equal(old->vary.begin(), old->vary.end(),
                                         published->vary.begin(), [](const auto& a, const auto& b) {
                                             return a.name == b.name && a.value == b.value;
                                         });
            if (same) {
                replaced.push_back(std::move((*it)->e));
                s.lru.erase(*it);
                it = variants.erase(it);
            } else {
                ++it;
            }
        }
        if (variants.size() >= options_.max_variants && !variants.empty()) {
            // The least recently used variant makes room (a client population sending many
            // distinct values of a Vary header cannot grow one key without bound).
            auto oldest = std::min_element(variants.begin(), variants.end(),
                                           [](auto a, auto b) { return a->tick < b->tick; });
            replaced.push_back(std::move((*oldest)->e));
            s.lru.erase(*oldest);
            variants.erase(oldest);
        }
        s.lru.push_front(item{published, tick_.fetch_add(1, std::memory_order_relaxed), 0});
        variants.push_back(s.lru.begin());
    }
    memory_.fetch_add(published->charge(), std::memory_order_relaxed);
    entries_.fetch_add(1, std::memory_order_relaxed);
    inserts_.fetch_add(1, std::memory_order_relaxed);
    for (const auto& old : replaced) {
        dropped(old);
    }
    evict_to_fit();
    return published;
}

bool store::attach_variant(const std::shared_ptr<const body>& b, coding c, std::string bytes) {
    const std::size_t n = bytes.size();
    {
        std::lock_guard lock(bodies_mu_);
        const auto it = bodies_.find(b->hash);
        if (it == bodies_.end() || it->second.b != b || it->second.refs == 0 ||
            !b->set_variant(c, std::move(bytes))) {
            return false;
        }
        memory_.fetch_add(n, std::memory_order_relaxed);
        variant_bytes_.fetch_add(n, std::memory_order_relaxed);
    }
    evict_to_fit();
    return true;
}

std::shared_ptr<const body> store::find_body(const digest& hash) const {
    std::lock_guard lock(bodies_mu_);
    const auto it = bodies_.find(hash);
    return it == bodies_.end() ? nullptr : it->second.b;
}

bool store::attach_delta(const std::shared_ptr<const body>& b, delta d) {
    const std::size_t n = d.bytes.size();
    {
        std::lock_guard lock(bodies_mu_);
        const auto it = bodies_.find(b->hash);
        if (it == bodies_.end() || it->second.b != b || it->second.refs == 0 ||
            delta_bytes_.load(std::memory_order_relaxed) + n > options_.max_delta_memory) {
            return false;
        }
        std::lock_guard deltas_lock(b->deltas_mu_);
        if (b->deltas_.size() >= options_.max_deltas_per_body ||
            std::any_of(b->deltas_.begin(), b->deltas_.end(),
                        [&](const auto& have) { return have->dictionary == d.dictionary; })) {
            return false;
        }
        b->deltas_.push_back(std::make_shared<const delta>(std::move(d)));
        memory_.fetch_add(n, std::memory_order_relaxed);
        delta_bytes_.fetch_add(n, std::memory_order_relaxed);
        deltas_.fetch_add(1, std::memory_order_relaxed);
    }
    evict_to_fit();
    return true;
}

void store::remove(const std::shared_ptr<const entry>& e) {
    std::shared_ptr<const entry> gone;
    {
        shard& s = shard_for(e->key);
        std::lock_guard lock(s.mu);
        const auto slot = s.index.find(e->key);
        if (slot == s.index.end()) {
            return;
        }
        for (const auto it : slot->second) {
            if (it->e == e) {
                gone = unlink(s, it);
                break;
            }
        }
    }
    if (gone) {
        dropped(gone);
    }
}

std::size_t store::purge(std::string_view node_id) {
    std::size_t n = 0;
    for (auto& s : shards_) {
        std::vector<std::shared_ptr<const entry>> gone;
        {
            std::lock_guard lock(s.mu);
            for (auto it = s.lru.begin(); it != s.lru.end();) {
                const auto next = std::next(it);
                if (node_id.empty() || it->e->node_id == node_id) {
                    gone.push_back(unlink(s, it));
                }
                it = next;
            }
        }
        for (const auto& e : gone) {
            dropped(e);
        }
        n += gone.size();
    }
    if (node_id.empty()) {
        std::lock_guard lock(bodies_mu_);
        trim_retired(0);
    }
    purged_.fetch_add(n, std::memory_order_relaxed);
    return n;
}

void store::evict_to_fit() {
    if (memory_.load(std::memory_order_relaxed) <= options_.max_size) {
        return;
    }
    // One evictor at a time. The others wait rather than go on: fills are the slow path, and
    // letting them publish faster than one evictor frees would overshoot the bound.
    std::lock_guard lock(evict_mu_);
    while (true) {
        {
            // Retired dictionary bodies go first: no entry needs them. That includes the one an
            // eviction just retired, so evicting a dictionary entry frees its body too.
            std::lock_guard bodies_lock(bodies_mu_);
            const auto memory = memory_.load(std::memory_order_relaxed);
            const auto over = memory > options_.max_size ? memory - options_.max_size : 0;
            const auto retired = retired_bytes_.load(std::memory_order_relaxed);
            trim_retired(retired > over ? retired - over : 0);
        }
        if (memory_.load(std::memory_order_relaxed) <= options_.max_size || !evict_one()) {
            break;
        }
    }
}

bool store::evict_one() {
    // The victim shard is the one whose least recently used entry is the oldest: with
    // a global use counter this makes the per-shard lists behave like one LRU list.
    shard* victim = nullptr;
    std::uint64_t oldest = std::numeric_limits<std::uint64_t>::max();
    for (auto& s : shards_) {
        std::lock_guard lock(s.mu);
        if (!s.lru.empty() && s.lru.back().tick < oldest) {
            oldest = s.lru.back().tick;
            victim = &s;
        }
    }
    if (victim == nullptr) {
        return false;
    }
    std::shared_ptr<const entry> gone;
    {
        std::lock_guard lock(victim->mu);
        if (victim->lru.empty()) {
            return true;  // emptied meanwhile by a purge: look again
        }
        for (int chance = 0; chance < max_second_chances; ++chance) {
            auto tail = std::prev(victim->lru.end());
            if (tail->hits == 0) {
                break;
            }
            // Used since it last got here: halve its count and send it back to the front.
            tail->hits /= 2;
            tail->tick = tick_.fetch_add(1, std::memory_order_relaxed);
            victim->lru.splice(victim->lru.begin(), victim->lru, tail);
        }
        gone = unlink(*victim, std::prev(victim->lru.end()));
    }
    dropped(gone);
    evictions_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

store_stats store::stats() const {
    store_stats s;
    s.entries = entries_.load(std::memory_order_relaxed);
    s.bodies = body_count_.load(std::memory_order_relaxed);
    s.memory = memory_.load(std::memory_order_relaxed);
    s.inserts = inserts_.load(std::memory_order_relaxed);
    s.evictions = evictions_.load(std::memory_order_relaxed);
    s.deduplicated = deduplicated_.load(std::memory_order_relaxed);
    s.purged = purged_.load(std::memory_order_relaxed);
    s.variant_bytes = variant_bytes_.load(std::memory_order_relaxed);
    s.deltas = deltas_.load(std::memory_order_relaxed);
    s.retired_bytes = retired_bytes_.load(std::memory_order_relaxed);
    {
        std::lock_guard lock(bodies_mu_);
        s.retired = retired_.size();
    }
    s.delta_bytes = delta_bytes_.load(std::memory_order_relaxed);
    return s;
}

}  // namespace bcp::cache
