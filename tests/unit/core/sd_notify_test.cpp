// The notify protocol: address parsing (path, abstract, refusals), message texts, and real
// datagrams received on a socket bound here, for both address kinds.
#include "core/sd_notify.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace bcp::sd {
namespace {

// A datagram socket bound to `address`, as systemd's notify socket is.
class receiver {
  public:
    explicit receiver(const notify_address& a) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<const sockaddr*>(&a.addr), a.length) == 0;
    }
    ~receiver() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    bool bound() const { return bound_; }
    // One datagram, or "" after 2 s.
    std::string next() {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 2000) != 1) {
            return {};
        }
        char buf[4096];
        const auto n = ::recv(fd_, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }

  private:
    int fd_ = -1;
    bool bound_ = false;
};

std::string unique_name() {
    std::random_device rd;
    return "bcp-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

TEST(SdNotifyAddress, PathKeepsItsTerminatingNul) {
    std::string error;
    auto a = parse_address("/run/systemd/notify", error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(a->addr.sun_family, AF_UNIX);
    EXPECT_STREQ(a->addr.sun_path, "/run/systemd/notify");
    EXPECT_EQ(a->length, offsetof(sockaddr_un, sun_path) + 20u);
}

TEST(SdNotifyAddress, AbstractNameStartsWithNulAndHasNoTerminator) {
    std::string error;
    auto a = parse_address("@bcp/notify", error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(a->addr.sun_path[0], '\0');
    EXPECT_EQ(std::string(a->addr.sun_path + 1, 10), "bcp/notify");
    EXPECT_EQ(a->length, offsetof(sockaddr_un, sun_path) + 11u);
}

TEST(SdNotifyAddress, RefusesWhatIsNotAUnixSocketAddress) {
    for (const char* bad : {"", "relative/path", "vsock:2:1234", "@"}) {
        std::string error;
        EXPECT_FALSE(parse_address(bad, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
    std::string error;
    const std::string longest_path = "/" + std::string(sizeof(sockaddr_un::sun_path) - 2, 'a');
    EXPECT_TRUE(parse_address(longest_path, error)) << error;
    EXPECT_FALSE(parse_address(longest_path + "a", error));
    EXPECT_NE(error.find("at most 107"), std::string::npos) << error;
    const std::string longest_abstract = "@" + std::string(sizeof(sockaddr_un::sun_path) - 1, 'a');
    EXPECT_TRUE(parse_address(longest_abstract, error)) << error;
    EXPECT_FALSE(parse_address(longest_abstract + "a", error));
}

TEST(SdNotifyMessage, Texts) {
    EXPECT_EQ(ready_message(""), "READY=1\n");
    EXPECT_EQ(ready_message("listening on 0.0.0.0:443"),
              "READY=1\nSTATUS=listening on 0.0.0.0:443\n");
    EXPECT_EQ(reloading_message(1234567, "reloading"),
              "RELOADING=1\nMONOTONIC_USEC=1234567\nSTATUS=reloading\n");
    EXPECT_EQ(stopping_message("stopping"), "STOPPING=1\nSTATUS=stopping\n");
    // A newline in a status would start a new assignment: it is flattened.
    EXPECT_EQ(status_message("a\nREADY=1\r\nb"), "STATUS=a READY=1  b\n");
}

TEST(SdNotifyMessage, MonotonicClockMovesForward) {
    const auto a = monotonic_usec();
    const auto b = monotonic_usec();
    EXPECT_GT(a, 0u);
    EXPECT_GE(b, a);
}

TEST(SdNotifySend, DatagramToAPathSocket) {
    const auto path = std::filesystem::temp_directory_path() / unique_name();
    std::string error;
    auto a = parse_address(path.string(), error);
    ASSERT_TRUE(a) << error;
    receiver r(*a);
    ASSERT_TRUE(r.bound());
    notifier n(*a);
    EXPECT_TRUE(n.enabled());
    EXPECT_TRUE(n.ready("up"));
    EXPECT_EQ(r.next(), "READY=1\nSTATUS=up\n");
    EXPECT_TRUE(n.stopping(""));
    EXPECT_EQ(r.next(), "STOPPING=1\n");
    std::filesystem::remove(path);
}

TEST(SdNotifySend, DatagramToAnAbstractSocket) {
    std::string error;
    auto a = parse_address("@" + unique_name(), error);
    ASSERT_TRUE(a) << error;
    receiver r(*a);
    ASSERT_TRUE(r.bound());
    notifier n(*a);
    EXPECT_TRUE(n.reloading("reloading"));
    const auto got = r.next();
    EXPECT_EQ(got.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << got;
    EXPECT_NE(got.find("\nSTATUS=reloading\n"), std::string::npos) << got;
}

TEST(SdNotifySend, NobodyListeningIsAnErrorNotACrash) {
    std::string error;
    auto a =
        parse_address((std::filesystem::temp_directory_path() / unique_name()).string(), error);
    ASSERT_TRUE(a) << error;
    notifier n(*a);
    EXPECT_FALSE(n.send("READY=1\n", &error));
    EXPECT_NE(error.find("NOTIFY_SOCKET /"), std::string::npos) << error;
}

TEST(SdNotifyEnvironment, ReadsAndUnsetsNotifySocket) {
    std::string error;
    ::unsetenv("NOTIFY_SOCKET");
    EXPECT_FALSE(notifier::from_environment(error).enabled());
    EXPECT_TRUE(notifier().ready("outside systemd: a no-op"));

    ::setenv("NOTIFY_SOCKET", "@bcp-env-test", 1);
    auto n = notifier::from_environment(error);
    EXPECT_TRUE(n.enabled()) << error;
    EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);

    ::setenv("NOTIFY_SOCKET", "vsock:2:9", 1);
    error.clear();
    EXPECT_FALSE(notifier::from_environment(error).enabled());
    EXPECT_NE(error.find("vsock:2:9"), std::string::npos) << error;
    EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);
}

}  // namespace
}  // namespace bcp::sd
