// The Redis client against a real redis-server (Debian's), started here on a free loopback port
// with a password and a read-only ACL user, holding records shaped as Scalelite writes them
// (issue 17); and against servers that misbehave: silent, closing, not Redis.
#include "discovery/redis.hpp"
#include "child.hpp"
#include "cli/discovery_link.hpp"
#include "config/config.hpp"
#include "discovery/poller.hpp"
#include "harness.hpp"
#include "proxy_process.hpp"
#include "support/test_ca.hpp"

#include <gtest/gtest.h>

#include <boost/asio/write.hpp>

#include <sys/wait.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace bcp::test {
namespace {

using discovery::redis_connection;
using discovery::redis_reply;
using discovery::redis_url;
using discovery::source_error;
using discovery::source_options;

constexpr const char* redis_binary = "/usr/bin/redis-server";

// redis-server on 127.0.0.1:<free port>, no persistence, password "s3cret", and a user "reader"
// allowed only what discovery needs (the operator guide's ACL).
class redis_server {
  public:
    /// With `tls`, the port speaks TLS only (rediss://), presenting these files.
    explicit redis_server(const pem_files* tls = nullptr) {
        port_ = closed_port();
        std::vector<std::string> args{redis_binary,
                                      "--bind",
                                      "127.0.0.1",
                                      "--requirepass",
                                      "s3cret",
                                      "--save",
                                      "",
                                      "--dir",
                                      dir_.path().string(),
                                      "--appendonly",
                                      "no",
                                      "--user",
                                      "reader",
                                      "on",
                                      ">r3ader",
                                      "~scalelite:*",
                                      "+smembers",
                                      "+hgetall",
                                      "+type",
                                      "+ping",
                                      "+select",
                                      "--databases",
                                      "4"};
        if (tls != nullptr) {
            for (const std::string& a :
                 {std::string("--port"), std::string("0"), std::string("--tls-port"),
                  std::to_string(port_), std::string("--tls-cert-file"), tls->cert.string(),
                  std::string("--tls-key-file"), tls->key.string(),
                  std::string("--tls-ca-cert-file"), tls->ca_cert.string(),
                  std::string("--tls-auth-clients"), std::string("no")}) {
                args.push_back(a);
            }
        } else {
            args.push_back("--port");
            args.push_back(std::to_string(port_));
        }
        args_ = std::move(args);
        start();
    }
    ~redis_server() { stop(); }
    /// Starts it again on the same port (after stop()), empty: nothing is persisted.
    void start() {
        pid_ = spawn_child(args_, dir_.path() / "out.txt", dir_.path() / "err.txt");
        up_ = eventually([&] { return accepts(port_); }, 10s);
    }
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            wait_child(pid_);
            pid_ = -1;
        }
    }
    bool up() const { return up_; }
    std::uint16_t port() const { return port_; }
    std::string url(const std::string& userinfo, const std::string& db = "") const {
        return "redis://" + userinfo + "127.0.0.1:" + std::to_string(port_) + db;
    }

    static bool accepts(std::uint16_t port) {
        asio::io_context io;
        tcp::socket s(io);
        error_code ec;
        s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
        return !ec;
    }

  private:
    temp_dir dir_{"bcp-redis"};
    std::vector<std::string> args_;
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    bool up_ = false;
};

// Runs `body` as a coroutine on a fresh io_context until it finishes.
void run(std::function<awaitable<void>()> body) {
    asio::io_context io;
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            co_await body();
            done = true;
        },
        asio::detached);
    io.run();
    EXPECT_TRUE(done);
}

redis_url url_of(const std::string& text) {
    auto parsed = discovery::parse_redis_url(text);
    EXPECT_TRUE(parsed.value) << parsed.message;
    return *parsed.value;
}

using command = std::vector<std::string>;

// Opens (and closes again) a connection on an io_context of its own: whether it worked.
bool try_open(const std::string& url, source_error& error, const source_options& options = {}) {
    bool opened = false;
    run([&]() -> awaitable<void> {
        auto c = co_await redis_connection::open(url_of(url), options, error);
        opened = c != nullptr;
    });
    return opened;
}

