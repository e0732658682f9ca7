#include "discovery/poller.hpp"

#include "core/atomic_file.hpp"
#include "core/coroutine_warnings.hpp"
#include "core/log.hpp"
#include "discovery/api_source.hpp"
#include "net/stream.hpp"

#include <boost/asio/steady_timer.hpp>

#include <fstream>
#include <optional>
#include <set>

namespace bcp::discovery {

awaitable<std::optional<derivation>> read_registry(redis_connection& connection,
                                                   const std::string& namespace_prefix,
                                                   const std::map<std::string, std::string>& ids,
                                                   source_error& error) {
    const std::vector<std::vector<std::string>> members{
        {"SMEMBERS", namespace_prefix + ":servers"}};
    auto set = co_await connection.pipeline(members, error);
    if (!set) {
        co_return std::nullopt;
    }
    const auto server_ids = member_ids(set->front());
    if (!server_ids) {
        error = {source_error::kind::reply,
                 namespace_prefix + ":servers is not a set of ids" +
                     (set->front().type == redis_reply::kind::error ? ": " + set->front().text
                                                                    : std::string())};
        co_return std::nullopt;
    }
    auto hashes =
        co_await connection.pipeline(hgetall_commands(namespace_prefix, *server_ids), error);
    if (!hashes) {
        co_return std::nullopt;
    }
    co_return derive_nodes(records_from(*server_ids, *hashes), ids);
}

struct scalelite_poller::impl {
    impl(poller_options o, change_handler h)
        : options(std::move(o)), on_change(std::move(h)), track(options.source.removal_grace) {}

    poller_options options;
    change_handler on_change;
    asio::io_context io{1};
    asio::steady_timer timer{io};
    std::thread thread;
    bool started = false;
    bool stopping = false;  // the poller thread's: set by stop() through the io_context

    mutable std::mutex mutex;  // guards track's table copy and state
    tracker track;             // the poller thread's; read under the mutex
    poller_state status;
    std::unique_ptr<redis_connection> connection;
    net::stream* api_call = nullptr;     // an API call's stream while it runs (stop() closes it)
    std::set<std::string> logged_skips;  // "id: reason" already logged

    void load_snapshot() {
        if (options.source.snapshot.empty()) {
            return;
        }
        std::ifstream in(options.source.snapshot);
        if (!in) {
            return;  // the first start: nothing saved yet
        }
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        std::string error;
        if (!track.from_json(text, error)) {
            log::get("discovery")
                ->warn("snapshot {}: {}; starting without it", options.source.snapshot, error);
            return;
        }
        status.from_snapshot = true;
        log::get("discovery")
            ->info("snapshot {}: {} nodes until Scalelite answers", options.source.snapshot,
                   track.table().size());
    }

    void publish(bool changed) {
        if (!changed) {
            return;
        }
        const auto table = track.table();
        if (!options.source.snapshot.empty()) {
            std::string error;
            if (!write_file_atomically(options.source.snapshot, track.to_json(), error)) {
                log::get("discovery")->warn("snapshot: {}", error);
            }
        }
        if (on_change) {
            on_change(table);
        }
    }

    // One poll: the records, or nullopt with `error`.
    awaitable<std::optional<derivation>> poll(source_error& error) {
        const auto& src = options.source;
        if (src.api) {
            co_return co_await read_api(*src.api, options.connection, src.ids, error, &api_call);
        }
        if (!connection || !connection->is_open()) {
            connection = co_await redis_connection::open(*src.redis, options.connection, error);
            if (!connection) {
                co_return std::nullopt;
            }
        }
        co_return co_await read_registry(*connection, src.namespace_prefix, src.ids, error);
    }

    void log_skips(const std::vector<skipped_record>& skipped) {
        std::set<std::string> now;
        for (const auto& s : skipped) {
            auto line = s.scalelite_id + ": " + s.reason;
            if (!logged_skips.contains(line)) {
                log::get("discovery")
                    ->warn("Scalelite server {} is not served: {}", s.scalelite_id, s.reason);
            }
            now.insert(std::move(line));
        }
        logged_skips = std::move(now);
    }

    awaitable<void> run() {
        auto backoff = options.source.interval;
        while (true) {
            source_error error;
            auto result = co_await poll(error);
            if (stopping) {
                co_return;  // a poll cut short by stop() is not a failure to report
            }
            const auto now = tracker::clock::now();
            bool changed = false;
            {
                std::lock_guard lock(mutex);
                ++status.polls;
                if (result) {
                    if (!status.up) {
                        log::get("discovery")
                            ->info("Scalelite at {}: {} servers, {} skipped",
                                   options.source.describe(), result->nodes.size(),
                                   result->skipped.size());
                    }
                    status.up = true;
                    status.from_snapshot = false;
                    status.last_error.clear();
                    status.last_success =
                        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch())
                            .count();
                    status.skipped = result->skipped;
                    changed = track.observe(result->nodes, now);
                } else {
                    // Connection errors name the URL already; the log line names it once.
                    const std::string prefix = options.source.describe() + ": ";
                    if (error.message.starts_with(prefix)) {
                        error.message.erase(0, prefix.size());
                    }
                    ++status.errors;
                    if (status.up || status.last_error != error.message) {
                        log::get("discovery")
                            ->warn("Scalelite at {}: {}; serving the last table",
                                   options.source.describe(), error.message);
                    }
                    status.up = false;
                    status.last_error = error.message;
                    changed = track.tick(now);
                    if (connection) {
                        connection->close();
                        connection.reset();
                    }
                }
            }
            if (result) {
                log_skips(result->skipped);
            }
            publish(changed);
            const auto interval = options.source.interval;
            backoff =
                result ? interval : std::min(options.max_backoff, std::max(interval, backoff * 2));
            timer.expires_after(result ? interval : backoff);
            auto [ec] = co_await timer.async_wait(use_nothrow);
            if (ec || stopping) {
                co_return;  // stopped
            }
        }
    }
};

scalelite_poller::scalelite_poller(poller_options options, change_handler on_change)
    : impl_(std::make_unique<impl>(std::move(options), std::move(on_change))) {
    impl_->status.via = impl_->options.source.api ? "api" : "redis";
    impl_->status.where = impl_->options.source.describe();
    impl_->load_snapshot();
}

scalelite_poller::~scalelite_poller() {
    stop();
}

void scalelite_poller::start() {
    if (impl_->started) {
        return;
    }
    impl_->started = true;
    asio::co_spawn(impl_->io, impl_->run(), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

void scalelite_poller::stop() {
    if (!impl_->thread.joinable()) {
        return;
    }
    // The coroutine ends by itself: the timer's wait is cancelled, or a poll in flight fails on
    // the closed connection or API call (a connect in flight ends within connect_timeout).
    asio::post(impl_->io, [this] {
        impl_->stopping = true;
        impl_->timer.cancel();
        if (impl_->connection) {
            impl_->connection->close();
        }
        if (impl_->api_call != nullptr) {
            impl_->api_call->close();
        }
    });
    impl_->thread.join();
}

std::vector<discovered_node> scalelite_poller::nodes() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->track.table();
}

poller_state scalelite_poller::state() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->status;
}

}  // namespace bcp::discovery
