#pragma once
// The systemd notify protocol (sd_notify(3)), implemented here rather than linking libsystemd: it
// is one AF_UNIX datagram per state change, and owning it keeps the binary free of a dependency
// that only this needs. Used by `serve` under `Type=notify` (packaging/bbb-cluster-proxy.service):
// READY=1 once every listener is bound, RELOADING=1 + MONOTONIC_USEC then READY=1 around a reload,
// STOPPING=1 on shutdown, STATUS= lines for `systemctl status`.
//
// Outside systemd (NOTIFY_SOCKET unset) every call is a cheap no-op.

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bcp::sd {

/// A parsed $NOTIFY_SOCKET: a file-system path ("/run/systemd/notify") or an abstract address
/// ("@name", the '@' standing for the leading NUL byte).
struct notify_address {
    sockaddr_un addr{};
    socklen_t length = 0;  // what to pass to sendto(): abstract names have no trailing NUL
    std::string text;      // as written in $NOTIFY_SOCKET, for messages
};

/// Parses the value of $NOTIFY_SOCKET. nullopt with `error` set when it is empty, neither absolute
/// nor abstract (e.g. systemd's "vsock:" form, which this does not speak), or too long for
/// sun_path.
[[nodiscard]] std::optional<notify_address> parse_address(std::string_view value,
                                                          std::string& error);

/// CLOCK_MONOTONIC in microseconds, as systemd wants it in MONOTONIC_USEC.
[[nodiscard]] std::uint64_t monotonic_usec();

/// Message texts (newline-separated assignments, as sd_notify sends them). A STATUS text has its
/// newlines replaced by spaces: a newline would end the assignment.
[[nodiscard]] std::string ready_message(std::string_view status);
[[nodiscard]] std::string reloading_message(std::uint64_t monotonic_usec, std::string_view status);
[[nodiscard]] std::string stopping_message(std::string_view status);
[[nodiscard]] std::string status_message(std::string_view status);

/// Sends notifications to the service manager. Thread-safe (each send is one sendto() on its own
/// socket).
class notifier {
  public:
    /// Disabled: every send does nothing and returns true.
    notifier() = default;
    explicit notifier(notify_address address) : address_(address) {}

    /// Reads $NOTIFY_SOCKET and unsets it (sd_notify's unset_environment=1), so that processes
    /// this one starts do not talk to the service manager in its name. Call from main() before any
    /// thread exists (unsetenv is not thread-safe). An unusable value is reported in `error` and
    /// gives a disabled notifier.
    static notifier from_environment(std::string& error);

    bool enabled() const { return address_.has_value(); }

    /// Sends `message` as one datagram. False (and `error` set, when given) if it could not be
    /// sent; a service manager that went away must not stop the proxy, so callers log and go on.
    bool send(std::string_view message, std::string* error = nullptr) const;

    bool ready(std::string_view status) const { return send(ready_message(status)); }
    bool reloading(std::string_view status) const {
        return send(reloading_message(monotonic_usec(), status));
    }
    bool stopping(std::string_view status) const { return send(stopping_message(status)); }
    bool status(std::string_view status) const { return send(status_message(status)); }

  private:
    std::optional<notify_address> address_;
};

}  // namespace bcp::sd
