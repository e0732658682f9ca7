#pragma once
// What discovery serves from one poll to the next (issue 17), as a pure state machine: the caller
// passes each poll's outcome and the time, the tracker answers the node table to serve and
// whether it changed. The rules are the "failure is never an empty table":
//   - a failed poll changes nothing (the last good table stays);
//   - a server gone from Scalelite's `servers` stays routed for `removal_grace` (its meetings may
//     run on), and comes back at once if it reappears;
//   - an empty `servers` set read successfully is believed only when the next read, one interval
//     later, is empty too (a Redis flushed or restarted empty must not empty the proxy at once).
// The table can be saved to and restored from a snapshot file, so a proxy restarted while Redis
// is down serves what it served before.

#include "discovery/scalelite.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace bcp::discovery {

class tracker {
  public:
    using clock = std::chrono::system_clock;  // snapshots carry it across restarts

    explicit tracker(std::chrono::milliseconds removal_grace) : grace_(removal_grace) {}

    /// A successful poll: the nodes Scalelite has now. Returns true when the table to serve
    /// changed (a node added, removed, or with another url).
    bool observe(const std::vector<discovered_node>& now_present, clock::time_point now);
    /// Time passing without a successful poll still ends graces: true when the table changed.
    bool tick(clock::time_point now);

    /// The table to serve, sorted by id: present nodes and those within their grace.
    std::vector<discovered_node> table() const;
    /// Nodes no longer in Scalelite but still routed, with when they went.
    struct leaving {
        std::string id;
        clock::time_point since;
    };
    std::vector<leaving> in_grace() const;

    /// The table as JSON (every node with its url, Scalelite id, state, and `gone_since` for a
    /// node in its grace), for the snapshot file.
    std::string to_json() const;
    /// Restores a table from to_json()'s text. False (and `error`) when the text is not one:
    /// then nothing changes.
    bool from_json(const std::string& text, std::string& error);

  private:
    struct item {
        discovered_node node;
        std::optional<clock::time_point> gone_since;
    };
    bool expire(clock::time_point now);

    std::chrono::milliseconds grace_;
    std::vector<item> items_;  // sorted by node id
    bool pending_empty_ = false;
};

}  // namespace bcp::discovery
