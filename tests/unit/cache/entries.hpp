#pragma once
// Stored entries for the cache unit tests: a body with its SHA-256, published like a fill's.

#include "cache/store.hpp"

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace bcp::cache::test {

inline std::shared_ptr<entry> make(const std::string& key, const std::string& node,
                                   const std::string& bytes, std::vector<vary_field> vary = {}) {
    auto b = std::make_shared<body>(bytes.size());
    std::memcpy(b->bytes.get(), bytes.data(), bytes.size());
    sha256 h;
    h.update(bytes.data(), bytes.size());
    b->hash = h.finish();
    auto e = std::make_shared<entry>();
    e->key = key;
    e->node_id = node;
    e->vary = std::move(vary);
    e->content = b;
    e->length = bytes.size();
    e->head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(bytes.size()) + "\r\n";
    return e;
}

}  // namespace bcp::cache::test