TEST(RedisClient, ReadsScaleliteRecordsInOnePipeline) {
    redis_server redis;
    ASSERT_TRUE(redis.up());
    asio::io_context io;
    source_error error;
    std::unique_ptr<redis_connection> c;
    std::vector<redis_reply> wrote, read;
    constexpr int servers = 500;
    // As Scalelite writes them: a set of ids, a hash per server.
    std::vector<command> setup;
    for (int i = 0; i < servers; ++i) {
        const std::string id = "id-" + std::to_string(i);
        setup.push_back(command{"SADD", "scalelite:servers", id});
        setup.push_back(
            command{"HSET", "scalelite:server:" + id, "url",
                    "https://bbb-" + std::to_string(i) + ".example.com/bigbluebutton/api", "secret",
                    "x", "online", "true", "state", "cordoned"});
    }
    const std::vector<command> members{command{"SMEMBERS", "scalelite:servers"}};
    const std::string prefix = "scalelite:server:";
    const std::string hgetall = "HGETALL";
    const auto url = url_of(redis.url(":s3cret@"));
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            c = co_await redis_connection::open(url, {}, error);
            if (!c) {
                co_return;
            }
            auto w = co_await c->pipeline(setup, error);
            if (!w) {
                co_return;
            }
            wrote = std::move(*w);
            // What discovery will do: SMEMBERS, then every HGETALL in one round trip.
            auto ids = co_await c->pipeline(members, error);
            if (!ids) {
                co_return;
            }
            std::vector<command> gets;
            for (const auto& id : ids->front().elements) {
                gets.push_back(command{hgetall, prefix + id.text});
            }
            auto r = co_await c->pipeline(gets, error);
            if (r) {
                read = std::move(*r);
            }
        },
        asio::detached);
    io.run();
    ASSERT_FALSE(error) << error.message;
    ASSERT_EQ(wrote.size(), 2u * servers);
    ASSERT_EQ(read.size(), static_cast<std::size_t>(servers));
    for (const auto& h : read) {
        ASSERT_EQ(h.type, redis_reply::kind::array);
        ASSERT_EQ(h.elements.size(), 8u);
        EXPECT_EQ(h.elements[0].text, "url");
        EXPECT_TRUE(h.elements[1].text.starts_with("https://bbb-"));
        EXPECT_EQ(h.elements[7].text, "cordoned");
    }
}

TEST(RedisClient, AReadOnlyAclUserReadsAndAnErrorReplyIsAReply) {
    redis_server redis;
    ASSERT_TRUE(redis.up());
    asio::io_context io;
    source_error error;
    std::vector<redis_reply> replies;
    const auto url = url_of(redis.url("reader:r3ader@"));
    const std::vector<command> commands{command{"SMEMBERS", "scalelite:servers"},
                                        command{"SET", "scalelite:x", "1"}, command{"PING"}};
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            auto c = co_await redis_connection::open(url, {}, error);
            if (!c) {
                co_return;
            }
            auto r = co_await c->pipeline(commands, error);
            if (r) {
                replies = std::move(*r);
            }
        },
        asio::detached);
    io.run();
    ASSERT_FALSE(error) << error.message;
    ASSERT_EQ(replies.size(), 3u);
    EXPECT_EQ(replies[0].type, redis_reply::kind::array);
    EXPECT_EQ(replies[1].type, redis_reply::kind::error);  // NOPERM: the user is read-only
    EXPECT_NE(replies[1].text.find("NOPERM"), std::string::npos) << replies[1].text;
    EXPECT_EQ(replies[2].text, "PONG");
}

TEST(RedisClient, AWrongPasswordIsAClearErrorWithoutThePassword) {
    redis_server redis;
    ASSERT_TRUE(redis.up());
    for (const std::string userinfo : {":wrong-pw@", "reader:wrong-pw@", ""}) {
        source_error error;
        const bool opened = try_open(redis.url(userinfo), error);
        if (userinfo.empty()) {
            // No password: connecting works (there is no AUTH to refuse); commands get NOAUTH.
            EXPECT_TRUE(opened) << error.message;
            continue;
        }
        EXPECT_FALSE(opened);
        EXPECT_EQ(error.what, source_error::kind::auth) << error.message;
        EXPECT_NE(error.message.find("AUTH refused: WRONGPASS"), std::string::npos)
            << error.message;
        EXPECT_NE(error.message.find(":***@127.0.0.1"), std::string::npos) << error.message;
        EXPECT_EQ(error.message.find("wrong-pw"), std::string::npos) << error.message;
    }
}

