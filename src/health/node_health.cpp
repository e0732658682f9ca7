#include "health/node_health.hpp"

namespace bcp::health {

node_health::node_health(std::string node_id, config::health_options options)
    : id_(std::move(node_id)), options_(std::move(options)) {
    status_.node_id = id_;
    status_.enabled = options_.enabled;
}

void node_health::set_options(config::health_options options) {
    std::lock_guard lock(mutex_);
    options_ = std::move(options);
    status_.enabled = options_.enabled;
    if (!options_.enabled && !status_.healthy) {
        // Health checking was switched off: nothing would ever bring the node back.
        status_.healthy = true;
        status_.consecutive_failures = 0;
        failures_.store(0, std::memory_order_relaxed);
        healthy_.store(true, std::memory_order_release);
        ++status_.transitions;
    }
}

config::health_options node_health::options() const {
    std::lock_guard lock(mutex_);
    return options_;
}

bool node_health::admits(steady::time_point now) {
    if (healthy_.load(std::memory_order_acquire)) {
        return true;
    }
    std::lock_guard lock(mutex_);
    if (status_.healthy) {
        return true;
    }
    if (options_.interval.count() == 0 && now >= out_until_) {
        // Passive-only: let requests try again; the next failures take it out again.
        status_.healthy = true;
        status_.consecutive_failures = 0;
        failures_.store(0, std::memory_order_relaxed);
        ++status_.transitions;
        healthy_.store(true, std::memory_order_release);
        return true;
    }
    return false;
}

change node_health::check_passed(steady::time_point) {
    std::lock_guard lock(mutex_);
    ++status_.checks;
    status_.last_check = std::chrono::system_clock::now();
    status_.consecutive_failures = 0;
    failures_.store(0, std::memory_order_relaxed);
    ++status_.consecutive_successes;
    if (!status_.healthy && status_.consecutive_successes >= options_.healthy_threshold) {
        status_.healthy = true;
        ++status_.transitions;
        healthy_.store(true, std::memory_order_release);
        return change::became_healthy;
    }
    return change::none;
}

change node_health::check_failed(std::string error, steady::time_point now) {
    std::lock_guard lock(mutex_);
    ++status_.checks;
    ++status_.failed_checks;
    status_.last_check = std::chrono::system_clock::now();
    return fail(std::move(error), now);
}

change node_health::connect_failed(std::string error, steady::time_point now) {
    std::lock_guard lock(mutex_);
    if (!options_.enabled || !options_.passive) {
        return change::none;
    }
    ++status_.passive_failures;
    return fail(std::move(error), now);
}

void node_health::connect_succeeded() {
    if (failures_.load(std::memory_order_relaxed) == 0) {
        return;
    }
    std::lock_guard lock(mutex_);
    if (status_.healthy) {
        status_.consecutive_failures = 0;
        failures_.store(0, std::memory_order_relaxed);
    }
}

change node_health::fail(std::string error, steady::time_point now) {
    status_.last_error = std::move(error);
    status_.consecutive_successes = 0;
    ++status_.consecutive_failures;
    failures_.store(status_.consecutive_failures, std::memory_order_relaxed);
    if (status_.healthy && status_.consecutive_failures >= options_.unhealthy_threshold) {
        status_.healthy = false;
        ++status_.transitions;
        out_until_ = now + options_.retry_after;
        healthy_.store(false, std::memory_order_release);
        return change::became_unhealthy;
    }
    return change::none;
}

status node_health::snapshot() const {
    std::lock_guard lock(mutex_);
    return status_;
}

}  // namespace bcp::health
