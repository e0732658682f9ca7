// Interim responses through the real binary: a node's 103 Early Hints (RFC 8297) reaches
// HTTP/1.1 clients as a 103 with the node's Link fields only, HTTP/1.0 clients never see it, other
// 1xx stay behind. The node is a small scripted raw-socket server (the simulated BBB node cannot
// send interim responses), which also serves the CDN-Cache-Control (RFC 9213) end-to-end check.
#include "harness.hpp"
#include "proxy_process.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace bcp::test {
namespace {

const std::string mount = "/bbb-01/html5client/";

// What the node answers per request target (everything else: a plain 200).
std::string script(const std::string& target) {
    const std::string ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n";
    if (target == mount + "hints") {
        return "HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload; as=style\r\n"
               "X-Node-Secret: 1\r\nConnection: keep-alive, X-Node-Secret\r\n"
               "Link: </y.js>; rel=preload; as=script\r\n\r\n" +
               ok + "\r\nok";
    }
    if (target == mount + "many") {
        std::string out = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n";
        for (int i = 0; i < 6; ++i) {
            out += "HTTP/1.1 103 Early Hints\r\nLink: </" + std::to_string(i) +
                   ".css>; rel=preload\r\n\r\n";
        }
        return out + ok + "\r\nok";
    }
    if (target == mount + "no-link") {
        return "HTTP/1.1 103 Early Hints\r\nX-Other: 1\r\n\r\n" + ok + "\r\nok";
    }
    if (target == mount + "cached") {
        return "HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\n" + ok +
               "Cache-Control: public, max-age=600\r\n\r\nok";
    }
    if (target == mount + "cdn") {
        return ok + "Cache-Control: no-store\r\nCDN-Cache-Control: max-age=600\r\n\r\nok";
    }
    return ok + "\r\nok";
}

// A keep-alive HTTP/1.1 server on 127.0.0.1 that answers each request head with script(target),
// on its own thread (poll with a short timeout, so it stops soon after the destructor asks).
class scripted_node {
  public:
    scripted_node() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(fd_, 16) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            ADD_FAILURE() << "scripted node: cannot listen";
            return;
        }
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~scripted_node() {
        stop_ = true;
        if (thread_.joinable()) {
            thread_.join();
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    scripted_node(const scripted_node&) = delete;
    scripted_node& operator=(const scripted_node&) = delete;

    std::uint16_t port() const { return port_; }
    /// Requests for `target` received so far.
    unsigned requests_for(const std::string& target) const {
        unsigned n = 0;
        for (std::size_t i = 0; i < seen_count_.load(); ++i) {
            n += seen_[i] == target ? 1 : 0;
        }
        return n;
    }

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

    // Reads what is there and answers every complete head. False when the peer closed.
    bool serve(connection& c) {
        char buf[4096];
        const auto n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return false;
        }
        c.in.append(buf, static_cast<std::size_t>(n));
        for (auto end = c.in.find("\r\n\r\n"); end != std::string::npos;
             end = c.in.find("\r\n\r\n")) {
            const auto sp = c.in.find(' ');
            const std::string target = c.in.substr(sp + 1, c.in.find(' ', sp + 1) - sp - 1);
            c.in.erase(0, end + 4);
            if (seen_count_.load() < seen_.size()) {
                seen_[seen_count_.load()] = target;
                ++seen_count_;
            }
            if (target == mount + "slow-head") {
                // Longer than the client_head deadline of the test below (the thread serves one
                // client at a time; that test has only one).
                std::this_thread::sleep_for(std::chrono::milliseconds(900));
            }
            const std::string out = script(target);
            if (::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL) !=
                static_cast<ssize_t>(out.size())) {
                return false;
            }
        }
        return true;
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::vector<std::string> seen_ = std::vector<std::string>(256);  // written before the count
    std::atomic<std::size_t> seen_count_{0};
    std::thread thread_;
};

std::string yaml(const scripted_node& node, const std::string& extra = {}) {
    return "public_url: \"https://proxy.example.com\"\nlisten:\n  - address: \"127.0.0.1:0\"\n"
           "nodes:\n  - id: bbb-01\n    url: \"http://127.0.0.1:" +
           std::to_string(node.port()) + "\"\n" + extra;
}

// One request on a new connection; everything the proxy sent until it closed.
std::string exchange(std::uint16_t port, const std::string& request) {
    client c(port);
    EXPECT_TRUE(c.connected());
    c.send(request);
    std::string got;
    EXPECT_TRUE(c.closed_within(5s, &got)) << "the proxy did not close: " << got;
    return got;
}

std::string get11(const std::string& path) {
    return "GET " + mount + path + " HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n";
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

TEST(EarlyHints, RelayedToHttp11ClientsWithTheLinkFieldsOnly) {
    scripted_node node;
    proxy_process proxy(yaml(node));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string got = exchange(proxy.port(), get11("hints"));
    const std::string hint =
        "HTTP/1.1 103 Early Hints\r\n"
        "Link: </x.css>; rel=preload; as=style\r\n"
        "Link: </y.js>; rel=preload; as=script\r\n\r\n";
    ASSERT_EQ(got.substr(0, hint.size()), hint) << got;
    EXPECT_EQ(got.find("HTTP/1.1 200 OK\r\n"), hint.size()) << got;
    EXPECT_EQ(got.substr(got.size() - 6), "\r\n\r\nok") << got;
    EXPECT_EQ(got.find("X-Node-Secret"), std::string::npos) << got;
    EXPECT_EQ(count(got, "HTTP/1.1 103"), 1u) << got;
}

// The client's head deadline covers reading its request head only: a node that takes longer than
// that to answer (within upstream_response) must not get the client's connection closed.
TEST(ClientDeadlines, ANodeSlowerThanTheHeadDeadlineStillAnswers) {
    scripted_node node;
    proxy_process proxy(yaml(node, "timeouts:\n  client_head: 300ms\n"));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string got = exchange(proxy.port(), get11("slow-head"));
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
    EXPECT_EQ(got.substr(got.size() < 2 ? 0 : got.size() - 2), "ok") << got;
}

TEST(EarlyHints, NeverSentToHttp10Clients) {
    scripted_node node;
    proxy_process proxy(yaml(node));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string got =
        exchange(proxy.port(), "GET " + mount + "hints HTTP/1.0\r\nHost: p\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
    EXPECT_EQ(got.find(" 103 "), std::string::npos) << got;
    EXPECT_EQ(got.find("Link:"), std::string::npos) << got;
    EXPECT_EQ(node.requests_for(mount + "hints"), 1u);
}

TEST(EarlyHints, AtMostFourAndOtherInterimResponsesDropped) {
    scripted_node node;
    proxy_process proxy(yaml(node));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string got = exchange(proxy.port(), get11("many"));
    EXPECT_EQ(count(got, "HTTP/1.1 103 Early Hints\r\n"), 4u) << got;
    EXPECT_EQ(got.find("</4.css>"), std::string::npos) << got;
    EXPECT_EQ(got.find(" 100 "), std::string::npos) << got;
    EXPECT_EQ(got.find(" 102 "), std::string::npos) << got;
    EXPECT_NE(got.find("Link: </3.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"), std::string::npos)
        << got;
    // A 103 without Link has nothing worth relaying.
    const std::string bare = exchange(proxy.port(), get11("no-link"));
    EXPECT_EQ(bare.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << bare;
    EXPECT_EQ(bare.find("X-Other"), std::string::npos) << bare;
}

TEST(EarlyHints, CacheFillRelaysTheHintAndAHitHasNone) {
    scripted_node node;
    proxy_process proxy(yaml(node, "cache:\n  enabled: true\n"));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    const std::string miss = exchange(proxy.port(), get11("cached"));
    EXPECT_EQ(miss.rfind("HTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\n\r\n"
                         "HTTP/1.1 200 OK\r\n",
                         0),
              0u)
        << miss;
    EXPECT_NE(miss.find("X-Cache: MISS"), std::string::npos) << miss;
    const std::string hit = exchange(proxy.port(), get11("cached"));
    EXPECT_EQ(hit.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << hit;
    EXPECT_NE(hit.find("X-Cache: HIT"), std::string::npos) << hit;
    EXPECT_EQ(node.requests_for(mount + "cached"), 1u);
}

// RFC 9213: the cache follows CDN-Cache-Control over Cache-Control: no-store, and both fields
// reach the client unchanged.
TEST(CdnCacheControl, StoredByTheProxyAndForwardedUnchanged) {
    scripted_node node;
    proxy_process proxy(yaml(node, "cache:\n  enabled: true\n"));
    ASSERT_TRUE(proxy.ok()) << proxy.log();
    for (const char* expected : {"X-Cache: MISS", "X-Cache: HIT"}) {
        const std::string got = exchange(proxy.port(), get11("cdn"));
        EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
        EXPECT_NE(got.find(expected), std::string::npos) << got;
        EXPECT_NE(got.find("Cache-Control: no-store\r\n"), std::string::npos) << got;
        EXPECT_NE(got.find("CDN-Cache-Control: max-age=600\r\n"), std::string::npos) << got;
    }
    EXPECT_EQ(node.requests_for(mount + "cdn"), 1u);
}

}  // namespace
}  // namespace bcp::test