TEST(RedisClient, TheDatabaseIndexIsSelected) {
    redis_server redis;
    ASSERT_TRUE(redis.up());
    asio::io_context io;
    source_error error;
    std::string in3, in0, bad;
    const auto db3 = url_of(redis.url(":s3cret@", "/3"));
    const auto db0 = url_of(redis.url(":s3cret@", "/0"));
    const auto db9 = url_of(redis.url(":s3cret@", "/9"));  // --databases 4
    const std::vector<command> set{command{"SET", "k", "three"}};
    const std::vector<command> get{command{"GET", "k"}};
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            auto c3 = co_await redis_connection::open(db3, {}, error);
            auto c0 = co_await redis_connection::open(db0, {}, error);
            if (!c3 || !c0) {
                co_return;
            }
            co_await c3->pipeline(set, error);
            auto a = co_await c3->pipeline(get, error);
            auto b = co_await c0->pipeline(get, error);
            in3 = a ? a->front().text : std::string("<failed>");
            in0 = b && b->front().type == redis_reply::kind::nil ? "<nil>" : "<not nil>";
            source_error select_error;
            auto c9 = co_await redis_connection::open(db9, {}, select_error);
            bad = c9 ? std::string("<opened>") : select_error.message;
        },
        asio::detached);
    io.run();
    ASSERT_FALSE(error) << error.message;
    EXPECT_EQ(in3, "three");
    EXPECT_EQ(in0, "<nil>");
    EXPECT_NE(bad.find("SELECT refused"), std::string::npos) << bad;
}

TEST(RedisClient, RedissIsTlsVerifiedLikeNodes) {
    temp_dir certs("bcp-redis-tls");
    const auto ca = test_ca::create();
    const auto files = write_pem_files(certs.path(), ca, ca.issue({"localhost"}, {"127.0.0.1"}));
    redis_server redis(&files);
    ASSERT_TRUE(redis.up());
    auto trusted = make_client_context(ca);
    const auto other = test_ca::create();
    auto untrusted = make_client_context(other);
    const std::string url = "rediss://:s3cret@localhost:" + std::to_string(redis.port());
    {
        source_options o;
        o.tls = &trusted;
        source_error error;
        std::string pong;
        const auto u = url_of(url);
        const std::vector<command> ping{command{"PING"}};
        run([&]() -> awaitable<void> {
            auto c = co_await redis_connection::open(u, o, error);
            if (c) {
                auto r = co_await c->pipeline(ping, error);
                pong = r ? r->front().text : std::string();
            }
        });
        EXPECT_FALSE(error) << error.message;
        EXPECT_EQ(pong, "PONG");
    }
    {
        // A certificate from another CA: refused, and said so.
        source_options o;
        o.tls = &untrusted;
        o.connect_timeout = 2s;
        source_error error;
        EXPECT_FALSE(try_open(url, error, o));
        EXPECT_EQ(error.what, source_error::kind::connect) << error.message;
        EXPECT_NE(error.message.find("TLS handshake failed"), std::string::npos) << error.message;
    }
    {
        // Plain redis:// to a TLS port: no Redis answer, a protocol or I/O error, never a hang.
        source_options o;
        o.connect_timeout = 1s;
        o.read_timeout = 1s;
        source_error error;
        EXPECT_FALSE(
            try_open("redis://:s3cret@127.0.0.1:" + std::to_string(redis.port()), error, o));
        EXPECT_TRUE(error) << error.message;
    }
}

