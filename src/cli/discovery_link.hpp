#pragma once
// Discovery in `serve` (issue 17): owns the Scalelite poller of the configuration's
// `discovery.scalelite`, merges what it finds into each configuration the server gets (at start
// and at every reload), and asks for a reload when the discovered table changes, so a change in
// Scalelite takes the same path as SIGHUP (the same diff, pools, cache and health state).

#include "config/config.hpp"
#include "discovery/poller.hpp"

#include <boost/asio/ssl/context.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace bcp::cli {

/// The TLS client context the discovery source needs (rediss://, an https:// API), verified
/// like the nodes (upstream.verify, upstream.ca_file), and set into `options`. nullptr when the
/// source is plain, or with `error` set when the context cannot be made.
std::shared_ptr<boost::asio::ssl::context> source_tls(const config::proxy_config& cfg,
                                                      discovery::source_options& options,
                                                      std::string& error);

class discovery_link {
  public:
    discovery_link();
    ~discovery_link();
    discovery_link(const discovery_link&) = delete;
    discovery_link& operator=(const discovery_link&) = delete;

    /// Brings the poller in line with `cfg.discovery` (created, replaced when the section
    /// changed, or stopped when it is gone; a new poller first serves its snapshot), then adds the
    /// discovered nodes to `cfg.nodes`: a static node wins a conflicting id (logged once), and a
    /// node whose URL is the proxy itself is skipped. Call start() once the server runs.
    void amend(config::proxy_config& cfg);
    /// Starts polling (after the server started, so the first change can reload it).
    void start();
    /// Where a change asks for its reload (run on the poller's thread; it must post). A change
    /// found before a handler was given (the first poll may beat the caller) is handed to it at
    /// once.
    void on_change(std::function<void()> request_reload);
    void stop();

    /// The poller's state, when there is a poller.
    std::optional<discovery::poller_state> state() const;
    /// How many nodes discovery adds now.
    std::size_t node_count() const;

  private:
    struct source;
    std::unique_ptr<source> current_;  // replaced by amend() only (main or signal thread)
    mutable std::mutex source_mutex_;  // guards current_ against state()/node_count() readers
    mutable std::mutex mutex_;         // guards request_reload_ and missed_change_
    std::function<void()> request_reload_;
    bool missed_change_ = false;  // a change came before on_change() gave a handler
    std::set<std::string> logged_conflicts_;
    bool started_ = false;
};

}  // namespace bcp::cli
