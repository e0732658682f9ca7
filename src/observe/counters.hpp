#pragma once
// Counters an operator relies on (DESIGN.md §6: behaviour is a counter, not a log line). Each
// worker owns one `counters` (written only by its thread, read by anyone: relaxed atomics, no
// shared cache line between workers); `snapshot` sums them for reporting.

#include "observe/refusals.hpp"

#include <atomic>
#include <cstdint>
#include <vector>

namespace bcp::observe {

struct counters {
    using counter = std::atomic<std::uint64_t>;
    counter connections_accepted{0};
    counter connections_refused{0};  ///< over the connection cap
    counter connections_active{0};
    counter requests{0};  ///< complete request heads read
    counter responses_2xx{0};
    counter responses_3xx{0};
    counter responses_4xx{0};
    counter responses_5xx{0};
    counter rejected{0};           ///< refused by the gate (4xx before routing)
    counter not_found{0};          ///< unknown node or mount
    counter upstream_errors{0};    ///< 502 answers
    counter upstream_timeouts{0};  ///< 504 answers
    counter upstream_retries{0};   ///< stale pooled connection, retried once on a fresh one
    counter node_unavailable{0};   ///< 503 answers: the node is marked unhealthy
    counter client_timeouts{0};    ///< head/idle/send deadline closed a client connection
    counter tunnels_opened{0};
    counter tunnels_active{0};
    counter bytes_to_clients{0};  ///< response body bytes relayed
    refusal_counters refusals;    ///< refused or cut clients, by reason (observe/refusals.hpp)

    void count_status(unsigned status) {
        auto& c = status < 300   ? responses_2xx
                  : status < 400 ? responses_3xx
                  : status < 500 ? responses_4xx
                                 : responses_5xx;
        c.fetch_add(1, std::memory_order_relaxed);
    }
};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace bcp::observe