// A listener that accepts and then does `behave` with each connection, on its own thread.
class odd_server {
  public:
    explicit odd_server(std::function<void(tcp::socket&)> behave) : behave_(std::move(behave)) {
        acceptor_.open(tcp::v4());
        acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
        acceptor_.listen();
        thread_ = std::thread([this] {
            error_code ec;
            tcp::socket s(io_);
            acceptor_.accept(s, ec);
            if (!ec) {
                behave_(s);
            }
        });
    }
    ~odd_server() {
        error_code ignored;
        acceptor_.close(ignored);
        thread_.join();
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  private:
    asio::io_context io_;
    tcp::acceptor acceptor_{io_};
    std::function<void(tcp::socket&)> behave_;
    std::thread thread_;
};

TEST(RedisClient, FailuresAreNamedAndBounded) {
    source_options quick;
    quick.connect_timeout = 500ms;
    quick.read_timeout = 500ms;
    {
        source_error error;
        EXPECT_FALSE(try_open("redis://127.0.0.1:" + std::to_string(closed_port()), error, quick));
        EXPECT_EQ(error.what, source_error::kind::connect) << error.message;
        EXPECT_NE(error.message.find("cannot connect"), std::string::npos) << error.message;
    }
    {
        // Accepts, reads, never answers: the AUTH times out within the deadline.
        odd_server silent([](tcp::socket& s) {
            char buf[256];
            error_code ec;
            s.read_some(asio::buffer(buf), ec);
            std::this_thread::sleep_for(1500ms);
        });
        source_error error;
        const auto start = std::chrono::steady_clock::now();
        EXPECT_FALSE(
            try_open("redis://:pw@127.0.0.1:" + std::to_string(silent.port()), error, quick));
        EXPECT_EQ(error.what, source_error::kind::timeout) << error.message;
        EXPECT_LT(std::chrono::steady_clock::now() - start, 1400ms);
    }
    {
        // Not Redis at all.
        odd_server http([](tcp::socket& s) {
            char buf[256];
            error_code ec;
            s.read_some(asio::buffer(buf), ec);
            asio::write(s, asio::buffer(std::string("HTTP/1.1 400 Bad Request\r\n\r\n")), ec);
            std::this_thread::sleep_for(200ms);
        });
        source_error error;
        EXPECT_FALSE(
            try_open("redis://:pw@127.0.0.1:" + std::to_string(http.port()), error, quick));
        EXPECT_EQ(error.what, source_error::kind::protocol) << error.message;
    }
    {
        // Closes mid-answer.
        odd_server closing([](tcp::socket& s) {
            char buf[256];
            error_code ec;
            s.read_some(asio::buffer(buf), ec);
            asio::write(s, asio::buffer(std::string("*2\r\n$3\r\nabc\r\n")), ec);
        });
        source_error error;
        EXPECT_FALSE(
            try_open("redis://:pw@127.0.0.1:" + std::to_string(closing.port()), error, quick));
        EXPECT_EQ(error.what, source_error::kind::io) << error.message;
        EXPECT_NE(error.message.find("closed the connection"), std::string::npos) << error.message;
    }
}

TEST(RedisClient, ARedisThatDiesIsAnErrorOnTheNextPipeline) {
    redis_server redis;
    ASSERT_TRUE(redis.up());
    asio::io_context io;
    source_error first, second;
    const auto url = url_of(redis.url(":s3cret@"));
    const std::vector<command> ping{command{"PING"}};
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
            auto c = co_await redis_connection::open(url, {}, first);
            if (!c) {
                co_return;
            }
            co_await c->pipeline(ping, first);
            redis.stop();
            co_await c->pipeline(ping, second);
        },
        asio::detached);
    io.run();
    EXPECT_FALSE(first) << first.message;
    EXPECT_EQ(second.what, source_error::kind::io) << second.message;
}

// Writes (or removes) Scalelite records with the client itself, on an io_context of its own.
class scalelite_writer {
  public:
    explicit scalelite_writer(const std::string& url) : url_(url_of(url)) {}
    bool run(const std::vector<command>& commands) {
        source_error error;
        bool ok = false;
        test::run([&]() -> awaitable<void> {
            auto c = co_await redis_connection::open(url_, {}, error);
            if (c) {
                ok = (co_await c->pipeline(commands, error)).has_value();
            }
        });
        EXPECT_FALSE(error) << error.message;
        return ok;
    }
    bool add(const std::string& id, const std::string& host, const std::string& state = "enabled") {
        return run({command{"SADD", "scalelite:servers", id},
                    command{"HSET", "scalelite:server:" + id, "url",
                            "https://" + host + "/bigbluebutton/api", "secret", "x", "online",
                            "true", "state", state}});
    }
    bool remove(const std::string& id) {
        return run(
            {command{"SREM", "scalelite:servers", id}, command{"DEL", "scalelite:server:" + id}});
    }

