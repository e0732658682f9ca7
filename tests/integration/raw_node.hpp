#pragma once
// A raw-socket HTTP/1.1 node for the integration tests whose node must do what the simulated BBB
// node cannot (interim responses, bodies cut at chosen places, gzip bombs, any framing): it
// answers each request head with what the test's script says, on 127.0.0.1 and an ephemeral
// port, and records every request head it received.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bcp::test {

// A raw-socket node: answers each request head with what `script(target)` says, keep-alive unless
// the reply asks to close after it. One thread, poll with a short timeout.

struct reply {
    std::string bytes;
    bool close_after = false;
};

class raw_node {
  public:
    /// `script(target, head)` says what to answer to each request.
    explicit raw_node(
        std::function<reply(const std::string& target, const std::string& head)> script)
        : script_(std::move(script)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(fd_, 64) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            ADD_FAILURE() << "raw node: cannot listen";
            return;
        }
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~raw_node() {
        stop_ = true;
        if (thread_.joinable()) {
            thread_.join();
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    raw_node(const raw_node&) = delete;
    raw_node& operator=(const raw_node&) = delete;

    std::uint16_t port() const { return port_; }

    /// Request heads received for `target`, in order.
    std::vector<std::string> heads_for(const std::string& target) const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& [t, head] : seen_) {
            if (t == target) {
                out.push_back(head);
            }
        }
        return out;
    }
    std::size_t requests_for(const std::string& target) const { return heads_for(target).size(); }

  private:
    struct connection {
        int fd;
        std::string in;
    };

    void run() {
        std::vector<connection> conns;
        while (!stop_) {
            std::vector<pollfd> p{{fd_, POLLIN, 0}};
            for (const auto& c : conns) {
                p.push_back({c.fd, POLLIN, 0});
            }
            if (::poll(p.data(), p.size(), 20) <= 0) {
                continue;
            }
            for (std::size_t i = 1; i < p.size(); ++i) {
                if (p[i].revents != 0 && !serve(conns[i - 1])) {
                    ::close(conns[i - 1].fd);
                    conns[i - 1].fd = -1;
                }
            }
            std::erase_if(conns, [](const connection& c) { return c.fd < 0; });
            if ((p[0].revents & POLLIN) != 0) {
                const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
                if (c >= 0) {
                    conns.push_back({c, {}});
                }
            }
        }
        for (const auto& c : conns) {
            ::close(c.fd);
        }
    }

    // False when the connection is to be closed.
    bool serve(connection& c) {
        char buf[8192];
        const auto n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return false;
        }
        c.in.append(buf, static_cast<std::size_t>(n));
        for (auto end = c.in.find("\r\n\r\n"); end != std::string::npos;
             end = c.in.find("\r\n\r\n")) {
            const std::string head = c.in.substr(0, end + 4);
            c.in.erase(0, end + 4);
            const auto sp = head.find(' ');
            const std::string target = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
            {
                std::lock_guard lock(mutex_);
                seen_.emplace_back(target, head);
            }
            const reply r = script_(target, head);
            std::size_t sent = 0;
            while (sent < r.bytes.size()) {
                const auto k =
                    ::send(c.fd, r.bytes.data() + sent, r.bytes.size() - sent, MSG_NOSIGNAL);
                if (k <= 0) {
                    return false;
                }
                sent += static_cast<std::size_t>(k);
            }
            if (r.close_after) {
                return false;
            }
        }
        return true;
    }

    std::function<reply(const std::string&, const std::string&)> script_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> seen_;
    std::thread thread_;
};

}  // namespace bcp::test
