#include "core/sd_notify.hpp"

#include <fmt/format.h>

#include <unistd.h>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace bcp::sd {
namespace {

std::string one_line(std::string_view text) {
    std::string out(text);
    for (auto& c : out) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return out;
}

std::string with_status(std::string head, std::string_view status) {
    if (!status.empty()) {
        head += "STATUS=" + one_line(status) + "\n";
    }
    return head;
}

}  // namespace

std::optional<notify_address> parse_address(std::string_view value, std::string& error) {
    if (value.empty()) {
        error = "NOTIFY_SOCKET is empty";
        return std::nullopt;
    }
    if (value[0] != '/' && value[0] != '@') {
        error = fmt::format(
            "NOTIFY_SOCKET '{}' is neither an absolute path nor an abstract '@' address", value);
        return std::nullopt;
    }
    notify_address a;
    a.addr.sun_family = AF_UNIX;
    // A path needs room for its terminating NUL; an abstract name does not have one (its length
    // is part of the address, so a NUL would change the name).
    const bool abstract = value[0] == '@';
    const std::size_t room = sizeof(a.addr.sun_path) - (abstract ? 0 : 1);
    if (value.size() > room || (abstract && value.size() < 2)) {
        error =
            fmt::format("NOTIFY_SOCKET '{}' is not a usable socket address ({} bytes, at most {})",
                        value, value.size(), room);
        return std::nullopt;
    }
    std::memcpy(a.addr.sun_path, value.data(), value.size());
    if (abstract) {
        a.addr.sun_path[0] = '\0';
    }
    a.text = std::string(value);
    a.length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + value.size() + (abstract ? 0 : 1));
    return a;
}

std::uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
           static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

std::string ready_message(std::string_view status) {
    return with_status("READY=1\n", status);
}

std::string reloading_message(std::uint64_t usec, std::string_view status) {
    return with_status(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\n", usec), status);
}

std::string stopping_message(std::string_view status) {
    return with_status("STOPPING=1\n", status);
}

std::string status_message(std::string_view status) {
    return with_status({}, status);
}

notifier notifier::from_environment(std::string& error) {
    const char* value = std::getenv("NOTIFY_SOCKET");
    if (value == nullptr) {
        return {};
    }
    auto address = parse_address(value, error);
    unsetenv("NOTIFY_SOCKET");
    return address ? notifier(*address) : notifier();
}

bool notifier::send(std::string_view message, std::string* error) const {
    if (!address_ || message.empty()) {
        return true;
    }
    // A socket per message, as sd_notify does: notifications are rare (start, reload, stop), and
    // nothing is kept open that a fork could inherit.
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (error) {
            *error =
                fmt::format("NOTIFY_SOCKET {}: socket: {}", address_->text, std::strerror(errno));
        }
        return false;
    }
    const auto* sa = reinterpret_cast<const sockaddr*>(&address_->addr);
    const ssize_t n =
        ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, sa, address_->length);
    const int saved = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(message.size())) {
        if (error) {
            *error = fmt::format("NOTIFY_SOCKET {}: {}", address_->text,
                                 n < 0 ? std::strerror(saved) : "short write");
        }
        return false;
    }
    return true;
}

}  // namespace bcp::sd