  private:
    redis_url url_;
};

std::vector<std::string> ids_of(const std::vector<discovery::discovered_node>& nodes) {
    std::vector<std::string> out;
    for (const auto& n : nodes) {
        out.push_back(n.id);
    }
    return out;
}

TEST(ScalelitePoller, FollowsTheRegistryKeepsTheTableThroughFailuresAndRestoresItsSnapshot) {
    temp_dir dir("bcp-poller");
    const auto snapshot = (dir.path() / "scalelite-nodes.json").string();
    auto redis = std::make_unique<redis_server>();
    ASSERT_TRUE(redis->up());
    scalelite_writer writer(redis->url(":s3cret@"));
    ASSERT_TRUE(writer.add("uuid-1", "bbb-01.example.com"));
    ASSERT_TRUE(writer.add("uuid-2", "bbb-02.example.com", "cordoned"));
    // A bad record of its own kind: reported, never in the way of the others.
    ASSERT_TRUE(writer.run({command{"SADD", "scalelite:servers", "broken"},
                            command{"SET", "scalelite:server:broken", "not a hash"}}));

    discovery::poller_options o;
    o.source.redis = url_of(redis->url("reader:r3ader@"));  // the read-only ACL user is enough
    o.source.interval = 100ms;
    o.source.removal_grace = 400ms;
    o.source.snapshot = snapshot;
    o.connection.connect_timeout = 500ms;
    o.connection.read_timeout = 500ms;
    o.max_backoff = 200ms;
    std::mutex mutex;
    std::vector<std::vector<std::string>> changes;
    auto poller = std::make_unique<discovery::scalelite_poller>(
        o, [&](const std::vector<discovery::discovered_node>& nodes) {
            std::lock_guard lock(mutex);
            changes.push_back(ids_of(nodes));
        });
    EXPECT_TRUE(poller->nodes().empty());  // no snapshot yet
    poller->start();
    const auto served = [&] { return ids_of(poller->nodes()); };
    using ids = std::vector<std::string>;
    ASSERT_TRUE(eventually([&] { return served() == ids{"bbb-01", "bbb-02"}; }, 5s));
    auto st = poller->state();
    EXPECT_TRUE(st.up);
    ASSERT_EQ(st.skipped.size(), 1u);
    EXPECT_EQ(st.skipped[0].scalelite_id, "broken");

    // Added: served within an interval or two. Removed: kept for the grace, then gone.
    ASSERT_TRUE(writer.add("uuid-3", "bbb-03.example.com"));
    EXPECT_TRUE(eventually([&] { return served() == ids{"bbb-01", "bbb-02", "bbb-03"}; }, 2s));
    ASSERT_TRUE(writer.remove("uuid-1"));
    std::this_thread::sleep_for(250ms);
    EXPECT_EQ(served(), (ids{"bbb-01", "bbb-02", "bbb-03"}));  // within its grace
    EXPECT_TRUE(eventually([&] { return served() == ids{"bbb-02", "bbb-03"}; }, 2s));

    // Redis dies: the table stays, the state says so.
    redis->stop();
    EXPECT_TRUE(eventually([&] { return !poller->state().up; }, 3s));
    st = poller->state();
    EXPECT_GE(st.errors, 1u);
    EXPECT_FALSE(st.last_error.empty());
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(served(), (ids{"bbb-02", "bbb-03"}));
    poller->stop();

    // A restart while Redis is still down serves the snapshot.
    discovery::scalelite_poller restarted(o, {});
    EXPECT_EQ(ids_of(restarted.nodes()), (ids{"bbb-02", "bbb-03"}));
    EXPECT_TRUE(restarted.state().from_snapshot);
    restarted.start();
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(ids_of(restarted.nodes()), (ids{"bbb-02", "bbb-03"}));
    EXPECT_FALSE(restarted.state().up);
    restarted.stop();
    std::lock_guard lock(mutex);
    ASSERT_GE(changes.size(), 3u);
    EXPECT_EQ(changes.front(), (ids{"bbb-01", "bbb-02"}));
}

