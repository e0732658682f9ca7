#pragma once
// A per-worker map from a label value (node id, refusal reason) to a block of counters. Only the
// owning worker thread adds entries or writes counters; any thread may read. The owner looks up
// without a lock (nobody else mutates the map); inserting takes the mutex, and so does a reader
// iterating from another thread. Entries are never removed, so references stay valid for the
// worker's life (label values come from the configuration, so the map stays small).

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bcp::observe {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <class T>
class keyed {
  public:
    /// The entry for `key`, created on first use. Owner thread only.
    T& get(std::string_view key) {
        if (auto it = map_.find(key); it != map_.end()) {
            return *it->second;
        }
        std::lock_guard lock(mutex_);
        return *map_.emplace(std::string(key), std::make_unique<T>()).first->second;
    }

    /// Calls f(key, const T&) for every entry; any thread.
    template <class F>
    void for_each(F&& f) const {
        std::lock_guard lock(mutex_);
        for (const auto& [k, v] : map_) {
            f(std::string_view(k), static_cast<const T&>(*v));
        }
    }

  private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::unique_ptr<T>, string_hash, std::equal_to<>> map_;
};

}  // namespace bcp::observe
