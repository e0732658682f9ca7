#include "proxy/ip_limits.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace bcp::proxy {

struct ip_limits::slot {
    ip_key key;
    std::uint32_t connections = 0;
    bool used = false;
    double tokens = 0;          // bucket level at `stamp_ms`
    std::int64_t stamp_ms = 0;  // last time this address was seen
};

struct alignas(64) ip_limits::shard {
    std::mutex mutex;
};

namespace {

std::int64_t now_ms(ip_limits::clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finalizer
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

}  // namespace

ip_key ip_key::from(const asio::ip::address& a) {
    ip_key k;
    if (a.is_v4()) {
        const auto v4 = a.to_v4().to_bytes();
        k.bytes[10] = 0xff;
        k.bytes[11] = 0xff;
        std::copy(v4.begin(), v4.end(), k.bytes.begin() + 12);
        return k;
    }
    const auto v6 = a.to_v6();
    if (v6.is_v4_mapped()) {
        return from(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
    }
    const auto b = v6.to_bytes();
    std::copy(b.begin(), b.begin() + 8, k.bytes.begin());  // the /64
    return k;
}

ip_connection& ip_connection::operator=(ip_connection&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = o.owner_;
        key_ = o.key_;
        o.owner_ = nullptr;
    }
    return *this;
}

void ip_connection::release() {
    if (owner_ != nullptr) {
        owner_->disconnect(key_);
        owner_ = nullptr;
    }
}

ip_limits::ip_limits(const options& o) : options_(o) {
    options_.burst = std::max(1.0, options_.burst);
    if (options_.max_connections == 0 && options_.rate <= 0) {
        return;  // both off: no table
    }
    std::random_device rd;
    seed_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    shards_ = std::make_unique<shard[]>(shards);
    slots_ = std::make_unique<slot[]>(shards * slots_per_shard);
}

ip_limits::~ip_limits() = default;

// The shard and the first slot of the key's window. The window stays inside the shard's own
// slots (no wrap into the next shard, whose mutex is not held).
std::pair<ip_limits::shard*, std::size_t> ip_limits::locate(const ip_key& key) const {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    std::memcpy(&hi, key.bytes.data(), 8);
    std::memcpy(&lo, key.bytes.data() + 8, 8);
    const std::uint64_t h = mix(mix(hi ^ seed_) ^ lo);
    const std::size_t index = h % shards;
    return {&shards_[index],
            index * slots_per_shard + (h / shards) % (slots_per_shard - window + 1)};
}

// An entry that holds no connection and whose bucket has refilled is indistinguishable from no
// entry at all, so its slot may be reused without losing anything.
bool ip_limits::is_free(const slot& s, std::int64_t now) const {
    if (!s.used) {
        return true;
    }
    if (s.connections != 0) {
        return false;
    }
    if (options_.rate <= 0) {
        return true;
    }
    const double level = s.tokens + static_cast<double>(now - s.stamp_ms) * options_.rate / 1000.0;
    return level >= options_.burst;
}

ip_limits::slot* ip_limits::find(std::size_t base, const ip_key& key) {
    for (std::size_t i = 0; i < window; ++i) {
        slot& s = slots_[base + i];
        if (s.used && s.key == key) {
            return &s;
        }
    }
    return nullptr;
}

ip_limits::slot* ip_limits::find_or_insert(std::size_t base, const ip_key& key, std::int64_t now) {
    if (slot* s = find(base, key)) {
        return s;
    }
    slot* chosen = nullptr;
    slot* oldest_idle = nullptr;
    for (std::size_t i = 0; i < window; ++i) {
        slot& s = slots_[base + i];
        if (is_free(s, now)) {
            chosen = &s;
            break;
        }
        if (s.connections == 0 && (oldest_idle == nullptr || s.stamp_ms < oldest_idle->stamp_ms)) {
            oldest_idle = &s;
        }
    }
    if (chosen == nullptr && oldest_idle != nullptr) {
        chosen = oldest_idle;
        evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    if (chosen == nullptr) {
        untracked_.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
    }
    chosen->key = key;
    chosen->used = true;
    chosen->connections = 0;
    chosen->tokens = options_.burst;
    chosen->stamp_ms = now;
    return chosen;
}

bool ip_limits::try_connect(const ip_key& key, ip_connection& out) {
    out = ip_connection();
    if (!enabled() || options_.max_connections == 0) {
        return true;
    }
    const auto [sh, base] = locate(key);
    std::lock_guard lock(sh->mutex);
    slot* s = find_or_insert(base, key, now_ms(clock::now()));
    if (s == nullptr) {
        return true;  // untracked: served, counted in untracked()
    }
    if (s->connections >= options_.max_connections) {
        return false;
    }
    ++s->connections;
    out = ip_connection(this, key);
    return true;
}

void ip_limits::disconnect(const ip_key& key) {
    const auto [sh, base] = locate(key);
    std::lock_guard lock(sh->mutex);
    if (slot* s = find(base, key); s != nullptr && s->connections != 0) {
        --s->connections;
    }
}

unsigned ip_limits::take_request(const ip_key& key, clock::time_point now_tp) {
    if (!enabled() || options_.rate <= 0) {
        return 0;
    }
    const auto [sh, base] = locate(key);
    const std::int64_t now = now_ms(now_tp);
    std::lock_guard lock(sh->mutex);
    slot* s = find_or_insert(base, key, now);
    if (s == nullptr) {
        return 0;
    }
    const double elapsed = static_cast<double>(std::max<std::int64_t>(0, now - s->stamp_ms));
    s->tokens = std::min(options_.burst, s->tokens + elapsed * options_.rate / 1000.0);
    s->stamp_ms = std::max(now, s->stamp_ms);
    if (s->tokens >= 1.0) {
        s->tokens -= 1.0;
        return 0;
    }
    const double wait = (1.0 - s->tokens) / options_.rate;
    return std::max(1u, static_cast<unsigned>(std::ceil(wait)));
}

std::size_t ip_limits::connections(const ip_key& key) {
    if (!enabled()) {
        return 0;
    }
    const auto [sh, base] = locate(key);
    std::lock_guard lock(sh->mutex);
    const slot* s = find(base, key);
    return s != nullptr ? s->connections : 0;
}

}  // namespace bcp::proxy