// The real binary with `discovery.scalelite` in front of simulated nodes registered in Redis as
// Scalelite registers them (ids as `servers:sync` may set them; IP-literal URLs, so the id is the
// Scalelite id).
struct discovery_setup {
    node_set nodes{{"bbb-01", "bbb-02", "bbb-03"}};
    temp_dir dir{"bcp-discovery"};
    std::unique_ptr<redis_server> redis = std::make_unique<redis_server>();

    std::string api_url(std::size_t i) {
        return "http://127.0.0.1:" + std::to_string(nodes[i].port()) + "/bigbluebutton/api";
    }
    bool add(std::size_t i, const std::string& state = "enabled") {
        scalelite_writer w(redis->url(":s3cret@"));
        const std::string id = "bbb-0" + std::to_string(i + 1);
        return w.run({command{"SADD", "scalelite:servers", id},
                      command{"HSET", "scalelite:server:" + id, "url", api_url(i), "secret", "x",
                              "online", "true", "state", state}});
    }
    bool remove(std::size_t i) {
        return scalelite_writer(redis->url(":s3cret@")).remove("bbb-0" + std::to_string(i + 1));
    }
    std::string yaml(const std::string& userinfo = "reader:r3ader@") {
        return "public_url: \"https://proxy.example.com\"\nlisten:\n  - address: \"127.0.0.1:0\"\n"
               "admin: {address: \"127.0.0.1:0\"}\n"
               "discovery:\n  scalelite:\n    redis_url: \"" +
               redis->url(userinfo) +
               "\"\n    interval: 200ms\n    removal_grace: 1s\n    snapshot: \"" +
               (dir.path() / "scalelite-nodes.json").string() + "\"\n";
    }
};

int status_of(std::uint16_t port, const std::string& node) {
    const auto r = http_get(port, "/" + node + "/html5client/");
    return r ? r->result_int() : -1;
}

std::string metrics_of(std::uint16_t admin_port) {
    const auto r = http_get(admin_port, "/metrics");
    return r ? r->body() : std::string();
}

bool has_line(const std::string& metrics, const std::string& line) {
    return metrics.find("\n" + line + "\n") != std::string::npos;
}

TEST(ScaleliteDiscovery, TheProxyFollowsScaleliteThroughChangesFailuresAndRestarts) {
    discovery_setup s;
    ASSERT_TRUE(s.redis->up());
    ASSERT_TRUE(s.add(0));
    {
        proxy_process p(s.yaml());
        ASSERT_TRUE(p.ok()) << p.log();
        EXPECT_TRUE(eventually([&] { return status_of(p.port(), "bbb-01") == 200; }, 5s))
            << p.log();
        EXPECT_EQ(status_of(p.port(), "bbb-02"), 404);
        // Added (cordoned servers still host meetings): served within an interval or two.
        ASSERT_TRUE(s.add(1, "cordoned"));
        EXPECT_TRUE(eventually([&] { return status_of(p.port(), "bbb-02") == 200; }, 3s));
        std::string m;
        EXPECT_TRUE(eventually(
            [&] {
                m = metrics_of(p.admin_port());
                return has_line(m, R"(bcp_discovery_nodes{source="scalelite"} 2)");
            },
            3s))
            << m;
        EXPECT_TRUE(has_line(m, R"(bcp_discovery_up{source="scalelite"} 1)")) << m;
        const auto nodes = http_get(p.admin_port(), "/nodes");
        ASSERT_TRUE(nodes);
        EXPECT_NE(nodes->body().find(R"("source": "scalelite")"), std::string::npos)
            << nodes->body();
        // Removed: still routed for the grace (1 s), then gone.
        ASSERT_TRUE(s.remove(0));
        std::this_thread::sleep_for(500ms);
        EXPECT_EQ(status_of(p.port(), "bbb-01"), 200);
        EXPECT_TRUE(eventually([&] { return status_of(p.port(), "bbb-01") == 404; }, 3s));
        // Redis gone: nothing changes but the figures.
        s.redis->stop();
        EXPECT_TRUE(eventually(
            [&] {
                m = metrics_of(p.admin_port());
                return has_line(m, R"(bcp_discovery_up{source="scalelite"} 0)");
            },
            3s))
            << m;
        EXPECT_EQ(status_of(p.port(), "bbb-02"), 200);
        EXPECT_NE(p.log().find("serving the last table"), std::string::npos) << p.log();
    }
    {
        // Restarted while Redis is still down: the snapshot serves at once.
        proxy_process p(s.yaml());
        ASSERT_TRUE(p.ok()) << p.log();
        EXPECT_EQ(status_of(p.port(), "bbb-02"), 200) << p.log();
        EXPECT_EQ(status_of(p.port(), "bbb-01"), 404);
        // Redis back (empty, as after a flush): its servers are registered again, one disabled
        // (disabled servers still host meetings); the proxy follows.
        s.redis->start();
        ASSERT_TRUE(s.redis->up());
        ASSERT_TRUE(s.add(1));
        ASSERT_TRUE(s.add(2, "disabled"));
        EXPECT_TRUE(eventually([&] { return status_of(p.port(), "bbb-03") == 200; }, 5s))
            << p.log();
        EXPECT_EQ(status_of(p.port(), "bbb-02"), 200);
        std::string m;
        EXPECT_TRUE(eventually(
            [&] {
                m = metrics_of(p.admin_port());
                return has_line(m, R"(bcp_discovery_up{source="scalelite"} 1)");
            },
            3s))
            << m;
    }
}

