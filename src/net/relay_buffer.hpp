#pragma once
// Relay buffers: the 64 KiB blocks that response bodies pass through on their way from a node to
// a client. Taken per response and handed back when it ends, from a small free list per thread
// (every worker is one thread, so no locks): no allocation, no zero-fill and no page faults per
// response (docs/benchmarks.md, finding 2), and an idle connection holds none.

#include <cstddef>
#include <memory>
#include <vector>

namespace bcp::net {

class relay_buffer {
  public:
    static constexpr std::size_t capacity = 64 * 1024;

    relay_buffer() = default;
    relay_buffer(relay_buffer&&) noexcept = default;
    relay_buffer& operator=(relay_buffer&& other) noexcept {
        release();
        block_ = std::move(other.block_);
        return *this;
    }
    relay_buffer(const relay_buffer&) = delete;
    relay_buffer& operator=(const relay_buffer&) = delete;
    ~relay_buffer() { release(); }

    /// The block, taken from this thread's free list (or allocated, uninitialised) on first use.
    char* data() {
        if (!block_) {
            auto& list = free_list();
            if (list.empty()) {
                block_ = std::make_unique_for_overwrite<char[]>(capacity);
            } else {
                block_ = std::move(list.back());
                list.pop_back();
            }
        }
        return block_.get();
    }
    static constexpr std::size_t size() { return capacity; }

    /// Hands the block back to this thread's free list (kept up to `kept` blocks).
    void release() {
        if (!block_) {
            return;
        }
        auto& list = free_list();
        if (list.size() < kept) {
            list.push_back(std::move(block_));
        }
        block_.reset();
    }

  private:
    static constexpr std::size_t kept = 32;  // 2 MiB per worker at most
    using block = std::unique_ptr<char[]>;
    static std::vector<block>& free_list() {
        thread_local std::vector<block> list;
        return list;
    }
    block block_;
};

}  // namespace bcp::net