// The first poll may find servers before `serve` gives the link its reload handler (it did under
// ThreadSanitizer's slowness): that change is delivered when the handler comes, not lost.
TEST(ScaleliteDiscovery, AChangeFoundBeforeTheReloadHandlerIsDeliveredToIt) {
    discovery_setup s;
    ASSERT_TRUE(s.redis->up());
    ASSERT_TRUE(s.add(0));
    auto yaml = s.yaml();
    yaml.replace(yaml.find("snapshot: \""), std::string::npos, "snapshot: \"\"\n");
    auto loaded = config::load_string(yaml, "<test>");
    ASSERT_TRUE(loaded.ok());
    cli::discovery_link link;
    link.amend(*loaded.config);
    link.start();
    ASSERT_TRUE(eventually([&] { return link.state() && link.state()->up; }, 5s));
    ASSERT_TRUE(eventually([&] { return link.node_count() == 1; }, 2s));
    std::atomic<int> calls{0};
    link.on_change([&] { ++calls; });
    // Delivered now if the change came first, or by the poller right after (its state is updated
    // before it reports the change): once either way.
    EXPECT_TRUE(eventually([&] { return calls.load() == 1; }, 2s));
    std::this_thread::sleep_for(300ms);  // polls every 200 ms: nothing changes, nothing more comes
    EXPECT_EQ(calls.load(), 1);
    link.stop();
}

TEST(ScaleliteDiscovery, TwoProxiesConvergeAndAWrongPasswordIsClear) {
    discovery_setup s;
    ASSERT_TRUE(s.redis->up());
    ASSERT_TRUE(s.add(0));
    temp_dir other_dir("bcp-discovery-b");
    auto second_yaml = s.yaml();
    second_yaml.replace(second_yaml.find(s.dir.path().string()), s.dir.path().string().size(),
                        other_dir.path().string());
    proxy_process a(s.yaml());
    proxy_process b(second_yaml);
    ASSERT_TRUE(a.ok() && b.ok()) << a.log() << b.log();
    ASSERT_TRUE(s.add(2));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(eventually(
        [&] {
            return status_of(a.port(), "bbb-03") == 200 && status_of(b.port(), "bbb-03") == 200;
        },
        3s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);  // interval (200 ms) + a reload

    // Its own snapshot (none): with the others' it would serve their table, as it should.
    auto wrong_yaml = s.yaml("reader:not-the-password@");
    wrong_yaml.replace(wrong_yaml.find("snapshot: \""), std::string::npos, "snapshot: \"\"\n");
    proxy_process wrong(wrong_yaml);
    ASSERT_TRUE(wrong.ok()) << wrong.log();
    std::string m;
    EXPECT_TRUE(eventually(
        [&] {
            m = metrics_of(wrong.admin_port());
            return m.find("bcp_discovery_errors_total{source=\"scalelite\"} 0") ==
                       std::string::npos &&
                   has_line(m, R"(bcp_discovery_up{source="scalelite"} 0)");
        },
        3s))
        << m;
    EXPECT_NE(wrong.log().find("AUTH refused: WRONGPASS"), std::string::npos) << wrong.log();
    EXPECT_EQ(wrong.log().find("not-the-password"), std::string::npos) << wrong.log();
    EXPECT_EQ(status_of(wrong.port(), "bbb-01"), 404);
}

TEST(ScaleliteDiscovery, StaticNodesWinAndTheSectionItselfReloads) {
    discovery_setup s;
    ASSERT_TRUE(s.redis->up());
    ASSERT_TRUE(s.add(0));  // bbb-01 in Scalelite points at node 0
    ASSERT_TRUE(s.add(1));
    // A configured bbb-01 pointing at node 2: the configured node is served.
    auto yaml = s.yaml() + "nodes:\n  - id: bbb-01\n    url: \"http://127.0.0.1:" +
                std::to_string(s.nodes[2].port()) + "\"\n";
    proxy_process p(yaml);
    ASSERT_TRUE(p.ok()) << p.log();
    ASSERT_TRUE(eventually([&] { return status_of(p.port(), "bbb-02") == 200; }, 5s));
    // Node 2 is the simulated "bbb-03": asked for /bbb-01/ it answers its own 404, which only the
    // configured bbb-01 can reach (Scalelite's bbb-01, node 0, would answer 200).
    const auto configured = [&] {
        const auto page = http_get(p.port(), "/bbb-01/html5client/");
        return page && page->result_int() == 404 &&
               (*page)[boost::beast::http::field::server] == "bbb-fake-node";
    };
    EXPECT_TRUE(configured());
    EXPECT_NE(p.log().find("has the id of a configured node"), std::string::npos) << p.log();

    // Reloading with another namespace: the new source is polled (nothing there), so the
    // discovered bbb-02 goes after its grace while the configured bbb-01 stays.
    std::string next = yaml;
    next.replace(next.find("    interval:"), 0, "    namespace: other\n");
    // The read-only user may read scalelite:* only (the operator guide's ACL): the default user.
    next.replace(next.find("reader:r3ader@"), std::string("reader:r3ader@").size(), ":s3cret@");
    {
        std::ofstream out(p.config_path());
        out << next;
    }
    p.signal(SIGHUP);
    EXPECT_TRUE(eventually(
        [&] { return p.log().find("discovery.scalelite changed") != std::string::npos; }, 3s))
        << p.log();
    EXPECT_TRUE(configured());
    EXPECT_TRUE(eventually([&] { return status_of(p.port(), "bbb-02") == 404; }, 4s)) << p.log();
}

TEST(ScaleliteDiscovery, DiscoveryTestPrintsTheTableAndEverySkippedRecord) {
    discovery_setup s;
    ASSERT_TRUE(s.redis->up());
    ASSERT_TRUE(s.add(0, "cordoned"));
    scalelite_writer w(s.redis->url(":s3cret@"));
    ASSERT_TRUE(w.run({command{"SADD", "scalelite:servers", "odd"},
                       command{"HSET", "scalelite:server:odd", "url", "https://x.example.com/"}}));
    const auto cfg = (s.dir.path() / "proxy.yaml").string();
    {
        std::ofstream out(cfg);
        out << s.yaml();
    }
    auto r = run_child({BCP_BINARY, "discovery", "test", "--config", cfg}, s.dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("1 node(s) served, 1 record(s) skipped"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bbb-01"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("server bbb-01 (cordoned, online)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("skipped server odd: url 'https://x.example.com/' does not end in "
                         "/bigbluebutton/api"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("r3ader"), std::string::npos) << r.out;  // the password stays hidden
    EXPECT_FALSE(std::filesystem::exists(s.dir.path() / "scalelite-nodes.json"));  // read only

    s.redis->stop();
    r = run_child({BCP_BINARY, "discovery", "test", "--config", cfg}, s.dir.path());
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("cannot read it: "), std::string::npos) << r.out;

    {
        std::ofstream out(cfg);
        out << "public_url: \"https://p.example.com\"\nlisten: [{address: \"127.0.0.1:0\"}]\n"
               "nodes: [{id: a, url: \"https://a.example.com\"}]\n";
    }
    r = run_child({BCP_BINARY, "discovery", "test", "--config", cfg}, s.dir.path());
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("no discovery section"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bcp::test
